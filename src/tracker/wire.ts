/**
 * What the tracker shares with its tests and documentation: the wire format of POST /t, the
 * names it keeps in the browser, its limits, and the part of `window` it touches.
 */

/** One event on the wire (POST /t `{"k": public key, "e": [WireEvent...]}`): short keys, because every byte ships to every storefront. */
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
  ch?: string; // customer_hash: HMAC-SHA256 of customer_id with the source identity secret, from the store's backend
}

/** The retry queue in localStorage: serialized events, one per line (JSON never holds a raw newline). */
export const QUEUE_KEY = '_we_q';
/** Set while the visitor opted out. */
export const OFF_KEY = '_we_off';
/** Events kept for retry at most; the oldest go first. */
export const MAX_QUEUE = 200;
/**
 * Bytes of one batch: half the browser's 64 KB keepalive budget (shared by every keepalive
 * request of the page), so the beacon sent on leaving fits beside a fetch still in flight.
 * A single event larger than this is dropped.
 */
export const MAX_BODY = 30_000;
/** How long events wait to be sent together. */
export const BATCH_MS = 1000;

/** What the snippet's `webevents` stub leaves behind: the calls made before the script ran. */
export interface Stub {
  (...args: unknown[]): void;
  q?: ArrayLike<unknown>[];
}

/** The part of `window` the tracker touches (tests pass a fake one). */
export interface PageWindow {
  document: { cookie: string; referrer: string; visibilityState: string; addEventListener(type: string, listener: () => void): void };
  location: { href: string; protocol: string };
  history: {
    state: unknown;
    pushState(data: unknown, unused: string, url?: string | URL | null): void;
    replaceState(data: unknown, unused: string, url?: string | URL | null): void;
  };
  readonly localStorage: { getItem(key: string): string | null; setItem(key: string, value: string): void; removeItem(key: string): void };
  navigator: { sendBeacon(url: string, body: string): boolean };
  crypto: { randomUUID(): string };
  fetch(url: string, init: { method: 'POST'; body: string; keepalive: boolean }): Promise<{ status: number }>;
  addEventListener(type: string, listener: () => void): void;
  webevents?: Stub;
}

/** The tag that loaded the script: its `src` (the collector) and its `data-*` attributes. */
export interface ScriptTag {
  src: string;
  getAttribute(name: string): string | null;
}

/** The query parameter a campaign link lands with (links/token.ts's LINK_PARAM, which a test holds equal). */
export const LINK_PARAM = 'wev_link';

/** The beacon URL: the script's own URL without ".js" (and without its version hash). */
export const beaconUrl = (src: string) => src.replace(/(\.[0-9a-f]{8,})?\.js([?#].*)?$/, '');

/** The utm_* parameters of the landing URL, as params of user_visit. */
export function utm(url: string): Record<string, string> | undefined {
  let out: Record<string, string> | undefined;
  new URL(url).searchParams.forEach((v, k) => {
    if (k.startsWith('utm_')) (out ||= {})[k] = v;
  });
  return out;
}
