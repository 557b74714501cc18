import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { messageToJsonpb } from '../src/flows/jsonpb.js';
import type { JsonObject } from '../src/flows/jsonpb.js';
import { GetFlowsResponseType } from '../src/flows/schema.js';
import { ObserverClient } from '../src/relay/observer-service.js';
import { ROOT_DIR } from '../src/paths.js';
import { canonical, pushJsonLine, waitFor, withSimAndApp } from './helpers/harness.js';
import { fixtureLines } from './helpers/fixtures.js';

/**
 * The Observer face writes stored flows straight from the row's bytes (no JSON
 * round trip). Every real fixture flow must come back from history as exactly
 * the flow the relay sent — no field added, lost or changed — with node_name
 * and time on the response as a relay sets them.
 */
function dataLines(file: string): JsonObject[] {
  return readFileSync(join(ROOT_DIR, 'test', 'fixtures', file), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as JsonObject);
}

function streamAll(address: string, req: object): Promise<JsonObject[]> {
  const client = new ObserverClient(address, grpc.credentials.createInsecure());
  return new Promise<JsonObject[]>((resolve, reject) => {
    const out: JsonObject[] = [];
    const call = (client as unknown as { GetFlows(r: object): grpc.ClientReadableStream<Buffer> }).GetFlows(req);
    call.on('data', (b: Buffer) => out.push(messageToJsonpb(GetFlowsResponseType, GetFlowsResponseType.decode(b) as unknown as Record<string, unknown>)));
    call.on('error', reject);
    call.on('end', () => resolve(out));
  }).finally(() => client.close());
}

test('every real fixture flow streams back from history exactly as the relay sent it', async () => {
  const lines = [...fixtureLines(), ...dataLines('dropped-flows.jsonl'), ...dataLines('synthetic-flows.jsonl'), ...dataLines('wire-coverage-flows.jsonl')];
  assert.ok(lines.length >= 1900, `expected the hubble-otel fixtures, found ${lines.length} lines`);
  await withSimAndApp(async ({ app }) => {
    await waitFor('all fixture flows stored', () => app.pipeline.stats.stored === lines.length);
    const seconds = lines.map((l) => Math.floor(Date.parse(String((l.flow as JsonObject).time)) / 1000));
    const since = { seconds: String(Math.min(...seconds) - 1), nanos: 0 };
    const until = { seconds: String(Math.max(...seconds) + 1), nanos: 0 };
    const responses = await streamAll(app.observerAddress!, { since, until });
    assert.equal(responses.length, lines.length);
    const want = lines.map((l) => canonical(l.flow)).sort();
    const have = responses.map((r) => canonical(r.flow)).sort();
    for (let i = 0; i < want.length; i++) assert.equal(have[i], want[i]);
    for (const r of responses) {
      const flow = r.flow as JsonObject;
      assert.equal(r.time, flow.time);
      assert.equal(r.node_name, flow.node_name ?? undefined);
    }
  }, { before: (sim) => lines.forEach((line) => pushJsonLine(sim, line)), args: ['--query-max-range', '50000h'] });
});
