import { LIMITS } from '../events/limits';
import type { WebEvent } from '../events/schema';
import type { DeanonymizedBy, SessionRecord } from '../events/session-record';
import { sharedOf } from '../storage/records';
import type { ActiveRule } from '../triggers/rules';
import { fireDue, newTriggerState, nextWatch, onClose, onEvent, type TriggerMessage } from '../triggers/session-triggers';
import { addToRecord, closesAt, deanonymizedBy, flushBackoffMs, objectExpiresAt, openSession, type Retention } from './record';
import { newOutlet, type Outlet, type SessionState, unreplayable } from './state';

/**
 * The lifecycle of one session, as one pure function: `step(life, input, now, setup)` is the
 * life after the input and the effects that carry it out. `SessionObject` only carries out
 * effects (storage, D1, the lake, the queue, the alarm) and reports their results back as inputs;
 * `test/node/lifecycle-simulation.test.ts` drives this file against a model.
 *
 * A session is open or closed, anonymous or identified, and settled (everything in the next tiers:
 * D1, the lake, the queue) or not. What each input does in each:
 *
 * | input \ state | none                  | open, anonymous                    | open, identified                 | closed (anonymous or identified)                               |
 * |---------------|-----------------------|------------------------------------|----------------------------------|----------------------------------------------------------------|
 * | batch         | opens it (anonymous)  | stores new ids; a proven customer identifies it (rule 5): D1 now | stores; D1 now (FLUSH_DELAY_S apart) | a tracker event: stored `late`; any other channel re-opens it; settled and past retention: forgotten first, then opens anew |
 * | alarm         | nothing               | at the close: closes, then D1 and the lake | the same; D1's and the lake's retries when due | settled and past retention: forgets; otherwise retries due writes and absence triggers |
 * | link          | nothing (null)        | identifies it (rule 6): D1 now     | nothing                          | identifies it if anonymous: D1 and the lake again               |
 * | written       | -                     | the outlet's progress or its backoff; after an answer, the next round (WRITE_ROUNDS at most) | same                          | same                                                           |
 * | sent          | -                     | the outbox's count: a retry due while it holds messages                                        | same                             | same                                                           |
 * | erase         | nothing (null)        | tombstones to the lake; once they are there, everything forgotten (or only the events naming another customer) | same | same                                                 |
 * | tombstoned    | -                     | done: forget (or delete those events); failed: nothing deleted, every event to the lake again above the tombstones | same | same                                  |
 *
 * Writes out: an open anonymous session writes nothing out (its reads come from its object);
 * any other goes to D1 at once after the answer, and to the lake once closed (docs/cost.md). A
 * write that fails backs off (`flushBackoffMs`); nothing is deleted before D1, the lake and the
 * queue hold it (docs/design.md, rules 7 and 8). The state is saved when what a restart cannot
 * replay changed (`unreplayable`, state.ts), and only then; the alarm is set to the earliest
 * due task (`nextAlarm`), left where it is when only a later one came.
 */

/** What the core knows of the deployment. */
export interface Setup {
  retention: Retention;
  flushDelayMs: number;
  /** Whether there is a lake, and whether it takes session records. */
  lake: boolean;
  lakeSessions: boolean;
  /** The D1 shard a session's rows go to. */
  shardOf(record: SessionRecord): string;
}

/** A stored event and its arrival. */
export interface StoredEvent {
  arrival: number;
  event: WebEvent;
}

/** A write out under way: what it takes (events after `after`, FLUSH_EVENTS at most) and what it was started from. */
export interface Write {
  to: 'd1' | 'lake';
  /** After an answer (`now`: rounds back to back) or by the alarm (`due`: once, awaited). */
  by: 'now' | 'due';
  round: number;
  after: number;
  /** When it started (ms). */
  at: number;
  rewrites: number;
  record: SessionRecord;
  incarnation: number;
  /** D1: the state's version it covers, its shard, the shards it leaves once complete, the shared device and geo. */
  version: number;
  shard: string;
  leaving: string[];
  shared: SessionState['shared'];
  /** The lake: arrivals up to this went before (the rest go as version 0); the closed session's version to send once complete. */
  lakeSeen: number;
  session: number | null;
}

