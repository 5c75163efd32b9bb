import { base64url, fromBase64url, hmacSha256 } from '../encoding';

/**
 * Campaign link tokens: `base64url(payload).base64url(HMAC-SHA256(payload))`, signed with the
 * LINK_SIGNING_KEY secret, expiring. The payload says everything a click needs, so following a
 * link reads nothing but the session it names.
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

// crypto.subtle.verify compares in constant time.
const verifyKey = (secret: string) => crypto.subtle.importKey('raw', enc.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);

export async function signLink(claims: LinkClaims, secret: string): Promise<string> {
  const payload = base64url(enc.encode(JSON.stringify(claims)));
  return `${payload}.${base64url(new Uint8Array(await hmacSha256(secret, payload)))}`;
}

/** The claims of a genuine, unexpired token; null for anything else (tampered, expired, garbage). */
export async function verifyLink(token: string, secret: string, now = Date.now()): Promise<LinkClaims | null> {
  const [payload, signature, extra] = token.split('.');
  if (!payload || !signature || extra !== undefined || !secret) return null;
  try {
    const genuine = await crypto.subtle.verify('HMAC', await verifyKey(secret), fromBase64url(signature), enc.encode(payload));
    if (!genuine) return null;
    const claims = JSON.parse(new TextDecoder().decode(fromBase64url(payload))) as LinkClaims;
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
