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

const CODECS_ONLY = '{codecs_only}';

/** A migration's SQL for this server: placeholders filled, split into statements, tables made replicated when asked. */
export function renderMigration(sql: string, database: string, f: ServerFeatures, replicated = false): string[] {
  const text = sql
    .replace(/^--.*$/gm, '')
    .replaceAll('{database}', database)
    .replaceAll('{string_lc}', f.lowCardinality ? 'LowCardinality(String)' : 'String')
    .replaceAll('{codec_time}', f.codecs ? 'CODEC(DoubleDelta, ZSTD(1))' : '')
    .replaceAll('{codec_bytes}', f.codecs ? 'CODEC(ZSTD(3))' : '');
  const statements = text
    .split(/^;\s*$/m)
    .map((s) => s.trim())
    .filter(Boolean)
    // A statement marked {codecs_only} is left out where the server has no column codecs.
    .flatMap((s) => (!s.startsWith(CODECS_ONLY) ? [s] : f.codecs ? [s.slice(CODECS_ONLY.length).trim()] : []));
  return replicated ? statements.map(replicatedEngine) : statements;
}

const CREATE_TABLE = /^CREATE\s+TABLE\s+IF\s+NOT\s+EXISTS\s+(\w+)\.(\w+)\s/i;
const MERGE_TREE_ENGINE = /ENGINE\s*=\s*(Summing|Replacing|)MergeTree\b(?:\(([^)]*)\))?/;

/**
 * A CREATE TABLE of a MergeTree family table, as its Replicated* twin: the
 * replicas of a shard share /clickhouse/tables/{shard}/<database>/<table> in
 * ZooKeeper, each under its own '{replica}' (both macros are the servers').
 * Migration files are written for one server; this is applied after their
 * checksums are taken, so one history serves both.
 */
export function replicatedEngine(statement: string): string {
  const table = CREATE_TABLE.exec(statement);
  if (!table) return statement;
  return statement.replace(MERGE_TREE_ENGINE, (_all, kind: string, args: string | undefined) =>
    `ENGINE = Replicated${kind}MergeTree('/clickhouse/tables/{shard}/${table[1]}/${table[2]}', '{replica}'${args?.trim() ? `, ${args.trim()}` : ''})`);
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
  // The server's shard (--clickhouse-replicated), where its tables live in ZooKeeper.
  const shard = ch.settings.replicated === true ? await replicaShard(ch) : null;
  const replicated = shard !== null;
  await checkEngineMatches(ch, db, replicated);
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
      for (const statement of renderMigration(file.sql, db, f, replicated)) {
        if (await columnExists(ch, db, statement)) continue;
        await ch.command(shard !== null ? await asJoiningReplica(ch, statement, shard) : statement);
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

const COLUMNS_THEN_ENGINE = /\(([\s\S]*)\)\s*ENGINE\s*=/;

/**
 * A replicated CREATE TABLE whose table another replica created already, with
 * the columns ZooKeeper holds for it now: later migrations may have added some,
 * and ClickHouse refuses a replica whose structure differs. The ADD COLUMN
 * statements that follow then find their columns and are skipped.
 */
async function asJoiningReplica(ch: ClickHouseHttp, statement: string, shard: string): Promise<string> {
  const table = CREATE_TABLE.exec(statement);
  if (!table || !/ENGINE\s*=\s*Replicated/.test(statement)) return statement;
  let columns: string;
  try {
    const [row] = await ch.rows<{ value: string }>(`SELECT value FROM system.zookeeper WHERE path = ${stringLiteral(`/clickhouse/tables/${shard}/${table[1]}/${table[2]}`)} AND name = 'columns'`, null);
    if (!row) return statement;
    columns = row.value;
  } catch {
    // No such path: this is the first replica of the table.
    return statement;
  }
  // "columns format version: 1", "N columns:", then one column a line: `name` Type, and tab-separated DEFAULT/CODEC parts.
  const definitions = columns.split('\n').slice(2).filter((l) => l.startsWith('`')).map((l) => l.replaceAll('\t', ' ').replaceAll("\\'", "'"));
  return statement.replace(COLUMNS_THEN_ENGINE, `(\n  ${definitions.join(',\n  ')}\n) ENGINE =`);
}

/** The server's shard macro; --clickhouse-replicated needs it, its replica macro and its ZooKeeper. */
async function replicaShard(ch: ClickHouseHttp): Promise<string> {
  const macros = new Map((await ch.rows<{ macro: string; substitution: string }>('SELECT macro, substitution FROM system.macros', null)).map((r) => [r.macro, r.substitution]));
  const missing = ['shard', 'replica'].filter((m) => !macros.has(m));
  if (missing.length) {
    throw new FlowkeeperError('FLOWKEEPER_ERR_CONFIG', `--clickhouse-replicated: the server at ${ch.settings.url} defines no ${missing.join(' and ')} macro (<macros><shard>…</shard><replica>…</replica></macros> in its configuration)`, 'clickhouse-replicated');
  }
  try {
    await ch.rows("SELECT name FROM system.zookeeper WHERE path = '/' LIMIT 1", null);
  } catch (err) {
    throw new FlowkeeperError('FLOWKEEPER_ERR_CONFIG', `--clickhouse-replicated: the server at ${ch.settings.url} cannot use ZooKeeper (its <zookeeper> configuration): ${(err as Error).message}`, 'clickhouse-replicated');
  }
  return macros.get('shard')!;
}

/** An existing flows table must be what --clickhouse-replicated says: flowkeeper does not convert tables between engines. */
async function checkEngineMatches(ch: ClickHouseHttp, db: string, replicated: boolean): Promise<void> {
  const [row] = await ch.rows<{ engine: string }>(`SELECT engine FROM system.tables WHERE database = ${stringLiteral(db)} AND name = 'flows'`, null);
  if (!row || row.engine.startsWith('Replicated') === replicated) return;
  throw new FlowkeeperError('FLOWKEEPER_ERR_CONFIG', replicated
    ? `--clickhouse-replicated: ${db}.flows exists as ${row.engine}, not replicated; flowkeeper does not convert tables (use a new --clickhouse-database, or convert them as the README says)`
    : `${db}.flows is ${row.engine}: start flowkeeper with --clickhouse-replicated for this database`, 'clickhouse-replicated');
}
