import { createRequire } from 'node:module';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FlowkeeperError } from '../../src/errors.js';
import { ClickHouseHttp } from '../../src/store/clickhouse/http.js';
import type { ClickHouseSettings } from '../../src/store/clickhouse/http.js';
import { tempDir } from './harness.js';

/**
 * Current ClickHouse for the tests: chDB, ClickHouse (26.7) built as a library
 * and run in-process, from the npm registry. Debian ships only 18.16, and
 * production runs 24+: the same statements (migrations with codecs and
 * LowCardinality, every query, inserts in RowBinary) run on both. chDB serves
 * no HTTP, so ChdbClickHouse replaces only ClickHouseHttp's request: what
 * would be the request body runs as a query of a chDB session, and an insert's
 * rows are read from a file (FROM INFILE). ~180 MB, so it is not a dependency:
 * CI installs it (.ci/run: npm install --no-save chdb); elsewhere the tests
 * that need it are skipped, saying so.
 */

/** The part of chDB's API used here. */
interface ChdbResult {
  bytes(): Uint8Array;
}
interface ChdbSession {
  queryAsync(sql: string): Promise<ChdbResult>;
  close(): void;
}
interface Chdb {
  Session: new (path: string) => ChdbSession;
}

/** The version .ci/run installs (ClickHouse 26.7). */
export const CHDB_PACKAGE = 'chdb@3.4.0';

function loadChdb(): Chdb | null {
  try {
    return createRequire(import.meta.url)('chdb') as Chdb;
  } catch {
    return null;
  }
}

const chdb = loadChdb();
if (!chdb && process.env.CI) throw new Error(`chDB is required in CI (.ci/run installs it: npm install --no-save ${CHDB_PACKAGE})`);

/** `skip` for node:test: false when chDB loads here, else why not. */
export const chdbSkip: string | false = chdb ? false : `chDB not found: "npm install --no-save ${CHDB_PACKAGE}" (current ClickHouse in-process, ~180 MB) to run the tests on ClickHouse 26.7`;

/** ClickHouseHttp whose requests run in a chDB session (one at a time, each in its own database). */
export class ChdbClickHouse extends ClickHouseHttp {
  constructor(
    settings: Omit<ClickHouseSettings, 'url'>,
    private readonly chdb: ChdbEngine,
  ) {
    super({ ...settings, url: 'http://chdb.invalid' });
  }

  protected override request(sql: string | null, data: Buffer | readonly Buffer[] | null, database: string | null, _signal?: AbortSignal, query?: string, settings?: Readonly<Record<string, string>>): Promise<Buffer> {
    // The URL's settings, as the statement's SETTINGS clause.
    const withSettings = sql !== null && settings ? `${sql} SETTINGS ${Object.entries(settings).map(([k, v]) => `${k} = ${v}`).join(', ')}` : sql;
    return this.chdb.run(withSettings, data, database, query);
  }
}

/** A chDB session in a temporary directory. */
export class ChdbEngine {
  private readonly session: ChdbSession;
  private readonly dir: string;
  private readonly cleanup: () => void;
  private queue: Promise<unknown> = Promise.resolve();
  private files = 0;

  constructor() {
    if (!chdb) throw new Error(chdbSkip as string);
    ({ dir: this.dir, cleanup: this.cleanup } = tempDir('flowkeeper-chdb-'));
    this.session = new chdb.Session(join(this.dir, 'data'));
  }

  client(database: string): ChdbClickHouse {
    return new ChdbClickHouse({ database, user: 'default', password: '', timeoutMs: 30_000 }, this);
  }

  /** One request, after those before it (a session has one current database). */
  run(sql: string | null, data: Buffer | readonly Buffer[] | null, database: string | null, query?: string): Promise<Buffer> {
    const next = this.queue.then(() => this.execute(sql, data, database, query));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async execute(sql: string | null, data: Buffer | readonly Buffer[] | null, database: string | null, query?: string): Promise<Buffer> {
    let statement = sql ?? '';
    let file: string | null = null;
    if (data !== null && query !== undefined) {
      file = join(this.dir, `insert-${this.files++}.bin`);
      writeFileSync(file, Buffer.isBuffer(data) ? data : Buffer.concat(data));
      statement = query.replace(/\sFORMAT RowBinary$/, ` FROM INFILE '${file}' FORMAT RowBinary`);
      if (statement === query) throw new Error(`not an insert in RowBinary: ${query}`);
    }
    try {
      const result = await this.session.queryAsync(database ? `USE ${database}; ${statement}` : statement);
      return Buffer.from(result.bytes());
    } catch (err) {
      throw new FlowkeeperError('FLOWKEEPER_ERR_STORAGE', `ClickHouse (chDB) refused "${statement.slice(0, 60)}": ${(err as Error).message}`);
    } finally {
      if (file) rmSync(file, { force: true });
    }
  }

  close(): void {
    this.session.close();
    this.cleanup();
  }
}
