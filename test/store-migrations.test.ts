import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MIGRATIONS_DIR } from '../src/paths.js';
import { migrate } from '../src/store/sqlite/migrate.js';
import { openDatabase } from '../src/store/sqlite/sqlite.js';
import { tempDir } from './helpers/harness.js';
import { FlowkeeperError } from '../src/errors.js';

function setup(): { dir: string; migrations: string; dbPath: string; cleanup: () => void } {
  const { dir, cleanup } = tempDir();
  const migrations = join(dir, 'migrations');
  cpSync(MIGRATIONS_DIR, migrations, { recursive: true });
  return { dir, migrations, dbPath: join(dir, 'fk.db'), cleanup };
}

test('migrations apply once, in order, and are recorded with checksums', () => {
  const { migrations, dbPath, cleanup } = setup();
  try {
    writeFileSync(join(migrations, '900_extra.sql'), 'CREATE TABLE extra_test (id INTEGER PRIMARY KEY);');
    const db = openDatabase(dbPath);
    const shipped = readdirSync(MIGRATIONS_DIR).filter((f) => f.endsWith('.sql')).sort();
    assert.deepEqual(migrate(db, migrations), [...shipped, '900_extra.sql']);
    assert.deepEqual(migrate(db, migrations), [], 'nothing is applied twice');
    const rows = db.prepare('SELECT version, name, length(checksum) AS len FROM schema_migrations ORDER BY version').all() as { version: number; name: string; len: number }[];
    assert.deepEqual(rows.map((r) => r.name), [...shipped, '900_extra.sql']);
    assert.ok(rows.every((r) => r.len === 64));
    assert.equal(rows[0].version, 1);
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    db.close();
  } finally {
    cleanup();
  }
});

test('an edited, already applied migration is refused with a clear error', () => {
  const { migrations, dbPath, cleanup } = setup();
  try {
    const db = openDatabase(dbPath);
    migrate(db, migrations);
    const file = join(migrations, '001_init.sql');
    writeFileSync(file, readFileSync(file, 'utf8') + '\n-- an innocent-looking edit\n');
    assert.throws(
      () => migrate(db, migrations),
      (err: unknown) => err instanceof FlowkeeperError && err.code === 'FLOWKEEPER_ERR_MIGRATION' && /001_init\.sql was edited after it was applied/.test(err.message),
    );
    db.close();
  } finally {
    cleanup();
  }
});

test('a failing migration leaves nothing half-applied; a missing applied file is refused', () => {
  const { migrations, dbPath, cleanup } = setup();
  try {
    writeFileSync(join(migrations, '900_broken.sql'), 'CREATE TABLE half_done (id INTEGER); THIS IS NOT SQL;');
    const db = openDatabase(dbPath);
    assert.throws(() => migrate(db, migrations), /migration 900_broken\.sql failed/);
    assert.equal(db.prepare("SELECT count(*) FROM sqlite_master WHERE name = 'half_done'").pluck().get(), 0);
    const shipped = readdirSync(MIGRATIONS_DIR).filter((f) => f.endsWith('.sql')).length;
    assert.equal(db.prepare('SELECT count(*) FROM schema_migrations').pluck().get(), shipped, 'the good ones stay applied');
    rmSync(join(migrations, '900_broken.sql'));
    rmSync(join(migrations, '001_init.sql'));
    assert.throws(() => migrate(db, migrations), /001_init\.sql is recorded as applied but its file is missing/);
    db.close();
  } finally {
    cleanup();
  }
});
