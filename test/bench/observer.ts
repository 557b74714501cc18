import { spawn } from 'node:child_process';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { ROOT_DIR } from '../../src/paths.js';
import { ObserverClient } from '../../src/relay/observer-service.js';
import { freePort, tempDir } from '../helpers/harness.js';
import { flowkeeperEnv } from './measure.js';
import type { Figure } from './measure.js';
import { buildStore } from './query.js';
import { quantile, startPacedServe } from './live.js';
import { ResponseKind, scanEnvelope } from '../../src/flows/envelope.js';
import { WireCursor, readTimestamp } from '../../src/flows/wire.js';
import { GetFlowsResponseType } from '../../src/flows/schema.js';

const CLI = join(ROOT_DIR, 'dist', 'src', 'cli.js');

/** Streams one GetFlows request to its end; returns messages, seconds, and ms to the first message. */
function stream(client: grpc.Client, req: Record<string, unknown>): Promise<{ count: number; seconds: number; firstMs: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let count = 0;
    let firstMs = NaN;
    const call = (client as unknown as { GetFlows(r: object): grpc.ClientReadableStream<Buffer> }).GetFlows(req);
    call.on('data', () => {
      if (count++ === 0) firstMs = performance.now() - t0;
    });
    call.on('end', () => resolve({ count, seconds: (performance.now() - t0) / 1000, firstMs }));
    call.on('error', reject);
  });
}

/**
 * The Observer API on history: a store of `flows` flows over 24 h, served by
 * `flowkeeper serve`, read by a grpc-js client in this process (a grpc-js
 * client receives 100,000+ messages/s here, so it measures the server).
 */
