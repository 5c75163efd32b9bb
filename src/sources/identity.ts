import { hex } from '../encoding';

/**
 * Verified identity (the pattern Intercom and others use): the store's backend signs each
 * customer id with the source's identity secret, `customer_hash = hex(HMAC-SHA256(secret,
 * customer_id))`, and the page or app passes the hash along with the id. A browser or an app
 * cannot make one for a customer it is not.
 */
const keys = new Map<string, Promise<CryptoKey>>();

function keyOf(secret: string): Promise<CryptoKey> {
  let key = keys.get(secret);
  if (!key) {
    if (keys.size >= 1000) keys.clear();
    key = crypto.subtle.importKey('raw', new TextEncoder().encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
    keys.set(secret, key);
  }
  return key;
}

/** The hash a store's backend sends with a customer id (what the docs' snippets compute). */
export async function customerHash(secret: string, customerId: string): Promise<string> {
  return hex(await crypto.subtle.sign('HMAC', await keyOf(secret), new TextEncoder().encode(customerId)));
}

/** Whether `hash` proves `customerId` (compared in constant time). */
export async function verifyCustomer(secret: string, customerId: string, hash: string): Promise<boolean> {
  const bytes = Uint8Array.from(hash.match(/../g) ?? [], (h) => parseInt(h, 16));
  return crypto.subtle.verify('HMAC', await keyOf(secret), bytes, new TextEncoder().encode(customerId));
}
