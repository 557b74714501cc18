-- ZSTD for every column of flows that had no codec of its own. Without one, a
-- column takes the server's default compression, LZ4 unless ZSTD is set
-- server-wide: measured on ClickHouse 26.7, these columns then took ~36 B of a
-- flow's 93. Statements marked {codecs_only} run only where the server has
-- column codecs (20.1+); on older servers, set ZSTD server-wide (README).
-- Parts written before are recompressed as they merge.
{codecs_only} ALTER TABLE {database}.flows
  MODIFY COLUMN relay {string_lc} CODEC(ZSTD(1)),
  MODIFY COLUMN node {string_lc} CODEC(ZSTD(1)),
  MODIFY COLUMN cluster {string_lc} CODEC(ZSTD(1)),
  MODIFY COLUMN uuid String CODEC(ZSTD(1)),
  MODIFY COLUMN uuid_hash UInt16 DEFAULT bitAnd(murmurHash2_32(uuid), 65535) CODEC(ZSTD(1)),
  MODIFY COLUMN verdict UInt8 CODEC(ZSTD(1)),
  MODIFY COLUMN drop_reason UInt16 CODEC(ZSTD(1)),
  MODIFY COLUMN direction UInt8 CODEC(ZSTD(1)),
  MODIFY COLUMN event_type Int32 CODEC(ZSTD(1)),
  MODIFY COLUMN is_reply UInt8 CODEC(ZSTD(1)),
  MODIFY COLUMN l4 UInt8 CODEC(ZSTD(1)),
  MODIFY COLUMN src_cluster {string_lc} CODEC(ZSTD(1)),
  MODIFY COLUMN src_namespace {string_lc} CODEC(ZSTD(1)),
  MODIFY COLUMN src_pod String CODEC(ZSTD(1)),
  MODIFY COLUMN src_workload String CODEC(ZSTD(1)),
  MODIFY COLUMN src_identity UInt32 CODEC(ZSTD(1)),
  MODIFY COLUMN src_label_set UInt64 CODEC(ZSTD(1)),
  MODIFY COLUMN src_port UInt16 CODEC(ZSTD(1)),
  MODIFY COLUMN dst_cluster {string_lc} CODEC(ZSTD(1)),
  MODIFY COLUMN dst_namespace {string_lc} CODEC(ZSTD(1)),
  MODIFY COLUMN dst_pod String CODEC(ZSTD(1)),
  MODIFY COLUMN dst_workload String CODEC(ZSTD(1)),
  MODIFY COLUMN dst_identity UInt32 CODEC(ZSTD(1)),
  MODIFY COLUMN dst_label_set UInt64 CODEC(ZSTD(1)),
  MODIFY COLUMN dst_port UInt16 CODEC(ZSTD(1)),
  MODIFY COLUMN denied_by String CODEC(ZSTD(1))
;
