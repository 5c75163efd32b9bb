-- An erasure's own record (docs/privacy.md): keyed hashes of the erased customer and of their
-- sessions, never the ids, so that what was already on its way (a trigger message in its retry
-- cycle, a dead letter to be) is dropped when it arrives. Kept ERASURE_RECORD_DAYS, longer than
-- any message can stay queued.
CREATE TABLE erasures (
  source_id TEXT NOT NULL,
  key TEXT NOT NULL,
  erased_at TEXT NOT NULL,
  PRIMARY KEY (source_id, key)
) WITHOUT ROWID;
CREATE INDEX erasures_by_time ON erasures (erased_at);
