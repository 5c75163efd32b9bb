/**
 * One statement that upserts any number of rows passed as a single JSON array parameter, so a
 * batch stays within D1's 100 bound parameters whatever its size (docs/design.md §4). The columns are
 * fixed names from this module, never input.
 */
export function jsonUpsertSql(table: string, columns: readonly string[], key: readonly string[]): string {
  const values = columns.map((c) => `json_extract(value, '$.${c}')`).join(', ');
  const updates = columns
    .filter((c) => !key.includes(c))
    .map((c) => `${c} = excluded.${c}`)
    .join(', ');
  return `INSERT INTO ${table} (${columns.join(', ')}) SELECT ${values} FROM json_each(?1) WHERE true ON CONFLICT (${key.join(', ')}) DO UPDATE SET ${updates}`;
}

const encoder = new TextEncoder();
/** UTF-8 bytes of a string: its length when it is ASCII, else encoded (a character takes up to 3 bytes). */
const utf8Length = (text: string) => (/[\u0080-\uffff]/.test(text) ? encoder.encode(text).byteLength : text.length);

/** Splits rows into JSON arrays of at most `maxBytes` UTF-8 bytes each (D1 caps one value at 2 MB). */
export function jsonChunks(rows: readonly unknown[], maxBytes = 900_000): string[] {
  const chunks: string[] = [];
  let current: string[] = [];
  let size = 2;
  for (const row of rows) {
    const json = JSON.stringify(row);
    const bytes = utf8Length(json);
    if (current.length && size + bytes + 1 > maxBytes) {
      chunks.push(`[${current.join(',')}]`);
      current = [];
      size = 2;
    }
    current.push(json);
    size += bytes + 1;
  }
  if (current.length) chunks.push(`[${current.join(',')}]`);
  return chunks;
}
