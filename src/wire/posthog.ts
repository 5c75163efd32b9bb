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
 * PostHog capture events (posthog-js, posthog-node) as our event input (docs/wire.md). `$pageview`
 * and `$screen` are page and screen views; `$identify` names its customer (`distinct_id`) and
 * links the anonymous visitor it came from (`$anon_distinct_id`). PostHog's own `$` properties
 * become the page and the device; the rest are the event's.
 */

const DEVICE: Record<string, string> = {
  $lib: 'library',
  $lib_version: 'library_version',
  $os: 'platform',
  $os_version: 'os_version',
  $browser: 'browser',
  $browser_version: 'browser_version',
  $device_type: 'device_type',
  $app_version: 'app_version',
  $device_model: 'device_model',
  $locale: 'locale',
  $timezone: 'timezone',
  $raw_user_agent: 'user_agent',
};

export async function fromPostHog(message: unknown, index: number, batch: { sentAt?: unknown; receivedAt: number }): Promise<Mapped> {
  if (!isObject(message)) return { index, messageId: null, path: '(event)', message: 'must be a JSON object' };
  const m = message;
  const refuse = (path: string, why: string) => ({ index, messageId: text(m.uuid) ?? null, path, message: why });
  if (typeof m.event !== 'string' || !m.event.trim()) return refuse('event', 'required: the name of the action');
  const properties = isObject(m.properties) ? m.properties : {};
  const distinctId = text(m.distinct_id) ?? text(properties.distinct_id);
  if (!distinctId) return refuse('distinct_id', 'required: who did it');

  const sent = m.event;
  const identify = sent === '$identify';
  // The customer: who an $identify names, or a distinct_id posthog-js marks as identified.
  const customer = identify || properties.$is_identified === true ? distinctId : undefined;
  const { name: specName, container } = eventName(sent);
  const name = withoutCustomer(specName, sent, customer);
  const own = Object.fromEntries(Object.entries(properties).filter(([k]) => !k.startsWith('$') && k !== 'distinct_id' && k !== 'token'));
  const { context, rest } = splitProperties(name, container, own);
  const device = defined(Object.fromEntries(Object.entries(DEVICE).map(([from, to]) => [to, text(properties[from])])));
  const sessionId = text(properties.$session_id);
  return {
    index,
    // posthog-js's device id outlives an identify; an $identify came from its anonymous id.
    visitor: visitorOf(properties, identify, customer, distinctId),
    sessionId: sessionId ? ((await stableId(sessionId)) ?? null) : null,
    input: defined({
      event_id: await stableId(m.uuid),
      name,
      occurred_at: occurredAt(m.timestamp, m.sent_at ?? batch.sentAt, batch.receivedAt),
      customer_id: customer,
      customer_hash: text(properties.$customer_hash),
      context,
      params: paramsOf(
        identify && isObject(properties.$set) ? { ...properties.$set, ...rest } : { ...rest, screen_name: text(properties.$screen_name) },
        sent,
        name,
      ),
      page: pageOf(properties.$current_url, properties.$referrer === '$direct' ? undefined : properties.$referrer, properties.title ?? properties.$title),
      device: Object.keys(device).length ? device : undefined,
    }),
  };
}

function visitorOf(properties: Record<string, unknown>, identify: boolean, customer: string | undefined, distinctId: string): string {
  const device = text(properties.$device_id) ?? (identify ? text(properties.$anon_distinct_id) : undefined);
  if (device) return anonymousVisitor(device);
  return customer ? customerVisitor(distinctId) : anonymousVisitor(distinctId);
}
