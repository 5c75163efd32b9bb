/**
 * D1 access for trigger rules and dead letters. A rule's definition is stored as JSON and handed
 * back parsed but unchecked: the trigger module owns its schema (triggers/rules.ts).
 */

/** A trigger rule as stored; `secret` signs its webhooks. */
export interface StoredRule<Definition = unknown> {
  id: string;
  source_id: string;
  name: string;
  definition: Definition;
  webhook_url: string;
  secret: string;
  active: boolean;
  created_at: string;
}

interface RuleRow extends Omit<StoredRule, 'definition' | 'active'> {
  definition: string;
  active: number;
}

const toRule = (row: RuleRow): StoredRule => ({ ...row, definition: JSON.parse(row.definition) as unknown, active: row.active === 1 });

export async function insertRule(db: D1Database, r: StoredRule): Promise<void> {
  await db
    .prepare('INSERT INTO trigger_rules (id, source_id, name, definition, webhook_url, secret, active, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
    .bind(r.id, r.source_id, r.name, JSON.stringify(r.definition), r.webhook_url, r.secret, r.active ? 1 : 0, r.created_at)
    .run();
}

export async function listRules(db: D1Database, sourceId: string): Promise<StoredRule[]> {
  const { results } = await db.prepare('SELECT * FROM trigger_rules WHERE source_id = ? ORDER BY created_at, id').bind(sourceId).all<RuleRow>();
  return results.map(toRule);
}

export async function getRule(db: D1Database, id: string): Promise<StoredRule | null> {
  const row = await db.prepare('SELECT * FROM trigger_rules WHERE id = ?').bind(id).first<RuleRow>();
  return row ? toRule(row) : null;
}

export async function deactivateRule(db: D1Database, sourceId: string, id: string): Promise<boolean> {
  const { meta } = await db.prepare('UPDATE trigger_rules SET active = 0 WHERE id = ? AND source_id = ?').bind(id, sourceId).run();
  return meta.changes === 1;
}

/** The active rules of a source as the session objects need them (no webhook, no secret). */
export async function activeRules(db: D1Database, sourceId: string): Promise<{ id: string; definition: unknown }[]> {
  const { results } = await db
    .prepare('SELECT id, definition FROM trigger_rules WHERE source_id = ? AND active = 1 ORDER BY id')
    .bind(sourceId)
    .all<{ id: string; definition: string }>();
  return results.map((r) => ({ id: r.id, definition: JSON.parse(r.definition) as unknown }));
}

/** A delivery that exhausted its retries: kept once per idempotency key, with its customer for erasure. */
export interface DeadLetter {
  ruleId: string;
  key: string;
  sourceId: string;
  customerId: string | null;
  payload: string;
}

export async function recordDeadLetter(db: D1Database, d: DeadLetter): Promise<void> {
  await db
    .prepare(
      'INSERT INTO trigger_dead_letters (idempotency_key, rule_id, source_id, customer_id, payload, failed_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING',
    )
    .bind(d.key, d.ruleId, d.sourceId, d.customerId, d.payload, new Date().toISOString())
    .run();
}

/** Forgets dead letters recorded before `before`. */
export async function purgeDeadLetters(db: D1Database, before: string): Promise<number> {
  const { meta } = await db.prepare('DELETE FROM trigger_dead_letters WHERE failed_at < ?').bind(before).run();
  return meta.changes;
}
