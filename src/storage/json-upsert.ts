/**
 * One statement that upserts any number of rows passed as a single JSON array parameter, so a
 * batch stays within D1's 100 bound parameters whatever its size (docs/design.md §4). A row that
 * is already there as sent is not written again (D1 bills every row and index entry written).
 * The columns (and the `expressions` that compute some of them instead) are fixed text from
 * storage/, never input. `insertOnly` columns are written when the row is new, not updated.
 * `lazy` columns changing alone update a row only once `lazy.when` (SQL over `excluded`, the row
 * sent) holds: until then the row keeps their last written values, and writes nothing.
 */
export function jsonUpsertSql(
  table: string,
  columns: readonly string[],
  key: readonly string[],
  {
    expressions = {},
    insertOnly = [],
    lazy,
  }: { expressions?: Record<string, string>; insertOnly?: readonly string[]; lazy?: { columns: readonly string[]; when: string } } = {},
): string {
  const values = columns.map((c) => expressions[c] ?? `json_extract(value, '$.${c}')`).join(', ');
  // An UPDATE that sets an indexed column rewrites that index entry, even to the same value.
  const changed = columns.filter((c) => !key.includes(c) && !insertOnly.includes(c));
  const updates = changed.map((c) => `${c} = excluded.${c}`).join(', ');
  const differs = (cols: readonly string[]) => `(${cols.map((c) => `${table}.${c}`).join(', ')}) IS NOT (${cols.map((c) => `excluded.${c}`).join(', ')})`;
  const eager = changed.filter((c) => !lazy?.columns.includes(c));
  const when = lazy ? `${differs(eager)} OR (${lazy.when}) AND ${differs(lazy.columns)}` : differs(changed);
  return `INSERT INTO ${table} (${columns.join(', ')}) SELECT ${values} FROM json_each(?1) WHERE true ON CONFLICT (${key.join(', ')}) DO UPDATE SET ${updates} WHERE ${when}`;
}

const encoder = new TextEncoder();
/** UTF-8 bytes of a string: its length when it is ASCII, else encoded (a character takes up to 3 bytes). */
const utf8Length = (text: string) => (/[\u0080-\uffff]/.test(text) ? encoder.encode(text).byteLength : text.length);

/**
 * Groups items in order so that no group's `bytes` add up to more than `maxBytes` (an item larger
 * than that goes alone).
 */
export function byBytes<T>(items: readonly T[], bytes: (item: T) => number, maxBytes: number): T[][] {
  const groups: T[][] = [];
  let current: T[] = [];
  let size = 0;
  for (const item of items) {
    const n = bytes(item);
    if (current.length && size + n > maxBytes) {
      groups.push(current);
      current = [];
      size = 0;
    }
    current.push(item);
    size += n;
  }
  if (current.length) groups.push(current);
  return groups;
}

/** A value's JSON text, or null for null (and absent) values: the form of D1's and the lake's JSON columns. */
export const jsonOrNull = (value: unknown) => (value === null || value === undefined ? null : JSON.stringify(value));

/** Whether a value is the one this JSON text (or null) stands for. */
export const sameJson = (value: unknown, text: string | null) => (text === null ? value === null : value != null && JSON.stringify(value) === text);

/** UTF-8 bytes of a value's JSON. */
export const jsonBytes = (value: unknown) => utf8Length(JSON.stringify(value));

/** Splits rows into JSON arrays of at most `maxBytes` UTF-8 bytes each (D1 caps one value at 2 MB). */
export function jsonChunks(rows: readonly unknown[], maxBytes = 900_000): string[] {
  // Each row takes its JSON and a comma; the brackets take 2 bytes of each chunk.
  const json = rows.map((row) => JSON.stringify(row));
  return byBytes(json, (text) => utf8Length(text) + 1, maxBytes - 2).map((chunk) => `[${chunk.join(',')}]`);
}
