// Builds the SDK package from src/sdk (one source for the repo's tests and the package): ESM and
// CommonJS bundles for any runtime (no Node or browser built-ins), and its type declarations.
// Run by `npm pack` (prepack) and `npm run build:sdk`; esbuild and tsc come from the repo root.
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';

const here = import.meta.dirname;
const root = path.resolve(here, '../..');
const dist = path.join(here, 'dist');
rmSync(dist, { recursive: true, force: true });
for (const [format, file] of [
  ['esm', 'index.mjs'],
  ['cjs', 'index.cjs'],
]) {
  await build({
    entryPoints: [path.join(root, 'src/sdk/index.ts')],
    outfile: path.join(dist, file),
    bundle: true,
    format,
    platform: 'neutral',
    target: 'es2020',
    logLevel: 'warning',
  });
}
execFileSync(
  process.execPath,
  [
    path.join(root, 'node_modules/typescript/bin/tsc'),
    ...['--declaration', '--emitDeclarationOnly', '--strict', '--skipLibCheck', '--target', 'ES2020', '--module', 'ES2020'],
    ...['--moduleResolution', 'Bundler', '--lib', 'ES2022,DOM', '--rootDir', path.join(root, 'src/sdk')],
    ...['--outDir', path.join(dist, 'types'), path.join(root, 'src/sdk/index.ts')],
  ],
  { stdio: 'inherit' },
);
console.log(`@web-events/sdk built in ${path.relative(root, dist)}`);
