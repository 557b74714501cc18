import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { JsonObject } from '../src/flows/jsonpb.js';
import { decodeFlowRecord } from '../src/flows/normalize.js';
import { wsFlowFrame } from '../src/flows/record.js';
import { decodeLiveFlow, endpointCacheOn, wsFlowText } from '../src/live/flow-text.js';
import { ROOT_DIR } from '../src/paths.js';
import { TrafficGenerator } from '../src/sim/traffic.js';
import { corpusLines, encodeResponse, simulatorResponse } from './helpers/fixtures.js';

/** What the live stream sent before wsFlowText: the flow's record, stringified. */
function reference(message: Uint8Array): string {
  return wsFlowFrame(decodeFlowRecord(message)!);
}

/** `count` simulator flows; with `podNames`, each endpoint's pod name is made unique (a cluster whose endpoints never repeat). */
function simulatorMessages(count: number, podNames?: () => string): Buffer[] {
  const gen = new TrafficGenerator(11);
  const out: Buffer[] = [];
  for (let t = Date.parse('2026-11-28T00:00:00Z'); out.length < count; t += 7) {
    for (const f of gen.next(t)) {
      if (podNames) for (const e of [f.flow.source, f.flow.destination] as { pod_name?: string }[]) if (e) e.pod_name = podNames();
      out.push(simulatorResponse(f));
    }
  }
  return out;
}

const base = { time: '2026-11-28T10:00:00.123456789Z', verdict: 'FORWARDED', node_name: 'prod/node-a' };
const endpoint = (pod: string, labels: string[]): JsonObject => ({ ID: 7, identity: 1234, cluster_name: 'prod', namespace: 'shop', labels, pod_name: pod, workloads: [{ name: 'cart', kind: 'Deployment' }] });

/** Flows that take every branch of the splice: fields missing on either side of the endpoints, derived fields, text to escape. */
const EDGE_CASES: JsonObject[] = [
  {},
  { time: base.time },
  { source: endpoint('a', ['k8s:app=a']) },
  { destination: endpoint('b', []) },
  { source: {}, destination: {} },
  { ...base, source: endpoint('a', ['k8s:app=a']) },
  { verdict: 'DROPPED', destination: endpoint('b', ['k8s:app=b']), drop_reason: 133 },
  { ...base, reply: true },
  { ...base, reply: true, is_reply: false },
  { ...base, verdict: 'DROPPED', drop_reason: 999_999 },
  { ...base, drop_reason: 181, drop_reason_desc: 'POLICY_DENIED' },
  { ...base, source: endpoint('quote"back\\slash\u0001\u2028', ['k8s:app=ünïcødé', 'k8s:emoji=\u{1F600}']), destination: endpoint('b', ['x']), Summary: 'line\nbreak "quoted"' },
  { source: endpoint('a', ['k8s:app=a']), destination: endpoint('a', ['k8s:app=a']), Summary: 'only after' },
  { uuid: 'u-1', node_name: '' },
];

test('the live text of a flow is its record stringified, byte for byte: every fixture flow, the wire-coverage flows, 20,000 simulator flows and edge cases', () => {
  const messages = [
    ...corpusLines().map((l) => encodeResponse(l)),
    ...readFileSync(join(ROOT_DIR, 'test', 'fixtures', 'wire-coverage-flows.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => encodeResponse(JSON.parse(l) as JsonObject)),
    ...simulatorMessages(20_000),
    ...EDGE_CASES.map((flow) => encodeResponse({ flow })),
  ];
  assert.ok(messages.length > 21_000);
  // Twice: the first pass fills the endpoint cache, the second is served from it.
  for (const pass of [1, 2]) {
    for (const [i, m] of messages.entries()) assert.equal(wsFlowText(decodeLiveFlow(m)!), reference(m), `pass ${pass}, message ${i}`);
  }
});

test('endpoints that share their length and their first and last bytes are told apart', () => {
  // Same length, same 16 leading and trailing bytes: only the middle of the pod name differs.
  const pods = ['cart-aaaaaaaaaaaaaaaaaaaaaaaa-x1', 'cart-aaaaaaaaaaabaaaaaaaaaaaa-x1'];
  const labels = ['k8s:app=cart', 'k8s:io.kubernetes.pod.namespace=shop-and-more-and-more'];
  const messages = pods.map((pod) => encodeResponse({ flow: { ...base, source: endpoint(pod, labels) } }));
  assert.equal(messages[0].length, messages[1].length);
  for (let round = 0; round < 3; round++) {
    for (const [i, m] of messages.entries()) {
      const text = wsFlowText(decodeLiveFlow(m)!);
      assert.equal(text, reference(m));
      assert.ok(text.includes(pods[i]), `round ${round}: flow ${i} shows its own pod`);
    }
  }
});

test('the endpoint cache turns itself off where endpoints rarely repeat, and on again where they do; the text is the same throughout', () => {
  let pod = 0;
  const check = (messages: Buffer[]): void => {
    for (const [i, m] of messages.entries()) assert.equal(wsFlowText(decodeLiveFlow(m)!), reference(m), `message ${i}`);
  };
  check(simulatorMessages(20_000));
  assert.equal(endpointCacheOn(), true, 'endpoints that repeat: on');
  // Two windows of 8,192 endpoints: the first fills the cache, the second finds ~no endpoint seen before.
  check(simulatorMessages(9000, () => `pod-${pod++}`));
  assert.equal(endpointCacheOn(), false, 'every endpoint new: off');
  // Off for 65,536 flows, then tried again: the simulator's endpoints are back in the cache (kept while off).
  check(simulatorMessages(70_000));
  assert.equal(endpointCacheOn(), true, 'repeating again: on');
});
