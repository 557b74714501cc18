import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT_DIR } from '../../src/paths.js';
import { GetFlowsResponseType } from '../../src/flows/schema.js';
import { encodeJsonpb } from '../../src/flows/jsonpb.js';
import type { JsonObject } from '../../src/flows/jsonpb.js';

/** The real Hubble flows in ../shared/fixtures/hubble-otel (read-only, outside the repo). */
export const FIXTURE_DIR = process.env.FLOWKEEPER_FIXTURES ?? join(ROOT_DIR, '..', 'shared', 'fixtures', 'hubble-otel');

export function fixtureFiles(): string[] {
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

export function encodeResponse(json: JsonObject): Buffer {
  return Buffer.from(encodeJsonpb(GetFlowsResponseType, json));
}

/** Concatenates messages into one buffer with offsets, the shape FlowWriter.writeBatch takes. */
export function packBatch(messages: Uint8Array[]): { buf: Buffer; offsets: number[] } {
  const offsets = [0];
  for (const m of messages) offsets.push(offsets[offsets.length - 1] + m.length);
  return { buf: Buffer.concat(messages), offsets };
}
