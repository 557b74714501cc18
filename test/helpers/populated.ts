import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT_DIR } from '../../src/paths.js';
import type { App } from '../../src/app.js';
import type { FlowRecord } from '../../src/flows/record.js';
import { SimRelay } from '../../src/sim/relay-server.js';
import { TrafficGenerator } from '../../src/sim/traffic.js';
import { corpusLines } from './fixtures.js';
import { pushJsonLine, startSim, startTestApp, tempDir, waitFor } from './harness.js';

export interface Populated {
  app: App;
  sim: SimRelay;
  /** Every stored flow, as the store hands them out. */
  records: FlowRecord[];
  /** The SQLite file the app writes. */
  dbPath: string;
  stop: () => Promise<void>;
}

/**
 * A real flowkeeper over a real SQLite file, fed over gRPC with every real
 * fixture flow, the real drop examples, two synthetic flows for fields no
 * capture has, and `generated` simulator flows.
 */
export async function populatedApp(generated = 3000, extraArgs: string[] = []): Promise<Populated> {
  // Read everything before starting servers, so a missing file fails fast instead of leaving a server up.
  const lines = corpusLines();
  const { dir, cleanup } = tempDir();
  const { sim, port } = await startSim();
  const dbPath = join(dir, 'fk.db');
  for (const l of lines) pushJsonLine(sim, l);
  const gen = new TrafficGenerator(99);
  let n = 0;
  const start = Date.now() - 10 * 60_000;
  while (n < generated) {
    for (const f of gen.next(start + n * 10)) {
      sim.pushFlow(f.flow, f.seconds, f.nanos);
      n++;
    }
  }
  const total = lines.length + n;
  let app: App | null = null;
  let records: FlowRecord[];
  try {
    app = await startTestApp(port, dbPath, ['--query-max-range', '3650d', ...extraArgs]);
    const started = app;
    await waitFor('everything stored', () => started.pipeline.stats.stored === total, 30_000);
    records = app.reader!.flows({ limit: 1_000_000, order: 'asc' });
  } catch (err) {
    await app?.stop();
    await sim.close();
    cleanup();
    throw err;
  }
  const running = app;
  return {
    app: running,
    sim,
    records,
    dbPath,
    stop: async () => {
      await running.stop();
      await sim.close();
      cleanup();
    },
  };
}

/** A stable identity for a flow across API answers (fixture flows have no uuid). */
export function flowId(f: FlowRecord): string {
  return typeof f.uuid === 'string' ? f.uuid : `${f.time}|${JSON.stringify(f.IP ?? null)}|${JSON.stringify(f.l4 ?? null)}|${String(f.node_name)}|${String(f.Summary)}|${String(f.verdict)}`;
}

/** All flows an NDJSON answer holds. */
export function parseNdjson(text: string): FlowRecord[] {
  return text.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { flow: FlowRecord }).flow);
}

export const ALL_TIME = { since: '2021-01-01T00:00:00Z', until: 'now' };

/** The flows a GET /api/v1/flows answers over all time (at most 10,000), `query` added to its parameters. */
export async function flowsOver(app: App, query: string): Promise<FlowRecord[]> {
  const res = await fetch(`${app.url}/api/v1/flows?since=${ALL_TIME.since}&limit=10000&${query}`);
  assert.equal(res.status, 200, `${query}: ${await res.clone().text()}`);
  return parseNdjson(await res.text());
}

/** The flows' identities, sorted: answers of stores that order ties differently compare. */
export function sortedIds(flows: FlowRecord[]): string[] {
  return flows.map(flowId).sort();
}

/** An aggregate or view answer for `path` (with its query), without `source`: one store may count from rollups where another reads raw flows. */
export async function answerWithoutSource(app: App, path: string): Promise<unknown> {
  const res = await fetch(`${app.url}${path}`);
  assert.equal(res.status, 200, `${path}: ${await res.clone().text()}`);
  const body = (await res.json()) as Record<string, unknown>;
  delete body.source;
  return body;
}

/** A policy replay of an example policy over all time until `until`, through the HTTP API (its elapsed time left out, so answers compare). */
export async function replayExamplePolicy(app: App, file: string, until: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${app.url}/api/v1/policies/replay?since=${ALL_TIME.since}&until=${until}`, {
    method: 'POST', headers: { 'content-type': 'application/yaml' }, body: readFileSync(join(ROOT_DIR, 'examples', 'policies', file), 'utf8'),
  });
  assert.equal(res.status, 200, `${file}: ${await res.clone().text()}`);
  const body = (await res.json()) as Record<string, unknown>;
  delete body.elapsedMs;
  return body;
}
