import { activeRules } from '../storage/triggers';
import { type ActiveRule, checkedRule } from './rules';

/** Active rules by source, cached in the isolate like sources: no D1 read per ingest request. */
const TTL_MS = 60_000;
const cache = new Map<string, { rules: ActiveRule[]; until: number }>();

export async function rulesOf(db: D1Database, sourceId: string): Promise<ActiveRule[]> {
  const hit = cache.get(sourceId);
  if (hit && hit.until > Date.now()) return hit.rules;
  const rules = (await activeRules(db, sourceId)).map(checkedRule);
  if (cache.size > 10_000) cache.clear();
  cache.set(sourceId, { rules, until: Date.now() + TTL_MS });
  return rules;
}

export const forgetRules = (sourceId: string) => void cache.delete(sourceId);
