import { z } from '@hono/zod-openapi';
import { normalizeEvent, type Arrival, type FieldError } from '../events/normalize';
import type { WebEvent } from '../events/schema';
import { tokenInUrl, verifyLink } from '../links/token';
import type { EventSource } from '../storage/sources';
import { rulesOf } from '../triggers/lookup';

export const IngestResult = z
  .object({
    event_id: z.string().nullable(),
    status: z.enum(['accepted', 'duplicate', 'rejected']),
    error: z
      .object({ code: z.string(), message: z.string(), details: z.array(z.object({ path: z.string(), message: z.string() })) })
      .optional(),
  })
  .openapi('IngestResult');
export type IngestResult = { event_id: string | null; status: 'accepted' | 'duplicate' | 'rejected'; error?: FieldError };

/** The name of a session's object (rule 1). */
export const sessionObjectName = (sourceId: string, sessionId: string) => `${sourceId}:${sessionId}`;

/** Raised when a session object could not store its events; the caller answers 503 and the client retries. */
export class SessionsUnavailable extends Error {}

/**
 * Normalizes a batch and hands each session's events to its object in one call, all sessions in
 * parallel. One result per input event, in input order: a bad event is rejected alone.
 */
export async function ingestBatch(
  env: Env,
  source: EventSource,
  raws: readonly unknown[],
  arrival: Omit<Arrival, 'sourceId'>,
): Promise<IngestResult[]> {
  const results: IngestResult[] = new Array(raws.length);
  const bySession = new Map<string, { indexes: number[]; events: WebEvent[] }>();
  const from: Arrival = { ...arrival, sourceId: source.id };
  raws.forEach((raw, i) => {
    const n = normalizeEvent(raw, from);
    if (!n.ok) {
      results[i] = { event_id: n.eventId, status: 'rejected', error: n.error };
      return;
    }
    const group = bySession.get(n.event.session_id) ?? { indexes: [], events: [] };
    group.indexes.push(i);
    group.events.push(n.event);
    bySession.set(n.event.session_id, group);
  });
  const rules = bySession.size ? await rulesOf(env.DB, source.id) : [];
  const calls = [...bySession].map(async ([sessionId, group]) => {
    const stub = env.SESSIONS.getByName(sessionObjectName(source.id, sessionId));
    const statuses = await stub.ingest(group.events, source.sessionTimeoutS, rules);
    statuses.forEach((status, j) => {
      results[group.indexes[j]!] = { event_id: group.events[j]!.event_id, status };
    });
  });
  const failed = (await Promise.allSettled(calls)).filter((r) => r.status === 'rejected');
  if (failed.length) {
    console.error(JSON.stringify({ message: 'session objects failed', source: source.id, errors: failed.map((f) => String(f.reason)) }));
    throw new SessionsUnavailable(`${failed.length} of ${calls.length} sessions could not store their events`);
  }
  await linkLandings(env, source, bySession);
  return results;
}

/**
 * Rule 6, the landing half: an event whose page URL carries a campaign link token of this
 * source links its own session to the token's customer. Costs a substring check per session
 * when there is no token.
 */
async function linkLandings(env: Env, source: EventSource, bySession: Map<string, { events: WebEvent[] }>): Promise<void> {
  for (const [sessionId, { events }] of bySession) {
    const token = events.map((e) => tokenInUrl(e.page?.url)).find(Boolean);
    if (!token) continue;
    const claims = await verifyLink(token, env.LINK_SIGNING_KEY);
    if (claims?.src !== source.id) continue;
    await env.SESSIONS.getByName(sessionObjectName(source.id, sessionId)).linkCustomer(claims.cus, 'campaign_link');
  }
}
