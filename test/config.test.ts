import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../src/config/load.js';
import { parseDuration, parseSize } from '../src/config/units.js';
import { parseRelayTargets } from '../src/relay/relay-config.js';

test('durations and sizes parse the way operators write them', () => {
  assert.equal(parseDuration('500ms'), 0.5);
  assert.equal(parseDuration('1h30m'), 5400);
  assert.equal(parseDuration('7d'), 604800);
  assert.throws(() => parseDuration('10 minutes'), /not a duration/);
  assert.equal(parseSize('10GiB'), 10 * 1024 ** 3);
  assert.equal(parseSize('500MB'), 500e6);
  assert.throws(() => parseSize('lots'), /not a size/);
});

test('flags override environment, environment overrides defaults', () => {
  const env = { FLOWKEEPER_RETENTION: '2h', FLOWKEEPER_DB: '/env.db' };
  const c = loadConfig(['--db', '/flag.db', '--relay-tls'], env);
  assert.equal(c.db, '/flag.db');
  assert.equal(c.retention, 7200);
  assert.equal(c.relayTls, true);
  assert.deepEqual(c.relay, ['localhost:4245']);
});

test('bad options fail early and name the option', () => {
  assert.throws(() => loadConfig(['--nope']), /unknown option --nope/);
  assert.throws(() => loadConfig(['--retention', 'forever']), /--retention: "forever" is not a duration/);
  assert.throws(() => loadConfig([], { FLOWKEEPER_BATCH_SIZE: '-1' }), /FLOWKEEPER_BATCH_SIZE: --batch-size must be a non-negative integer/);
  assert.throws(() => parseRelayTargets(['relay.example']), /not host:port/);
  assert.deepEqual(parseRelayTargets(['eu=relay-eu:4245', 'tls://relay-us:443']), [
    { name: 'eu', address: 'relay-eu:4245' },
    { name: 'relay-us:443', address: 'relay-us:443' },
  ]);
});
