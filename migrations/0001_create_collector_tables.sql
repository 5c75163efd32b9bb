-- Event sources: one website, mobile app or partner server.
CREATE TABLE event_sources (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('website', 'mobile_app', 'server')),
  allowed_origins TEXT NOT NULL DEFAULT '[]', -- JSON array of origins
  public_key TEXT NOT NULL UNIQUE,
  secret_key_hash TEXT NOT NULL UNIQUE,       -- SHA-256 hex of the secret key
  session_timeout_s INTEGER NOT NULL,
  active INTEGER NOT NULL DEFAULT 1,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);

-- Session records, written by the session objects (upserts, so replays are harmless).
CREATE TABLE sessions (
  source_id TEXT NOT NULL,
  session_id TEXT NOT NULL,
  channel TEXT NOT NULL,
  customer_id TEXT,
  status TEXT NOT NULL,
  started_at TEXT NOT NULL,
  last_event_at TEXT NOT NULL,
  closed_at TEXT,
  event_count INTEGER NOT NULL,
  landing_url TEXT,
  referrer TEXT,
  utm TEXT,
  user_agent TEXT,
  country TEXT,
  deanonymized_at TEXT,
  deanonymized_by TEXT,
  identity_conflicts INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (source_id, session_id)
);
CREATE INDEX sessions_by_customer ON sessions (source_id, customer_id, last_event_at) WHERE customer_id IS NOT NULL;
CREATE INDEX sessions_anonymous_by_last_event ON sessions (last_event_at) WHERE customer_id IS NULL;

-- Web events: customer_id is the attributed customer (the event's own, else its session's).
CREATE TABLE web_events (
  source_id TEXT NOT NULL,
  session_id TEXT NOT NULL,
  event_id TEXT NOT NULL,
  channel TEXT NOT NULL,
  customer_id TEXT,
  name TEXT NOT NULL,
  occurred_at TEXT NOT NULL,
  received_at TEXT NOT NULL,
  seq INTEGER,
  arrival INTEGER NOT NULL, -- arrival order within the session, the last ordering key
  context TEXT,
  params TEXT,
  page TEXT,
  device TEXT,
  geo TEXT,
  flags TEXT NOT NULL DEFAULT '[]',
  PRIMARY KEY (source_id, session_id, event_id)
);
CREATE INDEX web_events_by_source_time ON web_events (source_id, occurred_at);
CREATE INDEX web_events_by_customer_time ON web_events (customer_id, occurred_at) WHERE customer_id IS NOT NULL;
CREATE INDEX web_events_by_name_time ON web_events (name, occurred_at);
