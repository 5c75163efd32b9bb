import * as feed from '../monitor/feed';
import { type LakeSessionStream, type LakeStream, lakeBatches, lakeOf, lakeRecord, lakeSessionRecord, lakeSessionsOf, tombstone } from '../storage/lake';
import { deleteSessions, writeSession } from '../storage/records';
import { shardNamed } from '../storage/shards';
import { type Effect, FLUSH_EVENTS, type Input, type Write } from './lifecycle';
import { attribute } from './record';
import type { SessionStorage } from './session-storage';

type Written = Extract<Input, { type: 'written' }>;

/**
 * Carries out a session object's writes out (`Write`, lifecycle.ts), and reports how they went:
 * its events and record to D1 (the session's shard) and, when there is one, to the lake. Progress
 * and backoff are the lifecycle's; this only writes.
 */
export class WriteOut {
  readonly lake: LakeStream | null;
  readonly lakeSessions: LakeSessionStream | null;

  constructor(
    private readonly env: Env,
    private readonly store: SessionStorage,
  ) {
    this.lake = lakeOf(env);
    this.lakeSessions = lakeSessionsOf(env);
  }

  /** Writes the events after `write.after` (FLUSH_EVENTS at most), then, once nothing is left, what goes with the last. */
  async perform(write: Write): Promise<Written> {
    const rows = this.store.eventsAfter(write.after, FLUSH_EVENTS + 1);
    const chunk = rows.slice(0, FLUSH_EVENTS);
    const complete = rows.length <= FLUSH_EVENTS;
    const last = chunk.at(-1)?.arrival;
    const { record } = write;
    let sent = false;
    try {
      if (write.to === 'lake') {
        const lake = this.lake!;
        const at = new Date(write.at).toISOString();
        // Version 0 the first time an event goes (docs/lake.md), the session's rewrites after.
        const versionOf = (arrival: number) => (arrival > write.lakeSeen ? 0 : write.rewrites);
        for (const batch of lakeBatches(chunk.map((r) => lakeRecord(attribute(r.event, record), versionOf(r.arrival), at)))) await lake.send(batch);
        sent = true;
        // Once its events are there, the closed session as it is now (its version: one record per change).
        if (complete && write.session !== null) await this.lakeSessions?.send([lakeSessionRecord(record, write.incarnation, write.session, at)]);
      } else {
        // An anonymous session's events stay in its object and the lake (docs/design.md §4); its row holds what event rows share only when it has some.
        const identified = record.customer_id !== null;
        const events = identified ? chunk.map((r) => ({ ...attribute(r.event, record), arrival: r.arrival })) : [];
        const db = shardNamed(this.env, write.shard).db;
        await writeSession(db, record, events, { incarnation: write.incarnation, shared: identified ? write.shared : undefined });
        // The console's D1 write lag: from the last event's arrival to its write.
        feed.count(record.source_id, 'd1_writes');
        feed.count(record.source_id, 'd1_lag_ms', Math.max(0, Date.now() - Date.parse(record.last_received_at ?? record.last_event_at)));
        const self = [{ source_id: record.source_id, session_id: record.session_id }];
        if (complete)
          for (const name of write.leaving)
            if (name !== write.shard) await deleteSessions(shardNamed(this.env, name).db, self, 'incarnation = ?2', write.incarnation);
      }
      return { type: 'written', ok: true, last, complete };
    } catch (error) {
      const what = write.to === 'd1' ? 'session flush' : 'lake send';
      feed.count(record.source_id, write.to === 'd1' ? 'd1_write_failed' : 'lake_write_failed');
      console.error(JSON.stringify({ message: `${what} failed`, session: `${record.source_id}:${record.session_id}`, error: String(error) }));
      return { type: 'written', ok: false, last: sent ? last : undefined, complete };
    }
  }

  /** An erasure's tombstones to the lake, when there is one: one per event, then the session's. Throws when the lake refuses. */
  async tombstones(effect: Extract<Effect, { type: 'tombstones' }>): Promise<void> {
    if (this.lake) for (const batch of lakeBatches(effect.events.map((r) => tombstone(r.event, effect.version, effect.erasedAt)))) await this.lake.send(batch);
    const s = effect.session;
    if (s) await this.lakeSessions?.send([lakeSessionRecord(s.record, s.incarnation, s.version, effect.erasedAt, true)]);
  }
}
