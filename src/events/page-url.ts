/**
 * What of a page URL is stored: the query parameters the source allows plus `utm_*`, and a
 * fragment only when it reads as a route (`#/cart`), not as data (`#access_token=…`). Query
 * strings carry credentials (a campaign link's token, password-reset and magic-link tokens) and
 * personal data; what a store needs of them it names.
 */
export function keepQuery(url: string, allowed: ReadonlySet<string>): string {
  if (!url.includes('?') && !url.includes('#')) return url;
  if (!URL.canParse(url)) return url.replace(/[?#].*$/s, '');
  const u = new URL(url);
  for (const key of [...u.searchParams.keys()]) if (!key.startsWith('utm_') && !allowed.has(key)) u.searchParams.delete(key);
  if (/[=&]/.test(u.hash)) u.hash = '';
  return u.href;
}
