-- Label groupings from rollups. A Cilium security identity stands for one label
-- set and label sets are few, so rollups carry the label set of each side and
-- any source_label:KEY / destination_label:KEY grouping is answered without a
-- raw scan.

-- Distinct endpoint label sets (the JSON array stored in endpoints.labels).
CREATE TABLE label_sets (
  id     INTEGER PRIMARY KEY,
  labels TEXT NOT NULL UNIQUE
);
INSERT INTO label_sets (labels) SELECT DISTINCT labels FROM endpoints ORDER BY labels;

ALTER TABLE endpoints ADD COLUMN label_set INTEGER NOT NULL DEFAULT 0;
UPDATE endpoints SET label_set = (SELECT id FROM label_sets WHERE label_sets.labels = endpoints.labels);

-- rollup_1m gains src_labels and dst_labels in its key. Rows rolled up before
-- this migration do not know their label sets (-1); the minute after the newest
-- of them is recorded so that label groupings over older minutes scan raw flows.
CREATE TABLE rollup_1m_labels (
  minute       INTEGER NOT NULL,
  cluster      INTEGER NOT NULL,
  verdict      INTEGER NOT NULL,
  drop_reason  INTEGER NOT NULL,
  direction    INTEGER NOT NULL,
  event_type   INTEGER NOT NULL,
  src_workload INTEGER NOT NULL,
  dst_workload INTEGER NOT NULL,
  src_labels   INTEGER NOT NULL, -- label_sets.id, 0 = no endpoint, -1 = not known
  dst_labels   INTEGER NOT NULL,
  dst_port     INTEGER NOT NULL,
  l4           INTEGER NOT NULL,
  denied_by    INTEGER NOT NULL,
  flows        INTEGER NOT NULL,
  PRIMARY KEY (minute, cluster, verdict, drop_reason, direction, event_type,
               src_workload, dst_workload, src_labels, dst_labels, dst_port, l4, denied_by)
) WITHOUT ROWID;
INSERT INTO rollup_1m_labels
  SELECT minute, cluster, verdict, drop_reason, direction, event_type, src_workload, dst_workload, -1, -1,
         dst_port, l4, denied_by, flows
  FROM rollup_1m;

CREATE TABLE store_facts (
  key   TEXT PRIMARY KEY,
  value INTEGER
);
INSERT INTO store_facts (key, value) SELECT 'label_rollups_from_minute', max(minute) + 1 FROM rollup_1m;

DROP TABLE rollup_1m;
ALTER TABLE rollup_1m_labels RENAME TO rollup_1m;
CREATE INDEX rollup_1m_verdict_minute ON rollup_1m (verdict, minute);
