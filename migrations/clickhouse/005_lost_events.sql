-- Lost-events reports from the relays (Hubble's ring buffers overflowing, or the
-- relay shedding), per minute received, relay, source and node, as SQLite keeps them:
-- status and /metrics show them. seq identifies the batch that brought them, so a
-- retried insert can tell whether its first attempt landed.
CREATE TABLE IF NOT EXISTS {database}.lost_events (
  minute UInt32,
  relay  {string_lc},
  seq    UInt64,
  source UInt8,
  node   {string_lc},
  events UInt64
) ENGINE = MergeTree
PARTITION BY toDate(toDateTime(minute * 60))
ORDER BY (relay, seq)
;
