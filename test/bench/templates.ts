import { FlowType } from '../../src/flows/schema.js';
import { TrafficGenerator } from '../../src/sim/traffic.js';

/**
 * Simulator flows encoded once, without time and uuid; `frame` appends a fresh
 * time and uuid to a template (protobuf merges repeated top-level fields, so
 * appending is a valid encoding) and writes a GetFlowsResponse.
 */
export const TIME_FIELD_MAX = 2 + 1 + 10 + 1 + 5;
export const UUID_FIELD = 3 + 36;
const HEX = '0123456789abcdef';

export function buildTemplates(count: number, seed = 42): Buffer[] {
  const gen = new TrafficGenerator(seed);
  const out: Buffer[] = [];
  while (out.length < count) {
    for (const f of gen.next(Date.now())) {
      delete f.flow.time;
      delete f.flow.uuid;
      out.push(Buffer.from(FlowType.encode(FlowType.fromObject(f.flow)).finish()));
    }
  }
  return out;
}

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 127) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

/** Bytes `frame` may write for a template (upper bound). */
export function frameBound(template: Buffer): number {
  return 5 + 1 + 5 + template.length + TIME_FIELD_MAX + UUID_FIELD;
}

/** murmur3's 32-bit finalizer: a bijection, so distinct serials get distinct first words. */
function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/**
 * A version-4 uuid text for `serial`, as random-looking as Hubble's (122 bits
 * that compress like noise: disk figures would be flattering with serial ones),
 * yet unique and reproducible.
 */
function writeUuid(buf: Buffer, p: number, serial: number): void {
  const words = [mix32(serial), mix32(serial ^ 0x9e3779b9), mix32(serial + 0x7f4a7c15), mix32(~serial)];
  let digit = 0;
  for (let i = 0; i < 36; i++) {
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      buf[p + i] = 0x2d;
      continue;
    }
    let nibble = (words[digit >> 3] >>> ((digit & 7) * 4)) & 15;
    if (i === 14) nibble = 4;
    else if (i === 19) nibble = 8 | (nibble & 3);
    buf[p + i] = HEX.charCodeAt(nibble);
    digit++;
  }
}

/**
 * Writes GetFlowsResponse{flow: template + time + uuid(serial)} at buf[at]; with
 * `grpcPrefix`, the 5-byte gRPC frame header first. Returns the end offset.
 */
export function frame(buf: Buffer, at: number, template: Buffer, seconds: number, nanos: number, serial: number, grpcPrefix: boolean): number {
  const ts = [0x08, ...varint(seconds), 0x10, ...varint(nanos)];
  const flowLen = template.length + 2 + ts.length + UUID_FIELD;
  const flowLenBytes = varint(flowLen);
  const msgLen = 1 + flowLenBytes.length + flowLen;
  let p = at;
  if (grpcPrefix) {
    buf[p] = 0;
    buf.writeUInt32BE(msgLen, p + 1);
    p += 5;
  }
  buf[p++] = 0x0a; // GetFlowsResponse.flow
  for (const b of flowLenBytes) buf[p++] = b;
  p += template.copy(buf, p);
  buf[p++] = 0x0a; // Flow.time
  buf[p++] = ts.length;
  for (const b of ts) buf[p++] = b;
  buf[p++] = 0x92; // Flow.uuid (34 << 3 | 2)
  buf[p++] = 0x02;
  buf[p++] = 36;
  writeUuid(buf, p, serial);
  return p + 36;
}

/**
 * Batches of encoded flows (no gRPC prefix) as FlowWriter.writeBatch takes them:
 * `flows` messages cycling through `templates`, flow i stamped at timeOf(i).
 */
export function* templateBatches(templates: Buffer[], flows: number, batchSize: number, timeOf: (i: number) => { seconds: number; nanos: number }): Generator<{ buf: Buffer; offsets: number[] }> {
  const buf = Buffer.allocUnsafe(batchSize * 2048);
  for (let i = 0; i < flows; ) {
    const offsets = [0];
    let at = 0;
    for (let k = 0; k < batchSize && i < flows; k++, i++) {
      const t = templates[i % templates.length];
      if (at + frameBound(t) > buf.length) break;
      const { seconds, nanos } = timeOf(i);
      at = frame(buf, at, t, seconds, nanos, i + 1, false);
      offsets.push(at);
    }
    yield { buf, offsets };
  }
}

/** A fraction in [0, 1) from `i` alone (the same whatever order the times are asked in). */
function jitter(i: number): number {
  let t = Math.imul(i ^ 0x9e3779b9, 0x85ebca6b);
  t ^= t >>> 13;
  t = Math.imul(t, 0xc2b2ae35);
  t ^= t >>> 16;
  return (t >>> 0) / 4294967296;
}

/** The time of flow i of `flows` spread over the 24 hours before now, one flow in each equal step, at a random point of it. */
export function spreadOverLastDay(flows: number): (i: number) => { seconds: number; nanos: number } {
  const startNs = (Date.now() - 86_400_000) * 1e6;
  const stepNs = 86_400e9 / flows;
  return (i) => {
    // Somewhere in its own step, not at its start: real flows do not come at even intervals,
    // and evenly spaced times would compress to nothing (DoubleDelta), flattering disk per flow.
    const ns = startNs + (i + jitter(i)) * stepNs;
    const seconds = Math.floor(ns / 1e9);
    return { seconds, nanos: Math.floor(ns - seconds * 1e9) };
  };
}
