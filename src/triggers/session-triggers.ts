import type { WebEvent } from '../events/schema';
import type { SessionRecord } from '../events/session-record';
import { type ActiveRule, eventRuleMatches, sessionStateMatches } from './rules';

/**
 * One fired trigger as it goes on the queue: ids, not events (a queue message is small; the
 * consumer reads the events from the session object when it delivers).
 */
export interface TriggerMessage {
  rule_id: string;
  idempotency_key: string;
  source_id: string;
  session: { id: string; customer_id: string | null; anonymous: boolean };
  event_ids: string[];
  fired_at: string;
}

/** What a session object keeps for its triggers (inside its state row; fired messages wait in its outbox table). */
export interface TriggerState {
  rules: ActiveRule[];
  /** Absence rules waiting: rule id → when it fires, and the event that started the wait. */
  watches: Record<string, { due: number; anchorId: string }>;
  /** Absence rules that fired already: at most once per session. */
  fired: string[];
}

export const newTriggerState = (): TriggerState => ({ rules: [], watches: {}, fired: [] });

function message(ruleId: string, key: string, record: SessionRecord, eventIds: string[], now: number): TriggerMessage {
  return {
    rule_id: ruleId,
    idempotency_key: key,
    source_id: record.source_id,
    session: { id: record.session_id, customer_id: record.customer_id, anonymous: record.customer_id === null },
    event_ids: eventIds,
    fired_at: new Date(now).toISOString(),
  };
}

/**
 * A new event: event rules fire (once per event), absence rules start or stop waiting. An event
 * whose customer is an unproven claim fires nothing: a browser cannot make a customer's webhook fire.
 */
export function onEvent(t: TriggerState, event: WebEvent, record: SessionRecord, now: number, out: TriggerMessage[]): void {
  if (event.flags.includes('unverified_identity')) return;
  for (const { id, definition: rule } of t.rules) {
    if (rule.kind === 'event') {
      if (eventRuleMatches(rule, event, record)) out.push(message(id, `${id}:${event.event_id}`, record, [event.event_id], now));
    } else if (event.name === rule.missing) {
      delete t.watches[id];
    } else if (event.name === rule.after && rule.within_minutes !== undefined && !t.fired.includes(id)) {
      t.watches[id] = { due: Date.parse(event.occurred_at) + rule.within_minutes * 60_000, anchorId: event.event_id };
    }
  }
}

function fire(t: TriggerState, id: string, record: SessionRecord, eventIds: string[], now: number, out: TriggerMessage[]) {
  t.fired.push(id);
  out.push(message(id, `${id}:${record.source_id}:${record.session_id}`, record, eventIds, now));
}

/** Absence rules whose wait ran out fire (if the session is in the state they ask for). */
export function fireDue(t: TriggerState, record: SessionRecord, now: number, out: TriggerMessage[]): void {
  for (const [id, watch] of Object.entries(t.watches)) {
    if (watch.due > now) continue;
    delete t.watches[id];
    // A rule removed since the wait began fires nothing.
    const rule = t.rules.find((r) => r.id === id)?.definition;
    if (rule && !t.fired.includes(id) && sessionStateMatches(rule.session, record)) fire(t, id, record, [watch.anchorId], now, out);
  }
}

/** The session closed: "closed without X" rules fire when X never came. */
export function onClose(t: TriggerState, record: SessionRecord, now: number, has: (name: string) => boolean, out: TriggerMessage[]): void {
  for (const { id, definition: rule } of t.rules) {
    if (rule.kind === 'absence' && rule.after === 'session_close' && !t.fired.includes(id) && !has(rule.missing) && sessionStateMatches(rule.session, record)) {
      fire(t, id, record, [], now, out);
    }
  }
}

/** When the next absence rule is due (Infinity when none waits). */
export const nextWatch = (t: TriggerState) => Math.min(Infinity, ...Object.values(t.watches).map((w) => w.due));
