import { SESSIONS_PER_REQUEST } from '../events/limits';
import type { Arrival } from '../events/normalize';
import type { Channel } from '../events/schema';
import { type IngestResult, ingestBatch, sessionObject, tooManySessions } from '../sessions/dispatch';
import { verifyCustomer } from '../sources/identity';
import { unavailableOnFailure } from '../storage/outage';
import type { EventSource } from '../storage/sources';
import { anonymousVisitor, customerVisitor, isRefusal, type Mapped, type WireEvent } from './mapping';
import { type Placement, visitorObject } from './visitors';

/** A message's result: an event's, with the session it went to (the collector's own, when the message named none). */
export type WireResult = IngestResult & { session_id?: string | null };

/** Events whose proven customer links the visitor they came from (docs/wire.md). */
const LINKING = new Set(['identify', 'alias', 'user_login', 'user_registration']);

/**
 * Who follows a device once its customer is proven: the customer's visitor (Segment's `userId`,
 * Snowplow's `uid`), and the customer's id as a distinct id (PostHog names an identified person by
 * it, with no mark that it is one). A server's messages from either join the device's sessions.
 */
const followersOf = (customer: string, device: string) => [customerVisitor(customer), anonymousVisitor(customer)].filter((v) => v !== device);

/** A visitor object that failed: the request is answered 503, and the client's retry is stored once (its events are duplicates then, and an identify links again). */
const VISITORS_FAILED = ['visitor sessions failed', 'the sessions of a visitor could not be found or linked; retry: stored events are deduplicated'] as const;

/** A proven identify: this customer is the visitor it came from. */
interface Link {
  customer: string;
  visitor: string;
  /** The identify. */
  event: WireEvent;
}

/**
 * Messages of another protocol, mapped, onto the one ingest path: the collector's sessions for
 * those that name none, then `ingestBatch` like every channel. One result per message, in order:
 * a message refused while mapping, or past the request's cap of sessions, is refused alone, and
 * before any object is made for it.
 */
export async function ingestWire(
  env: Env,
  source: EventSource,
  channel: Channel,
  mapped: readonly Mapped[],
  arrival: Pick<Arrival, 'receivedAt' | 'device' | 'geo'>,
): Promise<WireResult[]> {
  const results: WireResult[] = new Array(mapped.length);
  let events: WireEvent[] = [];
  for (const m of mapped) {
    if (isRefusal(m))
      results[m.index] = {
        event_id: m.messageId,
        status: 'rejected',
        error: { code: 'invalid_event', message: `${m.path}: ${m.message}`, details: [{ path: m.path, message: m.message }] },
      };
    else events.push(m);
  }
  // Only a secret key's messages (a server's) follow a customer to their device, link a visitor's
  // earlier sessions or another visitor: anyone may send any id with a public key (docs/security.md).
  const partner = channel === 'api';
  const links = await provenLinks(source, channel, events);
  if (partner) {
    const follows = new Map(links.flatMap((l) => followersOf(l.customer, l.visitor).map((f) => [f, l.visitor] as const)));
    for (const e of events) if (e.visitor !== null && follows.has(e.visitor)) e.visitor = follows.get(e.visitor)!;
  }
  const placed = await assignSessions(env, source, events, arrival.receivedAt, links, partner, SESSIONS_PER_REQUEST[channel]);
  const refused = new Set(events.filter((e) => e.input.session_id === null));
  for (const e of refused) results[e.index] = tooManySessions(String(e.input.event_id ?? '') || null, SESSIONS_PER_REQUEST[channel]);
  events = events.filter((e) => !refused.has(e));
  const stored = await ingestBatch(
    env,
    source,
    events.map((e) => e.input),
    { channel, ...arrival },
  );
  stored.forEach((r, i) => {
    results[events[i]!.index] = { ...r, session_id: String(events[i]!.input.session_id ?? '') || null };
  });
  // An identify refused (its time, its hash, the cap) links nothing.
  const kept = new Set(events.filter((_, i) => stored[i]!.status !== 'rejected'));
  await linkVisitors(
    env,
    source,
    links.filter((l) => kept.has(l.event)),
    placed,
    partner,
  );
  return results;
}

