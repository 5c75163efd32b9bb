/**
 * The sessions the collector makes for wire clients (src/wire/visitors.ts) under a model
 * (fast-check `commands`): random Segment batches for two visitors, at times up to ten hours back
 * and in any order, retries of earlier batches, and restarts of a visitor's object (its instance
 * discarded for real). The model is the rule itself, written plainly: a message joins its
 * visitor's latest session whose messages it falls within the source's timeout of, and renews
 * it; otherwise it starts a new one. Times are whole minutes apart by at least two, so every
 * renewal is one the object writes (it writes a renewal of a minute or less at its next change).
 *
 * SIM_OBJECT_RUNS sets the sequences (default 100), SIM_SEED the seed.
 */
import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { type CreatedSource, call, createSource, unique } from './fixtures/api';

const RUNS = Number(env.SIM_OBJECT_RUNS || 100);
const SEED = env.SIM_SEED ? Number(env.SIM_SEED) : Date.now() % 2 ** 31;
const TIMEOUT_MS = 3_600_000;

/** A session of the model: its span of message times, and the id the collector gave it once seen. */
interface Span {
  start: number;
  last: number;
  id: string | null;
}

interface Message {
  visitor: 0 | 1;
  /** Minutes before the sequence's start, in steps of two. */
  back: number;
}

interface Model {
  spans: [Span[], Span[]];
  /** Batches sent, as sent (for retries), with the session each message went to. */
  sent: { body: unknown[]; sessions: string[] }[];
}

interface Real {
  source: CreatedSource;
  visitors: [string, string];
  /** The sequence's clock: message times count back from it. */
  now: number;
}

const basic = (key: string) => `Basic ${btoa(`${key}:`)}`;

async function send(r: Real, batch: unknown[]) {
  const res = await call('/v1/batch', { method: 'POST', headers: { authorization: basic(r.source.secret_key) }, json: { batch } });
  expect(res.status).toBe(200);
  return ((await res.json()) as { results: { status: string; session_id: string }[] }).results;
}

/** The rule, plainly: of the spans within the timeout of a time, the nearest takes it (the later of two as near), and grows; else a new one. */
function place(spans: Span[], t: number): Span {
  const gap = (s: Span) => Math.max(s.start - t, t - s.last, 0);
  const within = spans.filter((s) => gap(s) <= TIMEOUT_MS);
  const span = within.reduce<Span | undefined>((best, s) => (!best || gap(s) <= gap(best) ? s : best), undefined);
  if (span) {
    span.start = Math.min(span.start, t);
    span.last = Math.max(span.last, t);
    return span;
  }
  const made = { start: t, last: t, id: null };
  spans.push(made);
  spans.sort((a, b) => a.start - b.start);
  return made;
}

class Send implements fc.AsyncCommand<Model, Real> {
  constructor(readonly messages: Message[]) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const body = this.messages.map((x) => ({
      type: 'track',
      event: 'x',
      anonymousId: r.visitors[x.visitor],
      messageId: crypto.randomUUID(),
      timestamp: new Date(r.now - x.back * 60_000).toISOString(),
    }));
    const results = await send(r, body);
    expect(results.map((x) => x.status)).toEqual(body.map(() => 'accepted'));
    // A batch is placed in time order, whatever order it came in.
    const order = this.messages.map((x, i) => [x, i] as const).sort((a, b) => b[0].back - a[0].back);
    for (const [x, i] of order) {
      const span = place(m.spans[x.visitor], r.now - x.back * 60_000);
      const got = results[i]!.session_id;
      if (span.id === null) {
        // A new session: an id no other session of either visitor has.
        expect(
          m.spans.flat().some((s) => s.id === got),
          `message ${i}: a new session reuses ${got}`,
        ).toBe(false);
        span.id = got;
      } else expect(got, `message ${i}`).toBe(span.id);
    }
    m.sent.push({ body, sessions: results.map((x) => x.session_id) });
  }
  toString = () => `Send(${JSON.stringify(this.messages)})`;
}

class Retry implements fc.AsyncCommand<Model, Real> {
  constructor(readonly which: number) {}
  check = (m: Readonly<Model>) => m.sent.length > 0;
  async run(m: Model, r: Real) {
    const earlier = m.sent[this.which % m.sent.length]!;
    const results = await send(r, earlier.body);
    // The same messages: stored once, in the sessions they went to.
    expect(results.map((x) => [x.status, x.session_id])).toEqual(earlier.sessions.map((s) => ['duplicate', s]));
  }
  toString = () => `Retry(${this.which})`;
}

class Restart implements fc.AsyncCommand<Model, Real> {
  constructor(readonly visitor: 0 | 1) {}
  check = () => true;
  async run(_m: Model, r: Real) {
    const stub = env.VISITORS.getByName(`${r.source.id}:a:${r.visitors[this.visitor]}`);
    await expect(runInDurableObject(stub, (_o, state) => state.abort('restart (simulated)'))).rejects.toThrow();
  }
  toString = () => `Restart(${this.visitor})`;
}

const message: fc.Arbitrary<Message> = fc.record({
  visitor: fc.constantFrom<0 | 1>(0, 1),
  back: fc.integer({ min: 0, max: 300 }).map((n) => n * 2),
});
const commands = [
  fc.array(message, { minLength: 1, maxLength: 5 }).map((x) => new Send(x)),
  fc.nat(10).map((n) => new Retry(n)),
  fc.constantFrom<0 | 1>(0, 1).map((v) => new Restart(v)),
];

describe("the collector's sessions for wire clients against their model", () => {
  let source: CreatedSource;
  beforeAll(async () => {
    source = await createSource();
  });

  it('random batches, retries and restarts: each message in the session the rule gives it, a retry in the same', { timeout: 600_000 }, async () => {
    let steps = 0;
    await fc.assert(
      fc.asyncProperty(fc.commands(commands, { maxCommands: 10 }), async (cmds) => {
        steps += [...cmds].length;
        const real: Real = { source, visitors: [unique('v1'), unique('v2')], now: Date.now() };
        const model: Model = { spans: [[], []], sent: [] };
        await fc.asyncModelRun(() => ({ model, real }), cmds);
      }),
      { numRuns: RUNS, seed: SEED },
    );
    console.log(JSON.stringify({ simulation: 'visitor objects', sequences: RUNS, steps, seed: SEED }));
  });
});
