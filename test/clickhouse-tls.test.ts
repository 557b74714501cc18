import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { ROOT_DIR } from '../src/paths.js';
import { TrafficGenerator } from '../src/sim/traffic.js';
import { clickhouseArgs, clickhouseSkip, startClickHouse } from './helpers/clickhouse.js';
import { freePort, killAndWait, startSim, waitFor } from './helpers/harness.js';
import { parseNdjson } from './helpers/populated.js';

const CLI = join(ROOT_DIR, 'dist', 'src', 'cli.js');
const TLS = join(ROOT_DIR, 'test', 'fixtures', 'tls');

/** `flowkeeper serve` on ClickHouse at `url` in a process of its own, with its stderr kept. */
function serve(url: string, relayPort: number, apiPort: number, env: NodeJS.ProcessEnv): { child: ChildProcess; stderr: () => string } {
  const child = spawn(process.execPath, [CLI, 'serve', ...clickhouseArgs(url, 'fk_tls'), '--relay', `tls=127.0.0.1:${relayPort}`,
    '--listen', `127.0.0.1:${apiPort}`, '--observer-listen', '127.0.0.1:0', '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'pipe'], env });
  let text = '';
  child.stderr!.on('data', (c: Buffer) => (text += c.toString()));
  return { child, stderr: () => text };
}

test('over HTTPS, flowkeeper stores flows in ClickHouse once given the CA with NODE_EXTRA_CA_CERTS; without it, it exits saying so', { skip: clickhouseSkip }, async () => {
  const server = await startClickHouse({ tls: { cert: join(TLS, 'clickhouse.crt'), key: join(TLS, 'clickhouse.key') } });
  const { sim, port } = await startSim();
  const children: ChildProcess[] = [];
  try {
    const { NODE_EXTRA_CA_CERTS: _, ...env } = process.env;
    const untrusted = serve(server.httpsUrl!, port, await freePort(), env);
    children.push(untrusted.child);
    const code = await new Promise<number | null>((resolve) => untrusted.child.once('exit', resolve));
    assert.equal(code, 2, untrusted.stderr());
    assert.match(untrusted.stderr(), /ClickHouse at https:\/\/127\.0\.0\.1:\d+ cannot be reached: UNABLE_TO_VERIFY_LEAF_SIGNATURE: its TLS certificate is not signed by a CA this machine trusts \(give flowkeeper the CA with NODE_EXTRA_CA_CERTS=/);

    // The relay's flows, waiting in its buffer (a relay stream counts as connected once flows come).
    const gen = new TrafficGenerator(31);
    const uuids: string[] = [];
    while (uuids.length < 300) {
      for (const f of gen.next(Date.now())) {
        uuids.push(f.flow.uuid as string);
        sim.pushFlow(f.flow, f.seconds, f.nanos);
      }
    }
    const apiPort = await freePort();
    const trusted = serve(server.httpsUrl!, port, apiPort, { ...env, NODE_EXTRA_CA_CERTS: join(TLS, 'clickhouse-ca.crt') });
    children.push(trusted.child);
    const api = `http://127.0.0.1:${apiPort}`;
    await waitFor('ready', () => fetch(`${api}/readyz`).then((r) => r.ok, () => false), 30_000).catch(async (err: Error) => {
      const readyz = await fetch(`${api}/readyz`).then((r) => r.text(), (e: Error) => e.message);
      throw new Error(`${err.message}; /readyz: ${readyz}; flowkeeper said: ${trusted.stderr()}`);
    });
    const stored = async (): Promise<string[]> => parseNdjson(await (await fetch(`${api}/api/v1/flows?since=1h&limit=1000&order=asc`)).text()).map((f) => f.uuid as string);
    await waitFor('every flow stored, read back over HTTPS', async () => (await stored()).length === uuids.length, 30_000);
    assert.deepEqual(new Set(await stored()), new Set(uuids));
  } finally {
    for (const child of children) await killAndWait(child);
    await sim.close();
    await server.stop();
  }
});
