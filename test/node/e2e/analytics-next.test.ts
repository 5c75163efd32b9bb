import { createHmac, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { build } from 'esbuild';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ADMIN_TOKEN, eventually, launch, sharedCollector } from './harness';

/**
 * Segment's analytics.js (`@segment/analytics-next`, bundled as a store bundles it) in a page of
 * Debian's Chromium, loaded with `AnalyticsBrowser.load({ writeKey, cdnURL: COLLECTOR })` and
 * nothing else changed: its settings and its events come from and go to the collector alone.
 */

const collector = sharedCollector();
let browser: Browser;
let server: Server | undefined;
beforeAll(async () => {
  browser = await launch();
});
afterAll(async () => {
  await browser?.close();
  await new Promise((r) => (server ? server.close(r) : r(null)));
});

async function analyticsBundle(): Promise<string> {
  const out = await build({
    stdin: { contents: "import { AnalyticsBrowser } from '@segment/analytics-next'; window.AnalyticsBrowser = AnalyticsBrowser;", resolveDir: process.cwd() },
    bundle: true,
    format: 'iife',
    platform: 'browser',
    write: false,
    logLevel: 'silent',
  });
  return out.outputFiles[0]!.text;
}

it('AnalyticsBrowser.load with cdnURL set to the collector: a page and a product view, then an identify with its hash, in one de-anonymized session', async () => {
  const script = await analyticsBundle();
  let page = '';
  server = createServer((req, res) => {
    if (req.url === '/ajs.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(script);
    else res.writeHead(req.url?.startsWith('/shop') ? 200 : 404, { 'content-type': 'text/html' }).end(page);
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  const shop = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const res = await fetch(`${collector.url}/api/v1/admin/sources`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ id: `ajs-${randomUUID().slice(0, 8)}`, name: 'analytics.js shop', kind: 'website', allowed_origins: [shop] }),
  });
  const source = (await res.json()) as { id: string; public_key: string; secret_key: string; identity_secret: string };
  const hash = createHmac('sha256', source.identity_secret).update('cust-ajs').digest('hex');
  page = `<!doctype html><html><head><meta charset="utf-8"><title>Mug</title>
    <script src="/ajs.js"></script>
    <script>
      const analytics = AnalyticsBrowser.load({ writeKey: ${JSON.stringify(source.public_key)}, cdnURL: ${JSON.stringify(collector.url)} });
      analytics.page();
      analytics.track('Product Viewed', { product_id: 'sku-1', name: 'Mug', price: 9.5, currency: 'EUR' });
      document.addEventListener('click', () => analytics.identify('cust-ajs', { customer_hash: ${JSON.stringify(hash)} }));
    </script></head><body><button id="login">Log in</button></body></html>`;

  const context = await browser.newContext();
  const tab = await context.newPage();
  const hosts = new Set<string>();
  const results: { status: string; session_id: string | null }[] = [];
  tab.on('request', (r) => hosts.add(new URL(r.url()).origin));
  tab.on('response', async (r) => {
    if (r.request().method() === 'POST' && r.url().startsWith(collector.url)) results.push(...((await r.json()) as { results: typeof results }).results);
  });
  await tab.goto(`${shop}/shop`);
  await eventually(async () => (results.length >= 2 ? true : undefined));
  await tab.click('#login');
  await eventually(async () => (results.length >= 3 ? true : undefined));
  await context.close();

  // Nothing but the shop and the collector: no Segment CDN, no Segment API.
  expect([...hosts].sort()).toEqual([collector.url, shop].sort());
  expect(results.map((r) => r.status)).toEqual(['accepted', 'accepted', 'accepted']);
  const sessionId = results[0]!.session_id!;
  expect(new Set(results.map((r) => r.session_id))).toEqual(new Set([sessionId]));
  const live = (await (
    await fetch(`${collector.url}/api/v1/sessions/${source.id}/${sessionId}`, { headers: { authorization: `Bearer ${source.secret_key}` } })
  ).json()) as {
    session: { customer_id: string | null };
    events: { name: string; channel: string; customer_id: string | null; page: { url?: string } | null; context: Record<string, unknown> | null }[];
  };
  expect(live.session.customer_id).toBe('cust-ajs');
  expect(live.events.map((e) => [e.name, e.channel, e.customer_id])).toEqual([
    ['page_view', 'tracker', 'cust-ajs'],
    ['product_view', 'tracker', 'cust-ajs'],
    ['identify', 'tracker', 'cust-ajs'],
  ]);
  expect(live.events[0]!.page?.url).toBe(`${shop}/shop`);
  expect(live.events[1]!.context).toMatchObject({ type: 'product', id: 'sku-1', price: 9.5, currency: 'EUR' });
});
