-- Aggregates over drops and denials (verdict-filtered) read only the matching
-- rollup rows instead of every row in the time range.
CREATE INDEX rollup_1m_verdict_minute ON rollup_1m (verdict, minute);
