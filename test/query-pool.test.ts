import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { get } from 'node:http';
import type { ClientRequest } from 'node:http';
import type { Worker } from 'node:worker_threads';
import { ALL_TIME, populatedApp } from './helpers/populated.js';
import type { Populated } from './helpers/populated.js';
import { waitFor } from './helpers/harness.js';

// A CEL filter that costs ~10,000 steps per flow (~100,000 by the cost estimate, its limit) (within the per-flow cost limit): a flow
// query with it scans until the budget ends, far longer than any other query here.
const ONES = `[${'1,'.repeat(99)}1]`;
const SLOW = `/api/v1/flows?limit=10000&since=${ALL_TIME.since}&cel_expression=${encodeURIComponent(`${ONES}.all(x, ${ONES}.all(y, x == y))`)}`;
const FAST = '/api/v1/aggregate?group_by=verdict&since=1h';
const BUDGET_SECONDS = 20;

let env: Populated;
before(async () => {
  env = await populatedApp(3000, ['--query-budget', `${BUDGET_SECONDS}s`, '--query-workers', '2', '--query-queue', '1']);
});
after(async () => {
  await env.stop();
});

/**
 * Starts a request; `leave()` closes its connection as a client that goes away
 * does (undici's abort can leave the connection open, so plain http is used).
 */
function start(path: string): { done: Promise<number>; finished: () => boolean; leave: () => void } {
  let finished = false;
  let req: ClientRequest;
  const done = new Promise<number>((resolve) => {
    req = get(`${env.app.url}${path}`, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve(0));
    });
    req.on('error', () => resolve(0));
    req.on('close', () => resolve(0));
  }).finally(() => (finished = true));
  return { done, finished: () => finished, leave: () => req.destroy() };
}

async function untilRunning(n: number): Promise<void> {
  await waitFor(`${n} queries running`, () => env.app.queryPool.stats().running === n, 10_000);
}

test('a slow query does not delay a fast one, nor the probes: they answer while it runs', async () => {
  const slow = start(SLOW);
  await untilRunning(1);
  const fast = await fetch(`${env.app.url}${FAST}`);
  assert.equal(fast.status, 200);
  assert.equal((await fetch(`${env.app.url}/healthz`)).status, 200);
  assert.equal((await fetch(`${env.app.url}/metrics`)).status, 200);
  assert.equal(slow.finished(), false, 'the fast query and the probes answered while the slow one was still running');
  slow.leave();
  await slow.done;
  await untilRunning(0);
});

test('beyond the running and queued queries, a query is refused with 429 and Retry-After', async () => {
  const slows = [start(SLOW), start(SLOW)];
  await untilRunning(2);
  const queued = start(FAST);
  await waitFor('one query waits', () => env.app.queryPool.stats().queued === 1, 10_000);
  const refused = await fetch(`${env.app.url}${FAST}`);
  assert.equal(refused.status, 429);
  assert.ok(Number(refused.headers.get('retry-after')) >= 1, 'Retry-After');
  const body = (await refused.json()) as { error: string; message: string };
  assert.equal(body.error, 'FLOWKEEPER_ERR_BUSY');
  assert.match(body.message, /query workers are busy/);
  assert.equal((await fetch(`${env.app.url}/healthz`)).status, 200, 'probes never queue');
  // A waiting query whose client goes away leaves the queue.
  queued.leave();
  await queued.done;
  await waitFor('the queue empties', () => env.app.queryPool.stats().queued === 0, 10_000);
  for (const slow of slows) slow.leave();
  await Promise.all(slows.map((s) => s.done));
  await untilRunning(0);
});

test('a running query whose client goes away is cancelled: its thread is free long before its budget ends', async () => {
  const cancelledBefore = env.app.queryPool.stats().cancelled;
  const slows = [start(SLOW), start(SLOW)];
  await untilRunning(2);
  const abortedAt = performance.now();
  for (const slow of slows) slow.leave();
  await Promise.all(slows.map((s) => s.done));
  await waitFor('both threads are free', () => env.app.queryPool.stats().running === 0, (BUDGET_SECONDS / 2) * 1000);
  assert.ok(performance.now() - abortedAt < (BUDGET_SECONDS / 2) * 1000);
  assert.equal(env.app.queryPool.stats().cancelled - cancelledBefore, 2);
  const fast = await fetch(`${env.app.url}${FAST}`);
  assert.equal(fast.status, 200, 'the freed threads answer the next query');
});

test('a query thread that dies (e.g. over its heap cap) fails its query with 500; the next query gets a new thread', async () => {
  const slow = start(SLOW);
  await untilRunning(1);
  const slots = (env.app.queryPool as unknown as { slots: { worker: Worker; running: unknown }[] }).slots;
  await slots.find((s) => s.running)!.worker.terminate();
  assert.equal(await slow.done, 500);
  assert.equal((await fetch(`${env.app.url}${FAST}`)).status, 200);
  assert.equal((await fetch(`${env.app.url}/healthz`)).status, 200);
});
