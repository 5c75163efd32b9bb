import { vi } from 'vitest';
import { install } from '../../src/tracker/core';
import { type PageWindow, QUEUE_KEY, type Stub, type WireEvent } from '../../src/tracker/wire';

/** One request the tracker made: how, and the batch it carried. */
export interface Sent {
  via: 'fetch' | 'beacon';
  /** What the network answered the fetch (0: it failed); beacons are never answered. */
  status: number;
  keepalive: boolean;
  url: string;
  body: string;
  batch: { k: string; e: WireEvent[] };
}

const parse = (body: string) => JSON.parse(body) as { k: string; e: WireEvent[] };

/**
 * A browser made of plain data, shared by the pages opened in it: a cookie jar whose cookies
 * expire on the (faked) clock, localStorage, and a network that answers `status` (0: offline).
 * Call `vi.useFakeTimers()` first: the tracker's clock and batch timer are the global ones.
 */
export function fakeBrowser() {
  const storage = new Map<string, string>();
  const jar = new Map<string, { value: string; expires: number; attributes: string }>();
  const sent: Sent[] = [];
  const net = { status: 204, beacon: true, storageFails: false };

  const cookieHeader = () => ['theme=dark', ...[...jar].filter(([, c]) => c.expires > Date.now()).map(([name, c]) => `${name}=${c.value}`)].join('; ');
  const setCookie = (line: string) => {
    const [pair = '', ...attributes] = line.split(';');
    const [name = '', value = ''] = pair.split('=');
    const maxAge = Number(/max-age=(-?\d+)/.exec(line)?.[1] ?? 1e9);
    jar.set(name, { value, expires: Date.now() + maxAge * 1000, attributes: attributes.join(';') });
  };

  /** Loads a page with the snippet (`attrs`: its data-* attributes, data-source is pk_test); `stub`: the calls made before the script ran. */
  function open(href: string, attrs: Record<string, string> = {}, stub: unknown[][] = []) {
    const listeners = new Map<string, (() => void)[]>();
    const on = (type: string, listener: () => void) => listeners.set(type, [...(listeners.get(type) ?? []), listener]);
    const fire = (type: string) => {
      for (const l of listeners.get(type) ?? []) l();
    };
    const page = {
      document: {
        get cookie() {
          return cookieHeader();
        },
        set cookie(line: string) {
          setCookie(line);
        },
        referrer: 'https://mail.example/',
        visibilityState: 'visible',
        addEventListener: on,
      },
      location: { href, protocol: new URL(href).protocol },
      history: {
        state: null as unknown,
        pushState(_data: unknown, _unused: string, url?: string | URL | null) {
          if (url) page.location.href = new URL(url, page.location.href).href;
        },
        replaceState(_data: unknown, _unused: string, url?: string | URL | null) {
          if (url) page.location.href = new URL(url, page.location.href).href;
        },
      },
      localStorage: {
        getItem: (k: string) => (net.storageFails ? fail() : (storage.get(k) ?? null)),
        setItem: (k: string, v: string) => (net.storageFails ? fail() : void storage.set(k, v)),
        removeItem: (k: string) => (net.storageFails ? fail() : void storage.delete(k)),
      },
      navigator: {
        sendBeacon: (url: string, body: string) => {
          if (!net.beacon) return false;
          sent.push({ via: 'beacon', status: 0, keepalive: true, url, body, batch: parse(body) });
          return true;
        },
      },
      crypto: { randomUUID: () => crypto.randomUUID() },
      fetch: async (url: string, init: { body: string; keepalive: boolean }) => {
        sent.push({ via: 'fetch', status: net.status, keepalive: init.keepalive, url, body: init.body, batch: parse(init.body) });
        if (!net.status) throw new TypeError('Failed to fetch');
        return { status: net.status };
      },
      addEventListener: on,
      webevents: stubOf(stub),
    } satisfies PageWindow;
    const data: Record<string, string> = { source: 'pk_test', ...attrs };
    const script = { src: 'https://collector.example/t.js', getAttribute: (name: string) => data[name.replace(/^data-/, '')] ?? null };
    install(page, script);
    /** The page's `webevents(...)`, as the store calls it. */
    const webevents = (...args: unknown[]) => page.webevents(...args);
    const hide = () => {
      page.document.visibilityState = 'hidden';
      fire('visibilitychange');
    };
    return { page, webevents, fire, hide };
  }

  return {
    open,
    net,
    sent,
    storage,
    /** Every event that reached the collector by fetch, in order (beacons are not confirmed). */
    delivered: () => sent.filter((s) => s.status > 199 && s.status < 300).flatMap((s) => s.batch.e),
    queued: () => (storage.get(QUEUE_KEY)?.split('\n') ?? []).map((e) => JSON.parse(e) as WireEvent),
    cookie: () => jar.get('_we'),
    sessionCookie: () => decodeURIComponent(cookieHeader().match(/_we=([^;]*)/)?.[1] ?? ''),
    /** Lets the batch timer run and the answers arrive. */
    settle: () => vi.advanceTimersByTimeAsync(5_000),
  };
}

/** The snippet's stub after the store called it `calls` times. */
function stubOf(calls: unknown[][]): Stub {
  const stub: Stub = (...args) => void (stub.q ||= []).push(args);
  for (const args of calls) stub(...args);
  return stub;
}

function fail(): never {
  throw new DOMException('The operation is insecure.', 'SecurityError');
}

export const names = (events: WireEvent[]) => events.map((e) => e.n);
