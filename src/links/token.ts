import { base64url, fromBase64url } from '../encoding';

/**
 * Campaign link tokens: the claims, encrypted and authenticated with AES-256-GCM under a key
 * derived from the LINK_SIGNING_KEY secret: `base64url(iv ‖ ciphertext ‖ tag)`. A token says
 * nothing to whoever reads it (a landing page's other tags, a request log), and cannot be made
 * or altered without the secret. It says everything a click needs, so following a link reads
 * nothing but the session it names.
 */
export interface LinkClaims {
  /** source id */
  src: string;
  /** the session whose event triggered the campaign; absent for a mailing to a customer */
  sid?: string;
  /** customer id */
  cus: string;
  /** campaign id */
  cmp: string;
  /** target URL */
  url: string;
  /** expiry, seconds since the epoch */
  exp: number;
}

/** The URL parameter that carries the token to the landing page, where the tracker sends it on. */
export const LINK_PARAM = 'wev_link';

const enc = new TextEncoder();
const IV_BYTES = 12;

const keys = new Map<string, Promise<CryptoKey>>();
/** The AES key of a signing secret: SHA-256 of it under this use's label (the secret's other uses never see this key). */
function keyOf(secret: string): Promise<CryptoKey> {
  let key = keys.get(secret);
  if (!key) {
    if (keys.size >= 16) keys.clear();
    key = crypto.subtle
      .digest('SHA-256', enc.encode(`web-events link token v1\u0000${secret}`))
      .then((raw) => crypto.subtle.importKey('raw', raw, 'AES-GCM', false, ['encrypt', 'decrypt']));
    keys.set(secret, key);
  }
  return key;
}

export async function signLink(claims: LinkClaims, secret: string): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
  const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, await keyOf(secret), enc.encode(JSON.stringify(claims))));
  const token = new Uint8Array(IV_BYTES + sealed.length);
  token.set(iv);
  token.set(sealed, IV_BYTES);
  return base64url(token);
}

/** The claims of a genuine, unexpired token; null for anything else (tampered, expired, garbage). */
export async function verifyLink(token: string, secret: string, now = Date.now()): Promise<LinkClaims | null> {
  if (!secret || !/^[A-Za-z0-9_-]{40,2048}$/.test(token)) return null;
  try {
    const bytes = fromBase64url(token);
    const opened = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: bytes.slice(0, IV_BYTES) }, await keyOf(secret), bytes.slice(IV_BYTES));
    const claims = JSON.parse(new TextDecoder().decode(opened)) as LinkClaims;
    return typeof claims.exp === 'number' && claims.exp * 1000 > now ? claims : null;
  } catch {
    return null;
  }
}

/** The link token in a landing page URL, if any (a cheap substring check first: most events have none). */
export function tokenInUrl(url: string | undefined): string | null {
  if (!url?.includes(LINK_PARAM)) return null;
  try {
    return new URL(url).searchParams.get(LINK_PARAM);
  } catch {
    return null;
  }
}
