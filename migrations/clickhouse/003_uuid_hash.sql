-- uuid lookups narrow by a 16-bit hash of the uuid text (store/clickhouse/uuid-hash.ts):
-- a random uuid took ~19 B per flow in the uuid column, on top of the copy in the
-- response. New rows leave uuid empty and write uuid_hash; rows written before
-- this migration get uuid_hash from the DEFAULT, computed from their uuid when read.
ALTER TABLE {database}.flows ADD COLUMN uuid_hash UInt16 DEFAULT bitAnd(murmurHash2_32(uuid), 65535)
;
