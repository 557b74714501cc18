import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import type { JsonObject } from '../src/flows/jsonpb.js';
import { formatTimestamp } from '../src/flows/jsonpb.js';
import type { FlowTime } from '../src/flows/record.js';
import { FilterSet } from '../src/query/filter.js';
import { QueryService } from '../src/store/sqlite/queries.js';
import type { FlowClasses } from '../src/store/flow-classes.js';
import { CLASS_FLOOR } from '../src/store/sqlite/class-rollup.js';
import { classHash, classKeyOf, sameClass } from '../src/store/class-key.js';
import type { ClassFields } from '../src/store/class-key.js';
import { MIGRATIONS_DIR } from '../src/paths.js';
import { migrate } from '../src/store/sqlite/migrate.js';
import { FlowReader } from '../src/store/sqlite/reader.js';
import { openDatabase } from '../src/store/sqlite/sqlite.js';
import type { Db } from '../src/store/sqlite/sqlite.js';
import { FlowWriter } from '../src/store/sqlite/writer.js';
import { corpusLines, encodeResponse, packBatch } from './helpers/fixtures.js';
import { canonical, tempDir } from './helpers/harness.js';

/**
 * Policy replay's flow classes over whole hours come from flow_classes, which
 * the writer keeps; they must equal what grouping the raw flows gives, for
 * every filter classes can decide, and raw grouping must take over wherever
 * the class rows are not complete.
 */

const HOUR = 3600;
/** Three whole hours, ending an hour before now. */
const FIRST_HOUR = Math.floor(Date.now() / 1000 / HOUR) - 4;
const WHOLE = { since: { seconds: FIRST_HOUR * HOUR, nanos: 0 }, until: { seconds: (FIRST_HOUR + 3) * HOUR - 1, nanos: 999_999_999 } };

/** A GetFlowsResponse line stamped at `seconds`.`nanos` (response and flow), with `flow` fields replaced. */
function stamped(line: JsonObject, seconds: number, nanos: number, flow: JsonObject = {}): JsonObject {
  const time = formatTimestamp(seconds, nanos);
  return { ...line, time, flow: { ...(line.flow as JsonObject), ...flow, time } };
}

/** The real fixture flows, spread evenly over the three hours. */
function retimedCorpus(): JsonObject[] {
  const lines = corpusLines();
  const stepNs = (3 * HOUR * 1e9) / lines.length;
  return lines.map((line, i) => {
    const ns = Math.floor(i * stepNs);
    return stamped(line, FIRST_HOUR * HOUR + Math.floor(ns / 1e9), ns % 1e9);
  });
}

/** A new store at dir/name, with its writer. */
function newStore(dir: string, name: string): { db: Db; writer: FlowWriter } {
  const db = openDatabase(join(dir, name));
  migrate(db, MIGRATIONS_DIR);
  return { db, writer: new FlowWriter(db, 5) };
}

function classRows(db: Db, hour: number): number {
  return db.prepare('SELECT count(*) FROM flow_classes WHERE hour = ?').pluck().get(hour) as number;
}

function writeLines(writer: FlowWriter, lines: JsonObject[], batch = 200): void {
  for (let i = 0; i < lines.length; i += batch) {
    const { buf, offsets } = packBatch(lines.slice(i, i + batch).map(encodeResponse));
    writer.writeBatch('classes', buf, offsets);
  }
}

function classesOf(db: Db, filter: object, range: { since: FlowTime; until: FlowTime } = WHOLE): FlowClasses {
  const svc = new QueryService(db, new FlowReader(db), 30_000, undefined, { onEventLoop: false });
  return svc.flowClasses({ filters: FilterSet.parse(filter), ...range, withHeaders: false, maxClasses: 100_000, budgetMs: 30_000 });
}

/** A scan's classes in a comparable form (the sample by its canonical JSON). */
function comparable(scan: FlowClasses): unknown {
  const classes = scan.classes.map((c) => ({ key: c.key, flows: c.flows, first: c.first, last: c.last, sample: canonical(c.sample) }));
  return { flows: scan.flows, truncated: scan.truncated, classes: classes.sort((a, b) => a.key.localeCompare(b.key)) };
}

/** A store of the retimed corpus, and copies of it: one without class rows, one with every class row's count inflated. */
function stores(dir: string): { rollups: Db; raw: Db; inflated: Db; close: () => void } {
  const path = join(dir, 'classes.db');
  const { db, writer } = newStore(dir, 'classes.db');
  writeLines(writer, retimedCorpus());
  writer.flushClasses();
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  const copy = (name: string, sql: string): Db => {
    copyFileSync(path, join(dir, name));
    const c = openDatabase(join(dir, name));
    c.exec(sql);
    return c;
  };
  const raw = copy('raw.db', 'UPDATE partitions SET classes = 0');
  const inflated = copy('inflated.db', 'UPDATE flow_classes SET flows = flows + 1000');
  const rollups = openDatabase(path, { readonly: true });
  return { rollups, raw, inflated, close: () => [rollups, raw, inflated].forEach((d) => d.close()) };
}

