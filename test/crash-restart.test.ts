import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { ROOT_DIR } from '../src/paths.js';
import { openDatabase } from '../src/store/sqlite/sqlite.js';
import { FlowReader } from '../src/store/sqlite/reader.js';
import { TrafficGenerator } from '../src/sim/traffic.js';
import { startSim, tempDir, waitFor } from './helpers/harness.js';

const CLI = join(ROOT_DIR, 'dist', 'src', 'cli.js');

function serve(port: number, dbPath: string): ChildProcess {
  return spawn(process.execPath, [CLI, 'serve', '--relay', `test=127.0.0.1:${port}`, '--db', dbPath, '--listen', '127.0.0.1:0', '--observer-listen', '127.0.0.1:0', '--log-level', 'warn', '--backoff-initial', '50ms'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
}

function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

/** Reads the store from outside the service, as an operator would after a crash. */
function inspect(dbPath: string): { count: number; uuids: string[]; integrity: string; checkpoint: { seconds: number; nanos: number } | undefined; newest: { seconds: number; nanos: number } | undefined } {
  const db = openDatabase(dbPath, { readonly: true });
  try {
    const reader = new FlowReader(db);
    return {
      count: reader.count(),
      uuids: reader.flows({ limit: 1_000_000, order: 'asc' }).map((f) => f.uuid as string),
      integrity: db.pragma('integrity_check', { simple: true }) as string,
      checkpoint: reader.checkpoints().test,
      newest: reader.edge('desc') ?? undefined,
    };
  } finally {
    db.close();
  }
}

test('SIGKILL mid-ingest: the store opens consistent, and a restart resumes without loss or duplicates', async () => {
  const { dir, cleanup } = tempDir();
  const dbPath = join(dir, 'fk.db');
  const { sim, port } = await startSim();
  const gen = new TrafficGenerator(21);
  const sent = new Set<string>();
  const feeder = setInterval(() => {
    for (let i = 0; i < 4; i++) {
      for (const f of gen.next(Date.now())) {
        sent.add(f.flow.uuid as string);
        sim.pushFlow(f.flow, f.seconds, f.nanos);
      }
    }
  }, 10);
  let child = serve(port, dbPath);
  try {
    await waitFor('flows stored by the first process', () => {
      try {
        return inspect(dbPath).count > 1500;
      } catch {
        return false;
      }
    }, 30_000);
    child.kill('SIGKILL');
    const killed = await exited(child);
    assert.equal(killed.signal, 'SIGKILL');

    const after = inspect(dbPath);
    assert.equal(after.integrity, 'ok');
    assert.ok(after.count > 0);
    assert.deepEqual(after.checkpoint, after.newest, 'checkpoint is the newest stored flow (same transaction)');

    child = serve(port, dbPath);
    await new Promise((r) => setTimeout(r, 1500));
    clearInterval(feeder);
    await waitFor('restarted process caught up with everything sent', () => inspect(dbPath).count >= sent.size, 30_000);

    child.kill('SIGTERM');
    const stopped = await exited(child);
    assert.equal(stopped.code, 0, 'SIGTERM flushes and exits cleanly');
    const final = inspect(dbPath);
    assert.equal(final.integrity, 'ok');
    assert.equal(final.count, sent.size);
    assert.equal(final.uuids.length, final.count, 'partition counters match the rows');
    assert.equal(new Set(final.uuids).size, final.uuids.length, 'no duplicates');
    for (const u of sent) assert.ok(final.uuids.includes(u), `flow ${u} lost`);
  } finally {
    clearInterval(feeder);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await sim.close();
    cleanup();
  }
});
