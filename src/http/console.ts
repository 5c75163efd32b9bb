import { Hono } from 'hono';
import { CONSOLE_CSS, CONSOLE_HASH, CONSOLE_HTML, CONSOLE_JS } from '../console/built';
import type { AppEnv } from './app-env';

/**
 * The console (docs/console.md): a page, its script and its styles, all from the worker. The
 * policy lets the page run its own script file only: no inline script, no eval, nothing from
 * elsewhere; its API calls and WebSocket go to this origin.
 */
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY = {
  'content-security-policy': CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
};
const IMMUTABLE = 'public, max-age=31536000, immutable';

export const consolePages = new Hono<AppEnv>();

consolePages.get('/', (c) => c.body(CONSOLE_HTML, 200, { ...SECURITY, 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache' }));
consolePages.get(`/console.${CONSOLE_HASH}.js`, (c) =>
  c.body(CONSOLE_JS, 200, { ...SECURITY, 'content-type': 'text/javascript; charset=utf-8', 'cache-control': IMMUTABLE }),
);
consolePages.get(`/console.${CONSOLE_HASH}.css`, (c) =>
  c.body(CONSOLE_CSS, 200, { ...SECURITY, 'content-type': 'text/css; charset=utf-8', 'cache-control': IMMUTABLE }),
);
