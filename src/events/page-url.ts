/**
 * What of a URL is stored: the query parameters the source allows plus `utm_*`, and no fragment
 * unless the source keeps them (a hash-routed store's `#/cart`); even then never one that reads
 * as data (`#access_token=…`). Query strings and fragment routes carry credentials (a campaign
 * link's token, password-reset and magic-link tokens) and personal data; what a store needs of
 * them it names.
 */
export interface UrlPolicy {
  /** Query parameters kept besides `utm_*` (the source's `allowed_query_params`). */
  params: ReadonlySet<string>;
  /** Whether route fragments are kept (the source's `keep_url_fragments`). */
  fragments: boolean;
}

/** Trims one URL as the policy says; a string that does not parse as a URL loses all from its first `?` or `#`. */
export function trimUrl(url: string, policy: UrlPolicy): string {
  if (!url.includes('?') && !url.includes('#')) return url;
  if (!URL.canParse(url)) return url.replace(/[?#].*$/s, '');
  const u = new URL(url);
  for (const key of [...u.searchParams.keys()]) if (!key.startsWith('utm_') && !policy.params.has(key)) u.searchParams.delete(key);
  if (!policy.fragments || /[=&]/.test(u.hash)) u.hash = '';
  return u.href;
}

// Only absolute http(s) URLs are trimmed inside contexts and params: a prefix test, no parse, for every other string.
const isWebUrl = (v: string) => v.startsWith('https://') || v.startsWith('http://');

/**
 * `fields` with every string that is an absolute http(s) URL trimmed, at any depth (a context
 * snapshot's `url` and `image_url`, a custom snapshot's links, a param): the same object when
 * nothing changed, else a copy of the changed branches only.
 */
export function trimUrlsIn<T extends Record<string, unknown>>(fields: T, policy: UrlPolicy): T {
  let copy: Record<string, unknown> | null = null;
  for (const key in fields) {
    const next = trimValue(fields[key], policy);
    if (next !== fields[key]) (copy ??= { ...fields })[key] = next;
  }
  // A copy of `fields` with some strings shortened: still a T.
  return (copy ?? fields) as T;
}

function trimValue(value: unknown, policy: UrlPolicy): unknown {
  if (typeof value === 'string') return isWebUrl(value) ? trimUrl(value, policy) : value;
  if (typeof value !== 'object' || value === null) return value;
  if (!Array.isArray(value)) return trimUrlsIn(value as Record<string, unknown>, policy);
  const items: readonly unknown[] = value;
  let copy: unknown[] | null = null;
  for (let i = 0; i < items.length; i++) {
    const next = trimValue(items[i], policy);
    if (next !== items[i]) (copy ??= [...items])[i] = next;
  }
  return copy ?? items;
}
