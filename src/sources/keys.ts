import { base64url, sha256Hex } from '../encoding';

const randomKey = (prefix: string, bytes: number) => `${prefix}_${base64url(crypto.getRandomValues(new Uint8Array(bytes)))}`;

/** A public key (tracker, SDK): safe to put in a page. */
export const newPublicKey = () => randomKey('pk', 18);
/** A secret key (partner REST API): shown once, stored only as its hash. */
export const newSecretKey = () => randomKey('sk', 32);
/** An identity secret: the store's backend signs customer ids with it (never in a page or an app). */
export const newIdentitySecret = () => randomKey('idsec', 32);

/** Whether a string has the shape of a key this collector makes (checked before any lookup). */
export const isPublicKey = (key: string) => /^pk_[A-Za-z0-9_-]{24}$/.test(key);
export const isSecretKey = (key: string) => /^sk_[A-Za-z0-9_-]{43}$/.test(key);

/** SHA-256 hex; the secret keys are random, so a fast hash is enough to make the stored value useless. */
export const hashSecret = sha256Hex;

/** Compares two strings in time independent of where they differ. */
export function safeEqual(a: string, b: string): boolean {
  const enc = new TextEncoder();
  const x = enc.encode(a);
  const y = enc.encode(b);
  return x.byteLength === y.byteLength && crypto.subtle.timingSafeEqual(x, y);
}
