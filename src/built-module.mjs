// What the tracker's and the console's builds share: write the generated module (`built.ts`), or
// with `--check` fail when it is stale; then report its gzipped size and fail past the budget.
// The tests run the check (test/node/*-build.test.ts).
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export function writeOrCheck({ target, module, what, hash, gzip, budget, script }) {
  const name = path.relative(path.resolve(import.meta.dirname, '..'), target);
  if (process.argv.includes('--check')) {
    if (readFileSync(target, 'utf8') !== module) throw new Error(`${name} is stale: run npm run ${script}`);
  } else {
    writeFileSync(target, module);
  }
  console.log(`${what} ${hash}: ${gzip} bytes gzipped (budget ${budget})`);
  if (gzip > budget) throw new Error(`${what} is ${gzip} bytes gzipped, over the ${budget} budget`);
}
