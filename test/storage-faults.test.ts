import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TrafficGenerator } from '../src/sim/traffic.js';
import type { SimRelay } from '../src/sim/relay-server.js';
import { startSim, startTestApp, tempDir, waitFor } from './helpers/harness.js';

/** Pushes `n` generated flows dated around `atMs`; returns their uuids. */
function feed(sim: SimRelay, gen: TrafficGenerator, n: number, atMs: number): string[] {
  const uuids: string[] = [];
  while (uuids.length < n) {
    for (const f of gen.next(atMs + uuids.length)) {
      sim.pushFlow(f.flow, f.seconds, f.nanos);
      uuids.push(f.flow.uuid as string);
    }
  }
  return uuids;
}

test('a full store (--db-max-size) frees room by dropping the oldest partitions early; no new flow is lost', async () => {
  const { dir, cleanup } = tempDir();
  const { sim, port } = await startSim();
  const gen = new TrafficGenerator(21);
  const now = Date.now();
  const app = await startTestApp(port, join(dir, 'fk.db'), ['--db-max-size', '3MB', '--retention-size', '0', '--batch-size', '512']);
  try {
    await waitFor('stream open', () => sim.followerCount === 1);
    const old = [...feed(sim, gen, 8000, now - 3 * 3_600_000), ...feed(sim, gen, 8000, now - 2 * 3_600_000)];
    await waitFor('old flows handled', () => app.pipeline.stats.stored >= old.length, 30_000)
      .catch((err: Error) => assert.fail(`${err.message}: ${JSON.stringify(app.pipeline.stats)}`));
    const fresh = feed(sim, gen, 12_000, now);
    await waitFor('every flow taken in and written', () => app.pipeline.stats.stored === old.length + fresh.length, 60_000)
      .catch((err: Error) => assert.fail(`${err.message}: ${JSON.stringify(app.pipeline.stats)}`));
    const stored = new Set(app.reader!.flows({ limit: 1_000_000, order: 'asc' }).map((f) => f.uuid as string));
    for (const u of fresh) assert.ok(stored.has(u), `new flow ${u} missing`);
    assert.ok(app.pipeline.stats.emergencyDrops >= 1, 'old partitions were dropped to make room');
    assert.equal(app.pipeline.stats.writeErrors, 0, 'no batch failed for good');
    assert.ok(app.reader!.count() < old.length + fresh.length, 'some old flows made room');
    const metrics = await (await fetch(`${app.url}/metrics`)).text();
    assert.match(metrics, /^flowkeeper_store_emergency_drops_total [1-9]/m);
    assert.match(metrics, /^flowkeeper_storage_failing 0$/m);
  } finally {
    await app.stop();
    await sim.close();
    cleanup();
  }
});

/** A real small filesystem: a tmpfs mount (needs root, as in CI). */
function mountTmpfs(path: string, size: string): (() => void) | null {
  if (process.getuid?.() !== 0) return null;
  mkdirSync(path, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', path]);
  } catch {
    return null;
  }
  return () => execFileSync('umount', ['-l', path]);
}

const probe = tempDir();
const probeUnmount = mountTmpfs(join(probe.dir, 'probe'), '1m');
probeUnmount?.();
probe.cleanup();
const canMount = probeUnmount !== null;
// CI runs as root and must run this; elsewhere it is reported as skipped with the reason.
if (!canMount && process.env.CI) throw new Error('the disk-full test needs root to mount a tmpfs (CI runs as root)');
const skip = canMount ? false : 'needs root to mount a small tmpfs (run as root, as CI does)';