const CASES: [string, object][] = [
  ['no filter', {}],
  ['verdict', { whitelist: [{ verdict: ['FORWARDED'] }] }],
  ['namespace', { whitelist: [{ source_pod: ['bookinfo/'] }, { destination_pod: ['bookinfo/'] }] }],
  ['pod prefix', { whitelist: [{ destination_pod: ['kube-system/coredns'] }] }],
  ['label', { whitelist: [{ destination_label: ['k8s:k8s-app=kube-dns'] }] }],
  ['label absent side', { whitelist: [{ source_label: ['!k8s:app'] }] }],
  ['ip', { whitelist: [{ destination_ip: ['10.244.0.177', '10.156.0.0/16'] }] }],
  ['dns query', { whitelist: [{ dns_query: ['.*bookinfo.*'] }] }],
  ['http path', { whitelist: [{ http_path: ['/metrics'] }] }],
  ['protocol', { whitelist: [{ protocol: ['udp', 'http'] }] }],
  ['direction and event type', { whitelist: [{ traffic_direction: ['EGRESS'], event_type: [{ type: 129 }] }] }],
  ['blacklist', { blacklist: [{ source_pod: ['kube-system/'] }] }],
  ['identity', { whitelist: [{ source_identity: [1, 2] }] }],
  // Not decided by classes (ports, CEL): grouped from raw flows either way.
  ['port', { whitelist: [{ destination_port: ['53'] }] }],
  ['cel', { whitelist: [{ experimental: { cel_expression: ["_flow.source.namespace == 'bookinfo'"] } }] }],
];

test('classes over whole hours from flow_classes equal the grouping of raw flows, for every filter case', () => {
  const { dir, cleanup } = tempDir();
  const s = stores(dir);
  try {
    const complete = s.rollups.prepare('SELECT count(*) FROM partitions WHERE classes = 1 AND class_flows = flows AND flows > 0').pluck().get();
    assert.equal(complete, 3, 'three hours, each with complete class rows');
    const all = classesOf(s.rollups, {});
    assert.ok(all.classes.length > 20 && all.classes.length < all.flows, `${all.classes.length} classes of ${all.flows} flows`);
    // The class rows are what is read: inflating their counts shows in the answer.
    assert.equal(classesOf(s.inflated, {}).flows, all.flows + 1000 * (s.rollups.prepare('SELECT count(*) FROM flow_classes').pluck().get() as number));
    for (const [name, filter] of CASES) {
      const expected = comparable(classesOf(s.raw, filter));
      assert.ok((expected as { flows: number }).flows > 0, `${name}: the case selects flows`);
      assert.deepEqual(comparable(classesOf(s.rollups, filter)), expected, name);
    }
  } finally {
    s.close();
    cleanup();
  }
});

test('a range that cuts hours reads class rows for the whole hours only and raw flows for the rest', () => {
  const { dir, cleanup } = tempDir();
  const s = stores(dir);
  try {
    const cut = { since: { seconds: FIRST_HOUR * HOUR + 1234, nanos: 5 }, until: { seconds: (FIRST_HOUR + 2) * HOUR + 999, nanos: 0 } };
    for (const [name, filter] of CASES.slice(0, 5)) {
      assert.deepEqual(comparable(classesOf(s.rollups, filter, cut)), comparable(classesOf(s.raw, filter, cut)), name);
    }
    // One hour of the three is whole: only its class rows are inflated into the answer.
    assert.equal(classesOf(s.inflated, {}, cut).flows, classesOf(s.raw, {}, cut).flows + 1000 * classRows(s.rollups, FIRST_HOUR + 1));
  } finally {
    s.close();
    cleanup();
  }
});

