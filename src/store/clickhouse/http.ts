import http from 'node:http';
import https from 'node:https';
import type { IncomingMessage } from 'node:http';
import { FlowkeeperError } from '../../errors.js';

/** Where and as whom flowkeeper talks to ClickHouse (its HTTP interface). */
export interface ClickHouseSettings {
  /** http(s)://host:8123 */
  url: string;
  database: string;
  user: string;
  password: string;
  /** Longest one request may take. */
  timeoutMs: number;
  /** Reads go through Distributed tables over this cluster's shards ('' or absent: this server only). */
  cluster?: string;
  /** Tables are Replicated*MergeTree, kept in step by the servers' ZooKeeper (migrate.ts). */
  replicated?: boolean;
}

export interface ServerVersion {
  text: string;
  major: number;
  minor: number;
}

/**
 * Settings of every JSON read. ClickHouse quoted 64-bit integers by default
 * until 25.8, which turned it off: unquoted, JSON.parse rounds a time_ns or a
 * hash (beyond 2^53), and a count arrives as a number where the code compares
 * strings. Sent with each request, so a server's default cannot change them.
 */
const JSON_SETTINGS: Readonly<Record<string, string>> = { output_format_json_quote_64bit_integers: '1' };

/** Statements that only read, which may go again when their connection was dropped under them. */
const READ = /^\s*(SELECT|SHOW|DESCRIBE|EXISTS|WITH)\b/i;

/** Longest error text from the server repeated in an error message. */
const MAX_ERROR_TEXT = 500;

/**
 * An idle kept-alive connection is closed after this long: before the
 * server's own keep-alive timeout (3 s by default), so a request never goes
 * out on a connection the server is closing.
 */
const IDLE_CONNECTION_MS = 2000;

/**
 * ClickHouse's HTTP interface, spoken with node:http(s) over kept-alive
 * connections: statements as the request body, inserts and reads in
 * RowBinary. (Not fetch: its web streams cost an insert ~2 µs more CPU per
 * flow, half of it in the garbage collector; README, ClickHouse figures.)
 * Server-side query parameters are not used (ClickHouse 18.16 has none):
 * callers build SQL with the literal helpers in sql.ts.
 */
export class ClickHouseHttp {
  private readonly base: URL;
  private readonly auth: string;
  private readonly agent: http.Agent;
  private readonly send: typeof http.request;

  constructor(readonly settings: ClickHouseSettings) {
    try {
      this.base = new URL(settings.url);
    } catch {
      throw new FlowkeeperError('FLOWKEEPER_ERR_CONFIG', `--clickhouse-url: "${settings.url}" is not a URL (http://host:8123)`, 'clickhouse-url');
    }
    if (this.base.protocol !== 'http:' && this.base.protocol !== 'https:') {
      throw new FlowkeeperError('FLOWKEEPER_ERR_CONFIG', `--clickhouse-url: "${settings.url}" must be http:// or https://`, 'clickhouse-url');
    }
    this.auth = `Basic ${Buffer.from(`${settings.user}:${settings.password}`).toString('base64')}`;
    const agentOptions = { keepAlive: true, timeout: IDLE_CONNECTION_MS, scheduling: 'lifo' as const };
    const tls = this.base.protocol === 'https:';
    this.agent = tls ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
    this.send = tls ? https.request : http.request;
  }

  /** Closes the idle kept-alive connections (requests still running finish). */
  close(): void {
    this.agent.destroy();
  }

  /** Runs a statement that returns nothing worth reading (DDL, ALTER). */
  async command(sql: string, database: string | null = this.settings.database): Promise<void> {
    await this.request(sql, null, database);
  }

