/**
 * A store that cannot answer now (D1 refusing, overloaded or locked): an outage, not an internal
 * error. The HTTP layer answers it 503 with Retry-After (docs/api.md), and the client retries.
 */
export class StoreUnavailable extends Error {}

/** Whether an error is D1's own (the binding's `D1_…` errors: a refused, busy or overloaded database), as opposed to a bug. */
export const isD1Error = (error: unknown): boolean => /\bD1_[A-Z_]+\b|SQLITE_BUSY|overloaded/i.test(String(error));

/** How long a cached answer from D1 (a source, its trigger rules) still serves while D1 cannot be read (docs/security.md). */
export const STALE_WHILE_D1_DOWN_MS = 3_600_000;
