import { type Tunables, tunables } from '../config';
import { hex, hmacSha256 } from '../encoding';
import { sessionObjectName } from '../events/session-record';
import { count } from '../monitor/feed';
import { erasureKey, wasErased } from '../storage/erasure';
import { getRule, recordDeadLetter } from '../storage/triggers';
import { checkedRule, type TriggerRule } from './rules';
import type { TriggerMessage } from './session-triggers';
import { normalHost, webhookTargetProblem } from './webhook-target';

/** How long a receiver has to answer. */
const WEBHOOK_TIMEOUT_MS = 10_000;
/** Webhooks posted at once: an invocation holds at most six outgoing connections (more would wait inside fetch, on their host's clock). */
const MAX_IN_FLIGHT = 6;
/**
 * What one host's deliveries may take in one batch, in all (a timeout alone is past it). Past it
 * the host is slow: its remaining messages go back to the queue instead of keeping the invocation
 * (and, with six slow hosts, every connection) busy.
 */
const HOST_BUDGET_MS = 5_000;
/**
 * A request in flight past this while other webhooks wait for a connection is cut, and its host
 * counts as slow: six slow receivers cannot hold every connection for their whole timeout.
 */
const CONTENDED_MS = 2_000;

/**
 * The signature header a receiver checks: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
 * Signing the time lets receivers refuse a replayed delivery (docs/security.md has the check).
 */
export async function signature(secret: string, body: string, at: number): Promise<string> {
  const t = Math.floor(at / 1000);
  return `t=${t},v1=${hex(await hmacSha256(secret, `${t}.${body}`))}`;
}

/** Retry delay: the base doubling per attempt, capped at 10 minutes (the TRIGGER_RETRY_BASE_S var sets the base). */
export const retryDelayS = (attempts: number, baseS: number) => Math.min(600, baseS * 2 ** Math.max(0, attempts - 1));

/**
 * The queue consumer: posts each fired trigger, with its events, to its rule's webhook, signed; a
 * failure retries with backoff. The batch goes out at once, one request at a time per host and
 * MAX_IN_FLIGHT in all; a host past HOST_BUDGET_MS has the rest of its messages sent back.
 */
export async function deliverTriggers(batch: MessageBatch<TriggerMessage>, env: Env): Promise<void> {
  const inFlight = new Set<InFlight>();
  // A webhook that must wait for a connection cuts the oldest request past CONTENDED_MS.
  const cutOldest = () => {
    const oldest = [...inFlight].find((r) => Date.now() - r.started >= CONTENDED_MS);
    oldest?.cut.abort();
  };
  const shared: BatchDelivery = { env, settings: tunables(env), connections: new Turns(MAX_IN_FLIGHT, cutOldest), hosts: new Map(), inFlight };
  // All at once: each waits only for its own host's turn and a free connection.
  await Promise.all(
    batch.messages.map((msg) =>
      deliverOne(msg, shared).catch((error: unknown) => {
        // A D1 or session object error sends back this message only: the others settle on their own.
        console.error(JSON.stringify({ message: 'webhook delivery failed', rule: msg.body.rule_id, attempts: msg.attempts, error: String(error) }));
        msg.retry({ delaySeconds: retryDelayS(msg.attempts, shared.settings.triggerRetryBaseS) });
      }),
    ),
  );
}

/** What the deliveries of one batch share: the connections, and how each receiving host has fared. */
interface BatchDelivery {
  env: Env;
  settings: Tunables;
  connections: Turns;
  hosts: Map<string, Host>;
  /** The requests in flight, oldest first. */
  inFlight: Set<InFlight>;
}

/** A webhook request in flight: when it started, and how to cut it. */
interface InFlight {
  started: number;
  cut: AbortController;
}

/** A receiving host in this batch: one delivery at a time (a slow host holds one connection, not six), and the time they took. */
interface Host {
  turn: Turns;
  spentMs: number;
}

/** One message: dropped if its customer or session was erased, its rule is gone or its target refused; in its host's turn, deferred if the host is slow, else posted. */
async function deliverOne(msg: Message<TriggerMessage>, batch: BatchDelivery): Promise<void> {
  if (await ofErased(batch.env, msg.body)) {
    msg.ack(); // erased while it waited (docs/privacy.md): nobody may receive it
    return;
  }
  const stored = await getRule(batch.env.DB, msg.body.rule_id);
  const rule = stored && checkedRule(stored);
  if (!rule?.active) {
    msg.ack(); // the rule was removed meanwhile: nobody expects this message
    return;
  }
  const problem = webhookTargetProblem(rule.webhook_url, batch.settings.allowInsecureWebhooks);
  if (problem) {
    console.warn(JSON.stringify({ message: 'webhook target refused', rule: rule.id, problem }));
    msg.ack(); // a rule made before targets were checked: it can never be delivered
    return;
  }
  const host = hostOf(batch, rule.webhook_url);
  await host.turn.run(async () => {
    if (host.spentMs > HOST_BUDGET_MS) return defer(msg, rule, batch.settings);
    const body = await payload(msg.body, rule, batch.env);
    const outcome = await batch.connections.run(async () => {
      const request: InFlight = { started: Date.now(), cut: new AbortController() };
      batch.inFlight.add(request);
      // Still in flight once others wait: cut (a waiter that comes later cuts it itself).
      const timer = setTimeout(() => batch.connections.waiting && request.cut.abort(), CONTENDED_MS);
      try {
        return await post(rule, msg, body, request.cut.signal);
      } finally {
        clearTimeout(timer);
        batch.inFlight.delete(request);
        host.spentMs += Date.now() - request.started;
      }
    });
    if (outcome === 'cut') {
      host.spentMs = Number.POSITIVE_INFINITY;
      return defer(msg, rule, batch.settings);
    }
    if (outcome === 'delivered') msg.ack();
    else msg.retry({ delaySeconds: retryDelayS(msg.attempts, batch.settings.triggerRetryBaseS) });
    count(msg.body.source_id, outcome === 'delivered' ? 'webhook_delivered' : 'webhook_retried');
  });
}

