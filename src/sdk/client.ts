import { backoffMs, retryAfterMs } from './retry';
import { MemoryStorage, type SdkStorage } from './storage';
import type { EventContext, EventParams, SdkEvent } from './types';

export interface ClientOptions {
  /** The collector's origin, e.g. https://collector.example */
  endpoint: string;
  /** The public key of the app's `mobile_app` source. */
  sourceKey: string;
  customerId?: string | null;
  /** Proves `customerId`: hex HMAC-SHA256 of it with the source's identity secret, made by your backend (docs/security.md). */
  customerHash?: string | null;
  storage?: SdkStorage;
  fetch?: typeof fetch;
  /** The clock (ms); tests pass a fake one. */
  now?: () => number;
  random?: () => number;
  /** Sent once per batch: platform, os_version, app_version, device_model, locale… */
  device?: Record<string, string | number | boolean>;
  /** The SDK-owned session ends after this long without an event (default one hour). */
  sessionTimeoutMs?: number;
  /** Events kept at most while they cannot be sent; the oldest are dropped first (default 1,000). */
  maxQueue?: number;
}

export interface EventData {
  context?: EventContext;
  params?: EventParams;
}
export interface EventOptions {
  customerId?: string | null;
  customerHash?: string | null;
  sourceKey?: string;
}

interface Queued {
  key: string;
  event: SdkEvent;
}
interface Session {
  id: string;
  seq: number;
  last: number;
  owned: boolean;
}

const QUEUE = 'web-events:queue';
const SESSION = 'web-events:session';
const BATCH = 100;

/**
 * Sends an app's events to POST /v1/sdk/events: queued first (so an offline or killed app loses
 * nothing), batched, retried with backoff and jitter, `Retry-After` honoured on 429, never
 * retried when the collector refused them (4xx). The collector deduplicates by `event_id`.
 */
export class WebEventsClient {
  private readonly storage: SdkStorage;
  private readonly fetch: typeof fetch;
  private readonly now: () => number;
  private readonly random: () => number;
  private customerId: string | null;
  private customerHash: string | null;
  private nextAttempt = 0;
  private attempts = 0;
  private busy: Promise<unknown> = Promise.resolve();
  /** Events dropped because the queue was full, or refused by the collector. */
  readonly dropped = { overflow: 0, rejected: 0 };

  constructor(private readonly o: ClientOptions) {
    this.storage = o.storage ?? new MemoryStorage();
    this.fetch = o.fetch ?? ((input, init) => fetch(input, init));
    this.now = o.now ?? Date.now;
    this.random = o.random ?? Math.random;
    this.customerId = o.customerId ?? null;
    this.customerHash = o.customerHash ?? null;
  }

  /** Records an event (the familiar `event(clientId, eventCode, eventData, sourceCode)`, as options). */
  event(name: string, data: EventData = {}, options: EventOptions = {}): Promise<void> {
    return this.serial(async () => {
      const session = await this.session();
      const customer = options.customerId === undefined ? this.customerId : options.customerId;
      const hash = options.customerId === undefined ? this.customerHash : (options.customerHash ?? null);
      const item: Queued = {
        key: options.sourceKey ?? this.o.sourceKey,
        event: {
          event_id: uuid(this.random),
          session_id: session.id,
          name,
          occurred_at: new Date(this.now()).toISOString(),
          seq: ++session.seq,
          ...(customer ? { customer_id: customer } : {}),
          ...(customer && hash ? { customer_hash: hash } : {}),
          ...(data.context ? { context: data.context } : {}),
          ...(data.params ? { params: data.params } : {}),
        },
      };
      await this.storage.setItem(SESSION, JSON.stringify(session));
      const queue = [...(await this.queue()), item];
      const overflow = Math.max(0, queue.length - (this.o.maxQueue ?? 1000));
      this.dropped.overflow += overflow;
      await this.save(queue.slice(overflow));
    });
  }

  /**
   * Names the customer on the following events; the collector links the session on the next one.
   * `customerHash` (from your backend) proves it: a source that requires verified identity refuses
   * a customer without it, and any other keeps an unproven one aside as a claim.
   */
  identify(customerId: string, customerHash?: string): void {
    this.customerId = customerId;
    this.customerHash = customerHash ?? null;
  }

