-- Policy replay's flow classes, kept by the writer and dropped with their
-- partition: per hourly partition, one row per class of
-- flows a policy judges alike (src/store/class-key.ts), with the flows it holds
-- and its first and last rowid. A replay over whole hours reads these rows
-- instead of grouping every stored flow. The columns filters read are kept as
-- stored (NULLs included), so the store's filter SQL applies to them as to flows.
CREATE TABLE flow_classes (
  hour        INTEGER NOT NULL,
  key         TEXT NOT NULL,
  verdict     INTEGER,
  drop_reason INTEGER,
  event_type  INTEGER,
  direction   INTEGER,
  l4          INTEGER,
  l7_record   INTEGER,
  src_ep      INTEGER,
  dst_ep      INTEGER,
  src_ip      INTEGER,
  dst_ip      INTEGER,
  src_names   INTEGER,
  dst_names   INTEGER,
  src_service INTEGER,
  dst_service INTEGER,
  first_id    INTEGER NOT NULL,
  last_id     INTEGER NOT NULL,
  flows       INTEGER NOT NULL,
  PRIMARY KEY (hour, key)
) WITHOUT ROWID;

-- classes = 1: the partition's flows are counted in flow_classes (0 for
-- partitions written before this migration and hours whose classes outgrew
-- their bound). class_flows: the flows counted there so far; the writer counts
-- in memory and writes every few seconds, so an hour's rows are complete when
-- class_flows = flows. Elsewhere a replay groups the raw flows.
ALTER TABLE partitions ADD COLUMN classes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE partitions ADD COLUMN class_flows INTEGER NOT NULL DEFAULT 0;
