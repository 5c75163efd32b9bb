import { isD1Error, STALE_WHILE_D1_DOWN_MS } from '../storage/outage';
import { activeRules } from '../storage/triggers';
import { type ActiveRule, checkedRule } from './rules';

/** Active rules by source, cached in the isolate like sources: no D1 read per ingest request. */
const TTL_MS = 60_000;
const cache = new Map<string, { rules: ActiveRule[]; until: number }>();

/**
 * A source's active trigger rules; while D1 cannot be read, the last known for up to
 * STALE_WHILE_D1_DOWN_MS past their time, else null (unknown: a session object then keeps the
 * rules it had, and a new session fires none: docs/campaigns.md). Never an error: events are
 * stored whatever D1 does.
 */
export async function rulesOf(db: D1Database, sourceId: string): Promise<ActiveRule[] | null> {
  const hit = cache.get(sourceId);
  const now = Date.now();
  if (hit && hit.until > now) return hit.rules;
  let rules: ActiveRule[];
  try {
    rules = (await activeRules(db, sourceId)).map(checkedRule);
  } catch (error) {
    if (!isD1Error(error)) throw error;
    console.warn(JSON.stringify({ message: 'trigger rules lookup failed', source: sourceId, error: String(error) }));
    return hit && hit.until + STALE_WHILE_D1_DOWN_MS > now ? hit.rules : null;
  }
  if (cache.size > 10_000) cache.clear();
  cache.set(sourceId, { rules, until: Date.now() + TTL_MS });
  return rules;
}

export const forgetRules = (sourceId: string) => void cache.delete(sourceId);
