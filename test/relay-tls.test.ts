import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { ROOT_DIR } from '../src/paths.js';
import { SimRelay } from '../src/sim/relay-server.js';
import { TrafficGenerator } from '../src/sim/traffic.js';
import { startTestApp, tempDir, waitFor } from './helpers/harness.js';

const TLS = join(ROOT_DIR, 'test', 'fixtures', 'tls');
const pem = (f: string): Buffer => readFileSync(join(TLS, f));

/** A relay with hubble-relay's kind of certificate (*.hubble-relay.cilium.io), optionally demanding client certs. */
async function tlsRelay(mtls: boolean): Promise<{ sim: SimRelay; port: number }> {
  const sim = new SimRelay();
  const creds = grpc.ServerCredentials.createSsl(mtls ? pem('ca.crt') : null, [{ private_key: pem('relay.key'), cert_chain: pem('relay.crt') }], mtls);
  const port = await sim.listen('127.0.0.1:0', creds);
  for (const f of new TrafficGenerator(4).next(Date.now())) sim.pushFlow(f.flow, f.seconds, f.nanos);
  return { sim, port };
}

test('TLS to the relay: verifies the relay certificate against the CA with the hubble-relay server name', async () => {
  const { dir, cleanup } = tempDir();
  const { sim, port } = await tlsRelay(false);
  const good = await startTestApp(port, join(dir, 'a.db'), ['--relay-tls-ca', join(TLS, 'ca.crt')]);
  const wrongCa = await startTestApp(port, join(dir, 'b.db'), ['--relay-tls-ca', join(TLS, 'other-ca.crt')]);
  const plaintext = await startTestApp(port, join(dir, 'c.db'));
  try {
    await waitFor('flows over TLS', () => good.pipeline.stats.stored > 0);
    assert.equal(good.relays[0].status.tls, true);
    await waitFor('wrong CA refused', () => wrongCa.relays[0].status.consecutiveFailures >= 2);
    assert.equal(wrongCa.pipeline.stats.stored, 0);
    await waitFor('plaintext refused', () => plaintext.relays[0].status.consecutiveFailures >= 2);
    assert.equal(plaintext.relays[0].status.connected, false);
  } finally {
    await Promise.all([good.stop(), wrongCa.stop(), plaintext.stop()]);
    await sim.close();
    cleanup();
  }
});

test('mTLS to the relay: a client certificate is presented when configured, and required', async () => {
  const { dir, cleanup } = tempDir();
  const { sim, port } = await tlsRelay(true);
  const withCert = await startTestApp(port, join(dir, 'a.db'), ['--relay-tls-ca', join(TLS, 'ca.crt'), '--relay-tls-cert', join(TLS, 'client.crt'), '--relay-tls-key', join(TLS, 'client.key')]);
  const withoutCert = await startTestApp(port, join(dir, 'b.db'), ['--relay-tls-ca', join(TLS, 'ca.crt')]);
  try {
    await waitFor('flows over mTLS', () => withCert.pipeline.stats.stored > 0);
    await waitFor('no client cert refused', () => withoutCert.relays[0].status.consecutiveFailures >= 2);
    assert.equal(withoutCert.pipeline.stats.stored, 0);
    await assert.rejects(startTestApp(port, join(dir, 'c.db'), ['--relay-tls-cert', join(TLS, 'client.crt')]), /--relay-tls-cert and --relay-tls-key must be given together/);
    // Wrong files fail at start, naming the option: a CA with no certificate, a key that is not a key, a key of another cert.
    await assert.rejects(startTestApp(port, join(dir, 'd.db'), ['--relay-tls-ca', join(TLS, 'client.key')]), /--relay-tls-ca: .* is not a PEM certificate/);
    await assert.rejects(startTestApp(port, join(dir, 'e.db'), ['--relay-tls-ca', join(TLS, 'ca.crt'), '--relay-tls-cert', join(TLS, 'client.crt'), '--relay-tls-key', join(TLS, 'client.crt')]), /--relay-tls-key: .* is not a PEM private key/);
    await assert.rejects(startTestApp(port, join(dir, 'f.db'), ['--relay-tls-ca', join(TLS, 'ca.crt'), '--relay-tls-cert', join(TLS, 'client.crt'), '--relay-tls-key', join(TLS, 'relay.key')]), /--relay-tls-key does not belong/);
  } finally {
    await Promise.all([withCert.stop(), withoutCert.stop()]);
    await sim.close();
    cleanup();
  }
});

test('several relays at once: each stored with its own checkpoint and status', async () => {
  const { dir, cleanup } = tempDir();
  const a = new SimRelay();
  const b = new SimRelay();
  const pa = await a.listen('127.0.0.1:0');
  const pb = await b.listen('127.0.0.1:0');
  const gen = new TrafficGenerator(8);
  const fill = (sim: SimRelay, events: number, atMs: number): number => {
    let n = 0;
    for (let i = 0; i < events; i++) {
      for (const f of gen.next(atMs)) {
        sim.pushFlow(f.flow, f.seconds, f.nanos);
        n++;
      }
    }
    return n;
  };
  const na = fill(a, 50, Date.now());
  const nb = fill(b, 30, Date.now() + 1000);
  const app = await startTestApp(pa, join(dir, 'fk.db'), ['--relay', `eu=127.0.0.1:${pa},us=127.0.0.1:${pb}`]);
  try {
    await waitFor('both relays stored', () => app.pipeline.stats.stored === na + nb);
    assert.deepEqual(app.relays.map((r) => [r.name, r.status.connected]), [['eu', true], ['us', true]]);
    const cps = app.reader!.checkpoints();
    assert.ok(cps.eu && cps.us && (cps.us.seconds > cps.eu.seconds || cps.us.nanos !== cps.eu.nanos));
  } finally {
    await app.stop();
    await a.close();
    await b.close();
    cleanup();
  }
});
