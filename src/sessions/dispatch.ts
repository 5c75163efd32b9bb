import { z } from '@hono/zod-openapi';
import { sha256Hex } from '../encoding';
import { SESSIONS_PER_REQUEST } from '../events/limits';
import { type Arrival, type Normalized, normalizeEvent, refusal } from '../events/normalize';
import { FieldError, type WebEvent } from '../events/schema';
import { sessionObjectName } from '../events/session-record';
import { tokenInUrl, verifyLink } from '../links/token';
import * as feed from '../monitor/feed';
import { timedHashExpiry, verifyCustomer } from '../sources/identity';
import { claimLanding } from '../storage/links';
import { Unavailable, unavailableOnFailure } from '../storage/outage';
import type { EventSource } from '../storage/sources';
import { rulesOf } from '../triggers/lookup';
import type { SessionObject } from './session-object';

/** The answer for one event of a batch, in input order. */
export const IngestResult = z
  .object({ event_id: z.string().nullable(), status: z.enum(['accepted', 'duplicate', 'rejected']), error: FieldError.optional() })
  .openapi('IngestResult');
export type IngestResult = z.infer<typeof IngestResult>;

/** The RPC methods of a session object, with the types they return. */
type SessionMethods = 'ingest' | 'linkCustomer' | 'read' | 'eventsById' | 'erase' | 'eraseEventsOf';
export type SessionApi = { [K in SessionMethods]: (...args: Parameters<SessionObject[K]>) => Promise<Awaited<ReturnType<SessionObject[K]>>> };

/**
 * A session's object. RPC's types cannot carry the open objects of an event (a context snapshot
 * holds any JSON), so the stub's results would type as `never`; the methods' own types are the
 * truth, and this is the one place that says so.
 */
export const sessionObject = (env: Env, sourceId: string, sessionId: string) =>
  env.SESSIONS.getByName(sessionObjectName(sourceId, sessionId)) as unknown as SessionApi;

interface SessionGroup {
  indexes: number[];
  events: WebEvent[];
  /** Page URLs as sent, where one may carry a campaign link token. */
  sentUrls: string[];
}

/** The answer for an event past a request's cap of sessions (SESSIONS_PER_REQUEST). */
export const tooManySessions = (eventId: string | null, max: number): IngestResult => ({
  event_id: eventId,
  status: 'rejected',
  error: refusal(
    { event_id: eventId },
    'session_id',
    `one request reaches at most ${max} sessions on this channel: send the others in another request`,
    'too_many_sessions',
  ).error,
});

/**
 * Normalizes a batch and hands each session's events to its object in one call, all sessions in
 * parallel. One result per input event, in input order: a bad event is rejected alone.
 */
export async function ingestBatch(
  env: Env,
  source: EventSource,
  raws: readonly unknown[],
  arrival: Omit<Arrival, 'sourceId' | 'queryParams' | 'keepUrlFragments'>,
): Promise<IngestResult[]> {
  const results: IngestResult[] = new Array(raws.length);
  const bySession = new Map<string, SessionGroup>();
  const from: Arrival = { ...arrival, sourceId: source.id, queryParams: queryParamsOf(source), keepUrlFragments: source.keepUrlFragments };
  const maxSessions = SESSIONS_PER_REQUEST[arrival.channel];
  for (let i = 0; i < raws.length; i++) {
    const raw = raws[i];
    let n = normalizeEvent(raw, from);
    if (n.ok && n.event.customer_id && arrival.channel !== 'api') n = await proveIdentity(n, raw, source);
    if (!n.ok) {
      results[i] = { event_id: n.eventId, status: 'rejected', error: n.error };
      continue;
    }
    let group = bySession.get(n.event.session_id);
    if (!group) {
      if (bySession.size >= maxSessions) {
        results[i] = tooManySessions(n.event.event_id, maxSessions);
        continue;
      }
      bySession.set(n.event.session_id, (group = { indexes: [], events: [], sentUrls: [] }));
    }
    group.indexes.push(i);
    group.events.push(n.event);
    if (n.sentUrl) group.sentUrls.push(n.sentUrl);
  }
  const rules = bySession.size ? await rulesOf(env.DB, source.id) : [];
  const calls = [...bySession].map(async ([sessionId, group]) => {
    const statuses = await sessionObject(env, source.id, sessionId).ingest(group.events, source.sessionTimeoutS, rules);
    statuses.forEach((status, j) => {
      const event = group.events[j]!;
      results[group.indexes[j]!] =
        status === 'session_full'
          ? {
              event_id: event.event_id,
              status: 'rejected',
              error: refusal(event, 'session_id', 'this session holds as many events as a session may: start a new session', 'session_full').error,
            }
          : { event_id: event.event_id, status };
    });
  });
  const failed = (await Promise.allSettled(calls)).filter((r) => r.status === 'rejected');
  if (failed.length) {
    console.error(JSON.stringify({ message: 'session objects failed', source: source.id, errors: failed.map((f) => String(f.reason)) }));
    throw new Unavailable(`${failed.length} of ${calls.length} sessions could not store their events; retry: stored events are deduplicated`);
  }
  await linkLandings(env, source, bySession);
  monitor(source, arrival.channel, raws, results, bySession);
  return results;
}

