import Database from 'better-sqlite3';
import { FlowkeeperError } from '../../errors.js';

export interface WriterLock {
  release(): void;
}

/**
 * One writer per database: holds an exclusive SQLite (fcntl) lock on `<db>-lock`
 * for the life of the process. The kernel drops it when the process dies, so a
 * crash never leaves a stale lock behind, while a second flowkeeper on the same
 * file (or the same volume) is refused at start-up.
 */
export function acquireWriterLock(dbPath: string): WriterLock {
  const path = `${dbPath}-lock`;
  let db: Database.Database;
  try {
    db = new Database(path, { timeout: 0 });
  } catch (err) {
    throw new FlowkeeperError('FLOWKEEPER_ERR_CONFIG', `--db: cannot create ${path}: ${(err as Error).message} (is the directory writable by this user, and the volume mounted read-write?)`, 'db');
  }
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE');
  } catch (err) {
    db.close();
    if ((err as { code?: string }).code === 'SQLITE_BUSY') {
      throw new FlowkeeperError('FLOWKEEPER_ERR_CONFIG', `--db: another flowkeeper is already writing ${dbPath} (it holds ${path}); stop it first, or give this one its own --db`, 'db');
    }
    throw new FlowkeeperError('FLOWKEEPER_ERR_CONFIG', `--db: cannot lock ${path}: ${(err as Error).message}`, 'db');
  }
  return {
    release: () => {
      if (!db.open) return;
      db.exec('ROLLBACK');
      db.close();
    },
  };
}
