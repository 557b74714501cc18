import { Deadline } from '../src/query/deadline.js';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { FlowkeeperError } from '../src/errors.js';
import { formatTimestamp, parseTimestamp } from '../src/flows/jsonpb.js';
import type { JsonObject } from '../src/flows/jsonpb.js';
import { decodeFlowRecord } from '../src/flows/normalize.js';
import { ROOT_DIR, MIGRATIONS_DIR } from '../src/paths.js';
import { FilterSet } from '../src/query/filter.js';
import { filtersFromQuery } from '../src/query/shorthands.js';
import { filtersFromParams } from '../src/api/params.js';
import { StoreDictionaryIndex } from '../src/store/sqlite/dictionary-index.js';
import { runFlowQuery } from '../src/store/sqlite/flow-query.js';
import { migrate } from '../src/store/sqlite/migrate.js';
import { FlowReader } from '../src/store/sqlite/reader.js';
import { openDatabase } from '../src/store/sqlite/sqlite.js';
import type { Db } from '../src/store/sqlite/sqlite.js';
import { FlowWriter } from '../src/store/sqlite/writer.js';
import { encodeResponse, packBatch } from './helpers/fixtures.js';
import { tempDir } from './helpers/harness.js';

/**
 * Cilium's own filter test tables (test/conformance/*.json, transcribed from
 * pkg/hubble/filters/*_test.go): every row goes through the in-memory
 * predicate (the live path) and through SQL over a real SQLite store (the
 * history path), and both must give Go's answer. Rows where Go refuses the
 * filter must be refused with an error naming the FlowFilter field.
 */
interface Case {
  name: string;
  whitelist: JsonObject[];
  blacklist?: JsonObject[];
  flows?: JsonObject[];
  want?: boolean[];
  /** The FlowFilter field Go refuses (flowkeeper's error names it). */
  error?: string;
}
interface Table {
  source: string;
  cases: Case[];
}

const DIR = join(ROOT_DIR, 'test', 'conformance');
const tables = readdirSync(DIR).filter((f) => f.endsWith('.json')).sort()
  .map((f) => ({ file: f, table: JSON.parse(readFileSync(join(DIR, f), 'utf8')) as Table }));
assert.ok(tables.length > 0, `no conformance tables in ${DIR}`);

/** Each case's flows live in their own second, so a time range selects exactly them. */
const BASE_SECONDS = Date.UTC(2024, 0, 1) / 1000;
const caseSecond = new Map<Case, number>();
let second = BASE_SECONDS;
for (const { table } of tables) for (const c of table.cases) caseSecond.set(c, second++);

function flowAt(flow: JsonObject, seconds: number, index: number): JsonObject {
  const time = formatTimestamp(seconds, index * 1000);
  return { flow: { ...flow, time }, time, node_name: typeof flow.node_name === 'string' ? flow.node_name : '' };
}

let db: Db;
let reader: FlowReader;
let index: StoreDictionaryIndex;
let cleanup: () => void;

before(() => {
  const t = tempDir();
  cleanup = t.cleanup;
  db = openDatabase(join(t.dir, 'conformance.db'));
  migrate(db, MIGRATIONS_DIR);
  const messages: Buffer[] = [];
  for (const [c, s] of caseSecond) (c.flows ?? []).forEach((f, i) => messages.push(encodeResponse(flowAt(f, s, i))));
  const { buf, offsets } = packBatch(messages);
  new FlowWriter(db, 5).writeBatch('conformance', buf, offsets);
  reader = new FlowReader(db);
  index = new StoreDictionaryIndex(db);
});

after(() => {
  db?.close();
  cleanup?.();
});

/** Indexes (within the case) of the stored flows the SQL selects; `recheck` re-judges rows SQL cannot. */
function sqlSelects(set: FilterSet, seconds: number, recheck: boolean): number[] {
  const { where, exact } = set.sql(index);
  const page = runFlowQuery(db, reader.dict, {
    where, recheck: recheck && !exact ? (f) => set.match(f) : null,
    since: { seconds, nanos: 0 }, until: { seconds, nanos: 999_999_999 },
    order: 'asc', limit: 10_000, after: null, deadline: Deadline.NEVER,
  });
  return page.flows.map((f) => parseTimestamp(f.time)!.nanos / 1000);
}

for (const { file, table } of tables) {
  describe(`${file} (${table.source})`, () => {
    for (const c of table.cases) {
      test(c.name, () => {
        const body = { whitelist: c.whitelist, blacklist: c.blacklist };
        if (c.error !== undefined) {
          assert.throws(() => FilterSet.parse(body), (err: unknown) => {
            assert.ok(err instanceof FlowkeeperError, `expected a FlowkeeperError, got ${String(err)}`);
            assert.equal(err.parameter, c.error, `the error names the field: ${err.message}`);
            return true;
          });
          return;
        }
        const set = FilterSet.parse(body);
        const flows = c.flows ?? [];
        assert.equal(flows.length, c.want?.length, 'one expectation per flow');
        const wanted = c.want!.flatMap((w, i) => (w ? [i] : []));
        const live = flows.map((f, i) => decodeFlowRecord(encodeResponse(flowAt(f, 0, i)))!);
        const predicate = live.flatMap((f, i) => (set.match(f) ? [i] : []));
        assert.deepEqual(predicate, wanted, 'in-memory predicate (live path)');
        const s = caseSecond.get(c)!;
        assert.deepEqual(sqlSelects(set, s, true), wanted, 'SQL over the store (history path)');
        // Where SQL is only a pre-filter, it must never lose a row the predicate keeps.
        const superset = new Set(sqlSelects(set, s, false));
        assert.ok(wanted.every((i) => superset.has(i)), 'SQL pre-filter keeps every matching row');
      });
    }
  });
}

/**
 * The hubble CLI's flag → FlowFilter translation (test/conformance/cli/*.json):
 * query-string shorthands must produce the filters `hubble observe` sends,
 * and be refused where it refuses them, naming the parameter.
 */
interface FlagCase {
  name: string;
  params: Record<string, string[]>;
  whitelist?: JsonObject[];
  blacklist?: JsonObject[];
  error?: string;
}
const CLI_DIR = join(DIR, 'cli');
for (const file of readdirSync(CLI_DIR).filter((f) => f.endsWith('.json')).sort()) {
  const table = JSON.parse(readFileSync(join(CLI_DIR, file), 'utf8')) as { source: string; cases: FlagCase[] };
  describe(`cli/${file} (${table.source})`, () => {
    for (const c of table.cases) {
      test(c.name, () => {
        if (c.error !== undefined) {
          assert.throws(() => filtersFromParams(c.params), (err: unknown) => {
            assert.ok(err instanceof FlowkeeperError, `expected a FlowkeeperError, got ${String(err)}`);
            assert.equal(err.parameter, c.error, `the error names the parameter: ${err.message}`);
            return true;
          });
          return;
        }
        const got = filtersFromQuery(c.params);
        assert.deepEqual(got.whitelist.map(canonicalFilter), (c.whitelist ?? []).map(canonicalFilter));
        assert.deepEqual(got.blacklist.map(canonicalFilter), (c.blacklist ?? []).map(canonicalFilter));
        filtersFromParams(c.params); // and the filters compile
      });
    }
  });
}

/** Field order is not part of a FlowFilter; value order is. */
function canonicalFilter(f: object): string {
  return JSON.stringify(Object.fromEntries(Object.entries(f).sort(([a], [b]) => a.localeCompare(b))));
}
