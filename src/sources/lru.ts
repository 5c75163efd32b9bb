/** A map of at most `max` entries that expire; the least recently used goes first when it is full. */
export class Lru<V> {
  private readonly entries = new Map<string, { value: V; until: number }>();
  constructor(private readonly max: number) {}

  get(key: string, now: number): V | undefined {
    const hit = this.entries.get(key);
    if (!hit || hit.until <= now) return undefined;
    this.entries.delete(key); // most recently used goes last
    this.entries.set(key, hit);
    return hit.value;
  }

  /** An entry expired less than `staleMs` ago (or not expired): what serves while its source of truth cannot be read. */
  stale(key: string, now: number, staleMs: number): V | undefined {
    const hit = this.entries.get(key);
    return hit && hit.until + staleMs > now ? hit.value : undefined;
  }

  set(key: string, value: V, until: number): void {
    this.entries.delete(key);
    this.entries.set(key, { value, until });
    if (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value!);
  }

  deleteWhere(test: (value: V) => boolean): void {
    for (const [key, entry] of this.entries) if (test(entry.value)) this.entries.delete(key);
  }
}
