// `npm run bench`: every benchmark in turn (ingest, capacity, cost, segments, console), stopping at
// the first that fails; `npm run bench -- --against <commit> [--now <commit>]` runs compare.mjs
// instead (npm would hand a chain's arguments to its last command only).
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const run = (file, args = []) => spawnSync(process.execPath, [path.join(import.meta.dirname, file), ...args], { stdio: 'inherit' }).status ?? 1;
const args = process.argv.slice(2);
if (args.length) process.exit(run('compare.mjs', args));
for (const file of ['ingest.mjs', 'capacity.mjs', 'cost.mjs', 'segments.mjs', 'console.mjs']) {
  const code = run(file);
  if (code !== 0) process.exit(code);
}
