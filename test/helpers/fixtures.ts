import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT_DIR } from '../../src/paths.js';
import { GetFlowsResponseType } from '../../src/flows/schema.js';
import { encodeJsonpb } from '../../src/flows/jsonpb.js';
import type { JsonObject } from '../../src/flows/jsonpb.js';
import type { SimFlow } from '../../src/sim/traffic.js';

/** The real Hubble flows copied into the repository (test/fixtures/hubble-otel, Apache-2.0). */
export const FIXTURE_DIR = join(ROOT_DIR, 'test', 'fixtures', 'hubble-otel');

export function fixtureFiles(): string[] {
  // Fail fast with a clear message rather than letting a test wait on flows that never come.
  if (!existsSync(FIXTURE_DIR)) throw new Error(`test fixtures missing: ${FIXTURE_DIR} (they are part of the repository)`);
  return readdirSync(FIXTURE_DIR).filter((f) => f.endsWith('.jsonl')).sort();
}

/** Every jsonpb line of one fixture file (or of all files). */
export function fixtureLines(file?: string): JsonObject[] {
  const files = file ? [file] : fixtureFiles();
  const out: JsonObject[] = [];
  for (const f of files) {
    for (const line of readFileSync(join(FIXTURE_DIR, f), 'utf8').split('\n')) {
      if (line.trim()) out.push(JSON.parse(line) as JsonObject);
    }
  }
  return out;
}

/** Every real fixture flow, then the real drop examples and the synthetic flows for fields no capture has. */
export function corpusLines(): JsonObject[] {
  return [
    ...fixtureLines(),
    ...['dropped-flows.jsonl', 'synthetic-flows.jsonl'].flatMap((f) =>
      readFileSync(join(ROOT_DIR, 'test', 'fixtures', f), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as JsonObject)),
  ];
}

export function encodeResponse(json: JsonObject): Buffer {
  return Buffer.from(encodeJsonpb(GetFlowsResponseType, json));
}

/** Concatenates messages into one buffer with offsets, the shape FlowWriter.writeBatch takes. */
export function packBatch(messages: Uint8Array[]): { buf: Buffer; offsets: number[] } {
  const offsets = [0];
  for (const m of messages) offsets.push(offsets[offsets.length - 1] + m.length);
  return { buf: Buffer.concat(messages), offsets };
}

/** A simulator flow as the relay sends it: a GetFlowsResponse with the flow's node name and time. */
export function simulatorResponse(f: SimFlow): Buffer {
  return Buffer.from(GetFlowsResponseType.encode(GetFlowsResponseType.fromObject({ flow: f.flow, node_name: f.flow.node_name, time: { seconds: f.seconds, nanos: f.nanos } })).finish());
}
