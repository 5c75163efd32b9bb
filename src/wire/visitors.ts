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

export class VisitorObject extends DurableObject<Env> {
  private spans: Span[] | undefined;
  private following: Follow | null | undefined;
  /** Each span's `last` as last stored. */
  private readonly stored = new Map<string, number>();

  /**
   * The session of each message time (ms), in order; and the earlier sessions of this visitor not
   * linked to `customer` yet (an identify links them too: docs/wire.md).
   */
  async sessionsFor(visitor: string, times: number[], timeoutS: number, customer?: string, follow = false): Promise<{ sessions: string[]; earlier: string[] }> {
    await this.loadFollowing();
    // A customer's server-side messages join the device they were last proven on.
    if (follow && this.following) {
      const { sourceId, visitor: followed } = this.following;
      // One hop, always: the device's object does not follow on, so no chain or loop forms.
      return visitorObject(this.env, sourceId, followed).sessionsFor(followed, times, timeoutS, customer, false);
    }
    const spans = await this.loadSpans();
    const timeout = timeoutS * 1000;
    let changed = false;
    const prefix = `w.${(await sha256Hex(visitor)).slice(0, 16)}.`;
    // In time order, so a batch's messages find their neighbours whatever order they came in.
    const order = times.map((t, i) => [t, i] as const).sort((a, b) => a[0] - b[0]);
    const sessions: string[] = new Array(times.length);
    for (const [t, i] of order) {
      const placed = this.place(spans, t, timeout, prefix);
      sessions[i] = placed.id;
      changed ||= placed.changed;
    }
    if (changed) {
      await this.ctx.storage.put('spans', spans);
      await this.ctx.storage.setAlarm(this.expiresAt());
      this.markStored(spans);
    }
    const current = new Set(sessions);
    // Sessions linked already (to this customer, or on a shared device to another) stay as they are.
    const earlier = customer === undefined ? [] : spans.filter((s) => !current.has(s.id) && !s.customer).map((s) => s.id);
    return { sessions, earlier };
  }

  /** The session a message of time `t` joins (renewing it), or a new one. */
  private place(spans: Span[], t: number, timeout: number, prefix: string): { id: string; changed: boolean } {
    const span = spans.findLast((s) => t >= s.start - timeout && t <= s.last + timeout);
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
    const fresh = { id: `${prefix}${t.toString(36)}`, start: t, last: t };
    spans.push(fresh);
    spans.sort((a, b) => a.start - b.start);
    // Past KEPT, the session seen longest ago goes: not the one just made, however old its time.
    if (spans.length > KEPT) {
      const stale = spans.filter((s) => s !== fresh).reduce((a, b) => (a.last <= b.last ? a : b));
      spans.splice(spans.indexOf(stale), 1);
    }
    return { id: fresh.id, changed: true };
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
    return Math.max(0, ...(this.spans ?? []).map((s) => s.last), this.following?.at ?? 0);
  }

  private async loadFollowing(): Promise<void> {
    if (this.following === undefined) this.following = (await this.ctx.storage.get<Follow>('follow')) ?? null;
  }

  /** When the alarm looks again: retention's days after the last message or identify it saw, and no sooner than that after this write. */
  private expiresAt(): number {
    return Math.max(this.lastSeen(), Date.now()) + tunables(this.env).retention.anonymousDays * DAY_MS;
  }

  override async alarm(): Promise<void> {
    await this.loadSpans();
    await this.loadFollowing();
    const expires = this.lastSeen() + tunables(this.env).retention.anonymousDays * DAY_MS;
    if (expires <= Date.now()) await this.forget();
    else await this.ctx.storage.setAlarm(expires);
  }

  /** Deletes everything this object holds; returns the visitor it followed, for an erasure to forget too. */
  async forget(): Promise<Follow | null> {
    await this.loadFollowing();
    const followed = this.following ?? null;
    await this.ctx.storage.deleteAll();
    this.spans = undefined;
    this.following = undefined;
    this.stored.clear();
    return followed;
  }

  /** From now on, this customer's messages that name no other visitor join `visitor`'s sessions. */
  async follow(sourceId: string, visitor: string): Promise<void> {
    // A customer's object follows a device's, never another customer's.
    if (!visitor.startsWith('a:')) return;
    await this.loadFollowing();
    // The same visitor again: written at most once a day, to keep it from expiring.
    if (this.following?.visitor === visitor && Date.now() - this.following.at < DAY_MS) return;
    this.following = { sourceId, visitor, at: Date.now() };
    await this.ctx.storage.put('follow', this.following);
    await this.ctx.storage.setAlarm(this.expiresAt());
  }

  /** Notes that these sessions were linked to the customer. */
  async linked(ids: string[], customer: string): Promise<void> {
    const spans = await this.loadSpans();
    for (const s of spans) if (ids.includes(s.id)) s.customer = customer;
    await this.ctx.storage.put('spans', spans);
  }
}

/** The visitor's object. */
export const visitorObject = (env: Env, sourceId: string, visitor: string) =>
  env.VISITORS.getByName(`${sourceId}:${visitor}`) as unknown as Pick<VisitorObject, 'sessionsFor' | 'linked' | 'follow' | 'forget'>;

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
