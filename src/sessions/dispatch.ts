import { z } from '@hono/zod-openapi';
import { normalizeEvent, type Arrival, type FieldError } from '../events/normalize';
import type { WebEvent } from '../events/schema';
import type { EventSource } from '../storage/sources';

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
  raws.forEach((raw, i) => {
    const n = normalizeEvent(raw, { ...arrival, sourceId: source.id });
    if (!n.ok) {
      results[i] = { event_id: n.eventId, status: 'rejected', error: n.error };
      return;
    }
    const group = bySession.get(n.event.session_id) ?? { indexes: [], events: [] };
    group.indexes.push(i);
    group.events.push(n.event);
    bySession.set(n.event.session_id, group);
  });
  const calls = [...bySession].map(async ([sessionId, group]) => {
    const stub = env.SESSIONS.getByName(sessionObjectName(source.id, sessionId));
    const statuses = await stub.ingest(group.events, source.sessionTimeoutS);
    statuses.forEach((status, j) => {
      results[group.indexes[j]!] = { event_id: group.events[j]!.event_id, status };
    });
  });
  const failed = (await Promise.allSettled(calls)).filter((r) => r.status === 'rejected');
  if (failed.length) {
    console.error(JSON.stringify({ message: 'session objects failed', source: source.id, errors: failed.map((f) => String(f.reason)) }));
    throw new SessionsUnavailable(`${failed.length} of ${calls.length} sessions could not store their events`);
  }
  return results;
}
