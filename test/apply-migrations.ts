import { applyD1Migrations } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { shards } from '../src/storage/shards';

// Setup files run before each test file; applying is idempotent. Every shard (wrangler.toml's DB, DB_1).
for (const shard of shards(env)) await applyD1Migrations(shard.db, env.TEST_MIGRATIONS);
