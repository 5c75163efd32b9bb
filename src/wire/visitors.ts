import { DurableObject } from 'cloudflare:workers';
import { tunables } from '../config';
import { sha256Hex } from '../encoding';
import { anonymousVisitor, customerVisitor } from './mapping';

/**
 * Sessions the collector makes for messages that name none (Segment, Snowplow and PostHog
 * clients without a session id): one object per visitor of a source (`<source_id>:<visitor>`),
 * which does server-side what the tracker's cookie does in the browser. A message whose time
 * falls within the source's inactivity timeout of a session's events joins it (and renews it);
 * otherwise it starts a new one. By event time, not arrival, so a batch sent late or a retry
 * lands where it belongs.
 *
 * What it holds (session ids and times, and the customer an identify linked them to) is deleted
 * ANON_RETENTION_DAYS after the visitor's last message, like an anonymous session, and when the
 * customer is erased (docs/privacy.md).
 */

/** A session this visitor had: its id, and the times of its first and last message (ms). */
interface Span {
  id: string;
  start: number;
  last: number;
  /** The customer an identify linked it to (docs/wire.md), so a repeated identify does not link it again. */
  customer?: string;
}

/** Sessions remembered per visitor: a retry or a late batch older than these starts a new one. */
const KEPT = 50;
/** How stale the stored `last` may be: a message within this of it is not written again. */
const WRITE_EVERY_MS = 60_000;

/** The visitor whose sessions a customer's messages join (their latest proven identify's: docs/wire.md). */
interface Follow {
  sourceId: string;
  visitor: string;
  /** When an identify last said so (ms). */
  at: number;
}

const DAY_MS = 86_400_000;

/**
 * What a visitor object holds besides its spans: whom it follows; whether a secret key's message
 * was placed here (then a public key's identify changes no customer of it: docs/security.md);
 * whether another visitor follows it (then it follows nobody, so no two devices follow each other).
 */
interface Marks {
  follow: Follow | null;
  partner: boolean;
  followed: boolean;
}

/** Where a batch's messages go: a session id each, or null for one refused before any was made (the request's cap). */
export interface Placement {
  sessions: (string | null)[];
  /** The visitor's earlier sessions not linked to the customer yet (for a secret key's identify). */
  earlier: string[];
  /** Whether a secret key's message was ever placed with this visitor. */
  partner: boolean;
}

export class VisitorObject extends DurableObject<Env> {
  private spans: Span[] | undefined;
  private marks: Marks | undefined;
  /** Each span's `last` as last stored. */
  private readonly stored = new Map<string, number>();

  /**
   * The session of each message time (ms). `partner`: a secret key's messages (they follow the
   * customer's device, and mark this visitor). At most `room` distinct sessions: a message that
   * would start one more is refused (null) before anything is stored. With `customer` (a secret
   * key's identify), the earlier sessions not linked to them come back too (docs/wire.md).
   */
  async sessionsFor(visitor: string, times: number[], timeoutS: number, options: { customer?: string; partner: boolean; room: number }): Promise<Placement> {
    const marks = await this.loadMarks();
    // A customer's server-side messages join the device they were last proven on.
    if (options.partner && marks.follow) {
      const { sourceId, visitor: followed } = marks.follow;
      // One hop: the device's object does not follow on (and one that is followed follows nobody).
      return visitorObject(this.env, sourceId, followed).sessionsFor(followed, times, timeoutS, { ...options, partner: true });
    }
    const spans = await this.loadSpans();
    const timeout = timeoutS * 1000;
    let changed = options.partner && !marks.partner;
    marks.partner ||= options.partner;
    const prefix = `w.${(await sha256Hex(visitor)).slice(0, 16)}.`;
    // In time order, so a batch's messages find their neighbours whatever order they came in.
    const order = times.map((t, i) => [t, i] as const).sort((a, b) => a[0] - b[0]);
    const sessions: (string | null)[] = new Array(times.length);
    const used = new Set<string>();
    for (const [t, i] of order) {
      const placed = this.place(spans, t, timeout, prefix, used.size < options.room);
      sessions[i] = placed?.id ?? null;
      if (placed) used.add(placed.id);
      changed ||= placed?.changed ?? false;
    }
    if (changed) {
      await this.ctx.storage.put({ spans, partner: marks.partner });
      await this.ctx.storage.setAlarm(this.expiresAt());
      this.markStored(spans);
    }
    // Sessions linked already (to this customer, or on a shared device to another) stay as they are.
    const earlier = options.customer === undefined ? [] : spans.filter((s) => !used.has(s.id) && !s.customer).map((s) => s.id);
    return { sessions, earlier, partner: marks.partner };
  }

  /** The session a message of time `t` joins (renewing it), or a new one (`fresh`: when one may be made; else null). */
  private place(spans: Span[], t: number, timeout: number, prefix: string, fresh: boolean): { id: string; changed: boolean } | null {
    // The nearest session in reach (the later one of two as near): a retry, its time corrected by a
    // few milliseconds more or less, goes back where it went, however its neighbours have grown since.
    const span = nearest(spans, t, timeout);
    if (span) {
      let changed = false;
      if (t > span.last) {
        span.last = t;
        // A restart forgets at most this much of a session's renewal.
        changed = t - (this.stored.get(span.id) ?? 0) > WRITE_EVERY_MS;
      }
      if (t < span.start) {
        span.start = t;
        changed = true;
      }
      return { id: span.id, changed };
    }
    if (!fresh) return null;
    const made = { id: `${prefix}${t.toString(36)}`, start: t, last: t };
    spans.push(made);
    spans.sort((a, b) => a.start - b.start);
    // Past KEPT, the session seen longest ago goes: not the one just made, however old its time.
    if (spans.length > KEPT) {
      const stale = spans.filter((s) => s !== made).reduce((a, b) => (a.last <= b.last ? a : b));
      spans.splice(spans.indexOf(stale), 1);
    }
    return { id: made.id, changed: true };
  }

