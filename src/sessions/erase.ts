import type { OrderCursor } from '../events/session-record';
import { customerSessionKeys, deleteCustomerTraces, erasureKey, recordErasure, sessionsWithEventsOf } from '../storage/erasure';
import { lakeBatches, lakeOf, lakeSessionRecord, lakeSessionsOf, tombstone } from '../storage/lake';
import { unavailableOnFailure } from '../storage/outage';
import { deleteSessions, type SessionKey, sessionFromD1 } from '../storage/records';
import { onEveryShard } from '../storage/shards';
import { listSources } from '../storage/sources';
import { sessionObject } from './dispatch';

/** Sessions erased per call: a customer with more is finished by calling again (it is idempotent). */
const SESSIONS_PER_CALL = 500;
const PARALLEL_OBJECTS = 50;
/** A session object that could not erase (the lake refused its tombstones: nothing was deleted): a 503, and the caller erases again. */
const ERASE_FAILED = ['erasure failed', 'a session could not be erased now (the lake or the session refused); retry: an erasure is idempotent'] as const;

export interface ErasureReport {
  customer_id: string;
  sessions: number;
  events: number;
  segment_memberships: number;
  dead_letters: number;
  link_landings: number;
  /** Refused events and live items in the console's monitors that named them (counted by the caller, which reaches the monitors). */
  console_items: number;
  /** False when more sessions remain: call again. */
  complete: boolean;
}

/** An erasure's report, and what the caller erases next (the monitors, the wire visitors): the sessions erased and the sources in scope. */
export interface Erasure {
  report: ErasureReport;
  sessions: SessionKey[];
  sourceIds: string[];
}

/**
 * Erases a customer in `scope` (one source, or null for all): each session that names them
 * (verified or as a claim) in its object and in D1, then their events elsewhere, segment
 * memberships, dead letters and link landings. Objects first, so no pending flush writes a
 * session back. A session linked in the last seconds, not yet in D1, is not found: call again
 * once the customer's activity stopped (docs/privacy.md).
 */
export async function eraseCustomer(env: Env, customerId: string, scope: string | null): Promise<Erasure> {
  const keys = await customerSessionKeys(env, customerId, scope, SESSIONS_PER_CALL);
  const sourceIds = scope ? [scope] : (await listSources(env.DB)).map((s) => s.id);
  // Recorded first: a trigger message of theirs delivered from now on is dropped, not sent or dead-lettered.
  const customerKey = await erasureKey(env.LINK_SIGNING_KEY, { customer: customerId });
  await recordErasure(
    env.DB,
    [
      ...sourceIds.map((sourceId) => ({ sourceId, key: customerKey })),
      ...(await Promise.all(keys.map(async (k) => ({ sourceId: k.source_id, key: await erasureKey(env.LINK_SIGNING_KEY, { session: k.session_id }) })))),
    ],
    new Date().toISOString(),
  );
  let events = 0;
  for (let i = 0; i < keys.length; i += PARALLEL_OBJECTS) {
    const batch = keys.slice(i, i + PARALLEL_OBJECTS);
    const held = await unavailableOnFailure(Promise.all(batch.map((k) => sessionObject(env, k.source_id, k.session_id).erase())), ...ERASE_FAILED);
    events += held.reduce<number>((a, b) => a + (b ?? 0), 0);
    // A session whose object is gone (identified, past its 60 days): the lake's tombstones come from D1.
    for (const [j, k] of batch.entries()) if (held[j] === null) events += await tombstonesFromD1(env, k);
  }
  const sessions = (await onEveryShard(env, (db) => deleteSessions(db, keys))).reduce((a, b) => a + b, 0);
  const report = {
    customer_id: customerId,
    sessions,
    events,
    segment_memberships: 0,
    dead_letters: 0,
    link_landings: 0,
    console_items: 0,
    complete: keys.length < SESSIONS_PER_CALL,
  };
  if (!report.complete) return { report, sessions: keys, sourceIds };
  // Their events in other sessions: out of those objects (and the lake) too, not only out of D1.
  const others = await sessionsWithEventsOf(env, customerId, scope, SESSIONS_PER_CALL);
  for (let i = 0; i < others.length; i += PARALLEL_OBJECTS) {
    await unavailableOnFailure(
      Promise.all(others.slice(i, i + PARALLEL_OBJECTS).map((k) => sessionObject(env, k.source_id, k.session_id).eraseEventsOf(customerId))),
      ...ERASE_FAILED,
    );
  }
  const traces = await deleteCustomerTraces(env, customerId, scope);
  return {
    report: {
      ...report,
      events: events + traces.events,
      segment_memberships: traces.segmentMemberships,
      dead_letters: traces.deadLetters,
      link_landings: traces.landings,
    },
    sessions: keys,
    sourceIds,
  };
}

/**
 * The version of a tombstone sent from D1, once the session's object is gone: above any version
 * the object could have given (docs/lake.md).
 */
const ERASED_FROM_D1_VERSION = 1_000_000_000;

/**
 * Tombstones for the lake of a session whose object is gone: one per event D1 still holds, and
 * one of the session, which tells readers to drop the session's events D1 no longer had
 * (past D1_EVENT_DAYS). Returns the events found.
 */
async function tombstonesFromD1(env: Env, key: SessionKey): Promise<number> {
  const lake = lakeOf(env);
  const at = new Date().toISOString();
  let found = 0;
  let after: OrderCursor | undefined;
  do {
    const page = await sessionFromD1(env, key.source_id, key.session_id, after, 1000);
    if (!page) break;
    found += page.events.length;
    if (lake) for (const batch of lakeBatches(page.events.map((e) => tombstone(e, ERASED_FROM_D1_VERSION, at)))) await lake.send(batch);
    if (!after) await lakeSessionsOf(env)?.send([lakeSessionRecord(page.session, page.incarnation, ERASED_FROM_D1_VERSION, at, true)]);
    after = page.next ?? undefined;
  } while (after);
  return found;
}