export type IngestStatus = 'accepted' | 'duplicate' | 'session_full';

export type Input =
  /** A restarted instance: the stored state, the events stored after it, the alarm and the outbox as stored. */
  | { type: 'wake'; state: SessionState; events: StoredEvent[]; armed: number | null; outbox: number }
  /** New events (normalized); `stored`: which ids are stored already, `last`: the last arrival. `rules`: null when unknown. */
  | { type: 'batch'; events: WebEvent[]; stored: ReadonlySet<string>; last: number; timeoutS: number; rules: ActiveRule[] | null }
  | { type: 'alarm'; has: (eventName: string) => boolean }
  | { type: 'link'; customer: string; by: DeanonymizedBy }
  /** The write under way ended: `last`, the last arrival the tier got (undefined: not all of them); `complete`: nothing was left after it. */
  | { type: 'written'; ok: boolean; last: number | undefined; complete: boolean }
  /** The outbox was offered to the queue: what still waits. */
  | { type: 'sent'; waiting: number }
  /** An erasure: the whole session (`whole`), or these events (naming another customer). */
  | { type: 'erase'; events: StoredEvent[]; whole: boolean }
  | { type: 'tombstoned'; ok: boolean; arrivals: number[]; whole: boolean };

export type Effect =
  | { type: 'forget' }
  /** Stores a new event; a new session's first comes with the state it starts from (JSON). */
  | { type: 'store'; arrival: number; event: WebEvent; start?: string }
  | { type: 'outbox'; messages: TriggerMessage[] }
  | { type: 'save'; state: string }
  | { type: 'alarm'; at: number | null }
  | { type: 'write'; write: Write }
  | { type: 'send' }
  /** The erased events' last version to the lake (`version`), and when whole, the session's (`session`). */
  | {
      type: 'tombstones';
      events: StoredEvent[];
      version: number;
      erasedAt: string;
      session: { record: SessionRecord; incarnation: number; version: number } | null;
    }
  | { type: 'delete'; arrivals: number[] };

/** The object's memory: the state, and what an instance knows that a restart loses. */
export interface Life {
  state: SessionState | null;
  /** `unreplayable` of the state as stored (undefined: none, or stale: the next save writes it). */
  saved: string | undefined;
  /** The alarm as this instance set it (undefined: unknown, so the next save sets it). */
  armed: number | null | undefined;
  /** Fired triggers waiting in the outbox. */
  outbox: number;
  writing: Write | null;
  /** When this instance last started writing out after an answer: FLUSH_DELAY_S apart at least. */
  wroteAt: number;
}

export interface Step {
  life: Life;
  effects: Effect[];
  /** A batch's answer, one per event. */
  statuses?: IngestStatus[];
  /** A link's answer: the session (null: none). */
  record?: SessionRecord | null;
  /** An erasure's answer: the events it takes once the lake has their tombstones (null: no session). */
  erased?: number | null;
}

export const EMPTY: Life = { state: null, saved: undefined, armed: undefined, outbox: 0, writing: null, wroteAt: -Infinity };

/** Events a write out takes at most; a longer backlog goes in several, back to back. */
export const FLUSH_EVENTS = 1000;
/** Writes out back to back after an answer at most; a session busier than that waits for its alarm. */
const WRITE_ROUNDS = 5;
/** How soon fired triggers the queue refused are offered again. */
export const OUTBOX_RETRY_MS = 10_000;

