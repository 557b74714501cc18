-- flowkeeper schema v1.
-- Flow rows hold integer ids; strings and sub-messages that repeat live once in
-- the dictionary tables below. Raw flows are split into one table per UTC hour
-- (created from partition_template), so retention drops whole tables.

CREATE TABLE clusters (
  id   INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE
);

CREATE TABLE nodes (
  id         INTEGER PRIMARY KEY,
  name       TEXT NOT NULL UNIQUE,
  cluster_id INTEGER NOT NULL REFERENCES clusters(id)
);

-- A workload as rollups and metrics group it: (cluster, namespace, first workload).
CREATE TABLE workloads (
  id        INTEGER PRIMARY KEY,
  cluster   TEXT NOT NULL,
  namespace TEXT NOT NULL,
  name      TEXT NOT NULL,
  kind      TEXT NOT NULL,
  UNIQUE (cluster, namespace, name, kind)
);

-- Endpoints are interned by their raw protobuf bytes; the decoded columns serve SQL filters.
CREATE TABLE endpoints (
  id           INTEGER PRIMARY KEY,
  raw          BLOB NOT NULL UNIQUE,
  workload_id  INTEGER NOT NULL REFERENCES workloads(id),
  identity     INTEGER NOT NULL,
  namespace    TEXT NOT NULL,
  pod_name     TEXT NOT NULL,
  cluster_name TEXT NOT NULL,
  labels       TEXT NOT NULL -- JSON array of "source:key=value"
);

-- Everything else that repeats (IPs, MACs, L7 records, names, services, policies,
-- summaries, ...), keyed by kind (src/flows/row.ts DictKind) and raw bytes.
CREATE TABLE dict (
  id    INTEGER PRIMARY KEY,
  kind  INTEGER NOT NULL,
  value BLOB NOT NULL,
  UNIQUE (kind, value)
);

CREATE TABLE partitions (
  hour       INTEGER PRIMARY KEY, -- UTC hours since the epoch
  created_at INTEGER NOT NULL,
  flows      INTEGER NOT NULL DEFAULT 0 -- rows stored, kept by the writer in the batch transaction
);

-- DDL of one hourly flow table; {hour} is replaced by the partition's hour.
-- rowid = (nanoseconds into the hour) * 2048 + collision counter: the primary key
-- orders rows by exact flow time, so no time column or time index is needed.
CREATE TABLE partition_template (
  seq INTEGER PRIMARY KEY,
  sql TEXT NOT NULL
);
INSERT INTO partition_template (seq, sql) VALUES
(1, 'CREATE TABLE flows_{hour} (
  id INTEGER PRIMARY KEY,
  uuid, verdict INTEGER, drop_reason INTEGER, bits INTEGER, flow_type INTEGER,
  event_type INTEGER, event_sub INTEGER, direction INTEGER, obs_point INTEGER,
  trace_reason INTEGER, policy_match INTEGER, auth_type INTEGER,
  node INTEGER, src_ep INTEGER, dst_ep INTEGER, src_ip INTEGER, dst_ip INTEGER,
  src_xlated INTEGER, ip_version INTEGER, l4 INTEGER, src_port INTEGER, dst_port INTEGER,
  tcp_flags INTEGER, icmp_type INTEGER, icmp_code INTEGER, l4_other INTEGER,
  ethernet INTEGER, l7_type INTEGER, latency_ns INTEGER, l7_record INTEGER, http_code INTEGER, l7_headers BLOB,
  src_names INTEGER, dst_names INTEGER, src_service INTEGER, dst_service INTEGER,
  summary INTEGER, iface INTEGER, proxy_port INTEGER, allowed_by INTEGER, denied_by INTEGER,
  policy_log INTEGER, node_labels INTEGER, emitter INTEGER, extra BLOB
)'),
-- Only rows that are not FORWARDED are indexed by verdict: drops, denials and errors are
-- what people look up, and skipping the bulk of traffic keeps inserts cheap. A query
-- must repeat "verdict != 1" for SQLite to use this partial index.
(2, 'CREATE INDEX flows_{hour}_verdict ON flows_{hour} (verdict) WHERE verdict != 1');

-- Per-minute counts by the dimensions users group by (0 = absent).
CREATE TABLE rollup_1m (
  minute       INTEGER NOT NULL, -- UTC minutes since the epoch
  cluster      INTEGER NOT NULL,
  verdict      INTEGER NOT NULL,
  drop_reason  INTEGER NOT NULL,
  direction    INTEGER NOT NULL,
  event_type   INTEGER NOT NULL,
  src_workload INTEGER NOT NULL,
  dst_workload INTEGER NOT NULL,
  dst_port     INTEGER NOT NULL,
  l4           INTEGER NOT NULL,
  denied_by    INTEGER NOT NULL,
  flows        INTEGER NOT NULL,
  PRIMARY KEY (minute, cluster, verdict, drop_reason, direction, event_type,
               src_workload, dst_workload, dst_port, l4, denied_by)
) WITHOUT ROWID;

-- The newest stored flow per relay: ingest resumes from here.
CREATE TABLE checkpoints (
  relay      TEXT PRIMARY KEY,
  seconds    INTEGER NOT NULL,
  nanos      INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);

-- Lost-event reports from the relay, per minute, source and node.
CREATE TABLE lost_events (
  minute INTEGER NOT NULL,
  relay  TEXT NOT NULL,
  source INTEGER NOT NULL,
  node   TEXT NOT NULL,
  events INTEGER NOT NULL,
  PRIMARY KEY (minute, relay, source, node)
) WITHOUT ROWID;