test('a full disk: batches are kept and retried, readiness and the metric flip, and nothing is lost once space returns', { skip }, async () => {
  const { dir, cleanup } = tempDir();
  const mount = join(dir, 'small');
  // 2 MB free until the ballast goes, then room for every flow sent meanwhile, however late a loaded machine notices the full disk.
  const unmount = mountTmpfs(mount, '16m')!;
  const { sim, port } = await startSim();
  const gen = new TrafficGenerator(22);
  let app: Awaited<ReturnType<typeof startTestApp>> | null = null;
  try {
    const ballast = join(mount, 'ballast');
    writeFileSync(ballast, Buffer.alloc(14 * 1024 * 1024));
    app = await startTestApp(port, join(mount, 'fk.db'), ['--retention-size', '0', '--batch-size', '512']);
    const running = app;
    await waitFor('stream open', () => sim.followerCount === 1);
    const sent: string[] = [];
    // Stream flows until the disk is full (bounded: 16 MB cannot hold 200,000 flows), then a backlog more.
    while (running.pipeline.stats.storageFailures === 0 && sent.length < 200_000) {
      sent.push(...feed(sim, gen, 2000, Date.now()));
      await new Promise((r) => setTimeout(r, 50));
    }
    sent.push(...feed(sim, gen, 3000, Date.now()));
    await waitFor('storage failing for a while', () => {
      const since = running.pipeline.stats.storageFailingSince;
      return since !== null && Date.now() - since > 1000;
    }, 30_000);
    const ready = await fetch(`${app.url}/readyz`);
    assert.equal(ready.status, 503);
    assert.match(((await ready.json()) as { reason: string }).reason, /storage failing since .*SQLITE_(FULL|IOERR)/);
    assert.match(await (await fetch(`${app.url}/metrics`)).text(), /^flowkeeper_storage_failing 1$/m);
    assert.ok(app.pipeline.stats.stored < sent.length, 'the disk filled before every flow was stored');
    rmSync(ballast);
    await waitFor('every sent flow stored after space returned', () => running.pipeline.stats.stored === sent.length, 60_000)
      .catch((err: Error) => assert.fail(`${err.message}: ${JSON.stringify(running.pipeline.stats)}`));
    assert.equal(app.pipeline.stats.storageFailingSince, null);
    assert.equal(app.pipeline.stats.writeErrors, 0, 'no batch was dropped');
    const uuids = new Set(app.reader!.flows({ limit: 1_000_000, order: 'asc' }).map((f) => f.uuid as string));
    assert.equal(uuids.size, sent.length);
    for (const u of sent) assert.ok(uuids.has(u), `flow ${u} missing`);
    assert.equal((await fetch(`${app.url}/readyz`)).status, 200);
    assert.match(await (await fetch(`${app.url}/metrics`)).text(), /^flowkeeper_storage_failures_total 1$/m);
  } finally {
    await app?.stop();
    await sim.close();
    unmount();
    cleanup();
  }
});

test('stopping on a full disk: the write-ahead log that cannot be folded in stays, and the next start has every flow', { skip }, async () => {
  const { dir, cleanup } = tempDir();
  const mount = join(dir, 'small');
  const unmount = mountTmpfs(mount, '8m')!;
  const { sim, port } = await startSim();
  const gen = new TrafficGenerator(24);
  const db = join(mount, 'fk.db');
  let app: Awaited<ReturnType<typeof startTestApp>> | null = null;
  try {
    app = await startTestApp(port, db, ['--retention-size', '0']);
    const running = app;
    await waitFor('stream open', () => sim.followerCount === 1);
    const sent = feed(sim, gen, 3000, Date.now());
    await waitFor('stored', () => running.pipeline.stats.stored === sent.length, 30_000);
    // Fill the disk: folding the write-ahead log into the database needs room it no longer has.
    const ballast = join(mount, 'ballast');
    writeFileSync(ballast, Buffer.alloc(0));
    try {
      for (;;) appendFileSync(ballast, Buffer.alloc(64 * 1024));
    } catch (err) {
      assert.equal((err as NodeJS.ErrnoException).code, 'ENOSPC');
    }
    assert.ok(existsSync(`${db}-wal`), 'flows are in the write-ahead log');
    await app.stop();
    app = null;
    rmSync(ballast);
    app = await startTestApp(port, db);
    const stored = new Set(app.reader!.flows({ limit: 100_000, order: 'asc' }).map((f) => f.uuid as string));
    for (const u of sent) assert.ok(stored.has(u), `flow ${u} missing after the restart`);
  } finally {
    await app?.stop();
    await sim.close();
    unmount();
    cleanup();
  }
});

