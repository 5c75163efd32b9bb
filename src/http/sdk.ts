import { createRoute, z } from '@hono/zod-openapi';
import { LIMITS } from '../events/limits';
import { Device, EventInput } from '../events/schema';
import { ingestBatch } from '../sessions/dispatch';
import { newApp } from './app-env';
import { publicSource } from './auth';
import { readJson } from './body';
import { ApiError, errorResponses, invalid } from './errors';
import { BatchEnvelope, BatchResults, json } from './openapi';
import { limitClient, limitSource } from './rate-limit';

/** Device facts sent once per batch; each event's own `device` fields win. */
const SdkDevice = Device.openapi('SdkDevice', {
  example: { platform: 'ios', os_version: '18.1', app_version: '4.2.0', device_model: 'iPhone15,2', locale: 'de-DE' },
});
const Batch = BatchEnvelope.extend({ device: SdkDevice.nullish() });

const route = createRoute({
  method: 'post',
  path: '/events',
  summary: 'Send a batch of events from a mobile app',
  description: `The public key of a \`mobile_app\` source in \`X-Source-Key\`. Up to ${LIMITS.batchEvents} events and 1 MB (after decompression: \`Content-Encoding: gzip\` is accepted). Each event as for the REST API, with its \`session_id\` (the app groups events into sessions). One result per event, in input order.`,
  security: [{ sdkKey: [] }],
  request: {
    body: {
      required: true,
      content: { 'application/json': { schema: z.object({ device: SdkDevice.optional(), events: z.array(EventInput).max(LIMITS.batchEvents) }) } },
    },
  },
  responses: {
    200: { description: 'Per-event results', ...json(BatchResults) },
    ...errorResponses(400, 401, 403, 413, 429),
  },
});

export const sdk = newApp();

sdk.openAPIRegistry.registerPath(route);
sdk.post('/events', async (c) => {
  await limitClient(c.env, c.req.raw);
  const key = c.req.header('x-source-key');
  if (!key) throw new ApiError(401, 'missing_key', 'send the source public key in the X-Source-Key header');
  const source = await publicSource(c.env, c.req.raw, key, 'mobile_app', 'SDK');
  await limitSource(c.env, source.id);
  const batch = Batch.safeParse(await readJson(c.req.raw));
  if (!batch.success) throw invalid(batch.error, 'invalid batch');
  const results = await ingestBatch(c.env, source, batch.data.events, { channel: 'sdk', receivedAt: Date.now(), device: batch.data.device ?? null });
  return c.json({ results }, 200);
});