export function step(before: Life, input: Input, now: number, setup: Setup): Step {
  const life: Life = { ...before, state: before.state && structuredClone(before.state) };
  const effects: Effect[] = [];
  const out: Step = { life, effects };
  const s = life.state;
  switch (input.type) {
    case 'wake': {
      Object.assign(life, { ...EMPTY, state: structuredClone(input.state), armed: input.armed, outbox: input.outbox });
      const state = life.state!;
      life.saved = unreplayable(state);
      for (const { arrival, event } of input.events) addStored(state, event, arrival);
      // What was stored after the last save is written out by the alarm: the one armed for it
      // (unless a later one, the close), else FLUSH_DELAY_S from now (the last write's time is gone).
      if (input.events.length && writesOut(state)) dueBy(state, setup, Math.min(now + setup.flushDelayMs, input.armed ?? Infinity));
      return out;
    }
    case 'batch':
      out.statuses = ingest(life, input, now, setup, effects);
      return out;
    case 'alarm':
      effects.push(...alarm(life, input.has, now, setup));
      return out;
    case 'link':
      out.record = null;
      if (!s) return out;
      identify(s, input.customer, input.by, now);
      effects.push(...changed(life, now, setup));
      out.record = s.record;
      return out;
    case 'written':
      effects.push(...written(life, input, now, setup));
      return out;
    case 'sent':
      life.outbox = input.waiting;
      effects.push(...save(life, now, setup));
      return out;
    case 'erase':
      out.erased = s ? (input.whole ? s.record.event_count : input.events.length) : input.whole ? null : 0;
      if (!s || (!input.whole && !input.events.length)) return out;
      effects.push({
        type: 'tombstones',
        events: input.events,
        version: s.rewrites + 1,
        erasedAt: new Date(now).toISOString(),
        session: input.whole ? { record: { ...s.record }, incarnation: s.incarnation, version: s.version + 1 } : null,
      });
      return out;
    case 'tombstoned':
      tombstoned(life, input, now, setup, effects);
      return out;
  }
}

/** What a stored event adds to its session's state, as it comes and when replayed: the record, the marks, the counters. */
function addStored(state: SessionState, event: WebEvent, arrival: number): void {
  addToRecord(state.record, event);
  if (event.channel === 'api') state.partner = true;
  state.version += 1;
  state.appliedArrival = arrival;
}

function ingest(life: Life, input: Extract<Input, { type: 'batch' }>, now: number, setup: Setup, effects: Effect[]): IngestStatus[] {
  let stored = input.stored;
  let arrival = input.last;
  // A session silent past retention, all of it in the next tiers, starts afresh.
  if (life.state && now >= objectExpiresAt(life.state.record, setup.retention) && settled(life, setup)) {
    Object.assign(life, EMPTY, { wroteAt: life.wroteAt });
    effects.push({ type: 'forget' });
    stored = new Set();
    arrival = 0;
  }
  const seen = new Set(stored);
  const statuses: IngestStatus[] = [];
  const fired: TriggerMessage[] = [];
  for (const event of input.events) {
    if (seen.has(event.event_id)) {
      statuses.push('duplicate');
      continue;
    }
    if (life.state && life.state.record.event_count >= LIMITS.sessionEvents) {
      statuses.push('session_full');
      continue;
    }
    let start: string | undefined;
    if (!life.state) {
      // A new session's first row keeps the state it starts from: it replays from there.
      life.state = newState(event, input.timeoutS, now);
      start = JSON.stringify(life.state);
      life.saved = unreplayable(life.state);
    }
    const state = life.state;
    seen.add(event.event_id);
    arrival += 1;
    const kept = applyEvent(state, event, now);
    addStored(state, kept, arrival);
    effects.push({ type: 'store', arrival, event: kept, start });
    const rules = input.rules ?? state.triggers?.rules ?? [];
    if (rules.length || state.triggers?.rules.length) {
      const triggers = (state.triggers ??= newTriggerState());
      triggers.rules = rules;
      onEvent(triggers, kept, state.record, now, fired);
    }
    statuses.push('accepted');
  }
  const state = life.state;
  if (state && statuses.includes('accepted')) {
    if (fired.length) {
      effects.push({ type: 'outbox', messages: fired });
      life.outbox += fired.length;
    }
    state.timeoutS = input.timeoutS;
    effects.push(...changed(life, now, setup, fired.length > 0));
  }
  return statuses;
}

/**
 * Applies a new event to the session (rules 4 and 5, docs/design.md, and docs/security.md) and
 * returns it as it is stored, with what it gained (flags, a customer demoted to a claim).
 */
