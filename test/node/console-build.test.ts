import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { expect, it } from 'vitest';

it('the built console is up to date with its source and under 60 KB gzipped (its first view: page, script, styles)', () => {
  const root = path.resolve(import.meta.dirname, '../..');
  // Throws (fails) when src/console/built.ts is stale or over budget.
  const out = execFileSync(process.execPath, ['src/console/build.mjs', '--check'], { cwd: root, encoding: 'utf8' });
  const bytes = Number(/(\d+) bytes gzipped/.exec(out)?.[1]);
  expect(bytes).toBeGreaterThan(1000);
  expect(bytes).toBeLessThanOrEqual(60 * 1024);
});
