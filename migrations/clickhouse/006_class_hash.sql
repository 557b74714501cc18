-- Each flow's class for policy replay (store/clickhouse/class-hash.ts): 64 bits
-- standing for what a policy can tell apart in it (verdict, protocol, service
-- port, endpoints, addresses, names, services, L7 record), the same from every
-- writer. Replay groups by it in ClickHouse and reads one flow per class instead
-- of every flow. Rows stored before this migration have 0 and are read whole.
ALTER TABLE {database}.flows ADD COLUMN class_hash UInt64 {codec_bytes}
;
