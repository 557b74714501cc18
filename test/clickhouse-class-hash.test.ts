import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scanEnvelope } from '../src/flows/envelope.js';
import type { JsonObject } from '../src/flows/jsonpb.js';
import { FlowScanner } from '../src/store/clickhouse/columns.js';
import { LabelSets } from '../src/store/clickhouse/label-sets.js';
import { MetricNameInterner } from '../src/store/clickhouse/metric-names.js';
import { ClassInterner } from '../src/store/clickhouse/flow-classes.js';
import { RawFlow } from '../src/store/clickhouse/flows.js';
import { corpusLines, encodeResponse } from './helpers/fixtures.js';

/**
 * The ClickHouse writer's class_hash stands for a flow's class key (what policy
 * replay groups by): two flows share a hash exactly when their class keys
 * agree, whichever writer wrote them. No server needed: the hash is computed
 * from the wire bytes.
 */

function hashOf(scanner: FlowScanner, message: Buffer): bigint {
  const env = scanEnvelope(message, 0, message.length);
  return scanner.scan(message, env.start, env.end).classHash;
}

function keyOf(message: Buffer): string {
  const interner = new ClassInterner();
  const row = new RawFlow(message, 0n).row(interner);
  assert.ok(row);
  return interner.stableKey(row, false);
}

const newScanner = (): FlowScanner => new FlowScanner(new MetricNameInterner(), new LabelSets());

interface EndpointJson { identity: number; namespace: string; labels: string[]; pod_name: string }
interface PortsJson { source_port: number; destination_port: number; flags?: object }
/** The flow fields the test edits, as Hubble's JSON names them. */
interface FlowJson {
  time: string; uuid: string; verdict: string; drop_reason_desc: string; traffic_direction: string; event_type: { type: number };
  IP: { source: string; destination: string; ipVersion: string };
  l4: { TCP?: PortsJson; UDP?: PortsJson };
  source: EndpointJson; destination: EndpointJson;
  source_names: string[]; destination_names: string[];
  source_service: { name: string; namespace: string }; destination_service?: { name: string; namespace: string };
  l7?: object; node_name: string; Summary: string; Type: string;
}
type Edit = (f: FlowJson) => void;

test('over the real and synthetic corpus, flows share a class hash exactly when they share a class key', () => {
  const messages = corpusLines().map(encodeResponse);
  const scanner = newScanner();
  const keysByHash = new Map<bigint, Set<string>>();
  const hashesByKey = new Map<string, Set<bigint>>();
  for (const m of messages) {
    const hash = hashOf(scanner, m);
    const key = keyOf(m);
    assert.notEqual(hash, 0n, '0 is left to rows stored before the column');
    if (!keysByHash.has(hash)) keysByHash.set(hash, new Set());
    keysByHash.get(hash)!.add(key);
    if (!hashesByKey.has(key)) hashesByKey.set(key, new Set());
    hashesByKey.get(key)!.add(hash);
  }
  assert.ok(hashesByKey.size > 100, `${hashesByKey.size} classes in ${messages.length} flows`);
  assert.ok(hashesByKey.size < messages.length, 'some flows share a class');
  for (const [hash, keys] of keysByHash) assert.equal(keys.size, 1, `hash ${hash} stands for ${keys.size} classes`);
  for (const [key, hashes] of hashesByKey) assert.equal(hashes.size, 1, `class ${key} got ${hashes.size} hashes`);
  // Another writer (fresh caches, other flows first) gives the same hashes.
  const other = newScanner();
  const reversed = [...messages].reverse();
  assert.deepEqual(reversed.map((m) => hashOf(other, m)), reversed.map((m) => hashOf(scanner, m)));
});

