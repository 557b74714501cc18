-- flowkeeper's ClickHouse schema. Written for ClickHouse 18.16 (Debian's) and
-- later: {database} is the target database; {string_lc} is LowCardinality(String)
-- where the server has it and String otherwise; {codec_time} and {codec_bytes}
-- are column codecs where the server has them (ClickHouse 20+) and nothing
-- otherwise. Statements are separated by lines holding only ";".

-- One row per flow: the columns filters narrow by, and the GetFlowsResponse
-- exactly as the relay sent it (what every answer is decoded from).
CREATE TABLE IF NOT EXISTS {database}.flows (
  time_ns       UInt64 {codec_time},
  seq           UInt64 {codec_time},
  relay         {string_lc},
  node          {string_lc},
  uuid          String,
  verdict       UInt8,
  drop_reason   UInt16,
  direction     UInt8,
  event_type    Int32,
  is_reply      UInt8,
  src_namespace {string_lc},
  src_pod       String,
  src_identity  UInt32,
  dst_namespace {string_lc},
  dst_pod       String,
  dst_identity  UInt32,
  l4            UInt8,
  src_port      UInt16,
  dst_port      UInt16,
  response      String {codec_bytes}
) ENGINE = MergeTree
PARTITION BY toDate(toDateTime(intDiv(time_ns, 1000000000)))
ORDER BY (time_ns, seq)
;
