import { OpenAPIHono } from '@hono/zod-openapi';
import { Scalar } from '@scalar/hono-api-reference';
import { HTTPException } from 'hono/http-exception';
import { admin } from './http/admin';
import type { AppEnv } from './http/app-env';
import { refuseSecretInUrl } from './http/auth';
import { consolePages } from './http/console';
import { ApiError, errorJson } from './http/errors';
import { clicks, links } from './http/links';
import { monitor } from './http/monitor';
import { sdk } from './http/sdk';
import { segments } from './http/segments';
import { customers, sessions } from './http/sessions';
import { tracker } from './http/tracker';
import { triggers } from './http/triggers';
import { webEvents } from './http/web-events';
import { wire } from './http/wire';
import { isD1Error, Unavailable } from './storage/outage';

/** The Hono app: one sub-app per resource, one error handler, the OpenAPI document. */
export const app = new OpenAPIHono<AppEnv>();

app.use(refuseSecretInUrl);
app.route('/api/v1/web-events', webEvents);
app.route('/api/v1/sessions', sessions);
app.route('/api/v1/customers', customers);
app.route('/api/v1/admin/sources', triggers);
app.route('/api/v1/admin/sources', admin);
app.route('/api/v1/segments', segments);
app.route('/api/v1/sources', monitor);
app.route('/console', consolePages);
app.route('/v1/sdk', sdk);
app.route('/api/v1/links', links);
app.route('/l', clicks);

app.openAPIRegistry.registerComponent('securitySchemes', 'sourceSecretKey', {
  type: 'http',
  scheme: 'bearer',
  description: "The event source's secret key (sk_...), for partners' servers",
});
app.openAPIRegistry.registerComponent('securitySchemes', 'adminToken', {
  type: 'http',
  scheme: 'bearer',
  description: 'The ADMIN_TOKEN wrangler secret, for operators',
});
app.openAPIRegistry.registerComponent('securitySchemes', 'sdkKey', {
  type: 'apiKey',
  in: 'header',
  name: 'X-Source-Key',
  description: "A mobile_app source's public key (pk_...), for the SDK and native apps",
});
app.doc31('/openapi.json', (c) => ({
  openapi: '3.1.0',
  info: { title: 'web-events', version: '1', description: 'Edge collector of customer actions: web events, sessions, event sources.' },
  servers: [{ url: new URL(c.req.url).origin }],
}));
app.get('/docs', Scalar({ url: '/openapi.json', pageTitle: 'web-events API' }));
app.get('/', (c) => c.json({ name: 'web-events', openapi: '/openapi.json', docs: '/docs' }));
// Browsers ask for it on every console load: a 404 there is an error in each console. A 16×16 PNG
// in an ICO, which every browser reads at this path.
const FAVICON = Uint8Array.from(
  atob(
    'AAABAAEAEBAAAAEAIABpAAAAFgAAAIlQTkcNChoKAAAADUlIRFIAAAAQAAAAEAgGAAAAH/P/YQAAADBJREFUeNpjYKA2UE1+/R8fpkgzXkOI1YzVEFI1YxgyasCwMIDihESVpEyVzEQOAACBZ6Soe5XOpwAAAABJRU5ErkJggg==',
  ),
  (ch) => ch.charCodeAt(0),
);
app.get('/favicon.ico', (c) => c.body(FAVICON, 200, { 'content-type': 'image/x-icon', 'cache-control': 'public, max-age=604800' }));
// Segment's, Snowplow's and PostHog's endpoints (docs/wire.md), then the tracker (every path).
app.route('/', wire);
app.route('/', tracker);

app.notFound((c) => errorJson(c, new ApiError(404, 'not_found', `no route for ${c.req.method} ${new URL(c.req.url).pathname}`)));
app.onError((error, c) => {
  if (error instanceof ApiError) return errorJson(c, error);
  if (error instanceof Unavailable) return errorJson(c, new ApiError(503, 'unavailable', error.message, undefined, { 'Retry-After': '1' }));
  // D1 refusing where nothing stands in for it (a read, an admin change): an outage, not a bug.
  if (isD1Error(error)) {
    console.error(JSON.stringify({ message: 'D1 unavailable', route: c.req.routePath, error: String(error) }));
    return errorJson(c, new ApiError(503, 'unavailable', 'the database cannot answer now; retry', undefined, { 'Retry-After': '5' }));
  }
  if (error instanceof HTTPException && error.status < 500) return errorJson(c, new ApiError(error.status, 'bad_request', error.message));
  console.error(
    JSON.stringify({ message: 'unhandled error', route: c.req.routePath, error: String(error), stack: error instanceof Error ? error.stack : undefined }),
  );
  return errorJson(c, new ApiError(500, 'internal_error', 'internal error'));
});
