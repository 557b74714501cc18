import Database from 'better-sqlite3';
import { mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';

export type Db = Database.Database;

/** Opens the store file with the pragmas every connection uses (WAL, incremental vacuum). */
/** SQLite page cache per connection (KiB): the writer's working set is the newest pages. */
const WRITER_CACHE_KIB = 16_000;
const READER_CACHE_KIB = 8_000;

export function openDatabase(path: string, options: { readonly?: boolean } = {}): Db {
  if (!options.readonly && path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path, { readonly: options.readonly ?? false, fileMustExist: options.readonly ?? false });
  if (!options.readonly) {
    // auto_vacuum must be chosen before the first table exists; it lets retention give pages back.
    db.pragma('auto_vacuum = INCREMENTAL');
    db.pragma('journal_mode = WAL');
  }
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  db.pragma(`cache_size = -${options.readonly ? READER_CACHE_KIB : WRITER_CACHE_KIB}`);
  db.pragma('temp_store = MEMORY');
  return db;
}

/** Bytes of the database file and its WAL and shared-memory files. */
export function fileBytes(path: string): number {
  let total = 0;
  for (const suffix of ['', '-wal', '-shm']) {
    try {
      total += statSync(path + suffix).size;
    } catch {
      // The WAL and shm files exist only while the database is open for writing.
    }
  }
  return total;
}
