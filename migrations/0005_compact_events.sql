-- Scale (docs/scaling.md): a web_events row without what its session already holds, keyed by the
-- session's number and the event's arrival (no separate key index), times in milliseconds.
-- Sessions get a number (their rowid: a session's events are deleted with it, in one transaction,
-- so a number used again never meets old events; not AUTOINCREMENT, whose counter is a row written
-- by every upsert), the device and geo their events share, and an incarnation: a session id used
-- again after its object was deleted is a new row.

CREATE TABLE sessions_v5 (
  key INTEGER PRIMARY KEY, -- the session's number on this shard; its events' ids start at key << 20
  source_id TEXT NOT NULL,
  session_id TEXT NOT NULL,
  incarnation INTEGER NOT NULL DEFAULT 0, -- when its object stored its first event (ms); 0 before this migration
  channel TEXT NOT NULL,
  customer_id TEXT,
  claimed_customer_id TEXT,
  status TEXT NOT NULL,
  started_at TEXT NOT NULL,
  last_event_at TEXT NOT NULL,
  last_received_at TEXT,
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
  device TEXT, -- JSON: the device its events share (an event's device '' means this one)
  geo TEXT,    -- JSON: likewise for geo
  UNIQUE (source_id, session_id, incarnation)
);
INSERT INTO sessions_v5 (key, source_id, session_id, channel, customer_id, claimed_customer_id, status, started_at, last_event_at, last_received_at,
  closed_at, event_count, landing_url, referrer, utm, user_agent, country, deanonymized_at, deanonymized_by, identity_conflicts)
SELECT rowid, source_id, session_id, channel, customer_id, claimed_customer_id, status, started_at, last_event_at, last_received_at,
  closed_at, event_count, landing_url, referrer, utm, user_agent, country, deanonymized_at, deanonymized_by, identity_conflicts
FROM sessions;

-- id = (sessions.key << 20) | arrival: a session's events are one id range, in arrival order.
CREATE TABLE web_events_v5 (
  id INTEGER PRIMARY KEY,
  source_id TEXT NOT NULL,
  event_id TEXT NOT NULL,
  channel TEXT NOT NULL,
  customer_id TEXT,
  claimed_customer_id TEXT,
  name TEXT NOT NULL,
  occurred_at INTEGER NOT NULL, -- ms since 1970
  received_at INTEGER NOT NULL, -- ms since 1970
  seq INTEGER,
  context TEXT,
  params TEXT,
  page TEXT,
  device TEXT, -- '' : the session's device
  geo TEXT,    -- '' : the session's geo
  flags TEXT NOT NULL DEFAULT '[]'
);
INSERT INTO web_events_v5 (id, source_id, event_id, channel, customer_id, claimed_customer_id, name, occurred_at, received_at, seq, context, params, page, device, geo, flags)
SELECT (s.rowid << 20) | e.arrival, e.source_id, e.event_id, e.channel, e.customer_id, e.claimed_customer_id, e.name,
  CAST(round((julianday(e.occurred_at) - 2440587.5) * 86400000) AS INTEGER),
  CAST(round((julianday(e.received_at) - 2440587.5) * 86400000) AS INTEGER),
  e.seq, e.context, e.params, e.page, e.device, e.geo, e.flags
FROM web_events e JOIN sessions s ON s.source_id = e.source_id AND s.session_id = e.session_id;

DROP TABLE web_events;
DROP TABLE sessions;
ALTER TABLE sessions_v5 RENAME TO sessions;
ALTER TABLE web_events_v5 RENAME TO web_events;

-- Each index, and the query that needs it:
-- a customer's sessions on a source (GET /customers/{id}/sessions)
CREATE INDEX sessions_by_customer ON sessions (source_id, customer_id, last_event_at) WHERE customer_id IS NOT NULL;
-- segments' universe of identified customers, and an erasure's sessions of a customer
CREATE INDEX sessions_identified ON sessions (customer_id) WHERE customer_id IS NOT NULL;
-- an erasure's sessions that claimed a customer
CREATE INDEX sessions_by_claimed_customer ON sessions (claimed_customer_id) WHERE claimed_customer_id IS NOT NULL;
-- the purge: anonymous sessions past retention, and identified ones when IDENTIFIED_RETENTION_DAYS is set
CREATE INDEX sessions_anonymous_by_last_received ON sessions (last_received_at) WHERE customer_id IS NULL;
CREATE INDEX sessions_identified_by_last_received ON sessions (last_received_at) WHERE customer_id IS NOT NULL;
-- the partner list of a source's events in time order, and the D1 window trim
CREATE INDEX web_events_by_source_time ON web_events (source_id, occurred_at);
-- segments: events by name and time with the customer and source they need (covering)
CREATE INDEX web_events_by_name_time ON web_events (name, occurred_at, customer_id, source_id);
-- the partner list by customer, and an erasure's events of a customer
CREATE INDEX web_events_by_customer_time ON web_events (customer_id, occurred_at) WHERE customer_id IS NOT NULL;
