-- Cost (docs/cost.md): index entries are billed as rows written, so each index here is one a
-- query needs, and none holds a value that changes on every flush of an open session.

-- A customer's events are their sessions' id ranges (found through sessions_identified), so
-- web_events no longer keeps a (customer_id, occurred_at) entry per event. What names a customer
-- outside their own sessions is an identity conflict: those few events keep an index of their own,
-- for the partner list by customer and for erasure.
DROP INDEX web_events_by_customer_time;
CREATE INDEX web_events_conflicts ON web_events (customer_id) WHERE instr(flags, 'identity_conflict') > 0;

-- A customer's sessions on a source are found by customer (sessions_identified) and sorted: the
-- old (source_id, customer_id, last_event_at) entry was rewritten by every flush.
DROP INDEX sessions_by_customer;

-- The identified purge ranges over when sessions started (a session last active before the cutoff
-- started before it too), which never changes; last_received_at did on every flush.
DROP INDEX sessions_identified_by_last_received;
CREATE INDEX sessions_identified_by_start ON sessions (started_at) WHERE customer_id IS NOT NULL;
