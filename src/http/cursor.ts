import { base64url, fromBase64url } from '../encoding';
import { ApiError } from './errors';

/** Opaque pagination cursors: base64url of a JSON array of the keyset position. */
export const encodeCursor = (position: readonly string[] | null) => (position ? base64url(new TextEncoder().encode(JSON.stringify(position))) : null);

export function decodeCursor<T extends string[]>(cursor: string | undefined, length: T['length']): T | undefined {
  if (!cursor) return undefined;
  try {
    const value: unknown = JSON.parse(new TextDecoder().decode(fromBase64url(cursor)));
    if (Array.isArray(value) && value.length === length && value.every((v) => typeof v === 'string')) return value as T;
  } catch {
    // fall through to the refusal
  }
  throw new ApiError(400, 'invalid_cursor', 'cursor: not a cursor this API returned', [{ path: 'cursor', message: 'invalid' }]);
}