function applyEvent(state: SessionState, event: WebEvent, now: number): WebEvent {
  const record = state.record;
  const flags = [...event.flags];
  if (record.status === 'closed') {
    // A tracker retry lands late in the closed session; the partner's channels re-open it.
    // Re-opening changes the session, not its events: they are not written again.
    if (event.channel === 'tracker') flags.push('late');
    else {
      record.status = 'open';
      record.closed_at = null;
    }
  }
  let customer = event.customer_id;
  let claim = event.claimed_customer_id;
  if (customer && customer !== record.customer_id && state.partner && event.channel !== 'api') {
    // A public key's customer, proven or not, never changes a session a secret key wrote to
    // (its id may be a server's, guessable one): a claim that links nothing.
    claim = customer;
    customer = null;
    flags.push('identity_not_linked');
  } else if (customer && record.customer_id && customer !== record.customer_id) {
    record.identity_conflicts += 1;
    flags.push('identity_conflict');
  } else if (customer) {
    identify(state, customer, deanonymizedBy(event.name), now);
  }
  return flags.length === event.flags.length ? event : { ...event, customer_id: customer, claimed_customer_id: claim, flags };
}

/** Rule 5: the first customer links the session and every event of it, before and after. */
function identify(state: SessionState, customerId: string, by: DeanonymizedBy, now: number): void {
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
 * After an answer that changed the session: the save, then its writes out, at once when the last
 * began FLUSH_DELAY_S ago or more and none is under way, else made due for the alarm; then the
 * fired triggers to the queue (`send`, last: it awaits the queue).
 */
function changed(life: Life, now: number, setup: Setup, send = false): Effect[] {
  const state = life.state!;
  const writeNow = writesOut(state) && !life.writing && now >= life.wroteAt + setup.flushDelayMs;
  if (writesOut(state) && !life.writing && !writeNow) dueBy(state, setup, life.wroteAt + setup.flushDelayMs);
  const effects = save(life, now, setup);
  if (writeNow) effects.push(...begin(life, nextRound(life, now, setup, 0)));
  if (send) effects.push({ type: 'send' });
  return effects;
}

/** Whether the session's changes are written out as they come: not while it is open and anonymous (docs/cost.md). */
const writesOut = (state: SessionState) => state.record.customer_id !== null || state.record.status === 'closed';

/** Where the session's changes go as they come: D1, and the lake (when there is one) once it is closed. */
const outlets = (state: SessionState, setup: Setup): Outlet[] => (setup.lake && state.record.status === 'closed' ? [state.d1, state.lake] : [state.d1]);

/** Makes the outlets due by `at`, unless backing off from a failure (then the backoff decides, not the traffic). */
function dueBy(state: SessionState, setup: Setup, at: number): void {
  for (const outlet of outlets(state, setup)) if (!outlet.attempts) outlet.at = Math.min(outlet.at ?? Infinity, at);
}

/** Whether the lake (when there is one) lacks an event, or its sessions stream (when there is one) the closed session as it is. */
const lakeLacks = (state: SessionState, setup: Setup) =>
  setup.lake &&
  (state.appliedArrival > state.lake.arrival || (setup.lakeSessions && state.record.status === 'closed' && state.sessionArchived !== state.version));

/** When the lake's next send is due: its time, or with none set, at the close of an open session and at once for a closed one. */
const lakeDue = (state: SessionState, now: number) => state.lake.at ?? (state.record.status === 'open' ? Infinity : now);

/** Everything reached the next tiers (D1, the lake, the queue): the object may delete what it holds. */
export const settled = (life: Life, setup: Setup) =>
  life.state !== null && life.state.version === life.state.flushedVersion && !life.outbox && !lakeLacks(life.state, setup);

/**
 * When the object's one alarm is due: the earliest of the D1 write, the lake send, the
 * inactivity close, the retention delete (only once settled), an absence trigger, and a retry of
 * fired triggers the queue did not take. Null when nothing is due.
 */
export function nextAlarm(life: Life, now: number, setup: Setup): number | null {
  const s = life.state;
  if (!s) return null;
  const due = Math.min(
    s.version > s.flushedVersion ? (s.d1.at ?? Infinity) : Infinity,
    lakeLacks(s, setup) ? lakeDue(s, now) : Infinity,
    s.record.status === 'open' ? closesAt(s.record, s.timeoutS) : Infinity,
    settled(life, setup) ? objectExpiresAt(s.record, setup.retention) : Infinity,
    s.triggers ? nextWatch(s.triggers) : Infinity,
    life.outbox ? now + OUTBOX_RETRY_MS : Infinity,
  );
  return Number.isFinite(due) ? due : null;
}

/**
 * The one save decision: the state when what a restart must find stored changed (`unreplayable`),
 * and the alarm to the earliest due task. What only puts the due time later (an event, for an
 * open session's close) leaves the alarm where it is: it fires early, finds nothing due and
 * re-arms itself (docs/cost.md).
 */
function save(life: Life, now: number, setup: Setup): Effect[] {
  const state = life.state;
  if (!state) return [];
  const effects: Effect[] = [];
  const kept = unreplayable(state);
  if (kept !== life.saved) {
    effects.push({ type: 'save', state: JSON.stringify(state) });
    life.saved = kept;
  }
  const due = nextAlarm(life, now, setup);
  const armed = life.armed;
  const at = typeof armed === 'number' && (due === null || due >= armed) ? armed : due;
  if (at !== armed) {
    effects.push({ type: 'alarm', at });
    life.armed = at;
  }
  return effects;
}

function alarm(life: Life, has: (eventName: string) => boolean, now: number, setup: Setup): Effect[] {
  const effects: Effect[] = [];
  const state = life.state;
  life.armed = undefined; // a running alarm is no longer armed
  if (!state) return effects;
  // Rules 7 and 8: nothing is deleted that the next tiers lack; while a write fails, the session stays.
  if (now >= objectExpiresAt(state.record, setup.retention) && settled(life, setup)) {
    Object.assign(life, EMPTY);
    effects.push({ type: 'forget' });
    return effects;
  }
  const fired: TriggerMessage[] = [];
  const closeAt = closesAt(state.record, state.timeoutS);
  if (state.record.status === 'open' && now >= closeAt) {
    state.record.status = 'closed';
    state.record.closed_at = new Date(closeAt).toISOString();
    state.version += 1;
    // D1 gets the closed session now, and the lake anything it lacks with it (unless backing off).
    if (!state.d1.attempts) state.d1.at = now;
    if (lakeLacks(state, setup) && !state.lake.attempts) state.lake.at = now;
    if (state.triggers) onClose(state.triggers, state.record, now, has, fired);
  }
  if (state.triggers) fireDue(state.triggers, state.record, now, fired);
  if (fired.length) {
    effects.push({ type: 'outbox', messages: fired });
    life.outbox += fired.length;
    // Saved before any call out: a run again would fire them again. A close alone is decided the
    // same way again by a run again, so it is saved once, at the end (docs/cost.md).
    effects.push(...save(life, now, setup));
  }
  const write = dueWrite(life, now, setup, 'due', 0, 'lake');
  effects.push(...(write ? begin(life, write) : alarmDone(life, now, setup)));
  return effects;
}

/** The end of an alarm's run: the outbox to the queue (its answer saves), or the save. */
const alarmDone = (life: Life, now: number, setup: Setup): Effect[] => (life.outbox ? [{ type: 'send' }] : save(life, now, setup));

function begin(life: Life, write: Write | null): Effect[] {
  if (!write) return [];
  life.writing = write;
  return [{ type: 'write', write }];
}

/**
 * A round of writes after an answer (the lake's, then D1's): none when nothing is lacking; when
 * the last began less than FLUSH_DELAY_S ago, or past WRITE_ROUNDS, the alarm takes them.
 */
function nextRound(life: Life, now: number, setup: Setup, round: number): Write | null {
  const state = life.state!;
  const lacking = outlets(state, setup).filter((o) => !o.attempts && (o === state.d1 ? state.version > state.flushedVersion : lakeLacks(state, setup)));
  if (!lacking.length) return null;
  const soonest = life.wroteAt + setup.flushDelayMs;
  if (round === WRITE_ROUNDS || now < soonest) {
    for (const outlet of lacking) outlet.at = Math.min(outlet.at ?? Infinity, soonest);
    return null;
  }
  life.wroteAt = now;
  return dueWrite(life, now, setup, 'now', round, 'lake');
}

/**
 * The next write of a round, from `from` on (the lake's, then D1's; one refusing does not hold
 * the other up): after an answer, what takes the session's changes as they come; by the alarm,
 * what is due.
 */
function dueWrite(life: Life, now: number, setup: Setup, by: Write['by'], round: number, from: Write['to']): Write | null {
  const state = life.state!;
  const due = (outlet: Outlet, time: number) => (by === 'now' ? !outlet.attempts && outlets(state, setup).includes(outlet) : now >= time);
  const common = { by, round, at: now, rewrites: state.rewrites, record: { ...state.record }, incarnation: state.incarnation, shared: state.shared };
  if (from === 'lake' && lakeLacks(state, setup) && due(state.lake, lakeDue(state, now))) {
    const session = setup.lakeSessions && state.record.status === 'closed' && state.sessionArchived !== state.version ? state.version : null;
    return { ...common, to: 'lake', after: state.lake.arrival, lakeSeen: state.lakeSeen, session, version: state.version, shard: '', leaving: [] };
  }
  if (state.version > state.flushedVersion && due(state.d1, state.d1.at ?? Infinity)) {
    // A new shard (its customer linked, shards added): the whole session goes there, and leaves the old once it holds it all.
    const target = setup.shardOf(state.record);
    state.shard ??= target;
    if (state.shard !== target) {
      state.leaving = [...(state.leaving ?? []), state.shard];
      state.shard = target;
      state.d1.arrival = 0;
    }
    return { ...common, to: 'd1', after: state.d1.arrival, version: state.version, shard: target, leaving: state.leaving ?? [], lakeSeen: 0, session: null };
  }
  return null;
}

/**
 * A write's result: its outlet's progress (unless a customer was linked meanwhile: every event
 * goes again), or its backoff; then the next write of its round, the next round after an
 * answer, or the end (the alarm's: the outbox; the save).
 */
function written(life: Life, result: Extract<Input, { type: 'written' }>, now: number, setup: Setup): Effect[] {
  const write = life.writing;
  const state = life.state;
  life.writing = null;
  if (!write || !state) return [];
  const outlet = write.to === 'd1' ? state.d1 : state.lake;
  const same = state.rewrites === write.rewrites;
  if (write.to === 'lake') {
    if (result.last !== undefined) state.lakeSeen = Math.max(state.lakeSeen, result.last);
    if (result.ok && result.complete && write.session !== null) state.sessionArchived = write.session;
  } else if (result.ok && result.complete) {
    delete state.leaving;
    if (same) state.flushedVersion = write.version;
  }
  if (result.ok) {
    if (same && result.last !== undefined) outlet.arrival = result.last;
    outlet.attempts = 0;
    const behind = write.to === 'd1' ? state.version > state.flushedVersion : lakeLacks(state, setup);
    outlet.at = behind ? (result.complete ? write.at + setup.flushDelayMs : write.at) : null;
  } else {
    outlet.attempts += 1;
    outlet.at = write.at + flushBackoffMs(outlet.attempts);
  }
  const next =
    (write.to === 'lake' ? dueWrite(life, write.by === 'due' ? write.at : now, setup, write.by, write.round, 'd1') : null) ??
    (write.by === 'now' ? nextRound(life, now, setup, write.round + 1) : null);
  return next ? begin(life, next) : write.by === 'due' ? alarmDone(life, now, setup) : save(life, now, setup);
}

/** An erasure's tombstones reached the lake (forget, or delete the events) or did not (nothing deleted). */
function tombstoned(life: Life, result: Extract<Input, { type: 'tombstoned' }>, now: number, setup: Setup, effects: Effect[]): void {
  const state = life.state!;
  if (!result.ok) {
    // Every event goes to the lake again, two versions up, above the tombstones that did get there;
    // not as version 0 (the tombstone's is above it): as the session's rewrites, like an event the lake has seen.
    state.rewrites += 2;
    state.lake.arrival = 0;
    state.lakeSeen = Math.max(state.lakeSeen, ...result.arrivals);
    effects.push(...save(life, now, setup));
    return;
  }
  if (result.whole) {
    Object.assign(life, EMPTY);
    effects.push({ type: 'forget' });
    return;
  }
  state.record.event_count -= result.arrivals.length;
  state.version += 1;
  life.saved = undefined; // the stored state counts events that are gone: no replay brings that back
  effects.push({ type: 'delete', arrivals: result.arrivals }, ...save(life, now, setup));
}

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
  };
}