/** The batch's record of the host a URL points to: name and port, what a connection goes to. */
function hostOf(batch: BatchDelivery, url: string): Host {
  const u = new URL(url);
  const key = `${normalHost(u.hostname)}:${u.port}`;
  let host = batch.hosts.get(key);
  if (!host) batch.hosts.set(key, (host = { turn: new Turns(1), spentMs: 0 }));
  return host;
}

/**
 * A message whose host was slow goes back to the queue unattempted. Queues counts every retry
 * against `max_retries` (5 in wrangler.toml), so a deferral spends one, as a failure does; it takes
 * the same backoff, so it has as long as a failing message (about 5 minutes at the default base)
 * for its host to recover before the dead-letter queue. It is not counted as a retried webhook:
 * its receiver was not asked.
 */
function defer(msg: Message<TriggerMessage>, rule: TriggerRule, settings: Tunables): void {
  console.warn(JSON.stringify({ message: 'webhook host slow: deferred', rule: rule.id, attempts: msg.attempts }));
  msg.retry({ delaySeconds: retryDelayS(msg.attempts, settings.triggerRetryBaseS) });
}

/** The body a receiver gets: the fired trigger with its events (read from the session object) and its rule. */
async function payload(m: TriggerMessage, rule: TriggerRule, env: Env): Promise<string> {
  const { event_ids, ...fired } = m;
  const events = event_ids.length ? await env.SESSIONS.getByName(sessionObjectName(m.source_id, m.session.id)).eventsById(event_ids) : [];
  return JSON.stringify({ ...fired, events, rule: { id: rule.id, name: rule.name, definition: rule.definition } });
}

/** POSTs a signed body to the rule's webhook: delivered (2xx), failed, or cut (`cut` aborted it: others wait). */
async function post(rule: TriggerRule, msg: Message<TriggerMessage>, body: string, cut: AbortSignal): Promise<'delivered' | 'failed' | 'cut'> {
  try {
    const res = await fetch(rule.webhook_url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'idempotency-key': msg.body.idempotency_key,
        'x-webevents-signature': await signature(rule.secret, body, Date.now()),
      },
      body,
      redirect: 'manual', // a redirect could point anywhere: never followed
      signal: AbortSignal.any([AbortSignal.timeout(WEBHOOK_TIMEOUT_MS), cut]),
    });
    await res.body?.cancel(); // nothing is read from it: the connection is free for the next webhook
    if (res.ok) return 'delivered';
    console.warn(JSON.stringify({ message: 'webhook refused', rule: rule.id, status: res.status, attempts: msg.attempts }));
  } catch (error) {
    if (cut.aborted) return 'cut';
    console.warn(JSON.stringify({ message: 'webhook unreachable', rule: rule.id, attempts: msg.attempts, error: String(error) }));
  }
  return 'failed';
}

/** Runs tasks at most `max` at a time; the others wait, first come first served (`onWait` is told of each). */
class Turns {
  #free: number;
  readonly #waiting: (() => void)[] = [];

  constructor(
    max: number,
    private readonly onWait?: () => void,
  ) {
    this.#free = max;
  }

  /** How many tasks wait for a turn. */
  get waiting(): number {
    return this.#waiting.length;
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#free > 0) this.#free--;
    else {
      const turn = new Promise<void>((resolve) => this.#waiting.push(resolve));
      this.onWait?.();
      await turn;
    }
    try {
      return await task();
    } finally {
      // The turn passes straight on to the first waiting, if any.
      const next = this.#waiting.shift();
      if (next) next();
      else this.#free++;
    }
  }
}

/**
 * Whether an erasure since the message was fired names its customer or its session (the
 * erasure's own record: storage/erasure.ts). A message fired after it is new activity: delivered.
 */
async function ofErased(env: Env, m: TriggerMessage): Promise<boolean> {
  const keys = [await erasureKey(env.LINK_SIGNING_KEY, { session: m.session.id })];
  if (m.session.customer_id) keys.push(await erasureKey(env.LINK_SIGNING_KEY, { customer: m.session.customer_id }));
  return wasErased(env.DB, m.source_id, keys, m.fired_at);
}

/** The dead-letter queue's consumer: keeps what exhausted its retries in D1 (ids, not events), for operators; never what names an erased customer. */
export async function recordDeadTriggers(batch: MessageBatch<TriggerMessage>, env: Env): Promise<void> {
  for (const msg of batch.messages) {
    const m = msg.body;
    if (await ofErased(env, m)) {
      msg.ack();
      continue;
    }
    await recordDeadLetter(env.DB, {
      ruleId: m.rule_id,
      key: m.idempotency_key,
      sourceId: m.source_id,
      customerId: m.session.customer_id,
      payload: JSON.stringify(m),
    });
    msg.ack();
    count(m.source_id, 'webhook_dead_lettered');
  }
}