  /** Forgets the customer and the session (a logout): the next event starts a new anonymous session. */
  reset(): Promise<void> {
    this.customerId = null;
    this.customerHash = null;
    return this.serial(() => this.storage.removeItem(SESSION));
  }

  /** The app owns the session from now on (null gives it back to the SDK). */
  setSessionId(id: string | null): Promise<void> {
    return this.serial(async () => {
      if (id === null) return this.storage.removeItem(SESSION);
      const current = await this.load<Session>(SESSION);
      const seq = current?.id === id ? current.seq : 0;
      await this.storage.setItem(SESSION, JSON.stringify({ id, seq, last: this.now(), owned: true }));
    });
  }

  /** The session events go to now. */
  async sessionId(): Promise<string | null> {
    return (await this.load<Session>(SESSION))?.id ?? null;
  }

  /** Events waiting to be sent. */
  async pending(): Promise<number> {
    return (await this.queue()).length;
  }

  /** Sends what waits, unless a retry delay is running; resolves to the events the collector answered for. */
  flush(): Promise<number> {
    return this.serial(async () => {
      if (this.now() < this.nextAttempt) return 0;
      let answered = 0;
      for (;;) {
        const queue = await this.queue();
        const first = queue[0];
        if (!first) return answered;
        const batch = queue.filter((q) => q.key === first.key).slice(0, BATCH);
        const outcome = await this.send(first.key, batch);
        if (outcome === 'retry') return answered;
        answered += batch.length;
        const sent = new Set(batch.map((b) => b.event.event_id));
        await this.save((await this.queue()).filter((q) => !sent.has(q.event.event_id)));
      }
    });
  }

  private async send(key: string, batch: Queued[]): Promise<'done' | 'retry'> {
    let response: Response;
    try {
      response = await this.fetch(`${this.o.endpoint.replace(/\/$/, '')}/v1/sdk/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-source-key': key },
        body: JSON.stringify({ ...(this.o.device ? { device: this.o.device } : {}), events: batch.map((b) => b.event) }),
      });
    } catch {
      return this.later(null);
    }
    if (response.status === 429 || response.status >= 500) return this.later(retryAfterMs(response.headers.get('retry-after'), this.now()));
    this.attempts = 0;
    this.nextAttempt = 0;
    if (response.ok) {
      const body = (await response.json()) as { results?: { status: string }[] };
      this.dropped.rejected += (body.results ?? []).filter((r) => r.status === 'rejected').length;
    } else {
      this.dropped.rejected += batch.length; // refused as a whole: retrying cannot help
    }
    return 'done';
  }

  private later(afterMs: number | null): 'retry' {
    this.nextAttempt = this.now() + (afterMs ?? backoffMs(this.attempts, this.random));
    this.attempts += 1;
    return 'retry';
  }

  /** The current session, or a new one when the SDK owns it and it has been idle too long. */
  private async session(): Promise<Session> {
    const now = this.now();
    const current = await this.load<Session>(SESSION);
    if (current && (current.owned || now - current.last < (this.o.sessionTimeoutMs ?? 3_600_000))) return { ...current, last: now };
    return { id: uuid(this.random), seq: 0, last: now, owned: false };
  }

  private queue = async () => (await this.load<Queued[]>(QUEUE)) ?? [];
  private save = (queue: Queued[]) => (queue.length ? this.storage.setItem(QUEUE, JSON.stringify(queue)) : this.storage.removeItem(QUEUE));

  private async load<T>(key: string): Promise<T | null> {
    const raw = await this.storage.getItem(key);
    try {
      return raw ? (JSON.parse(raw) as T) : null;
    } catch {
      return null;
    }
  }

  /** One storage transaction at a time, so concurrent calls never lose each other's writes. */
  private serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.busy.then(task, task);
    this.busy = run.catch(() => undefined);
    return run;
  }
}

/**
 * A version 4 UUID: the runtime's where it has one; else (React Native without a polyfill) from
 * `getRandomValues`, else from `random`: an event id need be unique, not secret.
 */
function uuid(random: () => number): string {
  const c = (globalThis as { crypto?: Partial<Crypto> }).crypto;
  if (c?.randomUUID) return c.randomUUID();
  const bytes = new Uint8Array(16);
  if (c?.getRandomValues) c.getRandomValues(bytes);
  else for (let i = 0; i < 16; i++) bytes[i] = Math.floor(random() * 256);
  bytes[6] = (bytes[6]! & 0x0f) | 0x40;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
