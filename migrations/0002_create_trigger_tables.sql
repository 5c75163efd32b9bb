-- Campaign trigger rules per source, and the deliveries that kept failing (the dead-letter queue's consumer writes them).
CREATE TABLE trigger_rules (
  id TEXT PRIMARY KEY,
  source_id TEXT NOT NULL,
  name TEXT NOT NULL,
  definition TEXT NOT NULL,   -- JSON, validated by the TriggerDefinition schema
  webhook_url TEXT NOT NULL,
  secret TEXT NOT NULL,       -- the HMAC key of the webhook signature (needed in clear to sign)
  active INTEGER NOT NULL DEFAULT 1,
  created_at TEXT NOT NULL
);
CREATE INDEX trigger_rules_by_source ON trigger_rules (source_id, active);

CREATE TABLE trigger_dead_letters (
  idempotency_key TEXT PRIMARY KEY,
  rule_id TEXT NOT NULL,
  payload TEXT NOT NULL,
  failed_at TEXT NOT NULL
);
