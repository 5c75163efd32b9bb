import { type ChildProcess, spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { inject } from 'vitest';

const root = path.resolve(import.meta.dirname, '../../..');
const wranglerBin = path.join(root, 'node_modules/wrangler/bin/wrangler.js');
export const ADMIN_TOKEN = 'e2e-admin-token';

/** wrangler in its own process group, so stopping it stops workerd too; and never outlives the test run. */
function run(args: string[], env: NodeJS.ProcessEnv): ChildProcess {
  const child = spawn(process.execPath, [wranglerBin, ...args], {
    cwd: root,
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const kill = () => stopGroup(child, 'SIGKILL');
  process.once('exit', kill);
  child.once('exit', () => process.off('exit', kill));
  return child;
}

function stopGroup(child: ChildProcess, signal: NodeJS.Signals) {
  try {
    if (child.pid && child.exitCode === null) process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });

/** The collector every e2e file shares (collector.global.ts starts it). */
export const sharedCollector = () => ({ url: inject('collectorUrl') });

/** The collector as `npm start` runs it (wrangler dev, local D1 and Durable Objects), on its own port and state. */
export async function startCollector() {
  const persist = mkdtempSync(path.join(tmpdir(), 'we-e2e-'));
  const port = await freePort();
  // Every D1 shard, as `npm start` does.
  const migrate = spawn(process.execPath, [path.join(root, 'migrations/apply.mjs'), '--local', '--persist-to', persist], { cwd: root, stdio: 'ignore' });
  const code = await new Promise<number | null>((r) => migrate.on('exit', r));
  if (code !== 0) throw new Error('migrations failed');
  const dev = run(
    ['dev', '--port', String(port), '--ip', '127.0.0.1', '--persist-to', persist, '--var', `ADMIN_TOKEN:${ADMIN_TOKEN}`, '--var', 'FLUSH_DELAY_S:1'],
    {},
  );
  let log = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`wrangler dev did not start:\n${log}`)), 90_000);
    const onData = (chunk: Buffer) => {
      log += chunk.toString();
      if (process.env.E2E_DEBUG) process.stdout.write(chunk); // E2E_DEBUG=1: the collector's own log
      if (log.includes('Ready on')) {
        clearTimeout(timer);
        resolve();
      }
    };
    dev.stdout?.on('data', onData);
    dev.stderr?.on('data', onData);
  });
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    async stop() {
      if (dev.exitCode === null) {
        const exited = new Promise((r) => dev.once('exit', r));
        stopGroup(dev, 'SIGTERM');
        await exited;
      }
      rmSync(persist, { recursive: true, force: true });
    },
  };
}

/** The storefront: the fixture page with the snippet, on its own origin. */
export async function startShop(collector: string, attrs = '') {
  const template = readFileSync(path.join(import.meta.dirname, 'fixtures/shop.html'), 'utf8')
    .replace('__COLLECTOR__', collector)
    .replace('__ATTRS__', attrs);
  // The source is made once the shop's origin is known, so its keys are set afterwards. Like a
  // store's backend, the shop signs its customer's id with the source's identity secret.
  let page = template;
  const server: Server = createServer((req, res) => {
    res.writeHead(req.url?.startsWith('/shop') ? 200 : 404, { 'content-type': 'text/html' });
    res.end(page);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    setSource: (s: { public_key: string; identity_secret: string }) => {
      page = template.replace('__KEY__', s.public_key).replace('__CUSTOMER_HASH__', createHmac('sha256', s.identity_secret).update('cust-42').digest('hex'));
    },
    stop: () => new Promise((r) => server.close(r)),
  };
}

/**
 * Headless Chromium says so in its user agent, and the collector drops bots: browse as a person's
 * Chrome. Set on the browser itself, not only per context: a beacon sent while a page unloads
 * leaves from the browser process, which a context's override does not reach.
 */
export const HUMAN_CHROME = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36';

export const launch = (): Promise<Browser> =>
  chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', `--user-agent=${HUMAN_CHROME}`],
  });

/** Polls until `check` returns a value (the collector delivers in the background), or fails after `ms`. */
export async function eventually<T>(check: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 200));
  }
}
