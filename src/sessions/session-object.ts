import { DurableObject } from 'cloudflare:workers';
import { tunables } from '../config';
import { LIMITS } from '../events/limits';
import type { WebEvent } from '../events/schema';
import type { DeanonymizedBy, OrderCursor, SessionRecord } from '../events/session-record';
import * as feed from '../monitor/feed';
import { type LakeStream, lakeBatches, lakeOf, lakeRecord, lakeSessionRecord, lakeSessionsOf, tombstone } from '../storage/lake';
import { deleteSessions, sharedOf, writeSession } from '../storage/records';
import { HOME_SHARD, shardFor, shardNamed } from '../storage/shards';
import type { ActiveRule } from '../triggers/rules';
import { fireDue, newTriggerState, onClose, onEvent, type TriggerMessage } from '../triggers/session-triggers';
import { addToRecord, attribute, closesAt, deanonymizedBy, flushBackoffMs, objectExpiresAt, openSession } from './record';
import { commonOf, SessionStorage } from './session-storage';
import { lakeBehind, lakeDue, newOutlet, nextAlarm, type Outlet, type Pending, readState, type SessionState, settled } from './state';

export type IngestStatus = 'accepted' | 'duplicate' | 'session_full';
export interface SessionPage {
  session: SessionRecord;
  events: WebEvent[];
  next: OrderCursor | null;
}

/** Events written to D1 in one flush at most; a longer backlog is written in several, back to back. */
const FLUSH_EVENTS = 1000;
/** Fired triggers put on the queue per call (the queue takes 100 messages per send). */
const SEND_CHUNK = 100;
const SENDS_PER_CALL = 10;
/** Writes out back to back after an answer at most; a session busier than that waits for its alarm. */
const WRITE_ROUNDS = 5;

/**
 * What of a state the stored events cannot replay: when it changes, the state row is written.
 * (An event that only adds to the record leaves the row behind; the constructor replays it, and
 * schedules the writes out that such an event scheduled.)
 */
const unreplayable = (s: SessionState) =>
  `${s.record.customer_id}|${s.record.status}|${s.record.identity_conflicts}|${s.timeoutS}|${s.d1.arrival}|${s.rewrites}`;

/**
 * One session (`<source_id>:<session_id>`): every event of it passes through here, so ordering,
 * inactivity and de-anonymization are never raced. Events are stored before the call returns;
 * one alarm, re-armed to the earliest due task, writes D1 and the lake, closes the session,
 * fires absence triggers and expires it.
 */
