import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { canonical, pushJsonLine, waitFor, withSimAndApp } from './helpers/harness.js';
import { fixtureLines } from './helpers/fixtures.js';
import type { JsonObject } from '../src/flows/jsonpb.js';
import { ROOT_DIR } from '../src/paths.js';

/** What flowkeeper promises to hand back for a flow Hubble sent: the same, with is_reply filled from reply. */
function expected(flow: JsonObject): JsonObject {
  const out = { ...flow };
  if (out.is_reply === undefined && out.reply === true) out.is_reply = true;
  if (out.drop_reason !== undefined && out.drop_reason_desc === undefined) out.drop_reason_desc = out.drop_reason;
  return out;
}

function dataLines(file: string): JsonObject[] {
  return readFileSync(join(ROOT_DIR, 'test', 'fixtures', file), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as JsonObject);
}

test('every real fixture flow (and the drop and synthetic examples) is ingested over gRPC and reads back with its fields intact', async () => {
  const lines = [...fixtureLines(), ...dataLines('dropped-flows.jsonl'), ...dataLines('synthetic-flows.jsonl'), ...dataLines('wire-coverage-flows.jsonl')];
  assert.ok(lines.length >= 1900, `expected the hubble-otel fixtures, found ${lines.length} lines`);
  await withSimAndApp(async ({ sim, app }) => {
    await waitFor('all fixture flows stored', () => app.pipeline.stats.stored === lines.length);
    const got = app.reader!.flows({ limit: 10_000, order: 'asc' });
    assert.equal(got.length, lines.length);
    const want = lines.map((l) => canonical(expected(l.flow as JsonObject))).sort();
    const have = got.map((f) => canonical(f)).sort();
    for (let i = 0; i < want.length; i++) assert.equal(have[i], want[i]);
    assert.equal(app.pipeline.stats.malformed, 0);
    // Fresh store: the first request asks for everything the relay buffers, then follows.
    assert.equal(sim.requests[0].follow, true);
    assert.equal(sim.requests[0].since, null);
    assert.equal(sim.requests[0].number, '18446744073709551615');
  }, { before: (sim) => lines.forEach((line) => pushJsonLine(sim, line)) });
});

test('drops keep reason, denying policy, uuid and workloads; numeric drop_reason alone yields drop_reason_desc', async () => {
  const [, policyDrop] = dataLines('dropped-flows.jsonl');
  const numericOnly = structuredClone(policyDrop);
  const nf = numericOnly.flow as JsonObject;
  delete nf.drop_reason_desc;
  nf.uuid = '0b5cbd58-1f7e-4c1b-9d55-0d3c2a5e9f01';
  nf.time = numericOnly.time = '2026-07-31T10:41:03.000000001Z';
  await withSimAndApp(async ({ app }) => {
    await waitFor('two drops stored', () => app.pipeline.stats.stored === 2);
    const [a, b] = app.reader!.flows({ limit: 10, order: 'asc' });
    assert.equal(a.drop_reason_desc, 'POLICY_DENY');
    assert.equal(a.drop_reason, 181);
    assert.equal(a.uuid, 'cd75b2ac-8dd3-486b-beca-3d17d9d56cff');
    assert.deepEqual(a.egress_denied_by, (policyDrop.flow as JsonObject).egress_denied_by);
    assert.deepEqual((a.source as JsonObject).workloads, [{ name: 'traffic-generator', kind: 'Deployment' }]);
    assert.equal(b.drop_reason_desc, 'POLICY_DENY');
    assert.equal(b.time, '2026-07-31T10:41:03.000000001Z');
  }, { before: (sim) => [policyDrop, numericOnly].forEach((line) => pushJsonLine(sim, line)) });
});
