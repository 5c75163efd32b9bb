import { hex } from '../encoding';

/**
 * Verified identity (the pattern Intercom and others use): the store's backend signs each
 * customer id with the source's identity secret, `customer_hash = hex(HMAC-SHA256(secret,
 * customer_id))`, and the page or app passes the hash along with the id. A browser or an app
 * cannot make one for a customer it is not.
 *
 * That plain hash never expires: one copied from a page proves its customer for good. A store
 * that wants replay-limited proofs sends the timed form instead, `t=<unix seconds>,h=<hex
 * HMAC-SHA384(secret, "<t>.<customer_id>")>`, which proves its customer within TIMED_HASH_WINDOW.
 * Another hash function than the plain form's, so that no timed `h` is the plain hash of some
 * other customer id (`"<t>.<customer_id>"` is one a store may have).
 */
type Hash = 'SHA-256' | 'SHA-384';
const keys = new Map<string, Promise<CryptoKey>>();

/** How long a timed customer hash proves its customer: up to a day after its `t`, and from a little before (a backend clock ahead of ours). */
export const TIMED_HASH_WINDOW = { afterS: 86_400, beforeS: 300 } as const;

const TIMED = /^t=([0-9]{1,12}),h=([0-9a-f]{96})$/;

function keyOf(secret: string, hash: Hash): Promise<CryptoKey> {
  const id = `${hash}\u0000${secret}`;
  let key = keys.get(id);
  if (!key) {
    if (keys.size >= 1000) keys.clear();
    key = crypto.subtle.importKey('raw', new TextEncoder().encode(secret), { name: 'HMAC', hash }, false, ['sign', 'verify']);
    keys.set(id, key);
  }
  return key;
}

const sign = async (secret: string, message: string, hash: Hash) =>
  hex(await crypto.subtle.sign('HMAC', await keyOf(secret, hash), new TextEncoder().encode(message)));

/** The hash a store's backend sends with a customer id (what the docs' snippets compute). */
export function customerHash(secret: string, customerId: string): Promise<string> {
  return sign(secret, customerId, 'SHA-256');
}

/** The timed hash a store's backend sends with a customer id, made at `t` (unix seconds). */
export async function timedCustomerHash(secret: string, customerId: string, t: number): Promise<string> {
  return `t=${t},h=${await sign(secret, `${t}.${customerId}`, 'SHA-384')}`;
}

/**
 * Why a timed hash proves nothing at `now` whatever it signs (expired, or made too far ahead of
 * this clock); null for a plain hash or a timed one within its window.
 */
export function timedHashExpiry(hash: string, now = Date.now()): string | null {
  const t = TIMED.exec(hash)?.[1];
  if (t === undefined) return null;
  const ageS = now / 1000 - Number(t);
  if (ageS > TIMED_HASH_WINDOW.afterS) return `expired: its t is more than ${TIMED_HASH_WINDOW.afterS / 3600} hours ago; make a new one at login`;
  if (-ageS > TIMED_HASH_WINDOW.beforeS) return `not valid yet: its t is more than ${TIMED_HASH_WINDOW.beforeS / 60} minutes ahead of the collector's clock`;
  return null;
}

/** Whether `hash`, plain or timed (then at `now`), proves `customerId` (compared in constant time). */
export async function verifyCustomer(secret: string, customerId: string, hash: string, now = Date.now()): Promise<boolean> {
  const timed = TIMED.exec(hash);
  if (!timed) return verifyHex(secret, customerId, hash, 'SHA-256');
  if (timedHashExpiry(hash, now)) return false;
  return verifyHex(secret, `${timed[1]}.${customerId}`, timed[2]!, 'SHA-384');
}

async function verifyHex(secret: string, message: string, digest: string, hash: Hash): Promise<boolean> {
  const bytes = Uint8Array.from(digest.match(/../g) ?? [], (h) => parseInt(h, 16));
  return crypto.subtle.verify('HMAC', await keyOf(secret, hash), bytes, new TextEncoder().encode(message));
}
