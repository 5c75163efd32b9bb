import { execFileSync } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import vm from 'node:vm';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The SDK as users get it (packages/sdk): packed with `npm pack`, installed from the tarball into
 * a scratch project, then imported by a Node that is not the project's pinned one, bundled by
 * esbuild for a browser, and run where there is no `window` and no `crypto` (React Native
 * without polyfills).
 */

const root = path.resolve(import.meta.dirname, '../..');
let scratch: string;

/** Every `node` on the PATH but the project's own pinned one (node_modules): the machine's Node 20 on CI. */
function otherNodes(): string[] {
  const found = (process.env.PATH ?? '')
    .split(path.delimiter)
    .filter((dir) => dir && !dir.includes('node_modules'))
    .map((dir) => path.join(dir, 'node'))
    .filter((file) => {
      try {
        accessSync(file, constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
  return [...new Set(found)];
}

/** A client that sends to a stand-in fetch, one event and a flush; prints the body it sent. */
const USE = `
  const sent = [];
  const client = new WebEventsClient({ endpoint: 'https://collector.example', sourceKey: 'pk_test', fetch: async (url, init) => {
    sent.push({ url, body: JSON.parse(init.body) });
    return { status: 200, headers: { get: () => null }, json: async () => ({ results: [{ status: 'accepted' }] }) };
  } });
  await client.event('screen_view', { params: { screen: 'home' } });
  await client.flush();
  console.log(JSON.stringify(sent));
`;

beforeAll(() => {
  scratch = mkdtempSync(path.join(os.tmpdir(), 'sdk-package-'));
  const packed = execFileSync('npm', ['pack', '--silent', '--pack-destination', scratch], { cwd: path.join(root, 'packages/sdk'), encoding: 'utf8' })
    .trim()
    .split('\n')
    .at(-1)!;
  writeFileSync(path.join(scratch, 'package.json'), JSON.stringify({ name: 'scratch', private: true, type: 'module' }));
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--offline', path.join(scratch, packed)], { cwd: scratch, stdio: 'pipe' });
}, 120_000);
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Checks what the client sent: one event, with a UUID and a session, for the key it was given. */
function expectOneEvent(output: string) {
  const [sent] = JSON.parse(output.trim().split('\n').at(-1)!) as { url: string; body: { events: { event_id: string; session_id: string; name: string }[] } }[];
  expect(sent!.url).toBe('https://collector.example/v1/sdk/events');
  expect(sent!.body.events).toHaveLength(1);
  expect(sent!.body.events[0]).toMatchObject({ name: 'screen_view' });
  expect(sent!.body.events[0]!.event_id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
}

describe('the SDK package, from its tarball', () => {
  it('is imported as ESM and required as CommonJS by the machine’s own Node', () => {
    const nodes = otherNodes();
    expect(nodes.length, 'a Node other than the pinned one on the PATH').toBeGreaterThan(0);
    for (const node of nodes) {
      const version = execFileSync(node, ['--version'], { encoding: 'utf8' }).trim();
      const esm = execFileSync(node, ['--input-type=module', '-e', `import { WebEventsClient } from '@web-events/sdk';\n${USE}`], {
        cwd: scratch,
        encoding: 'utf8',
      });
      expectOneEvent(esm);
      const cjs = execFileSync(node, ['-e', `const { WebEventsClient } = require('@web-events/sdk');\n(async () => {${USE}})();`], {
        cwd: scratch,
        encoding: 'utf8',
      });
      expectOneEvent(cjs);
      expect(version).toMatch(/^v\d+\./);
    }
  });

  it('ships its type declarations', () => {
    const manifest = JSON.parse(readFileSync(path.join(scratch, 'node_modules/@web-events/sdk/package.json'), 'utf8')) as {
      exports: { '.': { types: string } };
    };
    const types = readFileSync(path.join(scratch, 'node_modules/@web-events/sdk', manifest.exports['.'].types), 'utf8');
    expect(types).toContain('WebEventsClient');
    expect(types).not.toMatch(/from '\.\.\//); // nothing outside the package
  });

  it('bundles for a browser with esbuild, pulling in nothing of Node', async () => {
    writeFileSync(
      path.join(scratch, 'entry.mjs'),
      "import { WebEventsClient } from '@web-events/sdk';\nwindow.client = new WebEventsClient({ endpoint: 'https://c.example', sourceKey: 'pk_x' });\n",
    );
    const out = await build({
      entryPoints: [path.join(scratch, 'entry.mjs')],
      bundle: true,
      platform: 'browser',
      write: false,
      absWorkingDir: scratch,
      logLevel: 'silent',
    });
    const code = out.outputFiles[0]!.text;
    expect(code).toContain('v1/sdk/events');
    expect(code).not.toMatch(/require\(["']node:|from ["']node:/);
  });

  it('runs where there is no window and no crypto, as in React Native without polyfills', async () => {
    const bundle = readFileSync(path.join(scratch, 'node_modules/@web-events/sdk/dist/index.cjs'), 'utf8');
    const module = { exports: {} as Record<string, unknown> };
    const logged: string[] = [];
    const sandbox = { module, exports: module.exports, setTimeout, clearTimeout, console: { log: (s: string) => logged.push(s) } };
    vm.runInNewContext(bundle, sandbox);
    expect('crypto' in sandbox || 'window' in sandbox).toBe(false);
    await vm.runInNewContext(`(async () => {${USE}})()`, { ...sandbox, WebEventsClient: module.exports.WebEventsClient });
    expectOneEvent(logged.join('\n'));
  });
});