  /** Rows of a SELECT as objects (JSONEachRow: 64-bit integers arrive as strings, whatever the server's default). */
  async rows<T>(sql: string, database: string | null = this.settings.database): Promise<T[]> {
    const body = await this.request(`${sql} FORMAT JSONEachRow`, null, database, undefined, undefined, JSON_SETTINGS);
    const text = body.toString('utf8');
    return text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as T);
  }

  /** A SELECT's answer in RowBinary, to decode with RowBinaryReader. */
  async binary(sql: string, signal?: AbortSignal): Promise<Buffer> {
    return this.request(`${sql} FORMAT RowBinary`, null, this.settings.database, signal);
  }

  /** Inserts rows already encoded in RowBinary, in the order of `columns`; several buffers are sent one after another, without joining them. */
  async insert(table: string, columns: readonly string[], rows: Buffer | readonly Buffer[]): Promise<void> {
    await this.request(null, rows, this.settings.database, undefined, `INSERT INTO ${table} (${columns.join(', ')}) FORMAT RowBinary`);
  }

  async version(): Promise<ServerVersion> {
    const [row] = await this.rows<{ v: string }>('SELECT version() AS v', null);
    const [major, minor] = row.v.split('.').map(Number);
    return { text: row.v, major, minor };
  }

  /**
   * One request: `sql` as the body, or `data` as the body with `query` (an
   * INSERT … FORMAT) in the URL; in `database`, with `settings` (URL
   * parameters, which every version takes). Protected for the tests, which
   * also run the same statements on an in-process ClickHouse (test/helpers/chdb.ts).
   */
  protected async request(sql: string | null, data: Buffer | readonly Buffer[] | null, database: string | null, signal?: AbortSignal, query?: string, settings?: Readonly<Record<string, string>>): Promise<Buffer> {
    const url = new URL(this.base);
    if (database) url.searchParams.set('database', database);
    if (query) url.searchParams.set('query', query);
    for (const [name, value] of Object.entries(settings ?? {})) url.searchParams.set(name, value);
    const timeout = AbortSignal.timeout(this.settings.timeoutMs);
    const chunks = data === null ? [Buffer.from(sql ?? '')] : Buffer.isBuffer(data) ? [data] : data;
    const abort = signal ? AbortSignal.any([signal, timeout]) : timeout;
    let res: { status: number; body: Buffer };
    try {
      res = await this.post(url, chunks, abort).catch((err: Error & { code?: string; reusedSocket?: boolean }) => {
        // A kept-alive connection the server closed as the request went out: a read goes again on a new one.
        // Nothing that writes (ClickHouseFlowWriter.commit retries inserts knowing whether they landed).
        if (err.reusedSocket && err.code === 'ECONNRESET' && query === undefined && READ.test(sql ?? '')) return this.post(url, chunks, abort);
        throw err;
      });
    } catch (err) {
      const why = timeout.aborted ? `no answer within ${this.settings.timeoutMs} ms` : whyUnreachable(err as Error & { code?: string });
      throw new FlowkeeperError('FLOWKEEPER_ERR_STORAGE', `ClickHouse at ${this.base.origin} cannot be reached: ${why}`);
    }
    if (res.status !== 200) {
      const text = res.body.toString('utf8').trim().slice(0, MAX_ERROR_TEXT);
      throw new FlowkeeperError('FLOWKEEPER_ERR_STORAGE', `ClickHouse at ${this.base.origin} refused ${describe(query ?? sql ?? '')}: HTTP ${res.status}: ${text}`);
    }
    return res.body;
  }

  /** One POST of `chunks` (written in turn, never joined), and the whole answer. */
  private post(url: URL, chunks: readonly Buffer[], signal: AbortSignal): Promise<{ status: number; body: Buffer }> {
    const length = chunks.reduce((n, c) => n + c.length, 0);
    return new Promise((resolve, reject) => {
      const req = this.send(url, { method: 'POST', agent: this.agent, signal, headers: { authorization: this.auth, 'content-length': length } }, (res: IncomingMessage) => {
        const got: Buffer[] = [];
        res.on('data', (c: Buffer) => got.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(got) }));
        res.on('error', reject);
      });
      req.on('error', (err: Error & { reusedSocket?: boolean }) => {
        err.reusedSocket = req.reusedSocket;
        reject(err);
      });
      for (const c of chunks) req.write(c);
      req.end();
    });
  }
}

/** OpenSSL's verdicts on a certificate Node does not trust. */
const UNTRUSTED_CERTIFICATE = new Set(['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_GET_ISSUER_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT']);

/** What a connection error usually means here, for the codes a wrong --clickhouse-url gives. */
const CONNECTION_HINTS: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'nothing listens at that address and port',
  ENOTFOUND: 'no such host',
  EAI_AGAIN: 'the host name could not be resolved now',
  EPROTO: 'no TLS there: https:// needs ClickHouse\'s https_port (8443 by default), http:// its http_port (8123)',
};

/** A failed connection's cause, with what to do where the address or the server's certificate is wrong. */
function whyUnreachable(err: Error & { code?: string }): string {
  const code = err.code ?? err.message;
  if (code in CONNECTION_HINTS) return `${code}: ${CONNECTION_HINTS[code]}`;
  if (UNTRUSTED_CERTIFICATE.has(code)) return `${code}: its TLS certificate is not signed by a CA this machine trusts (give flowkeeper the CA with NODE_EXTRA_CA_CERTS=/path/to/ca.pem)`;
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return `${code}: its TLS certificate does not name this host (${err.message})`;
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') return `${code}: its TLS certificate is not valid now`;
  return code;
}

/** The first words of a statement, for error messages. */
function describe(sql: string): string {
  const words = sql.trim().split(/\s+/);
  return `"${words.slice(0, 4).join(' ')}${words.length > 4 ? ' …' : ''}"`;
}
