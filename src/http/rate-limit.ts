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
