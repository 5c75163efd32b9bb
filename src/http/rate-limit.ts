import { Lru } from '../sources/lru';
import { ApiError } from './errors';

/** The period of both limiters, as wrangler.toml declares them (10 or 60 s): what Retry-After says. */
const PERIOD_S = 10;

async function limit(limiter: RateLimit | undefined, key: string, what: string, headers?: Record<string, string>): Promise<void> {
  // No binding (a bench build, a config without [[ratelimits]]): nothing to count with.
  if (!limiter) return;
  const { success } = await limiter.limit({ key });
  if (!success)
    throw new ApiError(429, 'rate_limited', `too many requests for this ${what}: retry after ${PERIOD_S} s`, undefined, {
      'Retry-After': String(PERIOD_S),
      ...headers,
    });
}

/** Per client IP, on the public routes (Cloudflare sets CF-Connecting-IP; without it there is no client to count). */
export function limitClient(env: Env, request: Request): Promise<void> {
  const ip = request.headers.get('cf-connecting-ip');
  return ip ? limit(env.RATE_LIMIT_IP, ip, 'client address') : Promise.resolve();
}

/** Per source, on every ingest route; `headers` go on the refusal (a browser needs CORS to read it). */
export const limitSource = (env: Env, sourceId: string, headers?: Record<string, string>) => limit(env.RATE_LIMIT_KEY, sourceId, 'source', headers);

/** Client addresses past their failed-key limit, in this isolate, and until when (ms). */
const failing = new Lru<number>(10_000);

const tooManyFailures = (until: number, now: number) => {
  const wait = Math.max(1, Math.ceil((until - now) / 1000));
  return new ApiError(429, 'rate_limited', `too many keys from this client address named no source: retry after ${wait} s`, undefined, {
    'Retry-After': String(wait),
  });
};

/**
 * Refuses, before its key is looked up, a client that sent too many keys naming no source: made-up
 * keys are each a D1 read (the cache of misses holds each key, and a flood never repeats one).
 */
export function refuseFailingClient(request: Request): void {
  const ip = request.headers.get('cf-connecting-ip');
  const now = Date.now();
  const until = ip ? failing.get(ip, now) : undefined;
  if (until) throw tooManyFailures(until, now);
}

/**
 * Counts a key that named no source against its client address: RATE_LIMIT_IP's namespace under
 * its own key (`auth-fail:<ip>`), so failures and a client's accepted requests never use up each
 * other's allowance. Past the limit it answers 429, and this isolate refuses the address before
 * any lookup until the period ends.
 */
export async function countFailedKey(env: Env, request: Request): Promise<void> {
  const ip = request.headers.get('cf-connecting-ip');
  if (!ip || !env.RATE_LIMIT_IP) return;
  const { success } = await env.RATE_LIMIT_IP.limit({ key: `auth-fail:${ip}` });
  if (success) return;
  const now = Date.now();
  failing.set(ip, now + PERIOD_S * 1000, now + PERIOD_S * 1000);
  throw tooManyFailures(now + PERIOD_S * 1000, now);
}