export class SessionObject extends DurableObject<Env> {
  private readonly store = new SessionStorage(this.ctx.storage.sql);
  private readonly settings = tunables(this.env);
  private readonly lake = lakeOf(this.env);
  private readonly lakeSessions = lakeSessionsOf(this.env);
  private state: SessionState | null = null;
  /** The alarm time this instance last set (undefined: unknown, so the next save sets it). */
  private armed: number | null | undefined = undefined;
  /** The writes out under way (see `writer`), the alarm's or those after an answer. */
  private writing: Promise<void> | null = null;
  /** When this instance last started writing out (ms): FLUSH_DELAY_S apart at least. */
  private wroteAt = -Infinity;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    void ctx.blockConcurrencyWhile(async () => {
      // A new object holds nothing to read.
      if (this.store.open() === undefined) return;
      const raw = this.store.readState();
      if (!raw) return;
      const { state, outbox } = readState(raw, this.store.lastArrival());
      if (state.shared) this.store.common = commonOf(state.record, state.shared);
      this.store.addToOutbox(outbox);
      this.replay(state);
      // The alarm as the runtime holds it: a save that would set it the same sets nothing, and a
      // state that never recorded it (a new session's, from its first event) knows it.
      this.armed = await ctx.storage.getAlarm();
      state.alarmAt ??= this.armed;
      this.state = state;
    });
  }

  /** Applies the events stored after the state row was last written, and schedules their writes out. */
  private replay(state: SessionState): void {
    const applied = state.appliedArrival;
    for (const { arrival, event } of this.store.eventsAfter(applied)) {
      addToRecord(state.record, event);
      state.version += 1;
      state.appliedArrival = arrival;
    }
    if (state.appliedArrival !== applied) this.scheduleFlush(state, Date.now(), 'later');
  }

  /** Stores a batch of this session's events (already normalized), one status per event. */
  async ingest(events: WebEvent[], timeoutS: number, rules: ActiveRule[] = []): Promise<IngestStatus[]> {
    const now = Date.now();
    // A session silent past retention, all of it in the next tiers, starts afresh.
    if (this.state && now >= objectExpiresAt(this.state.record, this.settings.retention) && settled(this.state, this.pending(this.state))) await this.forget();
    // What of the state its stored rows cannot replay (null: nothing stored yet, so the state row is written).
    let before = this.state && unreplayable(this.state);
    const statuses: IngestStatus[] = [];
    const fired: TriggerMessage[] = [];
    // The event_id decides: a repeat (an earlier batch's, or this one's) is not stored.
    // Arrivals are numbered on from the rows, not from the state row: an event stored by a call
    // whose state write was lost is not overwritten.
    const { stored, last } = this.store.seen(events.map((e) => e.event_id));
    let arrival = last;
    for (const event of events) {
      if (stored.has(event.event_id)) {
        statuses.push('duplicate');
        continue;
      }
      if (this.state && this.state.record.event_count >= LIMITS.sessionEvents) {
        statuses.push('session_full');
        continue;
      }
      const fresh = !this.state;
      const state = (this.state ??= this.begin(event, timeoutS, now));
      // A new session's first row keeps the state it starts from: it replays from there.
      const carried = this.store.insertEvent(event, ++arrival, fresh ? state : undefined);
      if (fresh) before = carried ? unreplayable(state) : null;
      stored.add(event.event_id);
      const applied = this.applyEvent(state, event, arrival, now);
      if (rules.length || state.triggers?.rules.length) {
        const triggers = (state.triggers ??= newTriggerState());
        triggers.rules = rules;
        onEvent(triggers, applied, state.record, now, fired);
      }
      statuses.push('accepted');
    }
    const state = this.state;
    if (state && statuses.includes('accepted')) {
      this.store.addToOutbox(fired);
      state.timeoutS = timeoutS;
      const writeNow = this.scheduleFlush(state, now);
      // Most events only add to the record: the row can wait (replay).
      await this.save(before === null || state.triggers !== undefined || unreplayable(state) !== before ? 'always' : 'if-alarm-moved');
      if (fired.length) {
        await this.sendOutbox();
        await this.save('if-alarm-moved'); // the queue took them: no retry is due
      }
      if (writeNow) this.writeOutNow(state);
    }
    return statuses;
  }

  /** A new session's state, from its first event; its events' rows leave out what they share with it. */
  private begin(event: WebEvent, timeoutS: number, now: number): SessionState {
    const state = newState(event, timeoutS, now);
    this.store.common = commonOf(state.record, state.shared!);
    return state;
  }

  /** Links the session to a customer from outside its events (a campaign link: docs/design.md, rule 6). */
  async linkCustomer(customerId: string, by: DeanonymizedBy): Promise<SessionRecord | null> {
    const state = this.state;
    if (!state) return null;
    this.identify(state, customerId, by, Date.now());
    const writeNow = this.scheduleFlush(state, Date.now());
    await this.save();
    if (writeNow) this.writeOutNow(state);
    return state.record;
  }

  /** A page of the session's events in session order, attributed as D1 will have them; null for no session. */
  read(after?: OrderCursor, limit = 1000): SessionPage | null {
    const state = this.state;
    if (!state) return null;
    const page = this.store.eventsInOrder(after, limit);
    return { session: state.record, events: page.events.map((e) => attribute(e, state.record)), next: page.next };
  }

  /** The events of these ids (a trigger's, for its webhook), attributed. */
  eventsById(ids: string[]): WebEvent[] {
    const state = this.state;
    return state ? this.store.eventsById(ids).map((e) => attribute(e, state.record)) : [];
  }

  /**
   * An erasure: the lake gets a tombstone of each event first (its next version, `erased`, its
   * contents gone), so lake readers drop them too; then everything the object holds goes.
   * Returns the events it held, or null when it holds no session (gone after its days: D1 and
   * the lake have it). A lake that refuses makes this throw: nothing is deleted yet.
   */
  async erase(): Promise<number | null> {
    await this.writing; // a write out under way would put back what D1 just lost
    const state = this.state;
    if (!state) return null;
    await this.sendTombstones(state, this.store.eventsAfter(0));
    await this.lakeSessions?.send([lakeSessionRecord(state.record, state.incarnation ?? 0, state.version + 1, new Date().toISOString(), true)]);
    return this.forget();
  }

  /**
   * An erasure of a customer this session does not belong to: the events that name them (an
   * identity conflict, a claim) go, after their tombstones reached the lake. Returns how many.
   */
  async eraseEventsOf(customerId: string): Promise<number> {
    await this.writing;
    const state = this.state;
    if (!state) return 0;
    const naming = this.store.eventsNaming(customerId);
    if (!naming.length) return 0;
    await this.sendTombstones(state, naming);
    this.store.deleteEvents(naming.map((r) => r.arrival));
    state.record.event_count -= naming.length;
    state.version += 1;
    await this.save();
    return naming.length;
  }

  /** Erased events' last version to the lake, when there is one: a tombstone each, for lake readers to drop them. */
  private async sendTombstones(state: SessionState, rows: { event: WebEvent }[]): Promise<void> {
    if (!this.lake) return;
    const erasedAt = new Date().toISOString();
    for (const batch of lakeBatches(rows.map((r) => tombstone(r.event, state.rewrites + 1, erasedAt)))) await this.lake.send(batch);
  }

  /** Deletes everything the object holds (retention, once the next tiers hold it all; or an erasure). */
  private async forget(): Promise<number> {
    const held = this.state?.record.event_count ?? 0;
    await this.ctx.storage.deleteAll();
    this.state = null;
    this.armed = undefined;
    this.store.forgot();
    return held;
  }

  override async alarm(): Promise<void> {
    this.armed = undefined; // a running alarm is no longer armed
    await this.writing; // a write out under way first: this run sees what it did
    const state = this.state;
    if (!state) return;
    const before = stateRow(state);
    const now = Math.max(Date.now(), state.alarmAt ?? 0);
    // docs/design.md rules 7 and 8: nothing is deleted that the next tiers lack; while a write fails, the session stays.
    if (now >= objectExpiresAt(state.record, this.settings.retention) && settled(state, this.pending(state))) {
      await this.forget();
      return;
    }
    const fired: TriggerMessage[] = [];
    const closeAt = closesAt(state.record, state.timeoutS);
    const closing = state.record.status === 'open' && now >= closeAt;
    if (closing) {
      state.record.status = 'closed';
      state.record.closed_at = new Date(closeAt).toISOString();
      state.version += 1;
      // D1 gets the closed session now, and the lake anything it lacks with it (unless backing off).
      if (!state.d1.attempts) state.d1.at = now;
      if (this.lakeLacks(state) && !state.lake.attempts) state.lake.at = now;
      if (state.triggers) onClose(state.triggers, state.record, now, (name) => this.store.hasEventNamed(name), fired);
    }
    if (state.triggers) fireDue(state.triggers, state.record, now, fired);
    this.store.addToOutbox(fired);
    // Triggers fired here are saved before any call out: a run again would fire them again. A
    // close alone is decided the same way again by a run again (an alarm that did not finish is
    // run again by the runtime), so it is saved once, at the end (docs/cost.md).
    if (fired.length) await this.save();
    await this.writer(() => this.writeOutDue(state, now));
    await this.sendOutbox();
    // An alarm that fired early (its due time had moved later) changed nothing: it re-arms only.
    await this.save(stateRow(state) === before ? 'if-alarm-moved' : 'always');
    this.ctx.waitUntil(feed.flushMonitors(this.env));
  }

  /** Applies a new event, stored as it came at `arrival`, to the session; flags it gains are stored too. Returns the event as stored. */
  private applyEvent(state: SessionState, event: WebEvent, arrival: number, now: number): WebEvent {
    const record = state.record;
    const flags = [...event.flags];
    if (record.status === 'closed') {
      // Rule 4 (docs/design.md): a tracker retry lands late in the closed session; the partner's
      // channels re-open it. Re-opening changes the session, not its events: they are not written again.
      if (event.channel === 'tracker') flags.push('late');
      else {
        record.status = 'open';
        record.closed_at = null;
      }
    }
    if (event.customer_id && record.customer_id && event.customer_id !== record.customer_id) {
      record.identity_conflicts += 1;
      flags.push('identity_conflict');
    } else if (event.customer_id) {
      this.identify(state, event.customer_id, deanonymizedBy(event.name), now);
    }
    const stored: WebEvent = flags.length === event.flags.length ? event : { ...event, flags };
    if (stored !== event) this.store.replaceEvent(arrival, stored);
    addToRecord(record, stored);
    state.version += 1;
    state.appliedArrival = arrival;
    return stored;
  }

  /** Rule 5 (docs/design.md): the first customer links the session and every event of it, before and after. */
  private identify(state: SessionState, customerId: string, by: DeanonymizedBy, now: number): void {
    if (state.record.customer_id) return;
    state.record.customer_id = customerId;
    state.record.deanonymized_at = new Date(now).toISOString();
    state.record.deanonymized_by = by;
    // Every event is attributed anew: D1 gets them all again, and the lake a new version of each.
    state.version += 1;
    state.d1.arrival = 0;
    state.lake.arrival = 0;
    state.rewrites += 1;
  }

  /**
   * Makes new changes due to be written out. An open anonymous session writes out when it closes
   * (docs/cost.md): nothing reads its D1 row or its lake records before; its live reads come from
   * here. Any other is written to D1 at once, after the answer, when its last write started
   * FLUSH_DELAY_S ago or more (true: the caller starts `writeOutNow`); sooner, or `later` (a
   * restarted object replaying), the alarm writes it FLUSH_DELAY_S after the last. A write under
   * way takes the new changes in its next round. The lake gets a session when it closes, and each
   * change after (`outlets`).
   */
  private scheduleFlush(state: SessionState, now: number, later?: 'later'): boolean {
    if (state.record.customer_id === null && state.record.status === 'open') return false;
    if (this.writing) return false;
    const delay = this.settings.flushDelayMs;
    if (!later && now >= this.wroteAt + delay) return true;
    // While D1 (or the lake) is failing, the backoff decides, not the traffic.
    const soon = later ? now + delay : this.wroteAt + delay;
    for (const outlet of this.outlets(state)) if (!outlet.attempts) outlet.at = Math.min(outlet.at ?? Infinity, soon);
    return false;
  }

  /**
   * Where a session's changes go as they come: D1, and the lake (when there is one) once it is
   * closed. An open session's events reach the lake with its close: its readers are not live, and
   * each event goes once in its final attribution, not again as a customer is linked (docs/cost.md).
   */
  private outlets(state: SessionState): Outlet[] {
    return this.lake && state.record.status === 'closed' ? [state.d1, state.lake] : [state.d1];
  }

  /** The outlets that lack something and are not backing off from a failure. */
  private lacking(state: SessionState): Outlet[] {
    return this.outlets(state).filter((o) => !o.attempts && (o === state.d1 ? state.version > state.flushedVersion : this.lakeLacks(state)));
  }

  /**
   * Writes out now, after the answer: no alarm is set and run for it (an alarm is a Durable
   * Object request and two rows written, docs/cost.md). Changes that come meanwhile go in the
   * next round when FLUSH_DELAY_S has passed; otherwise, and past WRITE_ROUNDS or a failure, the
   * alarm takes them. Then the state row records how far the writes got, unless they were D1's
   * alone and succeeded: an object restarted before its next save writes D1 again what D1 holds,
   * which writes no row (docs/cost.md), where a state row per write out is one row each time.
   */
  private writeOutNow(state: SessionState): void {
    const delay = this.settings.flushDelayMs;
    const before = kept(state);
    const rounds = async () => {
      for (let round = 0; this.state === state; round++) {
        const lacking = this.lacking(state);
        if (!lacking.length) break;
        const now = Date.now();
        if (round === WRITE_ROUNDS || now < this.wroteAt + delay) {
          for (const outlet of lacking) outlet.at = Math.min(outlet.at ?? Infinity, this.wroteAt + delay);
          break;
        }
        this.wroteAt = now;
        await this.writeOutDue(state, now, 'now');
      }
    };
    void this.writer(rounds)
      .then(() => this.save(kept(state) === before ? 'if-alarm-moved' : 'always'))
      .catch((error) => console.error(JSON.stringify({ message: 'write out failed', error: String(error) })));
  }

  /**
   * Runs one writer at a time, the alarm's or the one after an answer: two at once would send the
   * same events twice. While one runs, `writing` says so (an event then leaves its writes to it).
   */
  private async writer(write: () => Promise<void>): Promise<void> {
    while (this.writing) await this.writing;
    const run = write();
    this.writing = run.catch(() => {});
    try {
      await run;
    } finally {
      this.writing = null;
    }
  }

  /**
   * Writes the lake and D1 what they lack, each when due (`now`: whatever its time, if it takes
   * the session's changes as they come); one refusing does not hold the other up.
   */
  private async writeOutDue(state: SessionState, now: number, at?: 'now'): Promise<void> {
    const due = (outlet: Outlet, time: number) => (at ? !outlet.attempts && this.outlets(state).includes(outlet) : now >= time);
    if (this.lake && this.lakeLacks(state) && due(state.lake, lakeDue(state, now))) await this.archive(this.lake, state, now);
    if (state.version > state.flushedVersion && due(state.d1, state.d1.at ?? Infinity)) await this.flush(state, now);
  }

  /** What waits to leave the object besides D1's writes. */
  private pending(state: SessionState): Pending {
    return { outbox: this.store.outboxSize() > 0, lake: this.lakeLacks(state) };
  }

  /** Whether the lake (when there is one) lacks an event, or its sessions stream (when there is one) the closed session as it is. */
  private lakeLacks(state: SessionState): boolean {
    return this.lake !== null && lakeBehind(state, this.lakeSessions !== null);
  }

  /** Sends the events the lake lacks, in their current version: each event reaches the lake once per version. */
  private archive(lake: LakeStream, state: SessionState, now: number): Promise<void> {
    const archivedAt = new Date(now).toISOString();
    return this.writeOut(
      state.lake,
      'lake send',
      state,
      now,
      async (rows, complete) => {
        // Version 0 the first time an event goes (docs/lake.md), the session's rewrites after.
        const seen = state.lakeSeen;
        const versionOf = (arrival: number) => (seen !== undefined && arrival > seen ? 0 : state.rewrites);
        for (const batch of lakeBatches(rows.map((r) => lakeRecord(attribute(r.event, state.record), versionOf(r.arrival), archivedAt))))
          await lake.send(batch);
        if (seen !== undefined) state.lakeSeen = Math.max(seen, rows.at(-1)?.arrival ?? 0);
        // Once its events are there, the closed session as it is now (its version: one record per change).
        const version = state.version;
        if (complete && this.lakeSessions && state.record.status === 'closed' && state.sessionArchived !== version) {
          await this.lakeSessions.send([lakeSessionRecord(state.record, state.incarnation ?? 0, version, archivedAt)]);
          state.sessionArchived = version;
        }
      },
      () => this.lakeLacks(state),
    );
  }

  /**
   * Writes the session record, and the events D1 lacks once the session has a customer
   * (docs/design.md §4: an anonymous session's events stay in its object and the lake), to the
   * session's shard. When that shard changes (its customer linked, shards added), the whole
   * session goes to the new one and leaves the old once the new one holds it all.
   */
  private flush(state: SessionState, now: number): Promise<void> {
    const upTo = state.version;
    const rewrites = state.rewrites;
    const record = { ...state.record };
    const target = shardFor(this.env, record).name;
    state.shard ??= state.flushedVersion > 0 ? HOME_SHARD : target;
    if (state.shard !== target) {
      state.leaving = [...(state.leaving ?? []), state.shard];
      state.shard = target;
      state.d1.arrival = 0;
    }
    const shard = shardNamed(this.env, target);
    return this.writeOut(
      state.d1,
      'session flush',
      state,
      now,
      async (rows, complete) => {
        const events = record.customer_id === null ? [] : rows.map((r) => ({ ...attribute(r.event, record), arrival: r.arrival }));
        if (events[0]) state.shared ??= sharedOf(events[0]);
        // The session row holds what its event rows share only when it has event rows (a customer).
        const shared = record.customer_id === null ? undefined : state.shared;
        await writeSession(shard.db, record, events, { incarnation: state.incarnation ?? 0, shared });
        // The console's D1 write lag: from the last event's arrival to its write.
        feed.count(record.source_id, 'd1_writes');
        feed.count(record.source_id, 'd1_lag_ms', Math.max(0, Date.now() - Date.parse(record.last_received_at ?? record.last_event_at)));
        if (!complete) return;
        const self = [{ source_id: record.source_id, session_id: record.session_id }];
        for (const name of state.leaving ?? [])
          if (name !== target) await deleteSessions(shardNamed(this.env, name).db, self, 'incarnation = ?2', state.incarnation ?? 0);
        delete state.leaving;
        if (state.rewrites === rewrites) state.flushedVersion = upTo;
      },
      () => state.version > state.flushedVersion,
    );
  }

  /**
   * Writes the events an outlet lacks, at most FLUSH_EVENTS at a time (a longer backlog goes in
   * several writes, back to back), then schedules the next write while `behind` says one is
   * needed; on failure retries later with backoff, losing nothing.
   */
  private async writeOut(
    outlet: Outlet,
    what: string,
    state: SessionState,
    now: number,
    write: (rows: { arrival: number; event: WebEvent }[], complete: boolean) => Promise<void>,
    behind: () => boolean,
  ): Promise<void> {
    const rewrites = state.rewrites;
    const rows = this.store.eventsAfter(outlet.arrival, FLUSH_EVENTS + 1);
    const chunk = rows.slice(0, FLUSH_EVENTS);
    const complete = rows.length <= FLUSH_EVENTS;
    try {
      await write(chunk, complete);
      // A customer linked while this write was under way: every event goes again.
      if (state.rewrites === rewrites) outlet.arrival = chunk.at(-1)?.arrival ?? outlet.arrival;
      outlet.attempts = 0;
      outlet.at = behind() ? (complete ? now + this.settings.flushDelayMs : now) : null;
    } catch (error) {
      outlet.attempts += 1;
      outlet.at = now + flushBackoffMs(outlet.attempts);
      feed.count(state.record.source_id, outlet === state.d1 ? 'd1_write_failed' : 'lake_write_failed');
      const session = `${state.record.source_id}:${state.record.session_id}`;
      console.error(JSON.stringify({ message: `${what} failed`, session, attempts: outlet.attempts, error: String(error) }));
    }
  }

  /**
   * Re-arms the one alarm to the earliest due task, and writes the state row: `always`, or
   * `if-alarm-moved` earlier only the alarm (what changed, the stored events replay: see `replay`).
   */
  private async save(writeRow: 'always' | 'if-alarm-moved' = 'always'): Promise<void> {
    const state = this.state;
    if (!state) return;
    const due = nextAlarm(state, this.settings.retention, Date.now(), this.pending(state));
    // What only puts the due time later (an event, for an open session's close) leaves the alarm
    // where it is: when it fires early, it finds nothing due and re-arms itself (docs/cost.md).
    const armed = this.armed;
    const keep = typeof armed === 'number' && (due === null || due >= armed);
    if (keep && writeRow === 'if-alarm-moved') return;
    const at = keep ? armed : due;
    state.alarmAt = at;
    if (writeRow === 'always') this.store.writeState(state);
    if (at === armed) return;
    this.armed = at;
    try {
      // A due time already past fires at once (setAlarm refuses times before the epoch).
      if (at !== null) await this.ctx.storage.setAlarm(Math.max(at, Date.now()));
      else await this.ctx.storage.deleteAlarm();
    } catch (error) {
      this.armed = undefined;
      throw error;
    }
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

/**
 * What of a write out the state row must keep: the lake's progress (a record sent again is a
 * duplicate) and failures (their backoff). D1's progress need not be kept (see `writeOutNow`).
 */
const kept = (s: SessionState) => JSON.stringify([s.lake, s.sessionArchived, s.d1.attempts]);

/** The state as its row holds it, but for the alarm time: what an alarm run compares to know it changed something. */
const stateRow = (s: SessionState) => JSON.stringify({ ...s, alarmAt: null });

function newState(event: WebEvent, timeoutS: number, now: number): SessionState {
  return {
    record: openSession(event),
    incarnation: now,
    timeoutS,
    version: 0,
    appliedArrival: 0,
    flushedVersion: 0,
    rewrites: 0,
    d1: newOutlet(),
    lake: newOutlet(),
    lakeSeen: 0,
    shared: sharedOf(event),
    alarmAt: null,
  };
}