/** What the console shows of this batch (monitor/feed.ts): counts, rejections with what was sent, and the accepted events while watched. */
function monitor(source: EventSource, channel: string, raws: readonly unknown[], results: readonly IngestResult[], bySession: Map<string, SessionGroup>) {
  const kept: WebEvent[] = [];
  for (const group of bySession.values())
    group.indexes.forEach((i, j) => {
      if (results[i]!.status === 'accepted') kept.push(group.events[j]!);
    });
  feed.accepted(source.id, kept);
  results.forEach((r, i) => {
    if (r.status === 'duplicate') feed.count(source.id, 'duplicate');
    else if (r.error) feed.rejected(source.id, channel, raws[i], r.error);
  });
}

const queryParamSets = new WeakMap<EventSource, ReadonlySet<string>>();
function queryParamsOf(source: EventSource): ReadonlySet<string> {
  let set = queryParamSets.get(source);
  if (!set) queryParamSets.set(source, (set = new Set(source.allowedQueryParams)));
  return set;
}

/**
 * Verified identity on the public channels: a customer id proven by its `customer_hash` stays;
 * an unproven one is refused when the source requires proof, else kept aside as a claim that
 * attributes nothing, fires nothing and joins no segment.
 */
async function proveIdentity(n: Extract<Normalized, { ok: true }>, raw: unknown, source: EventSource): Promise<Normalized> {
  const customerId = n.event.customer_id!;
  if (n.customerHash && (await verifyCustomer(source.identitySecret, customerId, n.customerHash))) return n;
  if (source.requireVerifiedIdentity) {
    const why = n.customerHash
      ? (timedHashExpiry(n.customerHash) ?? 'does not prove customer_id: sign it with the identity secret of this source')
      : `required with customer_id on source ${source.id}: hex HMAC-SHA256 of customer_id with the source identity secret, made by the store's backend`;
    return refusal(raw, 'customer_hash', why, 'unverified_identity');
  }
  return { ...n, event: { ...n.event, customer_id: null, claimed_customer_id: customerId, flags: [...n.event.flags, 'unverified_identity'] } };
}

/**
 * Rule 6 (docs/design.md), the landing half: an event whose page URL carried a campaign link token of this source
 * links its own session to the token's customer, once per token: a URL passed on later links
 * nobody. Costs nothing when no page URL lost a query parameter.
 */
async function linkLandings(env: Env, source: EventSource, bySession: Map<string, SessionGroup>): Promise<void> {
  for (const [sessionId, { sentUrls }] of bySession) {
    const token = sentUrls.map(tokenInUrl).find(Boolean);
    if (!token) continue;
    const claims = await verifyLink(token, env.LINK_SIGNING_KEY);
    if (claims?.src !== source.id) continue;
    const landing = {
      // What is stored of a token: its hash, never the token.
      tokenId: await sha256Hex(token),
      sourceId: source.id,
      sessionId,
      customerId: claims.cus,
      expiresAt: new Date(claims.exp * 1000).toISOString(),
    };
    // The events are stored: a D1 that refuses the claim is a 503, and the retry links (its events are duplicates).
    if (
      !(await unavailableOnFailure(
        claimLanding(env.DB, landing),
        'landing claim failed',
        'the campaign link could not be claimed now (D1); retry: stored events are deduplicated',
      ))
    )
      continue;
    await sessionObject(env, source.id, sessionId).linkCustomer(claims.cus, 'campaign_link');
  }
}
