import Database from 'better-sqlite3';
import { existsSync, renameSync, statSync } from 'node:fs';

/** Up to this size the whole file is checked at start-up; above it, the metadata and the newest partitions. */
const FULL_CHECK_BYTES = 512 * 1024 ** 2;
/** Partitions (newest first) checked in a large file. */
const PARTITIONS_CHECKED = 2;
/** Problems quick_check reports before stopping. */
const MAX_PROBLEMS = 5;

/**
 * Runs SQLite's quick_check on the store, bounded in time for large files.
 * Returns what is wrong, or null when the file is sound (or does not exist yet).
 */
export function findDamage(path: string): string | null {
  if (!existsSync(path)) return null;
  let db: Database.Database | null = null;
  try {
    db = new Database(path, { fileMustExist: true });
    const quick = (target?: string): string[] =>
      (db!.prepare(`PRAGMA quick_check${target ? `(${JSON.stringify(target)})` : `(${MAX_PROBLEMS})`}`).pluck().all() as string[])
        .filter((r) => r !== 'ok')
        .map((r) => r.replace(/\s*\n\s*/g, '; '));
    if (statSync(path).size <= FULL_CHECK_BYTES) {
      const problems = quick();
      return problems.length ? problems.slice(0, MAX_PROBLEMS).join('; ') : null;
    }
    const tables = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'flows\\_%' ESCAPE '\\'").pluck().all() as string[];
    const partitions = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name LIKE 'flows\\_%' ESCAPE '\\' ORDER BY name DESC LIMIT ?").pluck().all(PARTITIONS_CHECKED) as string[];
    const problems = [...tables, ...partitions].flatMap((t) => quick(t));
    return problems.length ? problems.slice(0, MAX_PROBLEMS).join('; ') : null;
  } catch (err) {
    return `${(err as { code?: string }).code ?? 'error'}: ${(err as Error).message}`;
  } finally {
    db?.close();
  }
}

/** Moves the damaged store (and its WAL and shared-memory files) aside for inspection; returns the new name. */
export function moveAside(path: string, now = new Date()): string {
  const target = `${path}.damaged-${now.toISOString().replace(/[:.]/g, '-')}`;
  for (const suffix of ['-wal', '-shm', '']) {
    if (existsSync(path + suffix)) renameSync(path + suffix, target + suffix);
  }
  return target;
}
