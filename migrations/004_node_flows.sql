-- Stored flows per (partition, node), kept by the writer in each batch's
-- transaction and dropped with the partition: GetNodes' num_flows. Partitions
-- written before this migration are not counted (they age out with retention).
CREATE TABLE partition_nodes (
  hour  INTEGER NOT NULL,
  node  INTEGER NOT NULL, -- nodes.id, 0 for flows without a node name
  flows INTEGER NOT NULL,
  PRIMARY KEY (hour, node)
) WITHOUT ROWID;
