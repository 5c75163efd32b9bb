/**
 * Property-based (fast-check): whatever a public key sends on the wire routes and the tracker
 * (identifies, aliases, logins, proven or not, naming guessable ids, backdated up to a year), it
 * links no session it did not arrive in, and never one a secret key wrote to (docs/security.md,
 * "What a public key may link"). fast-check prints the seed and path of a failure to replay it.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { customerHash } from '../src/sources/identity';
import { beacon, type CreatedSource, call, createSource, event, postEvents, SHOP } from './fixtures/api';
import { readSession } from './fixtures/sessions';

const RUNS = 60;
const basic = (key: string) => `Basic ${btoa(`${key}:`)}`;

/** Ids a store's server uses, so an attacker can guess them; and the browser sessions of this run. */
const VISITORS = ['cust-1', 'cust-2', 'v-1', 'v-2'];
const CUSTOMERS = ['cust-1', 'cust-2', 'attacker'];
const SESSIONS = ['rest-1', 'rest-2', 'brw-1', 'brw-2'];

interface Message {
  kind: 'seg-identify' | 'seg-alias' | 'seg-track' | 'ph-identify' | 'ph-capture' | 'beacon-login' | 'beacon-view';
  visitor: string;
  other: string;
  customer: string;
  proven: boolean;
  session: string;
  ownSession: boolean;
  minutesBack: number;
}

const message = fc.record<Message>({
  kind: fc.constantFrom('seg-identify', 'seg-alias', 'seg-track', 'ph-identify', 'ph-capture', 'beacon-login', 'beacon-view'),
  visitor: fc.constantFrom(...VISITORS),
  other: fc.constantFrom(...VISITORS),
  customer: fc.constantFrom(...CUSTOMERS),
  proven: fc.boolean(),
  session: fc.constantFrom(...SESSIONS),
  ownSession: fc.boolean(),
  minutesBack: fc.oneof(fc.integer({ min: 0, max: 90 }), fc.integer({ min: 0, max: 364 * 1440 })),
});

let shop: CreatedSource;
/** Sessions a secret key wrote to: a public key never changes their customer. */
const partner = new Set<string>();
/** Every session seen, with its customer as last read. */
const known = new Map<string, string | null>();

async function customerOf(sessionId: string): Promise<string | null | undefined> {
  const res = await readSession(shop.id, sessionId, shop.secret_key);
  return res.status === 200 ? res.body.session.customer_id : undefined;
}

/** Sends one request of public-key messages; returns the sessions they landed in. */
async function send(messages: Message[]): Promise<string[]> {
  const hashes = new Map(await Promise.all(CUSTOMERS.map(async (c) => [c, await customerHash(shop.identity_secret, c)] as const)));
  const at = (m: Message) => new Date(Date.now() - m.minutesBack * 60_000).toISOString();
  const hash = (m: Message) => (m.proven ? hashes.get(m.customer) : '0'.repeat(64));
  const landed: string[] = [];
  const segment = messages.filter((m) => m.kind.startsWith('seg-'));
  const posthog = messages.filter((m) => m.kind.startsWith('ph-'));
  const beacons = messages.filter((m) => m.kind.startsWith('beacon-'));
  if (segment.length) {
    const batch = segment.map((m) => ({
      type: m.kind === 'seg-identify' ? 'identify' : m.kind === 'seg-alias' ? 'alias' : 'track',
      event: 'Signed In',
      userId: m.customer,
      anonymousId: m.visitor,
      previousId: m.other,
      messageId: crypto.randomUUID(),
      timestamp: at(m),
      context: { customer_hash: hash(m), ...(m.ownSession ? { sessionId: m.session } : {}) },
    }));
    const res = await call('/v1/batch', { method: 'POST', headers: { authorization: basic(shop.public_key), origin: SHOP }, json: { batch } });
    landed.push(...((await res.json()) as { results: { session_id?: string | null }[] }).results.flatMap((r) => (r.session_id ? [r.session_id] : [])));
  }
  if (posthog.length) {
    const batch = posthog.map((m) => ({
      event: m.kind === 'ph-identify' ? '$identify' : 'Signed In',
      distinct_id: m.customer,
      timestamp: at(m),
      uuid: crypto.randomUUID(),
      properties: {
        $anon_distinct_id: m.other,
        $device_id: m.visitor,
        $customer_hash: hash(m),
        $is_identified: true,
        ...(m.ownSession ? { $session_id: m.session } : {}),
      },
    }));
    const res = await call('/batch', { method: 'POST', headers: { origin: SHOP }, json: { api_key: shop.public_key, batch } });
    landed.push(...((await res.json()) as { results: { session_id?: string | null }[] }).results.flatMap((r) => (r.session_id ? [r.session_id] : [])));
  }
  if (beacons.length) {
    await beacon(
      shop.public_key,
      beacons.map((m, q) => ({
        i: crypto.randomUUID(),
        s: m.session,
        n: m.kind === 'beacon-login' ? 'user_login' : 'page_view',
        t: Date.parse(at(m)),
        q: q + 1,
        u: `${SHOP}/`,
        ...(m.kind === 'beacon-login' ? { cu: m.customer, ch: hash(m) } : {}),
      })),
    );
    landed.push(...beacons.map((m) => m.session));
  }
  return landed;
}

describe('a public key links only where its message arrived, and never what a secret key wrote', () => {
  beforeAll(async () => {
    shop = await createSource({ kind: 'website', allowed_origins: [SHOP] });
    // The store's server (secret key): sessions of guessable visitors, now and long ago, and REST sessions.
    const seeded: { results: { status: string; session_id?: string | null }[] }[] = [];
    for (const v of VISITORS)
      seeded.push(
        (await (
          await call('/v1/batch', {
            method: 'POST',
            headers: { authorization: basic(shop.secret_key) },
            json: {
              batch: [2, 30 * 1440, 200 * 1440].map((m) => ({
                type: 'track',
                event: 'Product Viewed',
                properties: { product_id: 'sku-1', price: 9.5 },
                anonymousId: v,
                messageId: crypto.randomUUID(),
                timestamp: new Date(Date.now() - m * 60_000).toISOString(),
              })),
            },
          })
        ).json()) as { results: { status: string; session_id?: string | null }[] },
      );
    const results = seeded.flatMap((s) => s.results);
    expect(results.every((r) => r.status === 'accepted')).toBe(true);
    for (const r of results) if (r.session_id) partner.add(r.session_id);
    for (const s of ['rest-1', 'rest-2']) {
      await postEvents(shop.secret_key, [event(s, 'page_view', -1)]);
      partner.add(s);
    }
    for (const s of partner) known.set(s, null);
  });

  it('for every generated request of Segment, PostHog and tracker messages', { timeout: 300_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(message, { minLength: 1, maxLength: 4 }), async (messages) => {
        const landed = new Set(await send(messages));
        for (const s of landed) if (!known.has(s)) known.set(s, null);
        for (const [sessionId, before] of known) {
          const now = await customerOf(sessionId);
          if (now === undefined || now === before) continue;
          // A changed customer: only in a session this request arrived in, and never a secret key's.
          expect(before, `session ${sessionId} had a customer`).toBeNull();
          expect(landed.has(sessionId), `session ${sessionId} linked from elsewhere`).toBe(true);
          expect(partner.has(sessionId), `a secret key's session ${sessionId} linked by a public key`).toBe(false);
          known.set(sessionId, now);
        }
      }),
      { numRuns: RUNS },
    );
    for (const s of partner) expect(await customerOf(s)).toBeNull();
  });
});
