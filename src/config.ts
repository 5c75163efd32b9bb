/** The tunables of wrangler.toml's [vars], read as numbers with their documented defaults. */
export function tunables(env: Env) {
  const num = (value: string | undefined, fallback: number) => {
    const n = Number(value);
    return Number.isFinite(n) && n > 0 ? n : fallback;
  };
  return {
    retentionDays: num(env.ANON_RETENTION_DAYS, 60),
    defaultSessionTimeoutS: num(env.DEFAULT_SESSION_TIMEOUT_S, 3600),
    flushDelayMs: num(env.FLUSH_DELAY_S, 5) * 1000,
  };
}
