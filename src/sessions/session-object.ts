import { DurableObject } from 'cloudflare:workers';
import { tunables } from '../config';
import type { WebEvent } from '../events/schema';
import type { DeanonymizedBy, OrderCursor, SessionRecord } from '../events/session-record';
import * as feed from '../monitor/feed';
import { shardFor } from '../storage/shards';
import type { ActiveRule } from '../triggers/rules';
import { type Effect, EMPTY, type IngestStatus, type Input, type Life, type Setup, type Step, step, type Write } from './lifecycle';
import { attribute } from './record';
import { commonOf, SessionStorage } from './session-storage';
import type { SessionState } from './state';
import { WriteOut } from './write-out';

export type { IngestStatus } from './lifecycle';
export interface SessionPage {
  session: SessionRecord;
  events: WebEvent[];
  next: OrderCursor | null;
}

/** Fired triggers put on the queue per call (the queue takes 100 messages per send). */
const SEND_CHUNK = 100;
const SENDS_PER_CALL = 10;

/**
 * One session (`<source_id>:<session_id>`): every event of it passes through here, so ordering,
 * inactivity and de-anonymization are never raced. A shell around the session's lifecycle
 * (`step`, lifecycle.ts, where every transition is): it hands each input to it with the time, carries
 * out the effects (its SQLite, D1, the lake, the queue, the alarm) and hands their results back.
 * Events are stored before the call returns; writes out run after the answer, or by the alarm.
 */
