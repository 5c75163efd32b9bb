import { sha256Hex } from '../encoding';
import {
  anonymousVisitor,
  customerVisitor,
  defined,
  eventName,
  isObject,
  type Mapped,
  occurredAt,
  pageOf,
  paramsOf,
  splitProperties,
  stableId,
  text,
  withoutCustomer,
} from './mapping';

/**
 * Segment's HTTP Tracking API messages (analytics-node, analytics.js, RudderStack's SDKs) as our
 * event input (docs/wire.md). A `track` is its event; `page`, `screen`, `identify`, `alias` and
 * `group` are the events `page_view`, `screen_view`, `identify`, `alias` and `group`.
 */

export const SEGMENT_TYPES = ['track', 'page', 'screen', 'identify', 'alias', 'group'] as const;
/** Segment's limit per message. */
export const SEGMENT_MESSAGE_BYTES = 32 * 1024;

/** The analytics.js short paths' types (`/v1/t`, `/v1/p`, ...). */
export const SHORT_TYPES: Record<string, string> = { t: 'track', p: 'page', s: 'screen', i: 'identify', a: 'alias', g: 'group' };

export async function fromSegment(message: unknown, index: number, batch: { sentAt?: unknown; receivedAt: number }): Promise<Mapped> {
  const refuse = (path: string, why: string, m?: Record<string, unknown>) => ({ index, messageId: m ? (text(m.messageId) ?? null) : null, path, message: why });
  if (!isObject(message)) return refuse('(message)', 'must be a JSON object');
  const m = message;
  const type = m.type;
  if (typeof type !== 'string' || !(SEGMENT_TYPES as readonly string[]).includes(type)) return refuse('type', `must be one of ${SEGMENT_TYPES.join(', ')}`, m);
  const userId = text(m.userId) ?? null;
  const anonymousId = text(m.anonymousId) ?? null;
  if (!userId && !anonymousId) return refuse('anonymousId', 'required without userId (one of them names the visitor)', m);
  const context = isObject(m.context) ? m.context : {};
  const properties = isObject(m.properties) ? m.properties : {};
  const traits = isObject(m.traits) ? m.traits : {};

  let sent: string | null = null;
  let name: string;
  let container: string | undefined;
  let rest: Record<string, unknown>;
  let snapshot: Record<string, unknown> | undefined;
  let page = isObject(context.page) ? pageOf(context.page.url, context.page.referrer, context.page.title) : undefined;
  switch (type) {
    case 'track': {
      if (typeof m.event !== 'string' || !m.event.trim()) return refuse('event', 'required for a track: the name of the action', m);
      sent = m.event;
      ({ name, container } = eventName(sent));
      name = withoutCustomer(name, sent, userId);
      ({ context: snapshot, rest } = splitProperties(name, container, properties));
      break;
    }
    case 'page':
    case 'screen': {
      name = type === 'page' ? 'page_view' : 'screen_view';
      page = pageOf(properties.url ?? (isObject(context.page) ? context.page.url : undefined), properties.referrer, properties.title) ?? page;
      const { url: _u, referrer: _r, title: _t, path: _p, search: _s, ...others } = properties;
      rest = defined({ ...others, page_name: text(m.name), page_category: text(m.category) });
      break;
    }
    case 'identify':
    case 'group':
      name = type;
      rest = defined({ ...traits, customer_hash: undefined, group_id: type === 'group' ? text(m.groupId) : undefined });
      break;
    default: // alias
      if (!userId) return refuse('userId', 'required for an alias: the id the previous one becomes', m);
      if (!text(m.previousId)) return refuse('previousId', 'required for an alias: the id it links', m);
      name = 'alias';
      rest = { previous_id: text(m.previousId) };
  }

  // An alias joins the previous identity's current session, which it links.
  const visitor = type === 'alias' ? anonymousVisitor(text(m.previousId)!) : anonymousId ? anonymousVisitor(anonymousId) : customerVisitor(userId!);
  // A client's own session id (often a start time in ms, Amplitude's way) is the visitor's: two
  // visitors who start in the same millisecond keep two sessions.
  const clientSession = text(context.sessionId) ?? text(context.session_id) ?? text(properties.session_id) ?? null;
  const sessionId = clientSession === null ? null : `seg.${(await sha256Hex(`${visitor}|${clientSession}`)).slice(0, 32)}`;
  return {
    index,
    visitor,
    sessionId,
    input: defined({
      event_id: await stableId(m.messageId),
      name,
      occurred_at: occurredAt(m.timestamp ?? m.originalTimestamp, m.sentAt ?? batch.sentAt, batch.receivedAt),
      customer_id: userId ?? undefined,
      customer_hash: text(context.customer_hash) ?? text(traits.customer_hash),
      context: snapshot,
      params: paramsOf(rest, sent, name),
      page,
      device: deviceOf(context),
    }),
  };
}

/** The device facts Segment's `context` carries, flat. */
function deviceOf(context: Record<string, unknown>) {
  const os = isObject(context.os) ? context.os : {};
  const app = isObject(context.app) ? context.app : {};
  const device = isObject(context.device) ? context.device : {};
  const library = isObject(context.library) ? context.library : {};
  const facts = defined({
    user_agent: text(context.userAgent),
    platform: text(os.name)?.toLowerCase(),
    os_version: text(os.version),
    app_version: text(app.version),
    device_model: text(device.model),
    locale: text(context.locale),
    timezone: text(context.timezone),
    library: text(library.name) ? `${library.name}/${text(library.version) ?? ''}` : undefined,
  });
  return Object.keys(facts).length ? facts : undefined;
}
