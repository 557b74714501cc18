import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ByteKeyCache, hashBytes } from '../src/flows/byte-key-cache.js';
import { EndpointType } from '../src/flows/schema.js';

/** The endpoints of one workload's pods as seen from another node: no endpoint id, the same labels, only pod names differ. */
function podEndpoints(count: number): Buffer[] {
  const base = { identity: 51234, namespace: 'payments', labels: ['k8s:app=checkout', 'k8s:io.kubernetes.pod.namespace=payments'], workloads: [{ name: 'checkout', kind: 'Deployment' }], cluster_name: 'prod' };
  return Array.from({ length: count }, (_, i) => Buffer.from(EndpointType.encode(EndpointType.fromObject({ ...base, pod_name: `checkout-7f9c5d8b4-${String(i).padStart(5, '0')}` })).finish()));
}

test('keys that share their length, head and tail hash apart (the endpoints of one workload\'s pods)', () => {
  const keys = podEndpoints(10_000);
  assert.ok(keys.every((k) => k.length === keys[0].length));
  assert.ok(keys.every((k) => k.subarray(0, 16).equals(keys[0].subarray(0, 16)) && k.subarray(-16).equals(keys[0].subarray(-16))));
  const hashes = new Set(keys.map((k) => hashBytes(k, 0, k.length, 0)));
  // 10,000 32-bit hashes collide by chance about once in 860 such sets.
  assert.ok(hashes.size >= 9998, `${10_000 - hashes.size} collisions`);
});

test('a change to any one byte of a key changes its hash', () => {
  const key = podEndpoints(1)[0];
  const original = hashBytes(key, 0, key.length, 0);
  for (let i = 0; i < key.length; i++) {
    const changed = Buffer.from(key);
    changed[i] ^= 0x01;
    assert.notEqual(hashBytes(changed, 0, changed.length, 0), original, `byte ${i}`);
  }
  // A range inside a larger buffer hashes as the same bytes on their own; the seed separates namespaces.
  const framed = Buffer.concat([Buffer.from('xyz'), key, Buffer.from('!')]);
  assert.equal(hashBytes(framed, 3, 3 + key.length, 0), original);
  assert.notEqual(hashBytes(key, 0, key.length, 1), original);
});

test('the cache answers each key with its own value, and starts over when full', () => {
  const keys = podEndpoints(1000);
  const cache = new ByteKeyCache<number>(600);
  keys.slice(0, 500).forEach((k, i) => cache.set(k, 0, k.length, i));
  keys.slice(0, 500).forEach((k, i) => assert.equal(cache.get(k, 0, k.length), i));
  assert.equal(cache.get(keys[700], 0, keys[700].length), undefined);
  keys.slice(500).forEach((k, i) => cache.set(k, 0, k.length, 500 + i));
  // 600 entries at most: it started over at the 601st, so the first 600 are gone and the last 400 remain.
  assert.equal(cache.get(keys[0], 0, keys[0].length), undefined);
  keys.slice(600).forEach((k, i) => assert.equal(cache.get(k, 0, k.length), 600 + i));
});
