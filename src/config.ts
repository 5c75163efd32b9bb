export type Tunables = ReturnType<typeof readTunables>;
const read = new WeakMap<Env, Tunables>();

/** The tunables of wrangler.toml's [vars], read as numbers with their documented defaults (once per env object). */
export function tunables(env: Env): Tunables {
  let t = read.get(env);
  if (!t) read.set(env, (t = readTunables(env)));
  return t;
}

function readTunables(env: Env) {
  const number = (value: string | undefined, fallback: number, min: number) => {
    const n = Number(value);
    return value !== undefined && value !== '' && Number.isFinite(n) && n >= min ? n : fallback;
  };
  const identifiedDays = number(env.IDENTIFIED_RETENTION_DAYS, 0, 0);
  const d1EventDays = number(env.D1_EVENT_DAYS, 400, 0);
  return {
    retention: {
      anonymousDays: number(env.ANON_RETENTION_DAYS, 60, 1),
      // 0: identified sessions are kept until erased.
      identifiedDays: identifiedDays > 0 ? identifiedDays : null,
    },
    /** How long D1 keeps events (by occurred_at) for segments and partner reads; null: forever. The lake keeps every one. */
    d1EventDays: d1EventDays > 0 ? d1EventDays : null,
    defaultSessionTimeoutS: number(env.DEFAULT_SESSION_TIMEOUT_S, 3600, 1),
    flushDelayMs: number(env.FLUSH_DELAY_S, 5, 0) * 1000,
    /** First retry delay of a failed webhook, in seconds. */
    triggerRetryBaseS: number(env.TRIGGER_RETRY_BASE_S, 10, 0),
    trackerPath: env.TRACKER_PATH || '/t.js',
    /** http:// and private webhook targets: for local development only. */
    allowInsecureWebhooks: env.ALLOW_INSECURE_WEBHOOKS === 'true',
  };
}
