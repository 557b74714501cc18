import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TrafficGenerator } from '../src/sim/traffic.js';
import type { SimRelay } from '../src/sim/relay-server.js';
import { waitFor, withSimAndApp } from './helpers/harness.js';

test('--relay-whitelist/--relay-blacklist are sent to the relay, which filters server-side', async () => {
  const gen = new TrafficGenerator(12);
  const before = (sim: SimRelay): void => {
    for (let i = 0; i < 400; i++) for (const f of gen.next(Date.now())) sim.pushFlow(f.flow, f.seconds, f.nanos);
  };
  const whitelist = JSON.stringify([{ source_pod: ['payments/'] }, { destination_pod: ['payments/'] }]);
  const blacklist = JSON.stringify([{ verdict: ['FORWARDED'] }]);
  await withSimAndApp(async ({ sim, app }) => {
    await waitFor('filtered flows stored', () => app.pipeline.stats.stored > 0);
    const req = sim.requests[0];
    assert.deepEqual(req.whitelist.map((f) => (f as { source_pod: string[] }).source_pod), [['payments/'], []]);
    assert.equal((req.blacklist[0] as { verdict: string[] }).verdict[0], 'FORWARDED');
    await new Promise((r) => setTimeout(r, 300));
    const flows = app.reader!.flows({ limit: 100_000, order: 'asc' });
    assert.ok(flows.length > 0);
    for (const f of flows) {
      const ns = [(f.source as { namespace?: string } | undefined)?.namespace, (f.destination as { namespace?: string } | undefined)?.namespace];
      assert.ok(ns.includes('payments'), 'whitelisted namespace');
      assert.notEqual(f.verdict, 'FORWARDED', 'blacklisted verdict');
    }
  }, { before, args: ['--relay-whitelist', whitelist, '--relay-blacklist', blacklist] });
});

test('a malformed --relay-whitelist fails at start with the option named', async () => {
  await assert.rejects(
    withSimAndApp(async () => undefined, { args: ['--relay-whitelist', '[{"source_podd":["x/"]}]'] }),
    /--relay-whitelist: .*unknown field "source_podd"/,
  );
});

test('a --relay-whitelist pattern Hubble would refuse fails at start, checked by the same patterns module', async () => {
  await assert.rejects(
    withSimAndApp(async () => undefined, { args: ['--relay-whitelist', '[{"destination_fqdn":["cilium.io.."]}]'] }),
    /--relay-whitelist: .*multiple trailing dots/,
  );
  await assert.rejects(
    withSimAndApp(async () => undefined, { args: ['--relay-blacklist', '{"node_name":["a/b/c"]}'] }),
    /--relay-blacklist: .*too many slashes/,
  );
});
