import type { z } from '@hono/zod-openapi';
import { normalizeContext } from './context';
import { fastEventInput, overBytes } from './fast-validate';
import { LIMITS } from './limits';
import { EventInput, type Channel, type EventFlag, type WebEvent } from './schema';

/** What the server knows about the request an event arrived in. */
export interface Arrival {
  sourceId: string;
  channel: Channel;
  /** Server time in ms since the epoch. */
  receivedAt: number;
  /** Device facts the request tells (user agent) or the batch carries (SDK); the event's own win. */
  device?: Record<string, unknown> | null;
  geo?: Record<string, unknown> | null;
}

/** Why one event was refused: the field and the reason. */
export interface FieldError {
  code: 'invalid_event';
  message: string;
  details: { path: string; message: string }[];
}

export type Normalized = { ok: true; event: WebEvent } | { ok: false; eventId: string | null; error: FieldError };

const IDENTIFYING_EVENTS = new Set(['user_login', 'user_registration']);

const refuse = (raw: unknown, path: string, message: string): Normalized => ({
  ok: false,
  eventId: typeof raw === 'object' && raw !== null && 'event_id' in raw && typeof raw.event_id === 'string' ? raw.event_id : null,
  error: { code: 'invalid_event', message: `${path}: ${message}`, details: [{ path, message }] },
});

const zodRefusal = (raw: unknown, error: z.ZodError): Normalized => {
  const issue = error.issues[0];
  return refuse(raw, issue?.path.map(String).join('.') || '(event)', issue?.message ?? 'invalid');
};

/**
 * The one normalization path: every channel turns what a client sent into the canonical web
 * event here (validation, context snapshot, clock-skew clamp, server-side enrichment).
 */
export function normalizeEvent(raw: unknown, arrival: Arrival): Normalized {
  // zod only for what the fast path is unsure of: it alone words the refusal.
  let input = fastEventInput(raw);
  if (!input) {
    const parsed = EventInput.safeParse(raw);
    if (!parsed.success) return zodRefusal(raw, parsed.error);
    input = parsed.data;
  }

  const context = normalizeContext(input.name, input.context);
  if (!context.ok) return refuse(raw, context.path, context.message);
  if (context.context && overBytes(JSON.stringify(context.context), LIMITS.contextBytes)) {
    return refuse(raw, 'context', `at most ${LIMITS.contextBytes} bytes serialized`);
  }
  if (IDENTIFYING_EVENTS.has(input.name) && !input.customer_id) {
    return refuse(raw, 'customer_id', `required for ${input.name}`);
  }

  const flags: EventFlag[] = [];
  let occurredAt = Date.parse(input.occurred_at);
  if (occurredAt > arrival.receivedAt + LIMITS.futureSkewMs) {
    occurredAt = arrival.receivedAt;
    flags.push('clock_skew');
  }
  // Without facts of its own, an event shares the request's device object: a batch's events go to
  // their session object in one RPC, whose serializer then copies it once.
  const device = input.device ? { ...arrival.device, ...input.device } : (arrival.device ?? null);

  return {
    ok: true,
    event: {
      event_id: input.event_id ?? crypto.randomUUID(),
      source_id: arrival.sourceId,
      channel: arrival.channel,
      session_id: input.session_id,
      customer_id: input.customer_id ?? null,
      name: input.name,
      occurred_at: new Date(occurredAt).toISOString(),
      received_at: new Date(arrival.receivedAt).toISOString(),
      seq: input.seq ?? null,
      context: context.context,
      params: input.params ?? null,
      page: input.page ?? null,
      device,
      geo: arrival.geo ?? null,
      flags,
    },
  };
}
