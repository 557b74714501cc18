import { spawn } from 'node:child_process';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { ROOT_DIR } from '../../src/paths.js';
import { ObserverClient } from '../../src/relay/observer-service.js';
import { freePort, tempDir } from '../helpers/harness.js';
import type { Figure } from './measure.js';
import { buildStore } from './query.js';

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
  const fk = spawn(process.execPath, [CLI, 'serve', '--relay', `none=127.0.0.1:${deadRelay}`, '--db', dbPath, '--listen', `127.0.0.1:${apiPort}`,
    '--observer-listen', `127.0.0.1:${observerPort}`, '--query-max-range', '2d', '--log-level', 'error', '--backoff-initial', '30s'], { stdio: 'inherit' });
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