export class SessionObject extends DurableObject<Env> {
  private readonly store = new SessionStorage(this.ctx.storage.sql);
  private readonly out = new WriteOut(this.env, this.store);
  private readonly setup: Setup;
  private life: Life = EMPTY;
  /** The writes out under way (a chain: each result may start the next). */
  private writes: Promise<void> | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const { retention, flushDelayMs } = tunables(env);
    this.setup = { retention, flushDelayMs, lake: this.out.lake !== null, lakeSessions: this.out.lakeSessions !== null, shardOf: (r) => shardFor(env, r).name };
    void ctx.blockConcurrencyWhile(async () => {
      // A new object holds nothing to read.
      if (!this.store.open()) return;
      const state = this.store.readState() as SessionState | null;
      if (!state) return;
      this.store.common = commonOf(state.record, state.shared);
      const events = this.store.eventsAfter(state.appliedArrival);
      await this.run({ type: 'wake', state, events, armed: await ctx.storage.getAlarm(), outbox: this.store.outboxSize() });
    });
  }

  /** Hands an input to the lifecycle with the time (Date.now: the one clock), and carries out what it says. */
  private async run(input: Input): Promise<Step> {
    const result = step(this.life, input, Date.now(), this.setup);
    this.life = result.life;
    await this.carry(result.effects);
    return result;
  }

  /**
   * Carries out effects in order. One that calls out (a write by the alarm, the queue, the lake's
   * tombstones) comes last in its list; its result is the next input. A write after an answer
   * runs on after it.
   */
  private async carry(effects: readonly Effect[]): Promise<void> {
    for (const effect of effects) {
      switch (effect.type) {
        case 'forget':
          await this.ctx.storage.deleteAll();
          this.store.forgot();
          break;
        case 'store':
          if (effect.start) {
            const start = JSON.parse(effect.start) as SessionState;
            this.store.common = commonOf(start.record, start.shared);
          }
          this.store.insertEvent(effect.event, effect.arrival, effect.start);
          break;
        case 'outbox':
          this.store.addToOutbox(effect.messages);
          break;
        case 'save':
          this.store.writeState(effect.state);
          break;
        case 'alarm':
          // A due time already past fires at once (setAlarm refuses times before the epoch).
          if (effect.at === null) await this.ctx.storage.deleteAlarm();
          else await this.ctx.storage.setAlarm(Math.max(effect.at, Date.now()));
          break;
        case 'write': {
          const done = this.write(effect.write);
          if (effect.write.by === 'due') await done;
          break;
        }
        case 'send':
          await this.sendOutbox();
          await this.run({ type: 'sent', waiting: this.store.outboxSize() });
          break;
        case 'tombstones': {
          // Should the lake refuse, nothing is deleted, and the erasure fails (its caller answers 503).
          const failure = await this.out.tombstones(effect).then(
            () => null,
            (error: unknown) => ({ error }),
          );
          await this.run({ type: 'tombstoned', ok: !failure, arrivals: effect.events.map((r) => r.arrival), whole: effect.session !== null });
          if (failure) throw failure.error;
          break;
        }
        case 'delete':
          this.store.deleteEvents(effect.arrivals);
          break;
      }
    }
  }

  /** Starts a write out; its result goes back to the lifecycle, which may start the next. */
  private write(write: Write): Promise<void> {
    const done = this.out.perform(write).then((result) => this.run(result).then(() => {}));
    const tracked: Promise<void> = done
      .catch((error) => console.error(JSON.stringify({ message: 'write out failed', error: String(error) })))
      .finally(() => {
        if (this.writes === tracked) this.writes = null;
      });
    this.writes = tracked;
    return done;
  }

  /** Until no write out is under way (the alarm and an erasure see what they did). */
  private async idle(): Promise<void> {
    while (this.writes) await this.writes;
  }

  /**
   * Stores a batch of this session's events (already normalized), one status per event. `rules`:
   * the source's active trigger rules, null when unknown (D1 down: the session keeps those it had).
   */
  async ingest(events: WebEvent[], timeoutS: number, rules: ActiveRule[] | null = []): Promise<IngestStatus[]> {
    // Arrivals are numbered on from the rows, not from the stored state: an event stored by a call
    // whose state write was lost is not overwritten.
    const { stored, last } = this.store.seen(events.map((e) => e.event_id));
    return (await this.run({ type: 'batch', events, stored, last, timeoutS, rules })).statuses!;
  }

  /** Links the session to a customer from outside its events (a campaign link: docs/design.md, rule 6). */
  async linkCustomer(customerId: string, by: DeanonymizedBy): Promise<SessionRecord | null> {
    return (await this.run({ type: 'link', customer: customerId, by })).record!;
  }

  /** A page of the session's events in session order, attributed as D1 will have them; null for no session. */
  read(after?: OrderCursor, limit = 1000): SessionPage | null {
    const state = this.life.state;
    if (!state) return null;
    const page = this.store.eventsInOrder(after, limit);
    return { session: state.record, events: page.events.map((e) => attribute(e, state.record)), next: page.next };
  }

  /** The events of these ids (a trigger's, for its webhook), attributed. */
  eventsById(ids: string[]): WebEvent[] {
    const state = this.life.state;
    return state ? this.store.eventsById(ids).map((e) => attribute(e, state.record)) : [];
  }

  /**
   * An erasure: the lake gets a tombstone of each event first (its next version, `erased`, its
   * contents gone), so lake readers drop them too; then everything the object holds goes.
   * Returns the events it held, or null when it holds no session (gone after its days: D1 and
   * the lake have it). A lake that refuses makes this throw: nothing is deleted yet.
   */
  async erase(): Promise<number | null> {
    await this.idle(); // a write out under way would put back what D1 just lost
    return (await this.run({ type: 'erase', events: this.store.eventsAfter(0), whole: true })).erased!;
  }

  /**
   * An erasure of a customer this session does not belong to: the events that name them (an
   * identity conflict, a claim) go, after their tombstones reached the lake. Returns how many.
   */
  async eraseEventsOf(customerId: string): Promise<number> {
    await this.idle();
    return (await this.run({ type: 'erase', events: this.store.eventsNaming(customerId), whole: false })).erased ?? 0;
  }

  override async alarm(): Promise<void> {
    await this.idle(); // a write out under way first: this run sees what it did
    await this.run({ type: 'alarm', has: (name) => this.store.hasEventNamed(name) });
    this.ctx.waitUntil(feed.flushMonitors(this.env));
  }

  /** Puts fired triggers on the queue, oldest first, in sends the queue accepts; what fails waits for the alarm. */
  private async sendOutbox(): Promise<void> {
    if (this.store.outboxSize() === 0) return;
    for (let i = 0; i < SENDS_PER_CALL; i++) {
      const head = this.store.outboxHead(SEND_CHUNK);
      if (!head.length) return;
      try {
        await this.env.TRIGGERS.sendBatch(head.map(({ message }) => ({ body: message })));
      } catch (error) {
        console.error(JSON.stringify({ message: 'trigger enqueue failed', waiting: this.store.outboxSize(), error: String(error) }));
        return;
      }
      this.store.removeFromOutbox(head.at(-1)!.id);
    }
  }
}
