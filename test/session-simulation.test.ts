/**
 * The session object under a model (fast-check `commands`): random sequences of batches (new
 * events, repeats, late and out-of-order times, customers proven by the secret key, a second
 * customer), campaign links, erasures, alarms, restarts (the instance discarded for real:
 * `ctx.abort()`, its pending writes and timers gone), and D1 and the lake refusing for a while, against real SQLite storage, real
 * local D1 and the recording lake. A model that is obviously right says what must hold:
 *
 * - after every step, the live read holds every accepted event exactly once, in session order,
 *   with the first customer as the session's and each event attributed as rule 5 says;
 * - once D1 and the lake are back and the alarms have run, D1 holds the session (and, when it is
 *   identified, every event once, attributed), and the lake's latest record of every event is
 *   there, attributed as at the close.
 *
 * SIM_OBJECT_RUNS sets the sequences (default 200), SIM_SEED the seed; `npm run sim` runs it alone.
 * It prints the sequences, the steps and the seed; fast-check shrinks a failure and prints its seed
 * and path to replay it.
 */
import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import type { WebEvent } from '../src/events/schema';
import { type Life, type Setup, settled } from '../src/sessions/lifecycle';
import type { SessionObject } from '../src/sessions/session-object';
import { type CreatedSource, call, createSource, event, postEvents, unique } from './fixtures/api';
import { alarmOf, d1Events, d1Session, failD1For, readSession, runAlarmOf, sessionStub } from './fixtures/sessions';

const RUNS = Number(env.SIM_OBJECT_RUNS || 200);
/** A seed of its own each run unless given: printed, so a failure replays (`SIM_SEED=… npm run sim`). */
const SEED = env.SIM_SEED ? Number(env.SIM_SEED) : Date.now() % 2 ** 31;

/** One accepted event as the model keeps it. */
interface Kept {
  id: string;
  occurredAt: string;
  seq: number | null;
  arrival: number;
  customer: string | null;
}

/** The model: the session's events, its customer, and what is failing now. */
interface Model {
  events: Kept[];
  customer: string | null;
  d1Failing: boolean;
  /** The lake's streams refusing now. */
  lakeDown: { events: boolean; sessions: boolean };
  /** Events of an earlier life of the session that an erasure took: the lake's last word on each is a tombstone. */
  erased: string[];
}

/** The real system under test: one session of one source, and how to undo an injected D1 failure. */
interface Real {
  source: CreatedSource;
  sessionId: string;
  /** This sequence's two customers (the source is shared: an erasure finds a customer on all of it). */
  customers: [string, string];
  restoreD1: (() => Promise<unknown>) | null;
}

/** Session order (docs/design.md, rule 2): occurred_at, then seq (absent last), then arrival. */
const inOrder = (events: readonly Kept[]) =>
  [...events].sort((a, b) =>
    a.occurredAt !== b.occurredAt ? (a.occurredAt < b.occurredAt ? -1 : 1) : (a.seq ?? Infinity) - (b.seq ?? Infinity) || a.arrival - b.arrival,
  );
/** Who an event is attributed to (rule 5): its own customer, else its session's. */
const attributed = (e: Kept, m: Model) => e.customer ?? m.customer;

/** After every step: the live read is the model. */
async function checkLive(m: Model, r: Real) {
  const res = await readSession(r.source.id, r.sessionId, r.source.secret_key);
  if (!m.events.length) return expect(res.status).toBe(404);
  expect(res.status).toBe(200);
  const live = res.body;
  expect(live.events.map((e) => e.event_id)).toEqual(inOrder(m.events).map((e) => e.id));
  expect(live.session.customer_id).toBe(m.customer);
  expect(live.session.event_count).toBe(m.events.length);
  const byId = new Map(m.events.map((e) => [e.id, e]));
  for (const e of live.events) expect(e.customer_id, e.event_id).toBe(attributed(byId.get(e.event_id)!, m));
}

interface Sent {
  repeat: number | null;
  minutesBack: number;
  seq: number | null;
  customer: 0 | 1 | null;
}

class Batch implements fc.AsyncCommand<Model, Real> {
  constructor(readonly sent: Sent[]) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const now = Date.now();
    const events = this.sent.map((s) => {
      const repeated = s.repeat !== null && m.events.length ? m.events[s.repeat % m.events.length]!.id : null;
      return {
        ...event(r.sessionId, 'page_view', 0, {
          occurred_at: new Date(now - s.minutesBack * 60_000).toISOString(),
          ...(s.seq === null ? {} : { seq: s.seq }),
          ...(s.customer === null ? {} : { customer_id: r.customers[s.customer] }),
        }),
        ...(repeated ? { event_id: repeated } : {}),
      };
    });
    // What the model says of each: a new id is accepted, a repeat (of a stored one or of this batch's) a duplicate.
    const known = new Set(m.events.map((e) => e.id));
    const expected = events.map((e) => {
      if (known.has(e.event_id)) return 'duplicate';
      known.add(e.event_id);
      const customer = (e as { customer_id?: string }).customer_id ?? null;
      const kept: Kept = { id: e.event_id, occurredAt: e.occurred_at, seq: (e as { seq?: number }).seq ?? null, arrival: m.events.length + 1, customer: null };
      if (customer && m.customer === null) m.customer = customer;
      kept.customer = customer && customer !== m.customer ? customer : null;
      m.events.push(kept);
      return 'accepted';
    });
    const res = await postEvents(r.source.secret_key, events);
    expect(res.status).toBe(200);
    expect(res.body.results.map((x) => x.status)).toEqual(expected);
    await checkLive(m, r);
  }
  toString = () => `Batch(${JSON.stringify(this.sent)})`;
}

