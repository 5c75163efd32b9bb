import { type Segment, segmentMembers } from '../storage/segments';
import { decodeCursor, encodeCursor } from './cursor';

/** One page of members and the cursor to the next, customer ids ascending. */
export async function membersPage(db: D1Database, segmentId: string, limit: number, cursor?: string) {
  const after = decodeCursor<[string]>(cursor, 1)?.[0];
  const ids = await segmentMembers(db, segmentId, limit + 1, after);
  const page = ids.slice(0, limit);
  return { customer_ids: page, next_cursor: ids.length > limit ? encodeCursor([page.at(-1)!]) : null };
}

const EXPORT_PAGE = 500;

/**
 * A CSV cell: quoted when it must be, and never a formula: a value a spreadsheet would run
 * (starting with = + - @, a tab or a carriage return) is prefixed with a quote, as OWASP advises.
 */
export function csvField(value: string): string {
  const v = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

/**
 * Streams every member once, in customer_id order, reading the members table a page at a time,
 * so a segment of any size leaves the worker without being held in memory.
 */
export function exportMembers(db: D1Database, segment: Segment, format: 'ndjson' | 'csv'): Response {
  const encoder = new TextEncoder();
  let after: string | undefined;
  let started = false;
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const lines: string[] = [];
      if (!started && format === 'csv') lines.push('customer_id');
      started = true;
      const ids = await segmentMembers(db, segment.id, EXPORT_PAGE, after);
      for (const id of ids) lines.push(format === 'csv' ? csvField(id) : JSON.stringify({ customer_id: id }));
      if (lines.length) controller.enqueue(encoder.encode(`${lines.join('\n')}\n`));
      after = ids.at(-1);
      if (ids.length < EXPORT_PAGE) controller.close();
    },
  });
  const type = format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson';
  return new Response(stream, {
    headers: { 'content-type': type, 'content-disposition': `attachment; filename="${segment.id}.${format}"` },
  });
}
