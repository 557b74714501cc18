import { FlowkeeperError } from '../../errors.js';
import { readMigrations } from '../migration-files.js';
import type { ClickHouseHttp, ServerVersion } from './http.js';
import { stringLiteral } from './where.js';

/** What the server can do, from its version: the schema uses each feature only where it exists. */
export interface ServerFeatures {
  version: string;
  lowCardinality: boolean;
  codecs: boolean;
  /** Features the schema would use on a newer server, for status. */
  missing: string[];
}

export function featuresOf(v: ServerVersion): ServerFeatures {
  const atLeast = (major: number, minor = 0): boolean => v.major > major || (v.major === major && v.minor >= minor);
  const lowCardinality = atLeast(19, 9);
  const codecs = atLeast(20, 1);
  const missing = [
    ...(lowCardinality ? [] : ['LowCardinality columns (ClickHouse 19.9+)']),
    ...(codecs ? [] : ['column codecs DoubleDelta/ZSTD (ClickHouse 20.1+; on older servers set ZSTD in the server config, <compression>: see the README)']),
  ];
  return { version: v.text, lowCardinality, codecs, missing };
}

/** A database or table name flowkeeper puts into SQL unquoted: letters, digits and underscores. */
export function checkIdentifier(name: string, option: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(name)) {
    throw new FlowkeeperError('FLOWKEEPER_ERR_CONFIG', `--${option}: "${name}" is not a ClickHouse identifier (letters, digits, underscores)`, option);
  }
  return name;
}

/** A migration's SQL for this server: placeholders filled, split into statements. */
export function renderMigration(sql: string, database: string, f: ServerFeatures): string[] {
  const text = sql
    .replace(/^--.*$/gm, '')
    .replaceAll('{database}', database)
    .replaceAll('{string_lc}', f.lowCardinality ? 'LowCardinality(String)' : 'String')
    .replaceAll('{codec_time}', f.codecs ? 'CODEC(DoubleDelta, ZSTD(1))' : '')
    .replaceAll('{codec_bytes}', f.codecs ? 'CODEC(ZSTD(3))' : '');
  return text.split(/^;\s*$/m).map((s) => s.trim()).filter(Boolean);
}

interface AppliedRow {
  version: number;
  name: string;
  checksum: string;
}

/**
 * Creates the database, then applies the numbered migrations of `dir` not yet
 * applied, recording each with its checksum (of the file as written, before
 * its placeholders are filled). Refuses to go on when an applied migration was
 * edited or removed, as the SQLite store does. Returns the names applied now.
 */
export async function migrateClickHouse(ch: ClickHouseHttp, dir: string, f: ServerFeatures): Promise<string[]> {
  const db = checkIdentifier(ch.settings.database, 'clickhouse-database');
  await ch.command(`CREATE DATABASE IF NOT EXISTS ${db}`, null);
  await ch.command(`CREATE TABLE IF NOT EXISTS ${db}.schema_migrations (version UInt32, name String, checksum String, applied_at DateTime) ENGINE = TinyLog`);
  const files = readMigrations(dir);
  const applied = await ch.rows<AppliedRow>(`SELECT version, name, checksum FROM ${db}.schema_migrations ORDER BY version`);
  const byVersion = new Map(files.map((m) => [m.version, m]));
  for (const row of applied) {
    const file = byVersion.get(Number(row.version));
    if (!file) throw new FlowkeeperError('FLOWKEEPER_ERR_MIGRATION', `ClickHouse migration ${row.name} is recorded as applied but its file is missing from ${dir}`);
    if (file.checksum !== row.checksum) {
      throw new FlowkeeperError('FLOWKEEPER_ERR_MIGRATION', `ClickHouse migration ${file.name} was edited after it was applied (checksum ${row.checksum.slice(0, 12)}… recorded, ${file.checksum.slice(0, 12)}… on disk); add a new migration instead of changing history`);
    }
  }
  const done = new Set(applied.map((r) => Number(r.version)));
  const now: string[] = [];
  for (const file of files) {
    if (done.has(file.version)) continue;
    try {
      // ClickHouse has no transactions: each statement is idempotent (IF NOT EXISTS), so a migration cut short is applied again whole.
      for (const statement of renderMigration(file.sql, db, f)) {
        if (!(await columnExists(ch, db, statement))) await ch.command(statement);
      }
    } catch (err) {
      throw new FlowkeeperError('FLOWKEEPER_ERR_MIGRATION', `ClickHouse migration ${file.name} failed: ${(err as Error).message}`);
    }
    await ch.command(`INSERT INTO ${db}.schema_migrations (version, name, checksum, applied_at) VALUES (${file.version}, ${stringLiteral(file.name)}, ${stringLiteral(file.checksum)}, now())`);
    now.push(file.name);
  }
  return now;
}

const ADD_COLUMN = /^ALTER\s+TABLE\s+(?:\w+\.)?(\w+)\s+ADD\s+COLUMN\s+(\w+)\s/i;

/**
 * Whether `statement` adds a column that exists already (a migration cut short
 * and run again: ClickHouse 18.16 has no ADD COLUMN IF NOT EXISTS).
 */
async function columnExists(ch: ClickHouseHttp, database: string, statement: string): Promise<boolean> {
  const m = ADD_COLUMN.exec(statement);
  if (!m) return false;
  const [row] = await ch.rows<{ n: string }>(`SELECT count() AS n FROM system.columns WHERE database = ${stringLiteral(database)} AND table = ${stringLiteral(m[1])} AND name = ${stringLiteral(m[2])}`, null);
  return row.n !== '0';
}
