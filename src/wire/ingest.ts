import type { Arrival } from '../events/normalize';
import type { Channel } from '../events/schema';
import { type IngestResult, ingestBatch, sessionObject } from '../sessions/dispatch';
import { verifyCustomer } from '../sources/identity';
import type { EventSource } from '../storage/sources';
import { isRefusal, type Mapped, type WireEvent } from './mapping';
import { visitorObject } from './visitors';

/** A message's result: an event's, with the session it went to (the collector's own, when the message named none). */
export type WireResult = IngestResult & { session_id?: string | null };

/** Events whose customer also links the visitor's earlier sessions (docs/wire.md). */
const LINKING = new Set(['identify', 'alias', 'user_login', 'user_registration']);

/**
 * Messages of another protocol, mapped, onto the one ingest path: the collector's sessions for
 * those that name none, then `ingestBatch` like every channel. One result per message, in order:
 * a message refused while mapping is refused alone.
 */
export async function ingestWire(
  env: Env,
  source: EventSource,
  channel: Channel,
  mapped: readonly Mapped[],
  arrival: Pick<Arrival, 'receivedAt' | 'device' | 'geo'>,
): Promise<WireResult[]> {
  const results: WireResult[] = new Array(mapped.length);
  const events: WireEvent[] = [];
  for (const m of mapped) {
    if (isRefusal(m))
      results[m.index] = {
        event_id: m.messageId,
        status: 'rejected',
        error: { code: 'invalid_event', message: `${m.path}: ${m.message}`, details: [{ path: m.path, message: m.message }] },
      };
    else events.push(m);
  }
  const earlier = await assignSessions(env, source, events, arrival.receivedAt);
  const stored = await ingestBatch(
    env,
    source,
    events.map((e) => e.input),
    { channel, ...arrival },
  );
  stored.forEach((r, i) => {
    results[events[i]!.index] = { ...r, session_id: String(events[i]!.input.session_id ?? '') || null };
  });
  await linkEarlierSessions(env, source, channel, events, stored, earlier);
  return results;
}

/** Fills in the session of each event that names none: its visitor's, by the event's time. Returns each visitor's earlier sessions. */
async function assignSessions(env: Env, source: EventSource, events: readonly WireEvent[], receivedAt: number): Promise<Map<string, string[]>> {
  const byVisitor = new Map<string, WireEvent[]>();
  for (const e of events) {
    if (e.sessionId !== null) e.input.session_id = e.sessionId;
    else if (e.visitor !== null) byVisitor.set(e.visitor, [...(byVisitor.get(e.visitor) ?? []), e]);
  }
  const earlier = new Map<string, string[]>();
  await Promise.all(
    [...byVisitor].map(async ([visitor, list]) => {
      const times = list.map((e) => {
        const t = Date.parse(String(e.input.occurred_at));
        return Number.isFinite(t) ? Math.min(t, receivedAt) : receivedAt;
      });
      // The customer an identify in this batch names: the visitor's earlier sessions it has not linked yet come back.
      const customer = list.find((e) => LINKING.has(String(e.input.name)) && typeof e.input.customer_id === 'string')?.input.customer_id as string | undefined;
      const found = await visitorObject(env, source.id, visitor).sessionsFor(visitor, times, source.sessionTimeoutS, customer);
      list.forEach((e, i) => {
        e.input.session_id = found.sessions[i];
      });
      earlier.set(visitor, found.earlier);
    }),
  );
  return earlier;
}

/**
 * An identify (or alias, login, registration) that proves its customer links the visitor's
 * earlier sessions too, as a campaign link does (docs/design.md, rule 6): the same device, the
 * same person. A claim on a public key proves nothing and links nothing.
 */
async function linkEarlierSessions(
  env: Env,
  source: EventSource,
  channel: Channel,
  events: readonly WireEvent[],
  stored: readonly IngestResult[],
  earlier: Map<string, string[]>,
): Promise<void> {
  const links = new Map<string, { customer: string; visitor: string }>();
  for (const [i, e] of events.entries()) {
    const customer = e.input.customer_id;
    if (stored[i]!.status !== 'accepted' || typeof customer !== 'string' || !LINKING.has(String(e.input.name)) || e.visitor === null) continue;
    const hash = e.input.customer_hash;
    const proven = channel === 'api' || (typeof hash === 'string' && (await verifyCustomer(source.identitySecret, customer, hash)));
    if (proven) for (const sessionId of earlier.get(e.visitor) ?? []) links.set(sessionId, { customer, visitor: e.visitor });
  }
  if (!links.size) return;
  await Promise.all([...links].map(([sessionId, { customer }]) => sessionObject(env, source.id, sessionId).linkCustomer(customer, 'event')));
  const byVisitor = new Map<string, { customer: string; ids: string[] }>();
  for (const [sessionId, { customer, visitor }] of links) {
    const entry = byVisitor.get(visitor) ?? { customer, ids: [] };
    entry.ids.push(sessionId);
    byVisitor.set(visitor, entry);
  }
  await Promise.all([...byVisitor].map(([visitor, { customer, ids }]) => visitorObject(env, source.id, visitor).linked(ids, customer)));
}
