// List prices the cost bench (cost.mjs) applies to the units it counts: beyond each plan's included
// amounts (a large store is far past them), in US dollars. Each with the page it came from and the
// date of what was read (Cloudflare's pages show none: the docs repository's commit read stands for
// it). Read on 2026-11-29 from the stored copies of the pages. Change a price here and
// `npm run bench:cost` prices with it.

const docs = (file, commit) => `cloudflare/cloudflare-docs ${file} @${commit.slice(0, 12)}`;
const WORKERS = docs('src/content/docs/workers/platform/pricing.mdx', '07acbb6612b5cefa1f8348106c158b0814a2972a');
const DO = docs('src/content/partials/durable-objects/durable-objects-pricing.mdx', '07e200b7edc6c86d5a900ae27b27b0b5ee368ecf');
const D1 = docs('src/content/partials/workers/d1-pricing.mdx', '25a83cedcf38e18ff93a5b1e6f10a8aab3ed7561');
const QUEUES = docs('src/content/partials/workers/queues_pricing.mdx', '96996fd3265906775d95fd09931d45e723704c20');
const PIPELINES = docs('src/content/docs/pipelines/platform/pricing.mdx', '2a0f248e3f91670e6bb64fb8e6db3f03b80a0d9f');
const R2 = docs('src/content/docs/r2/pricing.mdx', '07ec87d4f0b2bb3dd731f801af428f16d6c1b71d');
const READ = 'read 2026-11-29';

export const PRICES = {
  worker_requests: { usd_per_million: 0.3, source: `${WORKERS} (developers.cloudflare.com/workers/platform/pricing)`, date: READ },
  do_requests: { usd_per_million: 0.15, source: `${DO}: each RPC call and each alarm run is a request`, date: READ },
  do_rows_written: { usd_per_million: 1.0, source: `${DO}: each setAlarm() is a row written`, date: READ },
  do_rows_read: { usd_per_million: 0.001, source: DO, date: READ },
  d1_rows_written: { usd_per_million: 1.0, source: `${D1} (developers.cloudflare.com/d1/platform/pricing)`, date: READ },
  d1_rows_read: { usd_per_million: 0.001, source: D1, date: READ },
  queue_operations: { usd_per_million: 0.4, source: `${QUEUES}: a delivered message is 3 operations (write, read, delete) per 64 KB`, date: READ },
  lake_gb: { usd: 0.06, source: `${PIPELINES}: sink to R2 as Parquet / Iceberg, per GB delivered uncompressed (billed since 2026-08-03)`, date: READ },
  d1_storage_gb_month: { usd: 0.75, source: D1, date: READ },
  do_storage_gb_month: { usd: 0.2, source: DO, date: READ },
  r2_storage_gb_month: { usd: 0.015, source: R2, date: READ },
};

/**
 * Hosted collectors a store compares us with: their published price at a large store's volume,
 * converted to a million events; a price per monthly tracked user (MTU) at `EVENTS_PER_USER`
 * events a user a month.
 */
export const EVENTS_PER_USER = 100;
export const HOSTED = [
  {
    name: 'PostHog, anonymous events',
    price: '$0.000009 per event past 250 M a month ($0.000015 from 100 M)',
    per_million_events: 9,
    source: 'PostHog/posthog.com contents/blog/analytics-pricing.mdx (posthog.com/blog/analytics-pricing; the pricing page itself was not stored)',
    date: '2024-08-01',
  },
  {
    name: 'PostHog, identified events (with a person profile)',
    price: '$0.00001 per event past 250 M a month',
    per_million_events: 10,
    source: 'the same post',
    date: '2024-08-01',
  },
  {
    name: 'Segment, Team plan',
    price: `$120 a month with 10,000 MTUs, then $0.010 per MTU past 100,000 (at ${EVENTS_PER_USER} events per MTU)`,
    per_million_events: 0.01 * (1e6 / EVENTS_PER_USER),
    source: 'a third-party copy (getlago.com/docs/templates/hybrid/segment); Segment does not publish it, so it may be out of date',
    date: 'undated',
  },
  {
    name: 'RudderStack Cloud, Growth plan',
    price: '$265 a month for 1 M events (larger volumes on request)',
    per_million_events: 265,
    source: 'a transcription of rudderstack.com/pricing (api-evangelist/rudderstack plans/rudderstack-plans-pricing.yml)',
    date: '2026-08-13',
  },
  {
    name: 'Snowplow (BDP Cloud)',
    price: 'sold by quote: no published price found',
    per_million_events: null,
    source: 'searched docs.snowplow.io and the stored pages',
    date: READ,
  },
];
