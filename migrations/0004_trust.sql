-- Trust: retention counts from arrival, identity claims from public channels are verified,
-- keys rotate with a grace period, landings link once per campaign link token.

-- When the collector last received an event of the session: retention counts from it (or from
-- last_event_at when that is later), never from a device's clock alone.
ALTER TABLE sessions ADD COLUMN last_received_at TEXT;
UPDATE sessions SET last_received_at = last_event_at WHERE last_received_at IS NULL;
DROP INDEX sessions_anonymous_by_last_event;
CREATE INDEX sessions_anonymous_by_last_received ON sessions (last_received_at) WHERE customer_id IS NULL;

-- A customer named on a public channel (tracker, SDK) without a valid customer_hash: kept for
-- the store to see, never used to attribute, trigger or segment.
ALTER TABLE sessions ADD COLUMN claimed_customer_id TEXT;
ALTER TABLE web_events ADD COLUMN claimed_customer_id TEXT;
CREATE INDEX sessions_by_claimed_customer ON sessions (claimed_customer_id) WHERE claimed_customer_id IS NOT NULL;

-- Verified identity: the store's backend signs customer ids with this secret (HMAC-SHA256).
-- Sources made before this migration keep accepting unsigned claims (as unverified ones).
ALTER TABLE event_sources ADD COLUMN identity_secret TEXT NOT NULL DEFAULT '';
UPDATE event_sources SET identity_secret = 'idsec_' || lower(hex(randomblob(24))) WHERE identity_secret = '';
ALTER TABLE event_sources ADD COLUMN require_verified_identity INTEGER NOT NULL DEFAULT 0;
-- Query parameters kept in stored page URLs besides utm_* (JSON array of names).
ALTER TABLE event_sources ADD COLUMN allowed_query_params TEXT NOT NULL DEFAULT '[]';
-- The keys a rotation replaced stay valid until previous_keys_expire_at.
ALTER TABLE event_sources ADD COLUMN previous_public_key TEXT;
ALTER TABLE event_sources ADD COLUMN previous_secret_key_hash TEXT;
ALTER TABLE event_sources ADD COLUMN previous_keys_expire_at TEXT;
CREATE UNIQUE INDEX event_sources_by_previous_public_key ON event_sources (previous_public_key) WHERE previous_public_key IS NOT NULL;
CREATE UNIQUE INDEX event_sources_by_previous_secret ON event_sources (previous_secret_key_hash) WHERE previous_secret_key_hash IS NOT NULL;

-- A campaign link token links the first session that lands with it, and no other.
CREATE TABLE link_landings (
  token_id TEXT PRIMARY KEY,   -- SHA-256 hex of the token
  source_id TEXT NOT NULL,
  session_id TEXT NOT NULL,
  customer_id TEXT NOT NULL,
  expires_at TEXT NOT NULL
);
CREATE INDEX link_landings_by_customer ON link_landings (customer_id);

-- Dead letters name their customer, so an erasure finds them.
ALTER TABLE trigger_dead_letters ADD COLUMN source_id TEXT;
ALTER TABLE trigger_dead_letters ADD COLUMN customer_id TEXT;
UPDATE trigger_dead_letters SET source_id = json_extract(payload, '$.source_id'), customer_id = json_extract(payload, '$.session.customer_id');
CREATE INDEX trigger_dead_letters_by_customer ON trigger_dead_letters (customer_id) WHERE customer_id IS NOT NULL;

-- The purge of identified sessions past IDENTIFIED_RETENTION_DAYS (when that is set) finds them by time.
CREATE INDEX sessions_identified_by_last_received ON sessions (last_received_at) WHERE customer_id IS NOT NULL;
