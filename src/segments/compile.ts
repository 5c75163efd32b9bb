import type { CompiledSegment } from '../storage/segments';
import { type CustomerFilter, DAY_MS, type EventCondition, FIELD_PATH, type FieldCondition, type SegmentNode } from './definition';

/*
 * A definition compiles to one SQL query over D1's `sessions` and `web_events`, returning
 * `customer_id`s; storage/segments.ts runs it. Every value, field paths included, goes into a
 * single JSON parameter (?1) read with `json_extract(?1, '$[i]')`, so any definition stays
 * within D1's 100 bound parameters and nothing from the caller is pasted into the SQL.
 */

class Query {
  readonly values: unknown[] = [];
  constructor(
    readonly scope: string | null,
    readonly now: number,
  ) {}

  /** A placeholder for one value. */
  v(value: unknown): string {
    this.values.push(value);
    return `json_extract(?1, '$[${this.values.length - 1}]')`;
  }

  /** A time as D1 stores event times: ms since 1970. */
  daysAgo(days: number): string {
    return this.v(this.now - days * DAY_MS);
  }

  scoped(column = 'source_id'): string {
    return this.scope === null ? '' : ` AND ${column} = ${this.v(this.scope)}`;
  }

  /** Every identified customer in scope: the set `not` and zero counts subtract from. */
  universe(): string {
    return `SELECT DISTINCT customer_id FROM sessions WHERE customer_id IS NOT NULL${this.scoped()}`;
  }
}

const COLUMNS: Record<string, string> = { context: 'context', params: 'params', page: 'page' };

function field(q: Query, c: FieldCondition): string {
  const [, column = 'context', path = ''] = FIELD_PATH.exec(c.field) ?? [];
  const target = `json_extract(${COLUMNS[column]}, ${q.v(`$.${path}`)})`;
  switch (c.op) {
    case 'exists':
      return `${target} IS NOT NULL`;
    case 'in':
      return `${target} IN (SELECT value FROM json_each(?1, '$[${q.values.push(c.value) - 1}]'))`;
    case 'contains':
      return `instr(${target}, ${q.v(String(c.value))}) > 0`;
    default:
      return `${target} ${{ eq: '=', neq: '!=', gt: '>', gte: '>=', lt: '<', lte: '<=' }[c.op]} ${q.v(c.value)}`;
  }
}

/** HAVING for the count, and whether it also admits customers with no such event at all (a count of 0). */
function countClause(q: Query, count: EventCondition['count']): { having: string; zeroAllowed: boolean } {
  if (!count || count.gte !== undefined) {
    const n = count?.gte ?? 1;
    return { having: `count(*) >= ${q.v(Math.max(n, 1))}`, zeroAllowed: n === 0 };
  }
  if (count.eq !== undefined) return { having: `count(*) = ${q.v(count.eq)}`, zeroAllowed: count.eq === 0 };
  return { having: `count(*) <= ${q.v(count.lte)}`, zeroAllowed: true };
}

function eventCondition(q: Query, c: EventCondition): string {
  const where = [`customer_id IS NOT NULL`, `name = ${q.v(c.event)}`];
  if (c.source_id) where.push(`source_id = ${q.v(c.source_id)}`);
  if (c.within_days !== undefined) where.push(`occurred_at >= ${q.daysAgo(c.within_days)}`);
  if (c.from) where.push(`occurred_at >= ${q.v(Date.parse(c.from))}`);
  if (c.to) where.push(`occurred_at < ${q.v(Date.parse(c.to))}`);
  for (const f of c.where ?? []) where.push(field(q, f));
  const { having, zeroAllowed } = countClause(q, c.count);
  const recency: string[] = [];
  if (c.last_within_days !== undefined) recency.push(`max(occurred_at) >= ${q.daysAgo(c.last_within_days)}`);
  if (c.last_before_days !== undefined) recency.push(`max(occurred_at) < ${q.daysAgo(c.last_before_days)}`);
  const select = (cond: string) => `SELECT customer_id FROM web_events WHERE ${where.join(' AND ')}${q.scoped()} GROUP BY customer_id HAVING ${cond}`;
  // "At most 2 views" includes those with none: everyone in scope but the ones with more.
  if (zeroAllowed && recency.length === 0) return `${q.universe()} EXCEPT ${select(`NOT (${having})`)}`;
  return select([having, ...recency].join(' AND '));
}

function customerFilter(q: Query, f: CustomerFilter): string {
  if ('identified' in f) return q.universe();
  return `SELECT DISTINCT customer_id FROM sessions WHERE customer_id IS NOT NULL AND source_id = ${q.v(f.has_session_from)}${q.scoped()}`;
}

const wrap = (sql: string) => `SELECT customer_id FROM (${sql})`;

/** Terms one compound SELECT may have in D1 (more fail with "too many terms in compound SELECT"). */
const MAX_TERMS = 5;

/** `a OP b OP c ...`, nested in subqueries so that no compound SELECT has more than MAX_TERMS terms. */
function compound(op: 'INTERSECT' | 'UNION', terms: string[]): string {
  if (terms.length <= MAX_TERMS) return terms.join(` ${op} `);
  const groups: string[] = [];
  for (let i = 0; i < terms.length; i += MAX_TERMS) groups.push(wrap(compound(op, terms.slice(i, i + MAX_TERMS))));
  return compound(op, groups);
}

function node(q: Query, n: SegmentNode): string {
  if ('all' in n)
    return compound(
      'INTERSECT',
      n.all.map((c) => wrap(node(q, c))),
    );
  if ('any' in n)
    return compound(
      'UNION',
      n.any.map((c) => wrap(node(q, c))),
    );
  if ('not' in n) return `${q.universe()} EXCEPT ${wrap(node(q, n.not))}`;
  if ('event' in n) return eventCondition(q, n);
  return customerFilter(q, n);
}

/** Compiles a validated definition; `scope` limits it to one source (a source key's view). */
export function compileSegment(definition: SegmentNode, scope: string | null, now: number): CompiledSegment {
  const q = new Query(scope, now);
  const sql = wrap(node(q, definition));
  return { sql, values: q.values };
}
