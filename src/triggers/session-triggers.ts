import type { WebEvent } from '../events/schema';
import type { SessionRecord } from '../sessions/record';
import { eventRuleMatches, sessionStateMatches, type ActiveRule } from './rules';

/** One fired trigger, as it goes on the queue and, signed, to the rule's webhook. */
export interface TriggerMessage {
  rule_id: string;
  idempotency_key: string;
  source_id: string;
  session: { id: string; customer_id: string | null; anonymous: boolean };
  events: WebEvent[];
  fired_at: string;
}

/** What a session object keeps for its triggers (inside its state row). */
export interface TriggerState {
  rules: ActiveRule[];
  /** Absence rules waiting: rule id → when it fires, and the event that started the wait. */
  watches: Record<string, { due: number; anchor: WebEvent }>;
  /** Absence rules that fired already: at most once per session. */
  fired: string[];
  /** Fired, not yet on the queue (sent right away; retried by the alarm if the queue failed). */
  outbox: TriggerMessage[];
}

export const newTriggerState = (): TriggerState => ({ rules: [], watches: {}, fired: [], outbox: [] });

function message(ruleId: string, key: string, record: SessionRecord, events: WebEvent[], now: number): TriggerMessage {
  return {
    rule_id: ruleId,
    idempotency_key: key,
    source_id: record.source_id,
    session: { id: record.session_id, customer_id: record.customer_id, anonymous: record.customer_id === null },
    events,
    fired_at: new Date(now).toISOString(),
  };
}

/** A new event: event rules fire (once per event), absence rules start or stop waiting. */
export function onEvent(t: TriggerState, event: WebEvent, record: SessionRecord, now: number): void {
  for (const { id, definition: rule } of t.rules) {
    if (rule.kind === 'event') {
      if (eventRuleMatches(rule, event, record)) t.outbox.push(message(id, `${id}:${event.event_id}`, record, [event], now));
    } else if (event.name === rule.missing) {
      delete t.watches[id];
    } else if (event.name === rule.after && rule.within_minutes !== undefined && !t.fired.includes(id)) {
      t.watches[id] = { due: Date.parse(event.occurred_at) + rule.within_minutes * 60_000, anchor: event };
    }
  }
}

function fire(t: TriggerState, id: string, record: SessionRecord, events: WebEvent[], now: number) {
  t.fired.push(id);
  t.outbox.push(message(id, `${id}:${record.source_id}:${record.session_id}`, record, events, now));
}

/** Absence rules whose wait ran out fire (if the session is in the state they ask for). */
export function fireDue(t: TriggerState, record: SessionRecord, now: number): void {
  for (const [id, watch] of Object.entries(t.watches)) {
    if (watch.due > now) continue;
    delete t.watches[id];
    // A rule removed since the wait began fires nothing.
    const rule = t.rules.find((r) => r.id === id)?.definition;
    if (rule && !t.fired.includes(id) && sessionStateMatches(rule.session, record)) fire(t, id, record, [watch.anchor], now);
  }
}

/** The session closed: "closed without X" rules fire when X never came. */
export function onClose(t: TriggerState, record: SessionRecord, now: number, has: (name: string) => boolean): void {
  for (const { id, definition: rule } of t.rules) {
    if (rule.kind === 'absence' && rule.after === 'session_close' && !t.fired.includes(id) && !has(rule.missing) && sessionStateMatches(rule.session, record)) {
      fire(t, id, record, [], now);
    }
  }
}

/** When the next absence rule is due (Infinity when none waits). */
export const nextWatch = (t: TriggerState) => Math.min(Infinity, ...Object.values(t.watches).map((w) => w.due));
