/**
 * D1 shards (docs/design.md §4): the bindings `DB` (shard 0, also the home of what is not
 * sharded: sources, triggers, segments, dead letters, link landings) and `DB_1`, `DB_2`, … in
 * wrangler.toml. A session's rows live on one shard: its customer's once it has one (so a
 * customer's sessions and events are together, and a segment can be computed shard by shard),
 * its own (source and session) while it is anonymous.
 */

export const HOME_SHARD = 'DB';
const SHARD_NAME = /^DB(_[1-9]\d*)?$/;

export interface Shard {
  name: string;
  db: D1Database;
}

const cache = new WeakMap<Env, Shard[]>();

/** Every shard, in order: DB, DB_1, DB_2, … (the bindings present on `env`). */
export function shards(env: Env): Shard[] {
  let list = cache.get(env);
  if (!list) {
    const bindings = env as unknown as Record<string, D1Database>;
    list = Object.keys(bindings)
      .filter((name) => SHARD_NAME.test(name))
      .sort((a, b) => shardNumber(a) - shardNumber(b))
      .map((name) => ({ name, db: bindings[name]! }));
    cache.set(env, list);
  }
  return list;
}

const shardNumber = (name: string) => Number(name.slice(3) || 0);

/** The shard of a binding name (a session object remembers where it wrote); the home shard when it is gone. */
export function shardNamed(env: Env, name: string): Shard {
  return shards(env).find((s) => s.name === name) ?? shards(env)[0]!;
}

/** FNV-1a, 32 bits: stable across deployments and runtimes, and cheap. */
function fnv1a(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export interface Placed {
  source_id: string;
  session_id: string;
  customer_id: string | null;
}

/** The shard a session's rows belong on: by its customer once it has one, else by the session. */
export function shardFor(env: Env, session: Placed): Shard {
  const all = shards(env);
  const key = session.customer_id === null ? `session:${session.source_id}:${session.session_id}` : `customer:${session.customer_id}`;
  return all[fnv1a(key) % all.length]!;
}

/** The shard of a customer's rows (their sessions, their events). */
export const customerShard = (env: Env, customerId: string) => shardFor(env, { source_id: '', session_id: '', customer_id: customerId });

/** Runs `f` on every shard in parallel. */
export const onEveryShard = <T>(env: Env, f: (db: D1Database, shard: Shard) => Promise<T>): Promise<T[]> => Promise.all(shards(env).map((s) => f(s.db, s)));

/** Compares keys column by column, as SQLite orders ASCII text: the order of the pages merged. */
export function compareKeys(a: readonly string[], b: readonly string[]): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
  return 0;
}

/**
 * Merges pages read from every shard, each already sorted by `compare` and holding up to
 * `limit + 1` rows: the first `limit` in order, and whether more follow.
 */
export function mergePages<T>(pages: readonly T[][], compare: (a: T, b: T) => number, limit: number): { rows: T[]; more: boolean } {
  const all = pages.flat().sort(compare);
  return { rows: all.slice(0, limit), more: all.length > limit };
}
