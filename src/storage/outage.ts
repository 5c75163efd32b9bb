/**
 * A dependency that cannot do what was asked now (D1 refusing, overloaded or locked; a session
 * object or the lake failing): an outage, not an internal error. The HTTP layer answers it 503
 * with Retry-After and this message (docs/api.md), and the client retries.
 */
export class Unavailable extends Error {}

/** Awaits calls to a dependency: a failure is logged as `what` and raised as Unavailable (`why`: the 503's message). */
export async function unavailableOnFailure<T>(calls: Promise<T>, what: string, why: string): Promise<T> {
  try {
    return await calls;
  } catch (error) {
    console.error(JSON.stringify({ message: what, error: String(error) }));
    throw new Unavailable(why);
  }
}

/** Whether an error is D1's own (the binding's `D1_…` errors: a refused, busy or overloaded database), as opposed to a bug. */
export const isD1Error = (error: unknown): boolean => /\bD1_[A-Z_]+\b|SQLITE_BUSY|overloaded/i.test(String(error));

/** How long a cached answer from D1 (a source, its trigger rules) still serves while D1 cannot be read (docs/security.md). */
export const STALE_WHILE_D1_DOWN_MS = 3_600_000;