test('each field of the class key changes the hash alone; fields outside it do not', () => {
  const flow: FlowJson = {
    time: '2026-07-31T10:41:02.202450754Z', uuid: 'cd75b2ac-8dd3-486b-beca-3d17d9d56cff', verdict: 'DROPPED', drop_reason_desc: 'POLICY_DENIED',
    IP: { source: '10.0.1.235', destination: '10.0.0.21', ipVersion: 'IPv4' },
    l4: { TCP: { source_port: 60524, destination_port: 80, flags: { SYN: true } } },
    source: { identity: 24753, namespace: 'net-lab', labels: ['k8s:app=traffic-generator'], pod_name: 'traffic-generator-9b649846d-bxqfc' },
    destination: { identity: 24075, namespace: 'net-lab', labels: ['k8s:app=echo-server'], pod_name: 'echo-server-65887564dc-jjw7k' },
    source_names: ['a.example.com'], destination_names: ['b.example.com'],
    source_service: { name: 'tg', namespace: 'net-lab' }, destination_service: { name: 'echo', namespace: 'net-lab' },
    Type: 'L3_L4', node_name: 'topgun/cilium-w1', event_type: { type: 1 }, traffic_direction: 'EGRESS', Summary: 'TCP Flags: SYN',
  };
  const base = { flow, node_name: 'topgun/cilium-w1', time: '2026-07-31T10:41:02.202450754Z' } as unknown as JsonObject;
  const variant = (edit: Edit): Buffer => {
    const copy = structuredClone(flow);
    edit(copy);
    return encodeResponse({ flow: copy, node_name: 'topgun/cilium-w1', time: copy.time } as unknown as JsonObject);
  };
  const scanner = newScanner();
  const original = hashOf(scanner, encodeResponse(base));
  const inKey: Record<string, Edit> = {
    verdict: (f) => { f.verdict = 'FORWARDED'; },
    'drop reason': (f) => { f.drop_reason_desc = 'CT_NO_MAP_FOUND'; },
    direction: (f) => { f.traffic_direction = 'INGRESS'; },
    'event type': (f) => { f.event_type = { type: 4 }; },
    protocol: (f) => { f.l4 = { UDP: { source_port: 60524, destination_port: 80 } }; },
    'service port': (f) => { f.l4.TCP!.destination_port = 81; },
    'source pod': (f) => { f.source.pod_name = 'traffic-generator-9b649846d-zzzzz'; },
    'destination pod': (f) => { f.destination.pod_name = 'echo-server-65887564dc-zzzzz'; },
    'destination labels': (f) => { f.destination.labels = ['k8s:app=other']; },
    'source address': (f) => { f.IP.source = '10.0.1.236'; },
    'destination address': (f) => { f.IP.destination = '10.0.0.22'; },
    'source names': (f) => { f.source_names = ['c.example.com']; },
    'destination names': (f) => { f.destination_names = []; },
    'source service': (f) => { f.source_service = { name: 'tg2', namespace: 'net-lab' }; },
    'destination service': (f) => { delete f.destination_service; },
    'L7 record': (f) => { f.l7 = { type: 'REQUEST', dns: { query: 'b.example.com.' } }; },
  };
  for (const [name, edit] of Object.entries(inKey)) {
    const changed = variant(edit);
    assert.notEqual(keyOf(changed), keyOf(encodeResponse(base)), `${name}: the class key itself tells it apart`);
    assert.notEqual(hashOf(scanner, changed), original, `${name} changes the hash`);
  }
  const outside: Record<string, Edit> = {
    time: (f) => { f.time = '2026-08-01T00:00:00Z'; },
    uuid: (f) => { f.uuid = '00000000-8dd3-486b-beca-3d17d9d56cff'; },
    node: (f) => { f.node_name = 'topgun/cilium-w2'; },
    summary: (f) => { f.Summary = 'other'; },
    'source port of a request': (f) => { f.l4.TCP!.source_port = 1234; },
  };
  for (const [name, edit] of Object.entries(outside)) assert.equal(hashOf(scanner, variant(edit)), original, `${name} leaves the hash`);
});
