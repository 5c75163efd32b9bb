/**
 * The tracker's logic, free of browser globals so it can be tested anywhere: the browser entry
 * (browser.ts) passes a `Host` made of the real cookie, localStorage, fetch and sendBeacon.
 */

/** One event on the wire (POST /t): short keys, because every byte ships to every storefront. */
export interface WireEvent {
  i: string; // event_id
  s: string; // session_id
  n: string; // name
  t: number; // occurred_at, ms since the epoch
  q: number; // seq in the session
  u: string; // page URL
  r?: string; // referrer
  c?: unknown; // context
  p?: unknown; // params
  cu?: string; // customer_id
}

export interface Host {
  now(): number;
  uuid(): string;
  cookie(): string;
  setCookie(value: string, maxAgeS: number): void;
  load(key: string): string | null;
  save(key: string, value: string | null): void;
  /** Resolves to the HTTP status, 0 when the network failed, -1 when handed to sendBeacon. */
  send(body: string, unloading: boolean): Promise<number>;
  page(): { u: string; r?: string };
  later(fn: () => void, ms: number): void;
}

export interface Options {
  key: string;
  /** Session cookie lifetime, renewed by every action. */
  lifetimeS: number;
  /** Automatic user_visit at session start (and page_view, wired by the entry). */
  auto: boolean;
}

export const QUEUE_KEY = '_we_q';
export const OFF_KEY = '_we_off';
/** Events kept for retry at most; the oldest go first. */
export const MAX_QUEUE = 200;
/** A batch stays under the 64 KB keepalive / sendBeacon budget. */
export const MAX_BODY = 60_000;
export const BATCH_MS = 1000;

export function createTracker(h: Host, o: Options) {
  let pending: WireEvent[] = [];
  let sending = false;
  let scheduled = false;
  try {
    pending = JSON.parse(h.load(QUEUE_KEY) || '[]') as WireEvent[];
  } catch {
    pending = [];
  }
  const persist = () => {
    pending = pending.slice(-MAX_QUEUE);
    h.save(QUEUE_KEY, pending.length ? JSON.stringify(pending) : null);
  };
  const session = () => h.cookie().split('|');
  const end = () => h.setCookie('', 0);

  function track(name: string, context?: unknown, params?: unknown, customer?: string) {
    if (h.load(OFF_KEY)) return;
    let [sid, seq, cus = ''] = session();
    let n = Number(seq) || 0;
    const fresh = !sid;
    if (fresh) {
      sid = h.uuid();
      n = 0;
      cus = '';
    }
    const page = h.page();
    const push = (name: string, c?: unknown, p?: unknown, cu?: string) =>
      pending.push({ i: h.uuid(), s: sid!, n: name, t: h.now(), q: ++n, ...page, c, p, cu });
    if (fresh && o.auto && name != 'user_visit') push('user_visit', undefined, utm(page.u));
    push(name, context, params, customer);
    h.setCookie([sid, n, customer || cus].join('|'), o.lifetimeS);
    persist();
    if (!scheduled) {
      scheduled = true;
      h.later(() => flush(false), BATCH_MS);
    }
  }

  /** Sends what waits, a budget-sized batch at a time; keeps it until the collector answered. */
  function flush(unloading: boolean) {
    scheduled = false;
    if (!pending.length || (sending && !unloading)) return;
    let size = 0;
    const batch = pending.filter((e) => (size += JSON.stringify(e).length + 1) < MAX_BODY);
    sending = true;
    h.send(JSON.stringify({ k: o.key, e: batch }), unloading).then((status) => {
      sending = false;
      // Delivered, or refused for good (a 4xx other than 429): no retry. Otherwise kept for later.
      if ((status > 199 && status < 300) || (status > 399 && status < 500 && status != 429)) {
        pending = pending.filter((e) => !batch.includes(e));
        persist();
        if (pending.length) flush(false);
      }
    });
  }

  function identify(name: string, customer: string) {
    const cus = session()[2];
    // A login as another customer than the session's starts a new session.
    if (cus && cus != customer) end();
    track(name, undefined, undefined, customer);
  }

  function command(cmd: string, a?: unknown, b?: unknown, c?: unknown) {
    if (cmd == 'event') track(String(a), b, c);
    else if (cmd == 'login' || cmd == 'register') identify(cmd == 'login' ? 'user_login' : 'user_registration', String(a));
    else if (cmd == 'logout') {
      flush(false);
      end();
    } else if (cmd == 'optout') {
      h.save(OFF_KEY, '1');
      pending = [];
      persist();
    } else if (cmd == 'optin') h.save(OFF_KEY, null);
  }

  return { command, flush };
}

/** The utm_* parameters of the landing URL, as params of user_visit. */
export function utm(url: string): Record<string, string> | undefined {
  let out: Record<string, string> | undefined;
  new URL(url).searchParams.forEach((v, k) => {
    if (k.startsWith('utm_')) (out ||= {})[k] = v;
  });
  return out;
}
