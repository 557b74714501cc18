import { test } from 'node:test';
import assert from 'node:assert/strict';
import { historyPages } from '../src/observer/history-pages.js';
import type { ReadPage } from '../src/observer/history-pages.js';
import type { FlowTime } from '../src/flows/record.js';
import type { HistoryAnswer } from '../src/query/jobs.js';
import type { FlowPosition } from '../src/query/position.js';

/**
 * historyPages reads a range as chunks of time, several at once, and must
 * hand them on in exactly the order one cursor gives. The pages here come from
 * a sorted in-memory table read the way the query engine pages (time range,
 * then position, `limit` at most, sometimes cut short as a deadline cuts
 * pages), with reads taking random times so chunks finish out of order. The
 * real engines behind it are tested through the Observer API.
 */

interface Row {
  ns: bigint;
  id: number;
}

const NS = 1_000_000_000n;
const ns = (t: FlowTime): bigint => BigInt(t.seconds) * NS + BigInt(t.nanos);

/**
 * Rows in order, with bursts sharing one nanosecond, runs on consecutive
 * nanoseconds (so chunk edges, a few nanoseconds apart, fall on flows), sparse
 * stretches and empty hours.
 */
function table(): Row[] {
  const rows: Row[] = [];
  let t = 1_700_000_000n * NS;
  let id = 0;
  for (let block = 0; block < 40; block++) {
    const burst = block % 3 === 0 ? 9 : 1;
    for (let i = 0; i < 25; i++) {
      for (let k = 0; k < burst; k++) rows.push({ ns: t, id: id++ });
      t += block % 5 === 0 || block % 3 === 1 ? 1n : 3_000_000n;
    }
    t += block % 7 === 0 ? 3_600n * NS : 50_000_000n;
  }
  return rows;
}

function reader(rows: Row[], limit: number, seed: number): { read: ReadPage; maxInFlight: () => number } {
  let state = seed;
  const random = (): number => (state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32;
  let inFlight = 0;
  let most = 0;
  const read: ReadPage = async (since, until, after) => {
    inFlight++;
    most = Math.max(most, inFlight);
    await new Promise((r) => setTimeout(r, Math.floor(random() * 3)));
    inFlight--;
    const from = after === null ? 0 : (after as unknown as { index: number }).index + 1;
    const page: HistoryAnswer = { next: null, truncated: false, count: 0, bytes: null, ends: [], seconds: [], nanos: [], keys: [] };
    // A deadline sometimes cuts a page short, even to nothing, with a position to go on from.
    const take = random() < 0.15 ? Math.floor(random() * limit) : limit;
    let i = from;
    for (; i < rows.length && page.count < take; i++) {
      if (rows[i].ns < ns(since)) continue;
      if (rows[i].ns > ns(until)) break;
      page.count++;
      page.seconds.push(Number(rows[i].ns / NS));
      page.nanos.push(Number(rows[i].ns % NS));
      page.keys!.push(String(rows[i].id));
    }
    const more = rows.slice(i).some((r) => r.ns >= ns(since) && r.ns <= ns(until));
    if (more) page.next = { index: i - 1 } as unknown as FlowPosition;
    return page;
  };
  return { read, maxInFlight: () => most };
}

const time = (n: bigint): FlowTime => ({ seconds: Number(n / NS), nanos: Number(n % NS) });

async function collect(read: ReadPage, since: FlowTime, until: FlowTime, lanes: number): Promise<string[]> {
  const ids: string[] = [];
  for await (const page of historyPages(read, since, until, { lanes, chunkFlows: 12, maxAhead: 2, minSpanNs: 1n }, () => false)) ids.push(...page.keys!);
  return ids;
}

test('chunks read at once give every flow of the range once, in the order one cursor gives (bursts on one nanosecond, gaps, cut pages)', async () => {
  const rows = table();
  const ranges: [bigint, bigint][] = [
    [rows[0].ns, rows[rows.length - 1].ns],
    [rows[0].ns - 10n * NS, rows[rows.length - 1].ns + 10n * NS],
    [rows[137].ns, rows[801].ns],
    [rows[400].ns + 1n, rows[400].ns + 7_200n * NS],
  ];
  for (const [seed, [a, b]] of ranges.entries()) {
    const want = rows.filter((r) => r.ns >= a && r.ns <= b).map((r) => String(r.id));
    for (const lanes of [1, 2, 4]) {
      const { read, maxInFlight } = reader(rows, 10, seed * 7 + lanes);
      assert.deepEqual(await collect(read, time(a), time(b), lanes), want, `range ${seed}, ${lanes} lanes`);
      if (lanes > 1 && want.length > 100) assert.ok(maxInFlight() > 1, 'chunks were read at the same time');
    }
  }
});

test('a read that fails ends the pages with its error; stopping early leaves nothing running', async () => {
  const rows = table();
  const { read } = reader(rows, 10, 3);
  let reads = 0;
  const failing: ReadPage = (since, until, after) => (++reads === 9 ? Promise.reject(new Error('store gone')) : read(since, until, after));
  await assert.rejects(collect(failing, time(rows[0].ns), time(rows[rows.length - 1].ns), 2), /store gone/);

  let stop = false;
  let after = 0;
  const counting: ReadPage = (since, until, position) => {
    if (stop) after++;
    return read(since, until, position);
  };
  let pages = 0;
  for await (const page of historyPages(counting, time(rows[0].ns), time(rows[rows.length - 1].ns), { lanes: 2, chunkFlows: 12, maxAhead: 2 }, () => stop)) {
    assert.ok(page.count >= 0);
    if (++pages === 5) stop = true;
  }
  await new Promise((r) => setTimeout(r, 20));
  assert.ok(after <= 2, `reads after the stop: ${after} (at most the pages each chunk had started)`);
});
