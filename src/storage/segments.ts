import { jsonChunks } from './json-upsert';
import { compareKeys, mergePages, onEveryShard } from './shards';

/**
 * A segment as one query returning `customer_id`s, every value in one JSON parameter (?1). The
 * segment module compiles definitions into it (segments/compile.ts); this module runs it.
 */
export interface CompiledSegment {
  sql: string;
  values: unknown[];
}

/** A saved segment as the API shows it. */
export interface Segment {
  id: string;
  source_id: string | null;
  name: string;
  definition: unknown;
  member_count: number | null;
  computed_at: string | null;
  created_at: string;
}

type SegmentRow = Omit<Segment, 'definition'> & { definition: string };
const toSegment = (row: SegmentRow): Segment => ({ ...row, definition: JSON.parse(row.definition) as unknown });

const bindValues = (c: CompiledSegment) => (c.values.length ? [JSON.stringify(c.values)] : []);

/**
 * The count and the first customers of a definition, without saving anything: one query a shard
 * (a customer's rows are all on one shard, so each shard's members are exact), merged.
 */
export async function previewSegment(env: Env, c: CompiledSegment, limit: number) {
  const pages = await onEveryShard(env, async (db) => {
    const { results } = await db
      .prepare(
        `WITH members(customer_id) AS MATERIALIZED (${c.sql})
         SELECT (SELECT count(*) FROM members) AS n, customer_id FROM members ORDER BY customer_id LIMIT ${Math.trunc(limit)}`,
      )
      // A definition without values (`{"identified": true}` in the admin's scope) has no ?1 to bind.
      .bind(...bindValues(c))
      .all<{ n: number; customer_id: string }>();
    return results;
  });
  const count = pages.reduce((n, page) => n + (page[0]?.n ?? 0), 0);
  const { rows } = mergePages(pages, (a, b) => compareKeys([a.customer_id], [b.customer_id]), limit);
  return { count, customer_ids: rows.map((r) => r.customer_id) };
}

export async function insertSegment(db: D1Database, s: Segment): Promise<void> {
  await db
    .prepare('INSERT INTO segments (id, source_id, name, definition, member_count, computed_at, created_at) VALUES (?, ?, ?, ?, NULL, NULL, ?)')
    .bind(s.id, s.source_id, s.name, JSON.stringify(s.definition), s.created_at)
    .run();
}

/** Segments visible in a scope: one source's, or every one (scope null, the admin's view). */
export async function listSegments(db: D1Database, scope: string | null): Promise<Segment[]> {
  const stmt =
    scope === null
      ? db.prepare('SELECT * FROM segments ORDER BY created_at, id')
      : db.prepare('SELECT * FROM segments WHERE source_id = ? ORDER BY created_at, id').bind(scope);
  return (await stmt.all<SegmentRow>()).results.map(toSegment);
}

export async function getSegment(db: D1Database, id: string, scope: string | null): Promise<Segment | null> {
  const row = await db.prepare('SELECT * FROM segments WHERE id = ? AND (?2 IS NULL OR source_id = ?2)').bind(id, scope).first<SegmentRow>();
  return row ? toSegment(row) : null;
}

export async function deleteSegment(db: D1Database, id: string): Promise<void> {
  await db.batch([db.prepare('DELETE FROM segment_members WHERE segment_id = ?').bind(id), db.prepare('DELETE FROM segments WHERE id = ?').bind(id)]);
}

/**
 * Recomputes a segment: its members on every shard, then the members table (on the home shard)
 * replaced in one transaction. Returns the new count.
 */
export async function refreshSegment(env: Env, id: string, c: CompiledSegment, now: string): Promise<number> {
  const found = await onEveryShard(env, async (db) => {
    const { results } = await db
      .prepare(`SELECT customer_id FROM (${c.sql})`)
      .bind(...bindValues(c))
      .all<{ customer_id: string }>();
    return results.map((r) => r.customer_id);
  });
  const customers = found.flat();
  const db = env.DB;
  await db.batch([
    db.prepare('DELETE FROM segment_members WHERE segment_id = ?').bind(id),
    ...jsonChunks(customers).map((chunk) =>
      db.prepare('INSERT OR IGNORE INTO segment_members (segment_id, customer_id) SELECT ?2, value FROM json_each(?1)').bind(chunk, id),
    ),
    db.prepare('UPDATE segments SET member_count = (SELECT count(*) FROM segment_members WHERE segment_id = ?1), computed_at = ?2 WHERE id = ?1').bind(id, now),
  ]);
  const row = await db.prepare('SELECT member_count FROM segments WHERE id = ?').bind(id).first<{ member_count: number }>();
  return row?.member_count ?? 0;
}

/** One page of a computed segment's members, in customer_id order, after a cursor. */
export async function segmentMembers(db: D1Database, id: string, limit: number, after?: string): Promise<string[]> {
  const { results } = await db
    .prepare('SELECT customer_id FROM segment_members WHERE segment_id = ? AND customer_id > ? ORDER BY customer_id LIMIT ?')
    .bind(id, after ?? '', limit)
    .all<{ customer_id: string }>();
  return results.map((r) => r.customer_id);
}
