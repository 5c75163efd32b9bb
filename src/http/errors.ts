import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { ErrorDetail } from '../events/schema';

/** The one error shape of every endpoint (docs/design.md §3). */
export const ErrorBody = z
  .object({
    error: z.object({
      code: z.string(),
      message: z.string(),
      details: z.array(ErrorDetail).optional(),
    }),
  })
  .openapi('Error');

/** A refusal the caller can act on; the app's error handler turns it into the error shape. */
export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly details?: ErrorDetail[],
    readonly headers?: Record<string, string>,
  ) {
    super(message);
  }
}

export const errorJson = (c: Context, e: ApiError) =>
  c.json({ error: { code: e.code, message: e.message, ...(e.details ? { details: e.details } : {}) } }, e.status, e.headers);

type Issue = z.ZodError['issues'][number];

/**
 * A union's failure names the branch the caller most likely meant (the one with the fewest
 * issues, then the deepest), rather than a bare "invalid input" at the union.
 */
function flatten(issue: Issue, base: PropertyKey[]): { path: PropertyKey[]; message: string }[] {
  const path = [...base, ...issue.path];
  if (issue.code !== 'invalid_union' || !issue.errors.length) return [{ path, message: issue.message }];
  const depth = (branch: Issue[]) => Math.max(...branch.map((i) => i.path.length));
  const best = issue.errors.reduce((a, b) => (b.length < a.length || (b.length === a.length && depth(b) > depth(a)) ? b : a));
  return best.flatMap((i) => flatten(i, path));
}

/** zod issues as error details: which field, and why. */
export function zodDetails(error: z.ZodError, prefix = ''): ErrorDetail[] {
  return error.issues
    .flatMap((i) => flatten(i, []))
    .map((i) => ({ path: [prefix, ...i.path.map(String)].filter(Boolean).join('.') || '(body)', message: i.message }));
}

export const invalid = (error: z.ZodError, where: string) => {
  const details = zodDetails(error);
  return new ApiError(400, 'invalid_request', `${where}: ${details.map((d) => `${d.path}: ${d.message}`).join('; ')}`, details);
};

/** Error responses for an OpenAPI route description. */
export const errorResponses = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((s) => [s, { description: ERROR_DESCRIPTIONS[s] ?? 'Error', content: { 'application/json': { schema: ErrorBody } } }]));

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: 'The request is malformed: the details say which field and why',
  401: 'No key, or a key that is not valid',
  403: 'The key is valid but may not do this',
  404: 'Not found',
  409: 'Conflict',
  413: 'The body is larger than allowed',
  429: 'Too many requests: retry after the Retry-After header',
};

/** The value, or a 404 that says what was not found. */
export function orNotFound<T>(value: T | null | undefined, code: string, message: string): T {
  if (value === null || value === undefined) throw new ApiError(404, code, message);
  return value;
}
