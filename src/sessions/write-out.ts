import type { Tunables } from '../config';
import type { WebEvent } from '../events/schema';
import * as feed from '../monitor/feed';
import { type LakeSessionStream, type LakeStream, lakeBatches, lakeOf, lakeRecord, lakeSessionRecord, lakeSessionsOf } from '../storage/lake';
import { deleteSessions, writeSession } from '../storage/records';
import { shardFor, shardNamed } from '../storage/shards';
import { attribute, flushBackoffMs } from './record';
import type { SessionStorage } from './session-storage';
import { lakeBehind, lakeDue, type Outlet, type Pending, type SessionState } from './state';

/** Events written to D1 in one flush at most; a longer backlog is written in several, back to back. */
const FLUSH_EVENTS = 1000;
/** Writes out back to back after an answer at most; a session busier than that waits for its alarm. */
const WRITE_ROUNDS = 5;

/**
 * A session object's writes out: its events and record to D1 (the session's shard) and, when
 * there is one, to the lake, each with its progress and backoff in the session's state
 * (`Outlet`). After an answer (`now`) or by the object's alarm (`due`), one writer at a time.
 */
export class WriteOut {
  readonly lake: LakeStream | null;
  readonly lakeSessions: LakeSessionStream | null;
  /** The writes out under way (see `writer`), the alarm's or those after an answer. */
  writing: Promise<void> | null = null;
  /** When this instance last started writing out (ms): FLUSH_DELAY_S apart at least. */
  private wroteAt = -Infinity;

  constructor(
    private readonly env: Env,
    private readonly store: SessionStorage,
    private readonly settings: Tunables,
  ) {
    this.lake = lakeOf(env);
    this.lakeSessions = lakeSessionsOf(env);
  }

  /**
   * Makes new changes due to be written out. An open anonymous session writes out when it closes
   * (docs/cost.md): nothing reads its D1 row or its lake records before; its live reads come from
   * its object. Any other is written to D1 at once, after the answer, when its last write started
   * FLUSH_DELAY_S ago or more (true: the caller starts `now`); sooner, or `later` (a
   * restarted object replaying), the alarm writes it FLUSH_DELAY_S after the last. A write under
   * way takes the new changes in its next round. The lake gets a session when it closes, and each
   * change after (`outlets`).
   */
  schedule(state: SessionState, now: number, later?: 'later'): boolean {
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
   * alarm takes them. Then the stored state records how far the writes got, unless they were D1's
   * alone and succeeded: an object restarted before its next save writes D1 again what D1 holds,
   * which writes no row (docs/cost.md), where a save per write out is one row each time.
   */
  now(state: SessionState, current: () => SessionState | null, save: () => Promise<void>): void {
    const delay = this.settings.flushDelayMs;
    const rounds = async () => {
      for (let round = 0; current() === state; round++) {
        const lacking = this.lacking(state);
        if (!lacking.length) break;
        const now = Date.now();
        if (round === WRITE_ROUNDS || now < this.wroteAt + delay) {
          for (const outlet of lacking) outlet.at = Math.min(outlet.at ?? Infinity, this.wroteAt + delay);
          break;
        }
        this.wroteAt = now;
        await this.writeDue(state, now, 'now');
      }
    };
    void this.writer(rounds)
      .then(save)
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

  /** The alarm's writes out: what is due (`writeDue`), one writer at a time. */
  due(state: SessionState, now: number): Promise<void> {
    return this.writer(() => this.writeDue(state, now));
  }

  /**
   * Writes the lake and D1 what they lack, each when due (`now`: whatever its time, if it takes
   * the session's changes as they come); one refusing does not hold the other up.
   */
  private async writeDue(state: SessionState, now: number, at?: 'now'): Promise<void> {
    const due = (outlet: Outlet, time: number) => (at ? !outlet.attempts && this.outlets(state).includes(outlet) : now >= time);
    if (this.lake && this.lakeLacks(state) && due(state.lake, lakeDue(state, now))) await this.archive(this.lake, state, now);
    if (state.version > state.flushedVersion && due(state.d1, state.d1.at ?? Infinity)) await this.flush(state, now);
  }

  /** What waits to leave the object besides D1's writes. */
  pending(state: SessionState): Pending {
    return { outbox: this.store.outboxSize() > 0, lake: this.lakeLacks(state) };
  }

  /** Whether the lake (when there is one) lacks an event, or its sessions stream (when there is one) the closed session as it is. */
  lakeLacks(state: SessionState): boolean {
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
        const versionOf = (arrival: number) => (arrival > seen ? 0 : state.rewrites);
        for (const batch of lakeBatches(rows.map((r) => lakeRecord(attribute(r.event, state.record), versionOf(r.arrival), archivedAt))))
          await lake.send(batch);
        state.lakeSeen = Math.max(seen, rows.at(-1)?.arrival ?? 0);
        // Once its events are there, the closed session as it is now (its version: one record per change).
        const version = state.version;
        if (complete && this.lakeSessions && state.record.status === 'closed' && state.sessionArchived !== version) {
          await this.lakeSessions.send([lakeSessionRecord(state.record, state.incarnation, version, archivedAt)]);
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
    state.shard ??= target;
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
        // The session row holds what its event rows share only when it has event rows (a customer).
        const shared = record.customer_id === null ? undefined : state.shared;
        await writeSession(shard.db, record, events, { incarnation: state.incarnation, shared });
        // The console's D1 write lag: from the last event's arrival to its write.
        feed.count(record.source_id, 'd1_writes');
        feed.count(record.source_id, 'd1_lag_ms', Math.max(0, Date.now() - Date.parse(record.last_received_at ?? record.last_event_at)));
        if (!complete) return;
        const self = [{ source_id: record.source_id, session_id: record.session_id }];
        for (const name of state.leaving ?? [])
          if (name !== target) await deleteSessions(shardNamed(this.env, name).db, self, 'incarnation = ?2', state.incarnation);
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
}
