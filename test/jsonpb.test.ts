import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { JsonObject, JsonValue } from '../src/flows/jsonpb.js';
import { decodeFlowRecord } from '../src/flows/normalize.js';
import { GetFlowsResponseType } from '../src/flows/schema.js';
import { encodeResponse, fixtureLines } from './helpers/fixtures.js';

/** Every key path of a JSON value, in the order its objects hold them. */
function keyPaths(value: JsonValue, path = ''): string[] {
  if (Array.isArray(value)) return value.flatMap((v) => keyPaths(v, `${path}[]`));
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([k, v]) => [`${path}.${k}`, ...keyPaths(v, `${path}.${k}`)]);
}

test('decoded flows print their fields in the order Hubble prints them (every real fixture flow, nested messages included)', () => {
  const lines = fixtureLines();
  assert.ok(lines.length > 1000);
  for (const [i, line] of lines.entries()) {
    const hubble = keyPaths(line.flow);
    const ours = keyPaths(decodeFlowRecord(encodeResponse(line))!);
    assert.deepEqual(hubble.filter((p) => !ours.includes(p)), [], `flow ${i}: fields lost on the way`);
    // Normalisation adds fields Hubble left out (is_reply, drop_reason_desc): compare the paths Hubble printed.
    const printed = new Set(hubble);
    assert.deepEqual(ours.filter((p) => printed.has(p)), hubble, `flow ${i}`);
  }
});

test('64-bit integers print as exact decimal strings, beyond 2^53 too', () => {
  const flow = (fields: JsonObject): JsonObject => ({ flow: { time: '2026-11-28T00:00:00Z', ...fields }, node_name: 'n', time: '2026-11-28T00:00:00Z' });
  for (const value of ['1', '4294967296', '9007199254740991']) {
    const record = decodeFlowRecord(encodeResponse(flow({ socket_cookie: value, l7: { latency_ns: value } })))!;
    assert.equal(record.socket_cookie, value);
    assert.equal((record.l7 as JsonObject).latency_ns, value);
  }
  // Beyond 2^53 (the JSON encoder refuses those, so the message is built with protobufjs' Long).
  for (const value of ['9007199254740993', '18446744073709551615']) {
    const message = GetFlowsResponseType.encode(GetFlowsResponseType.fromObject({ flow: { socket_cookie: value, l7: { latency_ns: value } } })).finish();
    const record = decodeFlowRecord(message)!;
    assert.equal(record.socket_cookie, value);
    assert.equal((record.l7 as JsonObject).latency_ns, value);
  }
  // Zero is proto3's default: left out, as Hubble does.
  assert.equal(decodeFlowRecord(encodeResponse(flow({ socket_cookie: '0' })))!.socket_cookie, undefined);
});
