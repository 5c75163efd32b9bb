// Tracker weight: our tracker script (as the worker serves it at GET /t.js, else the built file in
// src/tracker/) beside peers' browser bundles taken from their npm packages at bench time.
// Sizes: gzip level 9 without a file-name header (as `gzip -9n`), brotli quality 11.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

/** Each peer's main browser bundle: the file a storefront's <script> loads. */
export const PEERS = [
  { name: 'Plausible', pkg: '@plausible-analytics/tracker', file: 'plausible.js', why: 'the package\'s only script (its "module" entry)' },
  { name: 'Snowplow', pkg: '@snowplow/browser-tracker', file: 'dist/index.umd.min.js', why: 'the minified UMD browser build' },
  {
    name: 'Segment',
    pkg: '@segment/analytics-next',
    file: 'dist/umd/standalone.js',
    why: 'the standalone UMD bundle the snippet loads (lazy chunks not counted)',
  },
  { name: 'PostHog', pkg: 'posthog-js', file: 'dist/array.js', why: 'the snippet bundle (array.js) its CDN serves; extensions load lazily' },
];

export const sizes = (bytes) => ({
  raw: bytes.byteLength,
  gzip: gzipSync(bytes, { level: 9 }).byteLength,
  brotli: brotliCompressSync(bytes, { params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: bytes.byteLength } }).byteLength,
});

/** Our tracker: what GET /t.js serves, else a built script under src/tracker/ (null when none yet). */
export async function ourTracker(baseUrl, root) {
  try {
    const res = await fetch(new URL('/t.js', baseUrl));
    if (res.ok) return { where: 'GET /t.js from the bundled worker', bytes: new Uint8Array(await res.arrayBuffer()) };
  } catch {
    // fall through to the files
  }
  const dir = path.join(root, 'src/tracker');
  if (!existsSync(dir)) return null;
  const built = readdirSync(dir, { recursive: true })
    .map(String)
    .filter((f) => /\.(min\.js|js)$/.test(f) && !f.endsWith('.d.ts'))
    .sort((a, b) => Number(b.includes('min')) - Number(a.includes('min')));
  if (!built.length) return null;
  return { where: `src/tracker/${built[0]}`, bytes: readFileSync(path.join(dir, built[0])) };
}

/** Peers' bundles from `npm pack` into a temp dir; a package that cannot be fetched is reported as such. */
export function peerTrackers() {
  const dir = mkdtempSync(path.join(tmpdir(), 'we-peers-'));
  try {
    return PEERS.map((peer) => {
      try {
        const tgz = execFileSync('npm', ['pack', peer.pkg, '--silent', '--pack-destination', dir], { cwd: dir, encoding: 'utf8', timeout: 120_000 })
          .trim()
          .split('\n')
          .at(-1);
        const out = path.join(dir, peer.name);
        execFileSync('mkdir', ['-p', out]);
        execFileSync('tar', ['xzf', path.join(dir, tgz), '-C', out]);
        const version = JSON.parse(readFileSync(path.join(out, 'package/package.json'), 'utf8')).version;
        return { ...peer, version, ...sizes(readFileSync(path.join(out, 'package', peer.file))) };
      } catch (error) {
        return { ...peer, error: String(error.message ?? error).split('\n')[0] };
      }
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
