import http2 from 'node:http2';
import { FlowType } from '../../src/flows/schema.js';
import { TrafficGenerator } from '../../src/sim/traffic.js';

/**
 * Benchmark feeder, run in its own process: a minimal gRPC server over
 * node:http2 that streams GetFlowsResponse messages as fast as the client takes
 * them. Flows are encoded once in advance; each message gets a fresh time and
 * uuid appended (protobuf merges repeated top-level fields, so appending is a
 * valid encoding). grpc-js' own server tops out far below the rates measured.
 */
const TEMPLATES = 20_000;
const CHUNK_BYTES = 256 * 1024;
const STEP_NS = 10_000;

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 127) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

function buildTemplates(): Buffer[] {
  const gen = new TrafficGenerator(42);
  const out: Buffer[] = [];
  while (out.length < TEMPLATES) {
    for (const f of gen.next(Date.now())) {
      delete f.flow.time;
      delete f.flow.uuid;
      out.push(Buffer.from(FlowType.encode(FlowType.fromObject(f.flow)).finish()));
    }
  }
  return out;
}

const HEX = '0123456789abcdef';
const TIME_FIELD_MAX = 2 + 1 + 10 + 1 + 5;
const UUID_FIELD = 3 + 36; // tag 34 (2 bytes) + length + 36 chars

let sent = 0;
let seconds = Math.floor(Date.now() / 1000);
let nanos = 0;

/** Writes one gRPC frame (flag, length, GetFlowsResponse{flow}) at `at`; returns the new offset. */
function writeMessage(buf: Buffer, at: number, template: Buffer): number {
  nanos += STEP_NS;
  if (nanos >= 1e9) {
    seconds++;
    nanos -= 1e9;
  }
  const ts = [0x08, ...varint(seconds), 0x10, ...varint(nanos)];
  const flowLen = template.length + 2 + ts.length + UUID_FIELD;
  const flowLenBytes = varint(flowLen);
  const msgLen = 1 + flowLenBytes.length + flowLen;
  buf[at] = 0;
  buf.writeUInt32BE(msgLen, at + 1);
  let p = at + 5;
  buf[p++] = 0x0a;
  for (const b of flowLenBytes) buf[p++] = b;
  p += template.copy(buf, p);
  buf[p++] = 0x0a; // Flow.time
  buf[p++] = ts.length;
  for (const b of ts) buf[p++] = b;
  buf[p++] = 0x92; // Flow.uuid (34 << 3 | 2)
  buf[p++] = 0x02;
  buf[p++] = 36;
  let n = ++sent;
  const uuidStart = p;
  buf.write('00000000-0000-4000-8000-000000000000', p, 'latin1');
  for (let i = 35; i >= 24 && n > 0; i--) {
    buf[uuidStart + i] = HEX.charCodeAt(n & 15);
    n = Math.floor(n / 16);
  }
  return p + 36;
}

function serve(templates: Buffer[]): http2.Http2Server {
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    if (headers[':path'] !== '/observer.Observer/GetFlows') {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '12' }, { endStream: true });
      return;
    }
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
    let t = 0;
    const pump = (): void => {
      while (!stream.destroyed) {
        const chunk = Buffer.allocUnsafe(CHUNK_BYTES);
        let at = 0;
        while (at + 5 + 8 + templates[t].length + TIME_FIELD_MAX + UUID_FIELD < CHUNK_BYTES) {
          at = writeMessage(chunk, at, templates[t]);
          t = (t + 1) % templates.length;
        }
        if (!stream.write(chunk.subarray(0, at))) {
          stream.once('drain', pump);
          return;
        }
      }
    };
    stream.on('error', () => undefined);
    pump();
  });
  return server;
}

const templates = buildTemplates();
const server = serve(templates);
server.listen(0, '127.0.0.1', () => {
  const port = (server.address() as { port: number }).port;
  process.send!({ type: 'listening', port, avgTemplateBytes: Math.round(templates.reduce((s, b) => s + b.length, 0) / templates.length) });
});
process.on('message', (m: { type: string }) => {
  if (m.type === 'stats') process.send!({ type: 'stats', sent });
  if (m.type === 'exit') process.exit(0);
});
