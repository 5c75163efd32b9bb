import {
  anonymousVisitor,
  customerVisitor,
  defined,
  eventName,
  isObject,
  type Mapped,
  num,
  occurredAt,
  pageOf,
  paramsOf,
  splitProperties,
  stableId,
  text,
  withoutCustomer,
} from './mapping';

/**
 * Snowplow tracker protocol events (every Snowplow tracker: a `payload_data` POST, or the `/i`
 * pixel's query string) as our event input (docs/wire.md). `e` says the kind: `pv` page view,
 * `pp` page ping, `se` structured, `ue` self-describing, `tr`/`ti` transaction and item. A product
 * entity in the contexts is the event's product snapshot; `eid`, `sid`, `duid`/`nuid` and `uid`
 * are the event, the session, the anonymous visitor and the customer.
 */

/** Decodes the `cx`/`ue_px` base64url JSON, or takes `co`/`ue_pr` as JSON. */
function json(plain: unknown, base64: unknown): unknown {
  try {
    if (typeof plain === 'string' && plain) return JSON.parse(plain);
    if (typeof base64 === 'string' && base64) {
      const b64 = base64.replace(/-/g, '+').replace(/_/g, '/');
      return JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))));
    }
  } catch {
    return undefined;
  }
  return null;
}

/** `iglu:vendor/name/jsonschema/1-0-0` → `name`. */
const schemaName = (schema: unknown) => (typeof schema === 'string' ? schema.split('/').at(-3) : undefined);

interface Entity {
  schema: string;
  data: Record<string, unknown>;
}
const entities = (cx: unknown): Entity[] =>
  isObject(cx) && Array.isArray(cx.data) ? cx.data.filter((d): d is Entity => isObject(d) && typeof d.schema === 'string' && isObject(d.data)) : [];

export async function fromSnowplow(payload: unknown, index: number, receivedAt: number): Promise<Mapped> {
  if (!isObject(payload)) return { index, messageId: null, path: '(event)', message: 'must be a JSON object of tracker protocol fields' };
  const p = payload;
  const refuse = (path: string, why: string) => ({ index, messageId: text(p.eid) ?? null, path, message: why });
  const contexts = json(p.co, p.cx);
  if (contexts === undefined) return refuse(p.co ? 'co' : 'cx', 'must be a JSON contexts envelope (cx: base64url of it)');
  const found = entities(contexts);
  const entity = (name: string) => found.find((e) => schemaName(e.schema) === name)?.data;

  let sent: string;
  let props: Record<string, unknown> = {};
  switch (p.e) {
    case 'pv':
      sent = '$pageview';
      break;
    case 'pp':
      sent = 'page_ping';
      props = defined({ min_x: num(p.pp_mix), max_x: num(p.pp_max), min_y: num(p.pp_miy), max_y: num(p.pp_may) });
      break;
    case 'se':
      if (!text(p.se_ac)) return refuse('se_ac', 'required for a structured event: its action');
      sent = String(p.se_ac);
      props = defined({ category: text(p.se_ca), label: text(p.se_la), property: text(p.se_pr), value: num(p.se_va) });
      break;
    case 'ue': {
      const ue = json(p.ue_pr, p.ue_px);
      const inner = isObject(ue) && isObject(ue.data) ? ue.data : null;
      if (!inner || typeof inner.schema !== 'string' || !isObject(inner.data))
        return refuse(p.ue_pr ? 'ue_pr' : 'ue_px', 'must be a self-describing event {schema, data: {schema, data}}');
      // The e-commerce plugin's one schema says the action in `type`.
      const name = schemaName(inner.schema);
      sent = name === 'snowplow_ecommerce_action' && typeof inner.data.type === 'string' ? inner.data.type : (name ?? 'self_describing');
      props = { ...inner.data };
      if (name === 'snowplow_ecommerce_action') delete props.type;
      break;
    }
    case 'tr':
      sent = 'transaction';
      props = defined({
        order_id: text(p.tr_id),
        total: num(p.tr_tt),
        tax: num(p.tr_tx),
        shipping: num(p.tr_sh),
        currency: text(p.tr_cu),
        affiliation: text(p.tr_af),
      });
      break;
    case 'ti':
      sent = 'transaction_item';
      props = defined({
        order_id: text(p.ti_id),
        sku: text(p.ti_sk),
        name: text(p.ti_nm),
        category: text(p.ti_ca),
        price: num(p.ti_pr),
        quantity: num(p.ti_qu),
        currency: text(p.ti_cu),
      });
      break;
    default:
      return refuse('e', 'must be one of pv, pp, se, ue, tr, ti');
  }
  const { name: specName, container } = eventName(sent);
  const name = withoutCustomer(specName, sent, text(p.uid));
  // The e-commerce plugin's entities: the product (and the transaction) are the snapshot.
  const product = entity('product');
  const transaction = entity('transaction');
  if (product && ['product_view', 'product_click', 'container_add', 'container_remove'].includes(name)) props = { ...product, ...props };
  if (transaction && name === 'order_complete')
    props = {
      ...props,
      order_id: transaction.transaction_id,
      total: transaction.revenue,
      currency: transaction.currency,
      products: found.filter((e) => schemaName(e.schema) === 'product').map((e) => e.data),
    };
  const { context, rest } = splitProperties(name, container, props);
  const session = entity('client_session');
  const sessionId = text(p.sid) ?? text(session?.sessionId);
  if (!sessionId && !visitorOf(p, session)) return refuse('sid', 'required without duid, nuid or uid: the session, or the visitor it is made for');
  const ttm = text(p.ttm);
  return {
    index,
    visitor: visitorOf(p, session),
    sessionId: sessionId ? ((await stableId(sessionId)) ?? null) : null,
    input: defined({
      event_id: await stableId(p.eid),
      name,
      occurred_at: occurredAt(ttm ?? p.dtm, ttm ? undefined : p.stm, receivedAt),
      customer_id: text(p.uid),
      context,
      params: paramsOf(rest, sent, name),
      page: pageOf(p.url, p.refr, p.page),
      device: uaDevice(p),
    }),
  };
}

/** The visitor: the domain or network user id (a device), else the user id (a customer). */
function visitorOf(p: Record<string, unknown>, session: Record<string, unknown> | undefined): string | null {
  const device = text(p.duid) ?? text(p.nuid) ?? text(session?.userId);
  if (device) return anonymousVisitor(device);
  return text(p.uid) ? customerVisitor(text(p.uid)!) : null;
}

function uaDevice(p: Record<string, unknown>) {
  const device = defined({ user_agent: text(p.ua), locale: text(p.lang), timezone: text(p.tz), screen: text(p.res), platform: text(p.p), library: text(p.tv) });
  return Object.keys(device).length ? device : undefined;
}
