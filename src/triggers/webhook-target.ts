/**
 * A URL's host name as a resolver reads it: lowercase, percent-decoded, one trailing dot (the DNS
 * root) removed, so `localhost.` and `localhost%2e` are `localhost`. The URL parser lowercases and
 * decodes already; doing it here does not rely on that. Null when it does not decode.
 */
export function normalHost(hostname: string): string | null {
  try {
    const host = decodeURIComponent(hostname).toLowerCase();
    return host.endsWith('.') ? host.slice(0, -1) : host;
  } catch {
    return null;
  }
}

/**
 * Where a trigger webhook may point: an https URL on a public host name, on the default port. No IP
 * literals (the metadata address 169.254.169.254, private ranges), no localhost, no single-label or
 * `.local`, `.internal` names, with or without a trailing dot. With `allowInsecure`
 * (ALLOW_INSECURE_WEBHOOKS, local development only) http and the loopback host on any port are
 * allowed too. Returns why a URL is refused, or null.
 */
export function webhookTargetProblem(url: string, allowInsecure: boolean): string | null {
  if (!URL.canParse(url)) return 'not a URL';
  const u = new URL(url);
  const host = normalHost(u.hostname);
  if (host === null) return 'must name a host';
  const loopback = host === 'localhost' || host === '127.0.0.1' || host === '[::1]';
  if (allowInsecure && loopback && (u.protocol === 'http:' || u.protocol === 'https:')) return null;
  if (u.protocol !== 'https:') return allowInsecure ? 'must be https (or http on localhost)' : 'must be https';
  if (u.username || u.password) return 'must not carry credentials: the signature authenticates the collector';
  // The parser drops 443 on https: any port left is another service on that host.
  if (u.port) return 'must use the default https port';
  if (/^\d+\.\d+\.\d+\.\d+$/.test(host) || host.startsWith('[')) return 'must name a host, not an IP address';
  // An empty label (`localhost..`) is no public name either.
  if (!host.includes('.') || host.split('.').includes('') || /(^|\.)(localhost|local|internal|localdomain|home\.arpa)$/.test(host)) {
    return 'must be a public host name';
  }
  return null;
}
