import { OpenAPIHono } from '@hono/zod-openapi';
import type { EventSource } from '../storage/sources';
import { invalid } from './errors';

/**
 * Hono's environment for every sub-app: the bindings, the source a key authenticated, and the
 * scope of a read that either a source key (its source) or the admin token (null: all) may make.
 */
export interface AppEnv {
  Bindings: Env;
  Variables: { source: EventSource; scope: string | null };
}

/** A sub-app whose validation failures throw the one error shape. */
export const newApp = () =>
  new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) throw invalid(result.error, `invalid ${result.target}`);
    },
  });
