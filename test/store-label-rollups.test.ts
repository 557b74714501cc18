import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { MIGRATIONS_DIR } from '../src/paths.js';
import { migrate } from '../src/store/sqlite/migrate.js';
import { openDatabase } from '../src/store/sqlite/sqlite.js';
import { tempDir } from './helpers/harness.js';
import { ALL_TIME, populatedApp } from './helpers/populated.js';
import type { Populated } from './helpers/populated.js';

const ROLLUP_KEY = 'minute, cluster, verdict, drop_reason, direction, event_type, src_workload, dst_workload, dst_port, l4, denied_by';

test('migration 003 gives endpoints label sets and marks older rollups as not knowing them', () => {
  const { dir, cleanup } = tempDir();
  try {
    const migrations = join(dir, 'migrations');
    mkdirSync(migrations);
    for (const f of ['001_init.sql', '002_rollup_verdict_index.sql']) cpSync(join(MIGRATIONS_DIR, f), join(migrations, f));
    const db = openDatabase(join(dir, 'fk.db'));
    migrate(db, migrations);
    // A 0.1.0 store: three endpoints (two share a label set) and rollups of two minutes.
    db.exec(`INSERT INTO workloads (id, cluster, namespace, name, kind) VALUES (1, 'c', 'shop', 'cart', 'Deployment');
      INSERT INTO endpoints (raw, workload_id, identity, namespace, pod_name, cluster_name, labels) VALUES
        (x'01', 1, 100, 'shop', 'cart-a', 'c', '["k8s:app=cart"]'),
        (x'02', 1, 100, 'shop', 'cart-b', 'c', '["k8s:app=cart"]'),
        (x'03', 1, 200, 'shop', 'web-a', 'c', '["k8s:app=web"]');
      INSERT INTO rollup_1m (${ROLLUP_KEY}, flows) VALUES (1000, 1, 1, 0, 1, 4, 1, 1, 80, 6, 0, 7), (1005, 1, 2, 133, 1, 5, 1, 1, 80, 6, 0, 3);`);
    cpSync(join(MIGRATIONS_DIR, '003_label_rollups.sql'), join(migrations, '003_label_rollups.sql'));
    assert.deepEqual(migrate(db, migrations), ['003_label_rollups.sql']);
    const sets = db.prepare('SELECT e.pod_name, s.labels FROM endpoints e JOIN label_sets s ON s.id = e.label_set ORDER BY e.pod_name').all();
    assert.deepEqual(sets, [
      { pod_name: 'cart-a', labels: '["k8s:app=cart"]' },
      { pod_name: 'cart-b', labels: '["k8s:app=cart"]' },
      { pod_name: 'web-a', labels: '["k8s:app=web"]' },
    ]);
    assert.equal(db.prepare('SELECT count(*) FROM label_sets').pluck().get(), 2);
    const rollups = db.prepare('SELECT minute, src_labels, dst_labels, flows FROM rollup_1m ORDER BY minute').all();
    assert.deepEqual(rollups, [
      { minute: 1000, src_labels: -1, dst_labels: -1, flows: 7 },
      { minute: 1005, src_labels: -1, dst_labels: -1, flows: 3 },
    ]);
    assert.equal(db.prepare("SELECT value FROM store_facts WHERE key = 'label_rollups_from_minute'").pluck().get(), 1006);
    assert.equal(db.prepare("SELECT count(*) FROM sqlite_master WHERE name = 'rollup_1m_verdict_minute'").pluck().get(), 1, 'the verdict index is rebuilt');
    db.close();
  } finally {
    cleanup();
  }
});

interface Agg {
  source: string;
  total: number;
  groups: { key: Record<string, string | number>; count: number }[];
}

let env: Populated;
before(async () => {
  env = await populatedApp(3000);
});
after(async () => {
  await env.stop();
});

async function agg(query: string): Promise<Agg> {
  const res = await fetch(`${env.app.url}/api/v1/aggregate?since=${ALL_TIME.since}&top=1000&${query}`);
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json()) as Agg;
}

test('a label grouping over minutes rolled up before label sets were kept scans raw flows for them, and answers as before', async () => {
  const query = 'group_by=source_label:app,destination_label:app,verdict';
  const forceRaw = 'not_uuid=00000000-0000-4000-8000-000000000000';
  const before = await agg(query);
  assert.equal(before.source, 'rollup');
  // Turn the older half of the rollups into what an upgraded 0.1.0 store holds: no label sets.
  const db = openDatabase(env.dbPath);
  try {
    const minutes = db.prepare('SELECT DISTINCT minute FROM rollup_1m ORDER BY minute').pluck().all() as number[];
    assert.ok(minutes.length >= 4, `rollups span ${minutes.length} minutes`);
    const cut = minutes[Math.floor(minutes.length / 2)];
    db.transaction(() => {
      db.exec(`CREATE TEMP TABLE old AS SELECT ${ROLLUP_KEY}, sum(flows) AS flows FROM rollup_1m WHERE minute < ${cut} GROUP BY ${ROLLUP_KEY}`);
      db.exec(`DELETE FROM rollup_1m WHERE minute < ${cut}`);
      db.exec(`INSERT INTO rollup_1m (${ROLLUP_KEY}, src_labels, dst_labels, flows) SELECT ${ROLLUP_KEY}, -1, -1, flows FROM old`);
      db.prepare("UPDATE store_facts SET value = ? WHERE key = 'label_rollups_from_minute'").run(cut);
      db.prepare("INSERT OR IGNORE INTO store_facts (key, value) VALUES ('label_rollups_from_minute', ?)").run(cut);
    })();
  } finally {
    db.close();
  }
  const mixed = await agg(query);
  assert.equal(mixed.source, 'raw', 'older minutes come from raw flows');
  assert.equal(mixed.total, before.total);
  assert.deepEqual(mixed.groups, before.groups);
  assert.deepEqual(mixed.groups, (await agg(`${query}&${forceRaw}`)).groups);
  const plain = await agg('group_by=verdict,source_namespace');
  assert.equal(plain.source, 'rollup', 'groupings without labels still read every minute from rollups');
  assert.deepEqual(plain.groups, (await agg(`group_by=verdict,source_namespace&${forceRaw}`)).groups);
});
