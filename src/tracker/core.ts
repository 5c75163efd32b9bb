import { BATCH_MS, beaconUrl, LINK_PARAM, MAX_BODY, MAX_QUEUE, OFF_KEY, type PageWindow, QUEUE_KEY, type ScriptTag, utm } from './wire';

const bytes = (s: string) => new Blob([s]).size;

/**
 * Starts the tracker on a page: `window.webevents` becomes the real function, the stub's queued
 * calls are replayed, automatic page views are sent, and what waits is flushed when the page is
 * hidden or left. Everything it touches comes from `w` (the real window, or a test's fake) and
 * the global clock and timers (tests fake them). Nothing it does may throw into the page.
 */
export function install(w: PageWindow, script: ScriptTag) {
  const d = w.document;
  const attr = (name: string) => script.getAttribute('data-' + name);
  const endpoint = beaconUrl(script.src);
  const auto = attr('auto') != 'false';
  let sending = false;
  let scheduled = false;
  // A campaign link's token: the first event sends it to the collector, which links the session.
  // It leaves the address bar at once, where every other tag on the page could read it.
  let landing = w.location.href;
  const url = new URL(landing);
  if (url.searchParams.has(LINK_PARAM)) {
    url.searchParams.delete(LINK_PARAM);
    w.history.replaceState(w.history.state, '', url);
  } else landing = '';

  // The queue lives in storage, not in memory: every page and tab of the store shares it, so
  // what one page could not deliver the next one sends. (A browser that blocks the store's
  // storage blocks its cookies too: the tracker then sends nothing, as there is no session.)
  const load = (k: string) => {
    try {
      return w.localStorage.getItem(k);
    } catch {
      return null;
    }
  };
  const save = (k: string, v: string | null) => {
    try {
      v == null ? w.localStorage.removeItem(k) : w.localStorage.setItem(k, v);
    } catch {
      // full or blocked: these events are lost, the page goes on
    }
  };
  // Never saved empty: keep() removes the key instead.
  const queue = () => load(QUEUE_KEY)?.split('\n') || [];
  const keep = (events: string[]) => save(QUEUE_KEY, events.slice(-MAX_QUEUE).join('\n') || null);

  // The cookie `_we`: `session id|last seq|customer mark`. The mark (a hash of the session id
  // and the customer id) tells a login as someone else apart without keeping who in the cookie;
  // nothing in it needs encoding.
  const session = () => (d.cookie.match(/(?:^|; )_we=([^;]*)/)?.[1] || '').split('|');
  // (A number; the cookie's text compares to it loosely.)
  const mark = (sid: string, customer: string): number | string => {
    let h = 0;
    for (const c of sid + customer) h = (h * 31 + c.charCodeAt(0)) | 0;
    return h;
  };
  const setCookie = (v: string, maxAgeS: number) => {
    d.cookie = `_we=${v};max-age=${maxAgeS};path=/;samesite=lax${w.location.protocol == 'https:' ? ';secure' : ''}`;
  };
  const end = () => setCookie('', 0);
  // A secure context (https, or localhost) has randomUUID; on plain http every command fails, quietly.
  const uuid = () => w.crypto.randomUUID();

  function track(name: unknown, context?: unknown, params?: unknown, customer?: string, hash?: unknown) {
    if (load(OFF_KEY)) return;
    let [sid, seq, cus] = session();
    let n = Number(seq) || 0;
    const fresh = !sid;
    if (fresh) {
      sid = uuid();
      n = 0;
      cus = '';
    }
    const page = { u: landing || w.location.href, r: d.referrer || undefined };
    landing = '';
    const events = queue();
    // Serialized now: the context is a snapshot of this moment, and one that cannot be
    // serialized (a cycle) throws here, into the wrapped call, not into a later flush.
    const add = (n_: unknown, c?: unknown, p?: unknown, cu?: string, ch?: unknown) => {
      const e = JSON.stringify({ i: uuid(), s: sid, n: n_, t: Date.now(), q: ++n, ...page, c, p, cu, ch });
      if (bytes(e) < MAX_BODY) events.push(e);
    };
    if (fresh && auto && name != 'user_visit') add('user_visit', undefined, utm(page.u));
    add(name, context, params, customer, hash);
    setCookie([sid, n, customer ? mark(sid!, customer) : cus].join('|'), (Number(attr('session-minutes')) || 60) * 60);
    keep(events);
    if (!scheduled) {
      scheduled = true;
      setTimeout(() => flush(false), BATCH_MS);
    }
  }

  /**
   * Sends what waits, a batch of at most MAX_BODY bytes at a time, and keeps it until the
   * collector answered. Throws nothing (timers and listeners call it): sendBeacon and fetch
   * fail by their result.
   */
  function flush(unloading: boolean) {
    scheduled = false;
    const events = queue();
    if (!events.length || (sending && !unloading)) return;
    let size = 0;
    const batch = events.filter((e) => (size += bytes(e) + 1) <= MAX_BODY); // never empty: each event is smaller
    const body = `{"k":${JSON.stringify(attr('source'))},"e":[${batch.join()}]}`;
    // When leaving, a beacon; its fate is unknown, so the batch stays queued: the next page
    // sends it again and the collector drops what it already has (by event_id).
    if (unloading && w.navigator.sendBeacon(endpoint, body)) return;
    // In the page, fetch: it tells whether the collector took the batch.
    sending = true;
    w.fetch(endpoint, { method: 'POST', body, keepalive: true }).then(
      ({ status }) => {
        sending = false;
        // Delivered, or refused for good (a 4xx other than 429): no retry. A 429 or 5xx stays.
        if (status > 199 && status < 500 && status != 429) {
          keep(queue().filter((e) => !batch.includes(e)));
          flush(false);
        }
      },
      () => (sending = false), // the network failed: kept for later
    );
  }

  /** One call of `webevents(cmd, ...)`. */
  function command(...[cmd, a, b, c]: unknown[]) {
    if (cmd == 'event') track(a, b, c);
    else if ((cmd == 'login' || cmd == 'register') && a) {
      // A login as another customer than the session's starts a new session. `b` is the
      // customer_hash the store's backend made (verified identity).
      const [sid, , cus] = session();
      const id = String(a);
      if (cus && cus != mark(sid!, id)) end();
      track(cmd == 'login' ? 'user_login' : 'user_registration', undefined, undefined, id, b);
    } else if (cmd == 'logout') end();
    else if (cmd == 'optout') {
      save(OFF_KEY, '1');
      save(QUEUE_KEY, null);
      end();
    } else if (cmd == 'optin') save(OFF_KEY, null);
  }

  const run = (args: ArrayLike<unknown>) => {
    try {
      command(...Array.from(args));
    } catch {
      // never into the page
    }
  };
  const queued = Array.from(w.webevents?.q || []);
  w.webevents = (...args) => run(args);

  let viewed = '';
  const view = () => {
    // One page view per URL: routers may push the URL they are already on.
    if (auto && viewed != (viewed = w.location.href)) run(['event', 'page_view']);
  };
  // The stub's calls in order, after the automatic page view; consent given or refused before
  // the script loaded applies before it, though.
  let consent = 0;
  queued.forEach((args, i) => /^opt/.test(String(args[0])) && (consent = i + 1));
  queued.slice(0, consent).forEach(run);
  view();
  queued.slice(consent).forEach(run);

  const push = w.history.pushState;
  w.history.pushState = (...args) => {
    push.apply(w.history, args);
    view();
  };
  w.addEventListener('popstate', view);
  const leave = () => flush(true);
  w.addEventListener('pagehide', leave);
  d.addEventListener('visibilitychange', () => d.visibilityState == 'hidden' && leave());
  // At once: what an earlier page could not deliver, and this page's first events.
  flush(false);
}