/**
 * The identifies (aliases, logins, registrations) of this batch that prove their customer: on a
 * secret key, or with a valid customer hash. A claim on a public key proves nothing and links nothing.
 */
async function provenLinks(source: EventSource, channel: Channel, events: readonly WireEvent[]): Promise<Link[]> {
  const links: Link[] = [];
  for (const e of events) {
    const customer = e.input.customer_id;
    if (typeof customer !== 'string' || !LINKING.has(String(e.input.name)) || e.visitor === null || e.visitor === customerVisitor(customer)) continue;
    const hash = e.input.customer_hash;
    if (channel === 'api' || (typeof hash === 'string' && (await verifyCustomer(source.identitySecret, customer, hash))))
      links.push({ customer, visitor: e.visitor, event: e });
  }
  return links;
}

/**
 * Fills in the session of each event that names none: its visitor's, by the event's time; null
 * for one past the request's cap of `max` sessions, which is refused before any object is made
 * or written. Returns each visitor's placement.
 */
async function assignSessions(
  env: Env,
  source: EventSource,
  events: readonly WireEvent[],
  receivedAt: number,
  links: readonly Link[],
  partner: boolean,
  max: number,
): Promise<Map<string, Placement>> {
  // Each session a message names, and each visitor, counts one toward the cap, in message order.
  const named = new Set<string>();
  const byVisitor = new Map<string, WireEvent[]>();
  for (const e of events) {
    const key = e.sessionId ?? e.visitor;
    const known = e.sessionId !== null ? named.has(e.sessionId) : e.visitor !== null && byVisitor.has(e.visitor);
    if (key === null) continue;
    if (!known && named.size + byVisitor.size >= max) {
      e.input.session_id = null;
      continue;
    }
    if (e.sessionId !== null) {
      named.add(e.sessionId);
      e.input.session_id = e.sessionId;
    } else {
      const list = byVisitor.get(key);
      if (list) list.push(e);
      else byVisitor.set(key, [e]);
    }
  }
  // What the cap leaves, shared out: a visitor may start more than one session (messages far apart).
  const room = 1 + Math.floor((max - named.size - byVisitor.size) / Math.max(1, byVisitor.size));
  const placed = new Map<string, Placement>();
  await Promise.all(
    [...byVisitor].map(async ([visitor, list]) => {
      const times = list.map((e) => {
        const t = Date.parse(String(e.input.occurred_at));
        return Number.isFinite(t) ? Math.min(t, receivedAt) : receivedAt;
      });
      // A secret key's identify gets back the visitor's earlier sessions not linked to its customer yet.
      const customer = partner ? links.find((l) => l.visitor === visitor)?.customer : undefined;
      const found = await unavailableOnFailure(
        visitorObject(env, source.id, visitor).sessionsFor(visitor, times, source.sessionTimeoutS, { customer, partner, room }),
        ...VISITORS_FAILED,
      );
      list.forEach((e, i) => {
        e.input.session_id = found.sessions[i];
      });
      placed.set(visitor, found);
    }),
  );
  return placed;
}

/**
 * What a proven identify links besides its own session (rule 5 links that, in the session object).
 * A secret key's: the visitor's earlier sessions, as a campaign link does (docs/design.md, rule 6),
 * and the customer's later messages that name only them (a server library after a login) go on
 * in that visitor's sessions. A public key's: only the latter, and only from a visitor that no
 * secret key's message reached (so its id was never a server's, guessable one: docs/security.md).
 */
async function linkVisitors(env: Env, source: EventSource, links: readonly Link[], placed: Map<string, Placement>, partner: boolean): Promise<void> {
  await unavailableOnFailure(
    Promise.all(
      links.map(async ({ customer, visitor }) => {
        const placement = placed.get(visitor);
        if (!partner && (!placement || placement.partner)) return;
        const sessions = partner ? (placement?.earlier ?? []) : [];
        await Promise.all(sessions.map((sessionId) => sessionObject(env, source.id, sessionId).linkCustomer(customer, 'event')));
        if (sessions.length) await visitorObject(env, source.id, visitor).linked(sessions, customer);
        for (const follower of followersOf(customer, visitor)) await visitorObject(env, source.id, follower).follow(source.id, visitor);
      }),
    ),
    ...VISITORS_FAILED,
  );
}
