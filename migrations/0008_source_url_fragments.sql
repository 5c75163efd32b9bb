-- What of a URL is stored: fragments are dropped unless the source keeps them. A hash-routed
-- store's route (`#/cart`) is its page, but a route can carry a secret too (`#/reset/<token>`),
-- so keeping them is the store's choice. Existing sources kept route fragments until now and
-- start dropping them: a hash-routed store turns this on with PATCH {"keep_url_fragments": true}.
ALTER TABLE event_sources ADD COLUMN keep_url_fragments INTEGER NOT NULL DEFAULT 0;