/** Runs the object's alarm as if its time had come (the close, a write out, a retry), unless it is the retention delete. */
async function runAlarmUnlessRetention(r: Real): Promise<boolean> {
  const at = await alarmOf(r.source.id, r.sessionId);
  // Past a day: retention's, due once everything is held downstream (the model keeps no clock; retention has its own tests).
  if (at === null || at > Date.now() + 86_400_000) return false;
  await runAlarmOf(sessionStub(r.source.id, r.sessionId));
  return true;
}

class Alarm implements fc.AsyncCommand<Model, Real> {
  check = (m: Readonly<Model>) => m.events.length > 0;
  async run(m: Model, r: Real) {
    await runAlarmUnlessRetention(r);
    await checkLive(m, r);
  }
  toString = () => 'Alarm';
}

/** A campaign link's click (rule 6): the session's customer, unless it has one. */
class Link implements fc.AsyncCommand<Model, Real> {
  constructor(readonly customer: 0 | 1) {}
  check = (m: Readonly<Model>) => m.events.length > 0;
  async run(m: Model, r: Real) {
    await sessionStub(r.source.id, r.sessionId).linkCustomer(r.customers[this.customer], 'campaign_link');
    m.customer ??= r.customers[this.customer];
    await checkLive(m, r);
  }
  toString = () => `Link(${this.customer})`;
}

/**
 * The session's customer erased through the API, once D1 knows the session (an erasure finds a
 * session through D1: docs/privacy.md, "What it cannot see"; otherwise this step is a no-op).
 */
class Erase implements fc.AsyncCommand<Model, Real> {
  check = (m: Readonly<Model>) => m.customer !== null && !m.d1Failing;
  async run(m: Model, r: Real) {
    await writesAfterAnswer(r);
    if ((await d1Session(r.source.id, r.sessionId))?.customer_id !== m.customer) return;
    const res = await call(`/api/v1/customers/${m.customer}`, { method: 'DELETE', token: r.source.secret_key });
    if (m.lakeDown.events || m.lakeDown.sessions) {
      // The lake refuses the tombstones: nothing is deleted, and the answer says to retry.
      expect([res.status, res.headers.get('retry-after'), ((await res.json()) as { error: { code: string } }).error.code]).toEqual([503, '1', 'unavailable']);
      return checkLive(m, r);
    }
    expect(await res.json()).toMatchObject({ complete: true, sessions: 1 });
    // The whole session goes, events that named another customer (a conflict) too.
    m.erased.push(...m.events.map((e) => e.id));
    m.events = [];
    m.customer = null;
    await checkLive(m, r);
  }
  toString = () => 'Erase';
}

class Restart implements fc.AsyncCommand<Model, Real> {
  check = (m: Readonly<Model>) => m.events.length > 0;
  async run(m: Model, r: Real) {
    // The instance goes for real, with its pending writes and timers; the next call builds a new one from storage.
    await expect(runInDurableObject(sessionStub(r.source.id, r.sessionId), (_o, state) => state.abort('restart (simulated)'))).rejects.toThrow();
    await checkLive(m, r);
  }
  toString = () => 'Restart';
}

class D1Down implements fc.AsyncCommand<Model, Real> {
  constructor(readonly down: boolean) {}
  check = (m: Readonly<Model>) => m.d1Failing !== this.down;
  async run(m: Model, r: Real) {
    if (this.down) r.restoreD1 = await failD1For(r.sessionId);
    else {
      await r.restoreD1?.();
      r.restoreD1 = null;
    }
    m.d1Failing = this.down;
  }
  toString = () => `D1${this.down ? 'Down' : 'Up'}`;
}

/** The lake's streams refusing: its events', its sessions', or both. */
type Streams = 'events' | 'sessions' | 'both';

class LakeDown implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly down: boolean,
    readonly streams: Streams,
  ) {}
  check = () => true;
  async run(m: Model, r: Real) {
    if (this.streams !== 'sessions') {
      await env.LAKE.refuse(r.source.id, this.down);
      m.lakeDown.events = this.down;
    }
    if (this.streams !== 'events') {
      await env.LAKE_SESSIONS.refuse(r.source.id, this.down);
      m.lakeDown.sessions = this.down;
    }
  }
  toString = () => `Lake${this.down ? 'Down' : 'Up'}(${this.streams})`;
}