test('class counts not yet written leave their hour to raw grouping; retention drops class rows with the partition', () => {
  const { dir, cleanup } = tempDir();
  const { db, writer } = newStore(dir, 'pending.db');
  try {
    const lines = retimedCorpus();
    writeLines(writer, lines);
    writer.flushClasses();
    db.exec('UPDATE flow_classes SET flows = flows + 1000');
    const inflated = classesOf(db, {}).flows;
    assert.ok(inflated > lines.length, 'complete hours answer from (inflated) class rows');
    // More flows in the first hour, five batches of them, counted in memory only (written every 2 s): that hour is grouped from raw flows.
    writeLines(writer, lines.slice(0, 50).map((l, i) => stamped(l, FIRST_HOUR * HOUR + 7, i)), 10);
    const first = db.prepare('SELECT flows, class_flows FROM partitions WHERE hour = ?').get(FIRST_HOUR) as { flows: number; class_flows: number };
    assert.equal(first.class_flows + 50, first.flows, 'the 50 flows are counted in memory, not yet in flow_classes');
    assert.equal(classesOf(db, {}).flows, inflated + 50 - 1000 * classRows(db, FIRST_HOUR));
    writer.enforceRetention({ maxAgeSeconds: Date.now() / 1000 - (FIRST_HOUR + 1) * HOUR, maxBytes: 0, rollupMaxAgeSeconds: 365 * 86400 });
    assert.equal(classRows(db, FIRST_HOUR), 0, 'the dropped hour\'s class rows are gone');
    assert.ok(classRows(db, FIRST_HOUR + 1) > 0);
  } finally {
    db.close();
    cleanup();
  }
});

test('an hour whose classes outgrow their bound gives its class rows up and is grouped from raw flows', () => {
  const { dir, cleanup } = tempDir();
  const { db, writer } = newStore(dir, 'wide.db');
  try {
    const http = corpusLines().find((l) => (l.flow as { l7?: { http?: unknown } }).l7?.http !== undefined)!;
    const flow = http.flow as { l7: { http: JsonObject } };
    // Every request its own path: as many classes as flows.
    const n = CLASS_FLOOR + 500;
    const lines = Array.from({ length: n }, (_, i) => stamped(http, FIRST_HOUR * HOUR + Math.floor(i / 10), (i % 10) * 1000, {
      uuid: `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`,
      l7: { ...flow.l7, http: { ...flow.l7.http, url: `http://svc/orders/${i}` } },
    }));
    writeLines(writer, lines);
    writer.flushClasses();
    assert.deepEqual(db.prepare('SELECT classes, flows FROM partitions WHERE hour = ?').get(FIRST_HOUR), { classes: 0, flows: n });
    assert.equal(db.prepare('SELECT count(*) FROM flow_classes').pluck().get(), 0);
    const scan = classesOf(db, {});
    assert.equal(scan.flows, n);
    assert.equal(scan.classes.length, n);
  } finally {
    db.close();
    cleanup();
  }
});

test('sameClass and classHash agree with classKeyOf, field by field', () => {
  const base: ClassFields = {
    verdict: 1, dropReason: 0, eventType: 4, direction: 1, bits: 0, l4: 1, l7Type: null, icmpType: null, srcPort: 40000, dstPort: 80,
    l7Record: 7, srcEp: 1, dstEp: 2, srcIp: 3, dstIp: 4, srcNames: null, dstNames: 5, srcService: null, dstService: 6, l7Headers: null,
  };
  const changed: [string, Partial<ClassFields>][] = [
    ['verdict', { verdict: 2 }], ['drop reason', { dropReason: 133 }], ['event type', { eventType: null }], ['direction', { direction: 2 }],
    ['reply', { bits: 3 }], ['protocol', { l4: 2 }], ['L7 type', { l7Type: 0 }], ['ICMP type', { icmpType: 0 }], ['service port', { dstPort: 81 }],
    ['L7 record', { l7Record: 8 }], ['source endpoint', { srcEp: null }], ['destination endpoint', { dstEp: 9 }], ['source address', { srcIp: 9 }],
    ['destination address', { dstIp: 9 }], ['source names', { srcNames: 9 }], ['destination names', { dstNames: null }],
    ['source service', { srcService: 9 }], ['destination service', { dstService: 9 }],
  ];
  for (const [name, change] of changed) {
    const other = { ...base, ...change };
    assert.notEqual(classKeyOf(other, false), classKeyOf(base, false), name);
    assert.equal(sameClass(base, other), false, name);
    assert.notEqual(classHash(other), classHash(base), name);
  }
  // What classes do not key on: the client's port of a request, the legacy reply flag, headers unless asked.
  for (const [name, change] of [['client port', { srcPort: 40001 }], ['legacy reply', { bits: 4 }], ['headers', { l7Headers: Buffer.from('x') }]] as const) {
    const other = { ...base, ...change };
    assert.equal(classKeyOf(other, false), classKeyOf(base, false), name);
    assert.equal(sameClass(base, other), true, name);
    assert.equal(classHash(other), classHash(base), name);
  }
  assert.notEqual(classKeyOf({ ...base, l7Headers: Buffer.from('x') }, true), classKeyOf(base, true), 'headers when asked');
});
