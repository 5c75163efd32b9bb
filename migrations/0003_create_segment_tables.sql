-- Saved segments and their computed members.
CREATE TABLE segments (
  id TEXT PRIMARY KEY,
  source_id TEXT,            -- the owning source; NULL for a segment made with the admin token (all sources)
  name TEXT NOT NULL,
  definition TEXT NOT NULL,  -- JSON, validated by the SegmentDefinition schema
  member_count INTEGER,
  computed_at TEXT,
  created_at TEXT NOT NULL
);
CREATE INDEX segments_by_source ON segments (source_id, created_at);

CREATE TABLE segment_members (
  segment_id TEXT NOT NULL,
  customer_id TEXT NOT NULL,
  PRIMARY KEY (segment_id, customer_id)
) WITHOUT ROWID;

-- Segment queries read events by name and time and need only these columns: a covering index.
DROP INDEX web_events_by_name_time;
CREATE INDEX web_events_by_name_time ON web_events (name, occurred_at, customer_id, source_id);
CREATE INDEX sessions_identified ON sessions (customer_id) WHERE customer_id IS NOT NULL;