export async function benchObserver(flows: number): Promise<Figure[]> {
  const { dir, cleanup } = tempDir('flowkeeper-bench-obs-');
  const dbPath = join(dir, 'obs.db');
  buildStore(dbPath, flows);
  const [apiPort, observerPort, deadRelay] = [await freePort(), await freePort(), await freePort()];
  const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const fk = spawn(process.execPath, [...nodeArgs, CLI, 'serve', '--relay', `none=127.0.0.1:${deadRelay}`, '--db', dbPath, '--listen', `127.0.0.1:${apiPort}`,
    '--observer-listen', `127.0.0.1:${observerPort}`, '--query-max-range', '2d', '--log-level', 'error', '--backoff-initial', '30s'], { stdio: 'inherit', env: flowkeeperEnv() });
  // grpc-go clients (the hubble CLI) grow their HTTP/2 window to the bandwidth-delay product, up to 16 MiB;
  // grpc-js keeps 64 KiB unless told, which would measure window round trips instead of the server.
  const client = new ObserverClient(`127.0.0.1:${observerPort}`, grpc.credentials.createInsecure(), {
    'grpc.max_receive_message_length': 16 * 1024 * 1024,
    'grpc-node.flow_control_window': 16 * 1024 * 1024,
  });
  try {
    for (let i = 0; i < 100; i++) {
      const ok = await fetch(`http://127.0.0.1:${apiPort}/healthz`).then((r) => r.ok, () => false);
      if (ok) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const since = { seconds: String(Math.floor(Date.now() / 1000) - 90_000), nanos: 0 };
    const all = await stream(client, { since });
    const drops = await stream(client, { since, whitelist: [{ verdict: ['DROPPED'] }] });
    const lasts: number[] = [];
    for (let i = 0; i < 8; i++) lasts.push((await stream(client, { number: 20, whitelist: [{ verdict: ['DROPPED'], source_pod: ['payments/'] }] })).firstMs);
    lasts.sort((a, b) => a - b);
    return [
      { name: `stream history, unfiltered (${all.count.toLocaleString('en-US')} flows)`, value: all.count / all.seconds, unit: 'flows/s', target: { op: '>=', value: 100_000 } },
      { name: `stream history, verdict=DROPPED (${drops.count.toLocaleString('en-US')} flows)`, value: drops.count / drops.seconds, unit: 'flows/s', target: { op: '>=', value: 100_000 } },
      { name: 'first flow of a filtered --last 20 (p50 of 8)', value: lasts[4], unit: 'ms', target: { op: '<=', value: 50 }, note: `max ${lasts[7].toFixed(1)} ms` },
    ];
  } finally {
    client.close();
    fk.kill('SIGTERM');
    await new Promise((r) => fk.once('exit', r));
    cleanup();
  }
}

/** The flow time of a raw GetFlowsResponse in ms (NaN for other responses), and its lost-event count. */
function readResponse(buf: Buffer): { flowMs: number; lost: number } {
  const env = scanEnvelope(buf, 0, buf.length);
  if (env.kind === ResponseKind.LostEvents) {
    const lost = (GetFlowsResponseType.decode(buf) as unknown as { lost_events: { num_events_lost: number | { toNumber(): number } } }).lost_events.num_events_lost;
    return { flowMs: NaN, lost: typeof lost === 'number' ? lost : lost.toNumber() };
  }
  if (env.kind !== ResponseKind.Flow) return { flowMs: NaN, lost: 0 };
  const c = new WireCursor(buf, env.start, env.end);
  while (!c.done) {
    const tag = c.tag();
    if (tag !== 0x0a) {
      c.skip(tag & 7);
      continue;
    }
    const end = c.delimited();
    const t = readTimestamp(buf, c.pos, end);
    return { flowMs: t.seconds * 1000 + t.nanos / 1e6, lost: 0 };
  }
  return { flowMs: NaN, lost: 0 };
}

/**
 * `hubble observe -f` against flowkeeper while it ingests `rate` flows/s from a
 * paced relay stand-in (each flow stamped with its send time): the latency from
 * the relay to the gRPC follower, for an unfiltered follower and a filtered one.
 */
export async function benchObserverFollow(rate: number, seconds: number): Promise<Figure[]> {
  const serve = await startPacedServe(rate);
  const client = new ObserverClient(`127.0.0.1:${serve.observerPort}`, grpc.credentials.createInsecure(), { 'grpc-node.flow_control_window': 16 * 1024 * 1024 });
  const figures: Figure[] = [];
  try {
    await new Promise((r) => setTimeout(r, 3000));
    for (const [label, whitelist] of [['unfiltered', []], ['verdict=DROPPED', [{ verdict: ['DROPPED'] }]]] as const) {
      const latencies: number[] = [];
      let lost = 0;
      let measuring = false;
      const call = (client as unknown as { GetFlows(r: object): grpc.ClientReadableStream<Buffer> }).GetFlows({ follow: true, whitelist });
      call.on('data', (b: Buffer) => {
        if (!measuring) return;
        const r = readResponse(b);
        if (!Number.isNaN(r.flowMs)) latencies.push(Date.now() - r.flowMs);
        lost += r.lost;
      });
      call.on('error', () => undefined);
      await new Promise((r) => setTimeout(r, 2000));
      const s0 = await serve.stored();
      measuring = true;
      const t0 = performance.now();
      await new Promise((r) => setTimeout(r, seconds * 1000));
      measuring = false;
      const ingested = (await serve.stored()) - s0;
      const ingestRate = ingested / ((performance.now() - t0) / 1000);
      call.cancel();
      latencies.sort((a, b) => a - b);
      figures.push({
        name: `flow → gRPC follower (${label}) latency: p99`, value: quantile(latencies, 0.99), unit: 'ms', target: { op: '<=', value: 100 },
        note: `p50 ${quantile(latencies, 0.5).toFixed(1)} ms; ${latencies.length.toLocaleString('en-US')} flows delivered, ${lost.toLocaleString('en-US')} reported lost, ${ingested.toLocaleString('en-US')} ingested meanwhile at ${Math.round(ingestRate).toLocaleString('en-US')}/s`,
      });
    }
    return figures;
  } finally {
    client.close();
    await serve.stop();
  }
}
