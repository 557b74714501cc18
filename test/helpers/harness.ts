import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import type { ChildProcess } from 'node:child_process';
import WebSocket from 'ws';
import { loadConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/options.js';
import { startApp } from '../../src/app.js';
import type { App } from '../../src/app.js';
import { createLogger } from '../../src/log.js';
import { SimRelay } from '../../src/sim/relay-server.js';
import { TrafficGenerator } from '../../src/sim/traffic.js';
import { jsonpbToPlain } from '../../src/flows/jsonpb.js';
import type { JsonObject } from '../../src/flows/jsonpb.js';
import { GetFlowsResponseType } from '../../src/flows/schema.js';
import { parseTimestamp } from '../../src/flows/jsonpb.js';

export function tempDir(prefix = 'flowkeeper-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Kills a server process at once (SIGKILL) and waits until it has exited; nothing to do when it is not running. */
export async function killAndWait(child: ChildProcess | null): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

/** A TCP port that was free a moment ago (for "relay not there yet" tests). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

export function testConfig(relayPort: number, dbPath: string, extra: string[] = []): Config {
  return loadConfig(
    [
      '--relay', `test=127.0.0.1:${relayPort}`, '--db', dbPath, '--listen', '127.0.0.1:0', '--observer-listen', '127.0.0.1:0',
      '--log-level', process.env.FLOWKEEPER_TEST_LOG ?? 'silent', '--backoff-initial', '40ms', '--backoff-max', '400ms',
      ...extra,
    ],
    {},
  );
}

export async function startTestApp(relayPort: number, dbPath: string, extra: string[] = []): Promise<App> {
  const config = testConfig(relayPort, dbPath, extra);
  return startApp(config, createLogger(config.logLevel));
}

export async function startSim(): Promise<{ sim: SimRelay; port: number }> {
  // Tests push bursts far beyond a relay's rate: no follower backlog limit, so every pushed flow is sent.
  const sim = new SimRelay(undefined, Infinity);
  const port = await sim.listen('127.0.0.1:0');
  return { sim, port };
}

/** Pushes a jsonpb GetFlowsResponse line (fixture format) into the simulator. */
export function pushJsonLine(sim: SimRelay, line: JsonObject): void {
  const plain = jsonpbToPlain(GetFlowsResponseType, line);
  const flow = line.flow as JsonObject | undefined;
  const t = parseTimestamp(String(flow?.time ?? line.time))!;
  sim.pushResponse(plain, t.seconds, t.nanos);
}

/** Pushes at least `count` simulator flows (seed `seed`) into a relay stand-in, the n-th generated at startMs + n * stepMs; returns how many (whole batches of the generator). */
export function pushGenerated(relay: SimRelay, seed: number, count: number, startMs: number, stepMs: number): number {
  const gen = new TrafficGenerator(seed);
  let n = 0;
  while (n < count) {
    for (const f of gen.next(startMs + n * stepMs)) {
      relay.pushFlow(f.flow, f.seconds, f.nanos);
      n++;
    }
  }
  return n;
}

/** JSON with sorted keys, so objects compare regardless of key order. */
export function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export interface SimAndApp {
  sim: SimRelay;
  app: App;
  dir: string;
}

/**
 * A relay simulator and a flowkeeper following it over real gRPC, on a real
 * SQLite file in a temp dir. `before` runs against the simulator first (what
 * it holds is replayed on connect); everything is torn down afterwards.
 */
export async function withSimAndApp(body: (ctx: SimAndApp) => Promise<void>, options: { before?: (sim: SimRelay) => void; args?: string[] } = {}): Promise<void> {
  const { dir, cleanup } = tempDir();
  const { sim, port } = await startSim();
  let app: App | null = null;
  try {
    options.before?.(sim);
    app = await startTestApp(port, join(dir, 'fk.db'), options.args);
    await body({ sim, app, dir });
  } finally {
    await app?.stop();
    await sim.close();
    cleanup();
  }
}

/** The HTTP status a WebSocket upgrade gets (101 when it opens; the socket is closed either way). */
export function wsUpgradeStatus(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.on('open', () => {
      resolve(101);
      ws.close();
    });
    ws.on('error', (err) => (err.message.includes('Unexpected server response') ? undefined : reject(err)));
  });
}
