import { listSegments, refreshSegment, type Segment } from '../storage/segments';
import { compileSegment } from './compile';
import { SegmentDefinition } from './definition';

/** Recomputes a saved segment in the scope it was made in; `now` anchors its relative windows. */
export async function recompute(env: Env, segment: Segment, now = Date.now()): Promise<Segment> {
  const definition = SegmentDefinition.parse(segment.definition);
  const computedAt = new Date(now).toISOString();
  const count = await refreshSegment(env, segment.id, compileSegment(definition, segment.source_id, now), computedAt);
  return { ...segment, member_count: count, computed_at: computedAt };
}

/** The cron's segment job: every saved segment, one after another (each is one D1 transaction). */
export async function refreshAllSegments(env: Env, now = Date.now()): Promise<number> {
  const all = await listSegments(env.DB, null);
  for (const segment of all) {
    try {
      await recompute(env, segment, now);
    } catch (error) {
      console.error(JSON.stringify({ message: 'segment refresh failed', segment: segment.id, error: String(error) }));
    }
  }
  console.log(JSON.stringify({ message: 'segments refreshed', count: all.length }));
  return all.length;
}