test('a second flowkeeper on the same database is refused; the lock goes with the first one', async () => {
  const { dir, cleanup } = tempDir();
  const { sim, port } = await startSim();
  const db = join(dir, 'fk.db');
  const first = await startTestApp(port, db);
  try {
    await assert.rejects(startTestApp(port, db), /another flowkeeper is already writing .*fk\.db/);
  } finally {
    await first.stop();
  }
  const again = await startTestApp(port, db);
  await again.stop();
  await sim.close();
  cleanup();
});

test('a damaged database file is detected at start-up: moved aside and replaced, or refused on request', async () => {
  const { dir, cleanup } = tempDir();
  const { sim, port } = await startSim();
  const gen = new TrafficGenerator(23);
  const db = join(dir, 'fk.db');
  try {
    const app = await startTestApp(port, db);
    await waitFor('stream open', () => sim.followerCount === 1);
    const sent = feed(sim, gen, 3000, Date.now());
    await waitFor('stored', () => app.pipeline.stats.stored === sent.length);
    await app.stop();
    // Overwrite pages in the middle of the file: what a torn write or bad disk leaves behind.
    const bytes = readFileSync(db);
    bytes.fill(0x5a, Math.floor(bytes.length / 3), Math.floor(bytes.length / 3) + 64 * 1024);
    writeFileSync(db, bytes);
    await assert.rejects(startTestApp(port, db, ['--on-damaged-db', 'refuse']), /the database .*fk\.db is damaged .*Move it aside/);
    assert.ok(existsSync(db), 'refuse leaves the file where it is');
    const fresh = await startTestApp(port, db);
    try {
      const damaged = fresh.pipeline.stats.damagedStore;
      assert.ok(damaged, 'the status reports the damaged store');
      assert.ok(existsSync(damaged.path), `kept for inspection at ${damaged.path}`);
      assert.equal(readFileSync(damaged.path).length, bytes.length);
      await waitFor('the new store fills from the relay', () => fresh.pipeline.stats.stored > 0);
      const status = (await (await fetch(`${fresh.url}/api/v1/status`)).json()) as { ingest: { damagedStore: { problem: string } } };
      assert.ok(status.ingest.damagedStore.problem.length > 0);
    } finally {
      await fresh.stop();
    }
  } finally {
    await sim.close();
    cleanup();
  }
});

test('a missing, unwritable or read-only database location fails at start, naming the path', async () => {
  const { dir, cleanup } = tempDir();
  const { sim, port } = await startSim();
  try {
    // A path under a regular file can never be a directory.
    writeFileSync(join(dir, 'file'), 'x');
    await assert.rejects(startTestApp(port, join(dir, 'file', 'fk.db')), /--db: cannot create the directory .*file/);
    if (process.getuid?.() === 0) {
      const ro = join(dir, 'ro');
      const unmount = mountTmpfs(ro, '1m');
      if (unmount) {
        execFileSync('mount', ['-o', 'remount,ro', ro]);
        try {
          await assert.rejects(startTestApp(port, join(ro, 'fk.db')), /--db: cannot write .*ro: the filesystem is read-only/);
        } finally {
          unmount();
        }
      }
    } else {
      const locked = join(dir, 'locked');
      mkdirSync(locked, { mode: 0o500 });
      await assert.rejects(startTestApp(port, join(locked, 'fk.db')), /--db: cannot write .*locked: this user .* may not write there/);
    }
  } finally {
    await sim.close();
    cleanup();
  }
});
