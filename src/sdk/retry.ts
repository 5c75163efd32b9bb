/** Exponential backoff with full jitter: 1 s, 2 s, 4 s … capped at 5 minutes, then a random share of it. */
export function backoffMs(attempt: number, random: () => number, baseMs = 1000, maxMs = 300_000): number {
  return Math.round(Math.min(maxMs, baseMs * 2 ** attempt) * (0.5 + random() / 2));
}

/** `Retry-After` as seconds or an HTTP date, in ms from `now`; null when absent or unreadable. */
export function retryAfterMs(header: string | null, now: number): number | null {
  if (!header) return null;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(header);
  return Number.isFinite(at) ? Math.max(0, at - now) : null;
}
