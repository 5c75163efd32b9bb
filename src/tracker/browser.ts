import { createTracker, type Host } from './core';

type Command = [string, unknown?, unknown?, unknown?];
interface Stub {
  (...args: Command): void;
  q?: ArrayLike<unknown>[];
}
declare global {
  interface Window {
    webevents?: Stub;
  }
}

// The snippet: <script async src="https://COLLECTOR/t.js" data-source="PUBLIC_KEY"></script>
// Nothing here may throw into the page: every entry point is wrapped.
try {
  const w = window;
  const d = document;
  const script = d.currentScript as HTMLScriptElement;
  const attr = (name: string) => script.getAttribute('data-' + name);
  // The beacon path is the script's own path without ".js" (and its version hash).
  const endpoint = script.src.replace(/(\.[0-9a-f]{8,})?\.js(\?.*)?$/, '');
  const store = w.localStorage;
  const host: Host = {
    now: Date.now,
    uuid: () => crypto.randomUUID(),
    cookie: () => decodeURIComponent((d.cookie.match(/(?:^|; )_we=([^;]*)/) || [])[1] || ''),
    setCookie: (v, age) => {
      d.cookie = `_we=${encodeURIComponent(v)};max-age=${age};path=/;samesite=lax${location.protocol == 'https:' ? ';secure' : ''}`;
    },
    load: (k) => store.getItem(k),
    save: (k, v) => (v == null ? store.removeItem(k) : store.setItem(k, v)),
    send: (body, unloading) =>
      unloading && navigator.sendBeacon(endpoint, body)
        ? Promise.resolve(-1)
        : fetch(endpoint, { method: 'POST', body, keepalive: true, credentials: 'omit' }).then((r) => r.status, () => 0),
    page: () => ({ u: location.href, r: d.referrer || undefined }),
    later: (fn, ms) => setTimeout(fn, ms),
  };
  const auto = attr('auto') != 'false';
  const t = createTracker(host, { key: attr('source') || '', lifetimeS: Number(attr('session-minutes') || 60) * 60, auto });
  const run = (args: ArrayLike<unknown>) => {
    try {
      t.command(...(Array.from(args) as Command));
    } catch {
      // never into the page
    }
  };
  const queued = (w.webevents && w.webevents.q) || [];
  w.webevents = (...args: Command) => run(args);
  const view = () => auto && run(['event', 'page_view']);
  view();
  for (const args of queued) run(args);
  const push = history.pushState;
  history.pushState = function (...args: Parameters<History['pushState']>) {
    push.apply(this, args);
    view();
  };
  w.addEventListener('popstate', view);
  const leave = () => t.flush(true);
  w.addEventListener('pagehide', leave);
  d.addEventListener('visibilitychange', () => d.visibilityState == 'hidden' && leave());
  t.flush(false); // what an earlier page could not deliver
} catch {
  // never into the page
}
