import type { z } from '@hono/zod-openapi';
import { normalizeContext } from './context';
import { fastEventInput, overBytes } from './fast-validate';
import { LIMITS, nestsDeeper } from './limits';
import { trimUrl, trimUrlsIn, type UrlPolicy } from './page-url';
import { type Channel, type EventFlag, EventInput, type FieldError, type WebEvent } from './schema';

/** What the server knows about the request an event arrived in. */
export interface Arrival {
  sourceId: string;
  channel: Channel;
  /** Server time in ms since the epoch. */
  receivedAt: number;
  /** Device facts the request tells (user agent) or the batch carries (SDK); the event's own win. */
  device?: Record<string, unknown> | null;
  geo?: Record<string, unknown> | null;
  /** Query parameters kept in stored URLs besides `utm_*` (the source's `allowed_query_params`). */
  queryParams?: ReadonlySet<string>;
  /** Whether stored URLs keep route fragments (the source's `keep_url_fragments`); dropped when absent. */
  keepUrlFragments?: boolean;
}

export type Normalized =
  | {
      ok: true;
      event: WebEvent;
      /** The `customer_hash` sent with `customer_id`, for the caller to verify (public channels). */
      customerHash: string | null;
      /** The page URL as sent, when storing it dropped something (it may carry a campaign link token). */
      sentUrl: string | null;
    }
  | { ok: false; eventId: string | null; error: FieldError };

const IDENTIFYING_EVENTS = new Set(['user_login', 'user_registration']);
const NO_PARAMS: ReadonlySet<string> = new Set();

/** A refusal of one event: `invalid_event` unless the reason is not the event's shape. */
export function refusal(raw: unknown, path: string, message: string, code = 'invalid_event'): Extract<Normalized, { ok: false }> {
  return {
    ok: false,
    eventId: typeof raw === 'object' && raw !== null && 'event_id' in raw && typeof raw.event_id === 'string' ? raw.event_id : null,
    error: { code, message: `${path}: ${message}`, details: [{ path, message }] },
  };
}

const zodRefusal = (raw: unknown, error: z.ZodError): Normalized => {
  const issue = error.issues[0];
  return refusal(raw, issue?.path.map(String).join('.') || '(event)', issue?.message ?? 'invalid');
};

const DEVICE_CHANNELS: ReadonlySet<Channel> = new Set(['tracker', 'sdk']);

/**
 * The one normalization path: every channel turns what a client sent into the canonical web
 * event here (validation, context snapshot, clock clamps, URL trimming, server-side enrichment).
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
  if (!context.ok) return refusal(raw, context.path, context.message);
  if (context.context) {
    if (nestsDeeper(context.context, LIMITS.objectDepth)) return refusal(raw, 'context', `at most ${LIMITS.objectDepth} levels deep`);
    if (overBytes(JSON.stringify(context.context), LIMITS.contextBytes)) return refusal(raw, 'context', `at most ${LIMITS.contextBytes} bytes serialized`);
  }
  if (IDENTIFYING_EVENTS.has(input.name) && !input.customer_id) {
    return refusal(raw, 'customer_id', `required for ${input.name}`);
  }

  const flags: EventFlag[] = [];
  let occurredAt = Date.parse(input.occurred_at);
  if (occurredAt > arrival.receivedAt + LIMITS.futureSkewMs) {
    occurredAt = arrival.receivedAt;
    flags.push('clock_skew');
  } else if (occurredAt < arrival.receivedAt - LIMITS.pastSkewMs) {
    // A device's clock can be years off; a partner's backfill that old is a mistake to report.
    if (!DEVICE_CHANNELS.has(arrival.channel))
      return refusal(raw, 'occurred_at', `more than ${LIMITS.pastSkewMs / 86_400_000} days before the collector received it`);
    occurredAt = arrival.receivedAt;
    flags.push('clock_skew');
  }
  // Without facts of its own, an event shares the request's device object: a batch's events go to
  // their session object in one RPC, whose serializer then copies it once.
  const device = input.device ? { ...arrival.device, ...input.device } : (arrival.device ?? null);
  // The batch's device facts (SDK) are the client's too: as deep as an event's own may be.
  if (device && nestsDeeper(device, LIMITS.objectDepth)) return refusal(raw, 'device', `at most ${LIMITS.objectDepth} levels deep`);
  // Every URL stored is trimmed alike: the page's, and those in the snapshot and the params.
  const urls: UrlPolicy = { params: arrival.queryParams ?? NO_PARAMS, fragments: arrival.keepUrlFragments ?? false };
  const { page, sentUrl } = trimPage(input.page, urls);

  return {
    ok: true,
    customerHash: input.customer_hash ?? null,
    sentUrl,
    event: {
      event_id: input.event_id ?? crypto.randomUUID(),
      source_id: arrival.sourceId,
      channel: arrival.channel,
      session_id: input.session_id,
      customer_id: input.customer_id ?? null,
      claimed_customer_id: null,
      name: input.name,
      occurred_at: new Date(occurredAt).toISOString(),
      received_at: new Date(arrival.receivedAt).toISOString(),
      seq: input.seq ?? null,
      context: context.context && trimUrlsIn(context.context, urls),
      params: input.params ? trimUrlsIn(input.params, urls) : null,
      page,
      device,
      geo: arrival.geo ?? null,
      flags,
    },
  };
}

type PageInput = NonNullable<z.output<typeof EventInput>['page']>;

function trimPage(page: PageInput | null | undefined, urls: UrlPolicy) {
  if (!page) return { page: page ?? null, sentUrl: null };
  const url = page.url === undefined ? undefined : trimUrl(page.url, urls);
  const referrer = page.referrer == null ? page.referrer : trimUrl(page.referrer, urls);
  if (url === page.url && referrer === page.referrer) return { page, sentUrl: null };
  return { page: { ...page, url, referrer }, sentUrl: page.url ?? null };
}
