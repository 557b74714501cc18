import { FlowkeeperError } from '../../errors.js';
import type { Db } from './sqlite.js';
import { readMigrations } from '../migration-files.js';

/**
 * Applies the numbered SQL files in `dir` that are not applied yet, each in its
 * own transaction, and records their checksums. Refuses to start when an applied
 * migration was edited or removed: history is never rewritten silently.
 * Returns the names of the migrations applied now.
 */
export function migrate(db: Db, dir: string): string[] {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at INTEGER NOT NULL)`);
  const files = readMigrations(dir);
  const applied = db.prepare('SELECT version, name, checksum FROM schema_migrations ORDER BY version').all() as {
    version: number;
    name: string;
    checksum: string;
  }[];
  const byVersion = new Map(files.map((f) => [f.version, f]));
  for (const row of applied) {
    const file = byVersion.get(row.version);
    if (!file) {
      throw new FlowkeeperError(
        'FLOWKEEPER_ERR_MIGRATION',
        `migration ${row.name} is recorded as applied but its file is missing from ${dir}`,
      );
    }
    if (file.checksum !== row.checksum) {
      throw new FlowkeeperError(
        'FLOWKEEPER_ERR_MIGRATION',
        `migration ${file.name} was edited after it was applied (checksum ${row.checksum.slice(0, 12)}… ` +
          `recorded, ${file.checksum.slice(0, 12)}… on disk); add a new migration instead of changing history`,
      );
    }
  }
  const done = new Set(applied.map((r) => r.version));
  const record = db.prepare('INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (?, ?, ?, ?)');
  const appliedNow: string[] = [];
  for (const file of files) {
    if (done.has(file.version)) continue;
    try {
      db.transaction(() => {
        db.exec(file.sql);
        record.run(file.version, file.name, file.checksum, Date.now());
      })();
    } catch (err) {
      throw new FlowkeeperError('FLOWKEEPER_ERR_MIGRATION', `migration ${file.name} failed: ${(err as Error).message}`);
    }
    appliedNow.push(file.name);
  }
  return appliedNow;
}
