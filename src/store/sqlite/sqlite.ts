import Database from 'better-sqlite3';
import { accessSync, constants, existsSync, mkdirSync, statSync } from 'node:fs';
import { FlowkeeperError } from '../../errors.js';
import { dirname } from 'node:path';

export type Db = Database.Database;

/** Opens the store file with the pragmas every connection uses (WAL, incremental vacuum). */
/** SQLite page cache per connection (KiB): the writer's working set is the newest pages. */
const WRITER_CACHE_KIB = 16_000;
const READER_CACHE_KIB = 8_000;

/**
 * Creates the database directory if needed and checks this process may write
 * there, so a read-only volume, a wrong owner or a bad path fails at start-up
 * with the path named, not later with a bare SQLite error.
 */
export function prepareDatabaseDirectory(path: string): void {
  const dir = dirname(path);
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw new FlowkeeperError('FLOWKEEPER_ERR_CONFIG', `--db: cannot create the directory ${dir}: ${(err as Error).message}`, 'db');
  }
  try {
    accessSync(dir, constants.W_OK);
    if (existsSync(path)) accessSync(path, constants.R_OK | constants.W_OK);
  } catch (err) {
    const code = (err as { code?: string }).code;
    const why = code === 'EROFS' ? 'the filesystem is read-only' : code === 'EACCES' || code === 'EPERM' ? `this user (uid ${process.getuid?.() ?? '?'}) may not write there` : (err as Error).message;
    throw new FlowkeeperError('FLOWKEEPER_ERR_CONFIG', `--db: cannot write ${existsSync(path) ? path : dir}: ${why}`, 'db');
  }
}

export function openDatabase(path: string, options: { readonly?: boolean; maxBytes?: number } = {}): Db {
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
  // Readers keep SQLite's default temp store: their sorter then sorts in one
  // block of memory up to the cache size (GROUP BY over an hour's flows runs
  // ~25% faster than with temp_store = MEMORY, which mallocs every record) and
  // spills larger sorts to a temporary file (under SQLITE_TMPDIR, TMPDIR or /tmp).
  if (!options.readonly) db.pragma('temp_store = MEMORY');
  if (options.maxBytes) {
    const pageSize = db.pragma('page_size', { simple: true }) as number;
    db.pragma(`max_page_count = ${Math.max(1, Math.floor(options.maxBytes / pageSize))}`);
  }
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

/** SQLite errors that mean "the storage cannot take this write now" (retry later), not "this data is bad". */
export function isStorageFailure(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && /^SQLITE_(FULL|IOERR|READONLY|CANTOPEN|BUSY|LOCKED|PROTOCOL|NOLFS|CORRUPT|NOTADB)/.test(code);
}
