import { z } from '@hono/zod-openapi';
import { LIMITS } from '../events/limits';
import { IngestResult } from '../sessions/dispatch';

/** The pieces several routes share: content, pages, batches, path parameters, security. */

/** A JSON body or response of this schema. */
export const json = <T extends z.ZodType>(schema: T) => ({ content: { 'application/json': { schema } } });

/** `?limit=&cursor=` of a paged read; `defaultLimit` when the caller gives none. */
export const PageQuery = (defaultLimit: number) =>
  z.object({
    limit: z.coerce.number().int().min(1).max(1000).default(defaultLimit),
    cursor: z.string().max(512).optional().openapi({ description: 'next_cursor of the previous page' }),
  });

/** A batch as it is checked whole: each event is validated on its own, so one bad event rejects only itself. */
export const BatchEnvelope = z.object({ events: z.array(z.unknown()).min(1).max(LIMITS.batchEvents) });
export const BatchResults = z.object({ results: z.array(IngestResult) }).openapi('BatchResults');

/** An event source's id, in a path or a body. */
export const SourceId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'must be 1-64 characters of A-Z a-z 0-9 . _ -, starting with a letter or digit');
export const SourceIdParam = z.object({ id: SourceId });

/** The security of a route that either a source's secret key or the admin token may call (typed wide: a literal of two shapes defeats the route types). */
export const secretKeyOrAdmin: Record<string, string[]>[] = [{ sourceSecretKey: [] }, { adminToken: [] }];
export const adminOnly = [{ adminToken: [] }];
