import type { Arrival } from '../events/normalize';
import type { Channel } from '../events/schema';
import { type IngestResult, ingestBatch, SessionsUnavailable, sessionObject } from '../sessions/dispatch';
import { verifyCustomer } from '../sources/identity';
import type { EventSource } from '../storage/sources';
import { anonymousVisitor, customerVisitor, isRefusal, type Mapped, type WireEvent } from './mapping';
import { visitorObject } from './visitors';

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

/** A proven identify: this customer is the visitor it came from. */
interface Link {
  customer: string;
  visitor: string;
  /** The identify's place among the batch's events. */
  event: number;
}

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
  const links = await provenLinks(source, channel, events);
  // A server's later messages of this batch that name only the customer go on in the visitor's
  // sessions (a browser's or an app's never do: anyone may send a user id with a public key).
  const follow = channel === 'api';
  if (follow) {
    const follows = new Map(links.flatMap((l) => followersOf(l.customer, l.visitor).map((f) => [f, l.visitor] as const)));
    for (const e of events) if (e.visitor !== null && follows.has(e.visitor)) e.visitor = follows.get(e.visitor)!;
  }
  const earlier = await assignSessions(env, source, events, arrival.receivedAt, links, follow);
  const stored = await ingestBatch(
    env,
    source,
    events.map((e) => e.input),
    { channel, ...arrival },
  );
  stored.forEach((r, i) => {
    results[events[i]!.index] = { ...r, session_id: String(events[i]!.input.session_id ?? '') || null };
  });
  // An identify refused (its time, its hash) links nothing.
  await linkVisitors(
    env,
    source,
    links.filter((l) => stored[l.event]!.status !== 'rejected'),
    earlier,
  );
  return results;
}

/**
 * The identifies (aliases, logins, registrations) of this batch that prove their customer: on a
 * secret key, or with a valid customer hash. A claim on a public key proves nothing and links nothing.
 */
async function provenLinks(source: EventSource, channel: Channel, events: readonly WireEvent[]): Promise<Link[]> {
  const links: Link[] = [];
  for (const [i, e] of events.entries()) {
    const customer = e.input.customer_id;
    if (typeof customer !== 'string' || !LINKING.has(String(e.input.name)) || e.visitor === null || e.visitor === customerVisitor(customer)) continue;
    const hash = e.input.customer_hash;
    if (channel === 'api' || (typeof hash === 'string' && (await verifyCustomer(source.identitySecret, customer, hash))))
      links.push({ customer, visitor: e.visitor, event: i });
  }
  return links;
}

/** Fills in the session of each event that names none: its visitor's, by the event's time. Returns each linking visitor's earlier sessions. */
async function assignSessions(env: Env, source: EventSource, events: readonly WireEvent[], receivedAt: number, links: readonly Link[], follow: boolean) {
  const byVisitor = new Map<string, WireEvent[]>();
  for (const e of events) {
    if (e.sessionId !== null) e.input.session_id = e.sessionId;
    else if (e.visitor !== null) {
      const list = byVisitor.get(e.visitor);
      if (list) list.push(e);
      else byVisitor.set(e.visitor, [e]);
    }
  }
  const earlier = new Map<string, string[]>();
  await Promise.all(
    [...byVisitor].map(async ([visitor, list]) => {
      const times = list.map((e) => {
        const t = Date.parse(String(e.input.occurred_at));
        return Number.isFinite(t) ? Math.min(t, receivedAt) : receivedAt;
      });
      // The visitor's earlier sessions not linked to this customer yet come back, for linkVisitors.
      const customer = links.find((l) => l.visitor === visitor)?.customer;
      const found = await unavailableOnFailure(visitorObject(env, source.id, visitor).sessionsFor(visitor, times, source.sessionTimeoutS, customer, follow));
      list.forEach((e, i) => {
        e.input.session_id = found.sessions[i];
      });
      earlier.set(visitor, found.earlier);
    }),
  );
  return earlier;
}

/**
 * A proven identify links the visitor's earlier sessions too, as a campaign link does
 * (docs/design.md, rule 6): the same device, the same person. And the customer's later messages
 * that name only them (a server library after a login) go on in that visitor's sessions.
 */
async function linkVisitors(env: Env, source: EventSource, links: readonly Link[], earlier: Map<string, string[]>): Promise<void> {
  await unavailableOnFailure(
    Promise.all(
      links.map(async ({ customer, visitor }) => {
        const sessions = earlier.get(visitor) ?? [];
        await Promise.all(sessions.map((sessionId) => sessionObject(env, source.id, sessionId).linkCustomer(customer, 'event')));
        if (sessions.length) await visitorObject(env, source.id, visitor).linked(sessions, customer);
        for (const follower of followersOf(customer, visitor)) await visitorObject(env, source.id, follower).follow(source.id, visitor);
      }),
    ),
  );
}

/**
 * A Durable Object that failed: the request is answered 503 and the client retries (its stored
 * events are duplicates then, and an identify links again).
 */
async function unavailableOnFailure<T>(call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (error) {
    console.error(JSON.stringify({ message: 'visitor sessions failed', error: String(error) }));
    throw new SessionsUnavailable('the sessions of a visitor could not be found or linked');
  }
}
