import path from 'node:path';
import { cloudflareTest, readD1Migrations } from '@cloudflare/vitest-plugin';
import { defineConfig } from 'vitest/config';

export default defineConfig(async () => {
  const migrations = await readD1Migrations(path.join(import.meta.dirname, 'migrations'));
  return {
    test: {
      // Both cores: each workers test file starts its own runtime (most of the suite's time is that setup).
      maxWorkers: 2,
      projects: [
        {
          // The worker, inside workerd, against real local D1 and Durable Objects.
          plugins: [
            cloudflareTest(({ inject }) => ({
              wrangler: { configPath: './wrangler.toml' },
              miniflare: {
                // Test-only bindings: the migrations for the setup file, the secrets .dev.vars holds
                // locally, the webhook receiver's URLs (http on 127.0.0.1, other ports as other hosts),
                // and immediate webhook retries.
                bindings: {
                  TEST_MIGRATIONS: migrations,
                  ADMIN_TOKEN: 'test-admin-token',
                  LINK_SIGNING_KEY: 'test-link-signing-key',
                  RECEIVER_URL: inject('receiverUrl'),
                  OTHER_RECEIVER_URLS: inject('otherReceiverUrls'),
                  // The session simulation's depth and seed (test/session-simulation.test.ts), from the environment.
                  SIM_OBJECT_RUNS: process.env.SIM_OBJECT_RUNS ?? '',
                  SIM_SEED: process.env.SIM_SEED ?? '',
                  TRIGGER_RETRY_BASE_S: '0',
                  ALLOW_INSECURE_WEBHOOKS: 'true',
                },
                // LAKE, LAKE_SESSIONS: recording stand-ins for the Pipelines streams (locally a Pipelines binding does nothing).
                workers: [{ name: 'lake-recorder', modules: true, scriptPath: './test/fixtures/lake-recorder.js', compatibilityDate: '2026-11-01' }],
                serviceBindings: {
                  LAKE: { name: 'lake-recorder', entrypoint: 'Lake' },
                  LAKE_SESSIONS: { name: 'lake-recorder', entrypoint: 'LakeSessions' },
                },
                // The per-client limit, small enough that its test crosses it quickly on a slow machine.
                ratelimits: { RATE_LIMIT_IP: { namespace_id: '1001', simple: { limit: 20, period: 10 } } },
              },
            })),
          ],
          // 30 s a test: two test files share the 2 cores, and several wait on a queue or an alarm.
          test: {
            name: 'workers',
            include: ['test/*.test.ts'],
            setupFiles: ['./test/apply-migrations.ts'],
            globalSetup: ['./test/fixtures/receiver.ts'],
            testTimeout: 30_000,
          },
        },
        {
          // Node-side: the tracker's logic and build.
          test: { name: 'node', include: ['test/node/*.test.ts'], environment: 'node', testTimeout: 60_000 },
        },
        {
          // End to end: Debian's Chromium and the real Segment, Snowplow and PostHog clients against
          // one wrangler dev for every file (no retries: a failure counts).
          test: {
            name: 'e2e',
            include: ['test/node/e2e/**/*.test.ts'],
            environment: 'node',
            globalSetup: ['./test/node/e2e/collector.global.ts'],
            testTimeout: 60_000,
            hookTimeout: 120_000,
          },
        },
      ],
    },
  };
});