const sent: fc.Arbitrary<Sent> = fc.record({
  repeat: fc.option(fc.nat(20), { freq: 4 }),
  minutesBack: fc.oneof(fc.integer({ min: 0, max: 10 }), fc.integer({ min: 0, max: 300 })),
  seq: fc.option(fc.integer({ min: 1, max: 5 }), { freq: 2 }),
  customer: fc.option(fc.constantFrom<0 | 1>(0, 1), { freq: 5 }),
});
const commands = [
  fc.array(sent, { minLength: 1, maxLength: 4 }).map((s) => new Batch(s)),
  fc.constant(new Alarm()),
  fc.constant(new Restart()),
  fc.constantFrom<0 | 1>(0, 1).map((c) => new Link(c)),
  fc.constant(new Erase()),
  fc.boolean().map((down) => new D1Down(down)),
  fc.tuple(fc.boolean(), fc.constantFrom<Streams>('events', 'sessions', 'both')).map(([down, streams]) => new LakeDown(down, streams)),
];

/** D1 and the lake back up. */
async function restore(r: Real) {
  await r.restoreD1?.();
  r.restoreD1 = null;
  await env.LAKE.refuse(r.source.id, false);
  await env.LAKE_SESSIONS.refuse(r.source.id, false);
}

type Inside = { life: Life; setup: Setup; idle(): Promise<void> };

/** Waits for the object's writes after the answer (D1's), which run on after the call returned. */
const writesAfterAnswer = (r: Real) =>
  runInDurableObject(sessionStub(r.source.id, r.sessionId), async (instance: SessionObject) => {
    await (instance as unknown as Inside).idle();
  });

/** Whether the object has written everything out (D1 and the lake hold its closed session), once its writes after the answer are done. */
const writtenOut = (r: Real) =>
  runInDurableObject(sessionStub(r.source.id, r.sessionId), async (instance: SessionObject) => {
    const o = instance as unknown as Inside;
    await o.idle();
    return o.life.state?.record.status === 'closed' && settled(o.life, o.setup);
  });

/** Everything back up, then the alarms (the close, the writes out) until the object has written everything out. */
async function settle(m: Model, r: Real) {
  await restore(r);
  if (!m.events.length) return;
  const until = Date.now() + 15_000;
  while (!(await writtenOut(r))) {
    // An alarm is due (a save after the answer may still be arming it: then a moment later).
    if (Date.now() > until) throw new Error('the session was never written out');
    if (!(await runAlarmUnlessRetention(r))) await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await checkLive(m, r);
  const row = await d1Session(r.source.id, r.sessionId);
  expect(row).toMatchObject({ customer_id: m.customer, event_count: m.events.length, status: 'closed' });
  const order = inOrder(m.events);
  const d1 = await d1Events(r.source.id, r.sessionId);
  expect(d1.map((e) => [e.event_id, e.customer_id])).toEqual(m.customer ? order.map((e) => [e.id, attributed(e, m)]) : []);
  // The lake: each event's latest record, attributed as the session is now.
  const latest = new Map<string, WebEvent & { version: number }>();
  for (const rec of await env.LAKE.records(r.source.id))
    if (rec.session_id === r.sessionId && (latest.get(rec.event_id)?.version ?? -1) <= rec.version)
      latest.set(rec.event_id, rec as unknown as WebEvent & { version: number });
  const erased = new Set(m.erased);
  expect([...latest.keys()].filter((id) => !erased.has(id)).sort()).toEqual(m.events.map((e) => e.id).sort());
  for (const e of m.events) expect(latest.get(e.id)!.customer_id, e.id).toBe(attributed(e, m));
  // What an erasure took: its last record in the lake is a tombstone (or it never reached the lake).
  for (const id of erased) if (latest.has(id)) expect((latest.get(id) as unknown as { erased: boolean }).erased, id).toBe(true);
}

describe('the session object against its model', () => {
  let source: CreatedSource;
  beforeAll(async () => {
    source = await createSource();
  });

  it('random batches, alarms, restarts and D1 and lake outages: every accepted event kept once, in order, attributed, and held downstream', {
    timeout: 600_000,
  }, async () => {
    let steps = 0;
    await fc.assert(
      fc.asyncProperty(fc.commands(commands, { maxCommands: 12 }), async (cmds) => {
        steps += [...cmds].length;
        const real: Real = { source, sessionId: unique('sim'), customers: [unique('c1'), unique('c2')], restoreD1: null };
        const model: Model = { events: [], customer: null, d1Failing: false, lakeDown: { events: false, sessions: false }, erased: [] };
        try {
          await fc.asyncModelRun(() => ({ model, real }), cmds);
          await settle(model, real);
        } finally {
          await restore(real);
        }
      }),
      { numRuns: RUNS, seed: SEED },
    );
    console.log(JSON.stringify({ simulation: 'session object', sequences: RUNS, steps, seed: SEED }));
  });
});
