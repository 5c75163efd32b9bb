/**
 * Where a trigger webhook may point: an https URL on a public host name. No IP literals (the
 * metadata address 169.254.169.254, private ranges), no localhost, no single-label or `.local`,
 * `.internal` names. With `allowInsecure` (ALLOW_INSECURE_WEBHOOKS, local development only)
 * http and the loopback host are allowed too. Returns why a URL is refused, or null.
 */
export function webhookTargetProblem(url: string, allowInsecure: boolean): string | null {
  if (!URL.canParse(url)) return 'not a URL';
  const u = new URL(url);
  const host = u.hostname.toLowerCase();
  const loopback = host === 'localhost' || host === '127.0.0.1' || host === '[::1]';
  if (allowInsecure && loopback && (u.protocol === 'http:' || u.protocol === 'https:')) return null;
  if (u.protocol !== 'https:') return allowInsecure ? 'must be https (or http on localhost)' : 'must be https';
  if (u.username || u.password) return 'must not carry credentials: the signature authenticates the collector';
  if (/^\d+\.\d+\.\d+\.\d+$/.test(host) || host.startsWith('[')) return 'must name a host, not an IP address';
  if (!host.includes('.') || /(^|\.)(localhost|local|internal|localdomain|home\.arpa)$/.test(host)) return 'must be a public host name';
  return null;
}