  private async loadSpans(): Promise<Span[]> {
    if (!this.spans) {
      this.spans = (await this.ctx.storage.get<Span[]>('spans')) ?? [];
      this.markStored(this.spans);
    }
    return this.spans;
  }

  /** Notes each span's `last` as stored. */
  private markStored(spans: readonly Span[]): void {
    this.stored.clear();
    for (const s of spans) this.stored.set(s.id, s.last);
  }

  /** The last message or identify this object saw (ms). */
  private lastSeen(): number {
    return Math.max(0, ...(this.spans ?? []).map((s) => s.last), this.marks?.follow?.at ?? 0);
  }

  private async loadMarks(): Promise<Marks> {
    if (!this.marks) {
      const stored = await this.ctx.storage.get<Follow | boolean>(['follow', 'partner', 'followed']);
      this.marks = {
        follow: (stored.get('follow') as Follow | undefined) ?? null,
        partner: stored.get('partner') === true,
        followed: stored.get('followed') === true,
      };
    }
    return this.marks;
  }

  /** When the alarm looks again: retention's days after the last message or identify it saw, and no sooner than that after this write. */
  private expiresAt(): number {
    return Math.max(this.lastSeen(), Date.now()) + tunables(this.env).retention.anonymousDays * DAY_MS;
  }

  override async alarm(): Promise<void> {
    await this.loadSpans();
    await this.loadMarks();
    const expires = this.lastSeen() + tunables(this.env).retention.anonymousDays * DAY_MS;
    if (expires <= Date.now()) await this.forget();
    else await this.ctx.storage.setAlarm(expires);
  }

  /** Deletes everything this object holds; returns the visitor it followed, for an erasure to forget too. */
  async forget(): Promise<Follow | null> {
    const { follow } = await this.loadMarks();
    await this.ctx.storage.deleteAll();
    this.spans = undefined;
    this.marks = undefined;
    this.stored.clear();
    return follow;
  }

  /**
   * From now on, this customer's messages that name no other visitor join `visitor`'s sessions.
   * Never in a cycle: a visitor that follows someone cannot be followed, and one that is followed
   * follows nobody (an alias A → B, then B → A, would have two devices follow each other).
   */
  async follow(sourceId: string, visitor: string): Promise<boolean> {
    // A customer's object follows a device's, never another customer's.
    if (!visitor.startsWith('a:')) return false;
    const marks = await this.loadMarks();
    if (marks.followed) return false;
    // The same visitor again: written at most once a day, to keep it from expiring.
    if (marks.follow?.visitor === visitor && Date.now() - marks.follow.at < DAY_MS) return true;
    if (!(await visitorObject(this.env, sourceId, visitor).becomeFollowed())) return false;
    // Followed meanwhile (by a call that interleaved with the one above): the other direction won.
    if (marks.followed) return false;
    marks.follow = { sourceId, visitor, at: Date.now() };
    await this.ctx.storage.put('follow', marks.follow);
    await this.ctx.storage.setAlarm(this.expiresAt());
    return true;
  }

  /** Whether this visitor may be followed (it follows nobody); it then follows nobody from now on. */
  async becomeFollowed(): Promise<boolean> {
    const marks = await this.loadMarks();
    if (marks.follow) return false;
    if (!marks.followed) {
      marks.followed = true;
      await this.ctx.storage.put('followed', true);
      if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(this.expiresAt());
    }
    return true;
  }

  /** Notes that these sessions were linked to the customer. */
  async linked(ids: string[], customer: string): Promise<void> {
    const spans = await this.loadSpans();
    for (const s of spans) if (ids.includes(s.id)) s.customer = customer;
    await this.ctx.storage.put('spans', spans);
  }
}

/** How far a time is from a session's messages (0: between its first and last). */
const distance = (s: Span, t: number) => (t < s.start ? s.start - t : t > s.last ? t - s.last : 0);

/** The session nearest to `t` among those within `timeout` of it; of two as near, the later. Spans are in start order. */
function nearest(spans: readonly Span[], t: number, timeout: number): Span | undefined {
  let best: Span | undefined;
  for (const s of spans) if (distance(s, t) <= timeout && (!best || distance(s, t) <= distance(best, t))) best = s;
  return best;
}

/** The visitor's object. */
export const visitorObject = (env: Env, sourceId: string, visitor: string) =>
  env.VISITORS.getByName(`${sourceId}:${visitor}`) as unknown as Pick<VisitorObject, 'sessionsFor' | 'linked' | 'follow' | 'becomeFollowed' | 'forget'>;

/**
 * An erasure (docs/privacy.md): the customer's visitor object on each of these sources, and the
 * visitor it followed (whose sessions named the customer).
 */
export async function forgetCustomerVisitors(env: Env, customerId: string, sourceIds: readonly string[]): Promise<void> {
  await Promise.all(
    sourceIds.flatMap((sourceId) =>
      // The customer's visitor, and their id as a distinct id (both follow their device: wire/ingest.ts).
      [customerVisitor(customerId), anonymousVisitor(customerId)].map(async (name) => {
        const followed = await visitorObject(env, sourceId, name).forget();
        if (followed) await visitorObject(env, followed.sourceId, followed.visitor).forget();
      }),
    ),
  );
}
