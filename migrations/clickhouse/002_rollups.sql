-- Rollups kept by ClickHouse itself: per minute, how many flows had each
-- combination of the dimensions aggregates group and filter by (as SQLite's
-- rollup_1m, with names instead of dictionary ids), filled by a materialized
-- view from every insert into flows. The flows table gains the columns the view
-- reads. (ClickHouse 18.16 has no ADD COLUMN IF NOT EXISTS: flowkeeper skips an
-- ADD COLUMN whose column exists, so a migration cut short can run again.)
ALTER TABLE {database}.flows ADD COLUMN cluster {string_lc}
;
ALTER TABLE {database}.flows ADD COLUMN src_workload String
;
ALTER TABLE {database}.flows ADD COLUMN dst_workload String
;
-- An endpoint's label set: the first 8 bytes of the SHA-1 of its labels as a JSON
-- array (0 when the flow has no such endpoint); label_sets holds the labels.
ALTER TABLE {database}.flows ADD COLUMN src_label_set UInt64
;
ALTER TABLE {database}.flows ADD COLUMN dst_label_set UInt64
;
-- '=' and the denying policies' names, comma-separated ('' when the flow names none).
ALTER TABLE {database}.flows ADD COLUMN denied_by String
;
-- Written by each writer before the flows that first use a label set (the same row
-- from several writers collapses on merge).
CREATE TABLE IF NOT EXISTS {database}.label_sets (
  hash   UInt64,
  labels String
) ENGINE = ReplacingMergeTree
ORDER BY hash
;
CREATE TABLE IF NOT EXISTS {database}.flows_1m (
  minute        UInt32,
  cluster       {string_lc},
  node          {string_lc},
  verdict       UInt8,
  drop_reason   UInt16,
  direction     UInt8,
  event_type    Int32,
  src_namespace {string_lc},
  src_workload  String,
  dst_namespace {string_lc},
  dst_workload  String,
  src_label_set UInt64,
  dst_label_set UInt64,
  port          UInt16,
  l4            UInt8,
  denied_by     String,
  flows         UInt64
) ENGINE = SummingMergeTree(flows)
PARTITION BY toDate(toDateTime(minute * 60))
ORDER BY (minute, verdict, drop_reason, direction, event_type, cluster, node, src_namespace, src_workload, dst_namespace, dst_workload, port, l4, denied_by, src_label_set, dst_label_set)
;
-- Replies count under port 0 (their destination is the client's ephemeral port), as in SQLite's rollups.
CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.flows_1m_mv TO {database}.flows_1m AS
SELECT
  toUInt32(intDiv(time_ns, 60000000000)) AS minute, cluster, node, verdict, drop_reason, direction, event_type,
  src_namespace, src_workload, dst_namespace, dst_workload, src_label_set, dst_label_set,
  toUInt16(if(is_reply = 1, 0, dst_port)) AS port, l4, denied_by, count() AS flows
FROM {database}.flows
GROUP BY minute, cluster, node, verdict, drop_reason, direction, event_type, src_namespace, src_workload, dst_namespace, dst_workload, src_label_set, dst_label_set, port, l4, denied_by
;
