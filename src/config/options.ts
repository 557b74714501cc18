import { AUTO_SIZE, parseDuration, parseSize } from './units.js';

/**
 * Every setting flowkeeper reads, in one place. Each has a CLI flag
 * (--name), an environment variable (FLOWKEEPER_NAME with dashes as
 * underscores) and a default; `flowkeeper --help` prints this table.
 */
export interface OptionSpec<T> {
  flag: string;
  description: string;
  default: string;
  parse: (text: string) => T;
  /** The commands the option applies to (default: serve and demo); others refuse it and leave it out of --help. */
  commands?: readonly Command[];
}

export type Command = 'serve' | 'demo' | 'sim';
const SERVE_ONLY = ['serve'] as const;
const ALL = ['serve', 'demo', 'sim'] as const;
const SIM = ['demo', 'sim'] as const;

/** The commands an option applies to. */
export function commandsOf(spec: object): readonly Command[] {
  return (spec as { commands?: readonly Command[] }).commands ?? ['serve', 'demo'];
}

const str = (s: string): string => s;
const int = (name: string) => (s: string): number => {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer, got "${s}"`);
  return n;
};
export const bool = (s: string): boolean => {
  if (['1', 'true', 'yes', 'on', ''].includes(s.toLowerCase())) return true;
  if (['0', 'false', 'no', 'off'].includes(s.toLowerCase())) return false;
  throw new Error(`expected true or false, got "${s}"`);
};
const list = (s: string): string[] => s.split(',').map((x) => x.trim()).filter(Boolean);
/** One of a few words. */
const oneOf = <W extends string>(...words: W[]) => (s: string): W => {
  if (!(words as string[]).includes(s)) throw new Error(`expected ${words.join(' or ')}, got "${s}"`);
  return s as W;
};

export const OPTIONS = {
  relay: {
    flag: 'relay', default: 'localhost:4245', parse: list,
    description: 'hubble-relay address(es), comma-separated; "name=host:port" names a relay (one per cluster)', commands: SERVE_ONLY,
  },
  relayTls: { flag: 'relay-tls', default: 'false', parse: bool, description: 'use TLS to hubble-relay', commands: SERVE_ONLY },
  relayTlsCa: { flag: 'relay-tls-ca', default: '', parse: str, description: 'PEM file of the CA that signed the relay certificate (hubble-relay-server-certs ca.crt)', commands: SERVE_ONLY },
  relayTlsCert: { flag: 'relay-tls-cert', default: '', parse: str, description: 'client certificate PEM for relay mTLS (implies --relay-tls)', commands: SERVE_ONLY },
  relayTlsKey: { flag: 'relay-tls-key', default: '', parse: str, description: 'client key PEM for relay mTLS (implies --relay-tls)', commands: SERVE_ONLY },
  relayTlsServerName: {
    flag: 'relay-tls-server-name', default: 'hubble.hubble-relay.cilium.io', parse: str,
    description: 'name to verify in the relay certificate (relay certs are issued for *.hubble-relay.cilium.io)', commands: SERVE_ONLY,
  },
  relayWhitelist: { flag: 'relay-whitelist', default: '', parse: str, description: 'JSON array of Hubble FlowFilters sent to the relay as whitelist (server-side filtering)' },
  relayBlacklist: { flag: 'relay-blacklist', default: '', parse: str, description: 'JSON array of Hubble FlowFilters sent to the relay as blacklist' },
  resumeOverlap: { flag: 'resume-overlap', default: '5s', parse: parseDuration, description: 'on reconnect, ask the relay for flows this long before the last stored one (duplicates are dropped)' },
  backoffInitial: { flag: 'backoff-initial', default: '500ms', parse: parseDuration, description: 'first reconnect delay (exponential, with full jitter)' },
  backoffMax: { flag: 'backoff-max', default: '30s', parse: parseDuration, description: 'longest reconnect delay' },
  statusInterval: { flag: 'status-interval', default: '30s', parse: parseDuration, description: 'how often to poll the relay with ServerStatus and GetNodes' },
  store: {
    flag: 'store', default: 'sqlite', parse: oneOf('sqlite', 'clickhouse'),
    description: 'storage engine: sqlite (embedded, --db) or clickhouse (--clickhouse-url, see README)',
  },
  db: { flag: 'db', default: './data/flowkeeper.db', parse: str, description: 'SQLite database file' },
  clickhouseUrl: { flag: 'clickhouse-url', default: 'http://127.0.0.1:8123', parse: str, description: 'ClickHouse HTTP interface for --store clickhouse (https:// for TLS; a private CA via NODE_EXTRA_CA_CERTS)' },
  clickhouseDatabase: { flag: 'clickhouse-database', default: 'flowkeeper', parse: str, description: 'ClickHouse database flowkeeper creates and migrates' },
  clickhouseCluster: { flag: 'clickhouse-cluster', default: '', parse: str, description: 'read through Distributed tables over this cluster (of the servers\' remote_servers), so this flowkeeper answers for every shard; it still writes to --clickhouse-url' },
  clickhouseReplicated: {
    flag: 'clickhouse-replicated', default: 'false', parse: bool,
    description: 'create the tables as ReplicatedMergeTree (ZooKeeper path /clickhouse/tables/{shard}/<database>/<table>, replica {replica}: the servers\' macros); every replica needs a flowkeeper pointed at it once, which creates the tables there',
  },
  clickhouseUser: { flag: 'clickhouse-user', default: 'default', parse: str, description: 'ClickHouse user' },
  clickhousePassword: { flag: 'clickhouse-password', default: '', parse: str, description: 'ClickHouse password (prefer the environment variable FLOWKEEPER_CLICKHOUSE_PASSWORD)' },
  clickhouseInsertRows: {
    flag: 'clickhouse-insert-rows', default: '32768', parse: int('clickhouse-insert-rows'),
    description: 'flows per ClickHouse insert: relay batches are gathered until this many (or for at most 1s), since every insert makes a part on the server; --queue-batches is raised to hold two inserts',
  },
  clickhouseTimeout: { flag: 'clickhouse-timeout', default: '30s', parse: parseDuration, description: 'longest one ClickHouse request may take before it counts as failed (and is retried)' },
  retention: { flag: 'retention', default: '24h', parse: parseDuration, description: 'keep raw flows this long (whole partitions are dropped: hourly on SQLite, daily on ClickHouse)' },
  retentionSize: {
    flag: 'retention-size', default: 'auto', parse: (s: string): number => (s === 'auto' ? AUTO_SIZE : parseSize(s)),
    description: 'drop the oldest partitions while the database uses more than this; auto = 80% of its filesystem (0 = no limit). Whatever it says, the oldest partitions go when the disk is nearly full',
  },
  onDamagedDb: {
    flag: 'on-damaged-db', default: 'move-aside', parse: oneOf('move-aside', 'refuse'),
    description: 'when the start-up check finds the database damaged: move-aside (keep it as <db>.damaged-<time>, start a new one) or refuse to start',
  },
  dbMaxSize: { flag: 'db-max-size', default: '0', parse: parseSize, description: 'hard cap on the database file (a quota; 0 = none): writes beyond it fail like a full disk' },
  rollupRetention: { flag: 'rollup-retention', default: '30d', parse: parseDuration, description: 'keep 1-minute rollups this long' },
  batchSize: { flag: 'batch-size', default: '4096', parse: int('batch-size'), description: 'flows per write transaction' },
  queueBatches: { flag: 'queue-batches', default: '4', parse: int('queue-batches'), description: 'batches in flight to the writer before the relay stream is paused' },
  listen: { flag: 'listen', default: '127.0.0.1:8080', parse: str, description: 'address of the REST/WebSocket API and /metrics (beyond loopback it needs --api-token or --allow-unauthenticated)' },
  allowUnauthenticated: { flag: 'allow-unauthenticated', default: 'false', parse: bool, description: 'serve the API beyond loopback without --api-token (every stored flow readable by anyone who can connect)' },
  allowedOrigins: { flag: 'allowed-origins', default: '', parse: list, description: 'browser origins (e.g. https://grafana.example.com) allowed to open the WebSocket stream besides the API\'s own' },
  queryMaxRange: { flag: 'query-max-range', default: '7d', parse: parseDuration, description: 'longest since..until range a flow query or raw aggregate may scan' },
  queryBudget: { flag: 'query-budget', default: '2s', parse: parseDuration, description: 'longest a query may scan; flow queries then return what they found with a cursor to continue, raw aggregates fail with 422' },
  queryWorkers: { flag: 'query-workers', default: '2', parse: int('query-workers'), description: 'threads that run REST/WebSocket queries off the main thread, each on its own read connection (0: on the main thread, rationed so ingest keeps up)' },
  queryQueue: { flag: 'query-queue', default: '32', parse: int('query-queue'), description: 'queries that may wait for a busy query thread; more are refused with 429 and Retry-After' },
  httpRequestTimeout: { flag: 'http-request-timeout', default: '30s', parse: parseDuration, description: 'longest a client may take to send a whole request (headers and body); slower connections are closed (408)' },
  httpMaxConnections: { flag: 'http-max-connections', default: '1024', parse: int('http-max-connections'), description: 'most open HTTP/WebSocket connections; more are refused' },
  observerListen: {
    flag: 'observer-listen', default: '127.0.0.1:4244', parse: str,
    description: 'address of the gRPC Observer API on history (hubble observe --server ...); empty turns it off. Beyond loopback it needs --api-token or --allow-unauthenticated, as --listen',
  },
  observerTlsCert: { flag: 'observer-tls-cert', default: '', parse: str, description: 'PEM certificate for the Observer API (TLS on when given, with --observer-tls-key)' },
  observerTlsKey: { flag: 'observer-tls-key', default: '', parse: str, description: 'PEM private key of --observer-tls-cert' },
  observerTlsClientCa: { flag: 'observer-tls-client-ca', default: '', parse: str, description: 'PEM CA bundle: Observer API clients must present a certificate it signed (mTLS)' },
  observerMaxStreams: { flag: 'observer-max-streams', default: '16', parse: int('observer-max-streams'), description: 'concurrent Observer GetFlows streams allowed (RESOURCE_EXHAUSTED beyond)' },
  wsMaxSubscribers: { flag: 'ws-max-subscribers', default: '64', parse: int('ws-max-subscribers'), description: 'concurrent WebSocket live-stream subscribers allowed' },
  metrics: { flag: 'metrics', default: 'true', parse: bool, description: 'count flows into the Prometheus flow metrics (self-metrics are always on)' },
  metricsMaxSeries: { flag: 'metrics-max-series', default: '2000', parse: int('metrics-max-series'), description: 'series cap per flow metric; beyond it namespaces/workloads/policies count as "other"' },
  metricsSeriesTtl: { flag: 'metrics-series-ttl', default: '15m', parse: parseDuration, description: 'flow-metric series not incremented for this long are removed' },
  metricsWorkloadLabels: { flag: 'metrics-workload-labels', default: 'false', parse: bool, description: 'add source/destination workload labels to flowkeeper_dropped_flows_total' },
  metricsToken: { flag: 'metrics-token', default: '', parse: str, description: 'bearer token required on /metrics (empty = open)' },
  apiToken: { flag: 'api-token', default: '', parse: str, description: 'bearer token required on the REST and WebSocket API (empty = no auth)' },
  logLevel: { flag: 'log-level', default: 'info', parse: str, description: 'trace, debug, info, warn, error or silent', commands: ALL },
  simRate: { flag: 'sim-rate', default: '2000', parse: int('sim-rate'), description: 'demo/sim: flows per second the relay simulator generates (at most what half a core can encode: about 4,000/s on a small machine)', commands: SIM },
  simListen: { flag: 'sim-listen', default: '127.0.0.1:4245', parse: str, description: 'demo/sim: address the relay simulator listens on', commands: SIM },
} as const satisfies Record<string, OptionSpec<unknown>>;

export type OptionName = keyof typeof OPTIONS;
export type Config = { [K in OptionName]: ReturnType<(typeof OPTIONS)[K]['parse']> };
