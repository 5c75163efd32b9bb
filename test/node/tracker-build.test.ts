import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

describe('the built tracker', () => {
  it('is up to date with its source and within 1,500 bytes gzipped', () => {
    const root = path.resolve(import.meta.dirname, '../..');
    // Throws (fails) when src/tracker/built.ts is stale or the script is over budget.
    const out = execFileSync(process.execPath, ['src/tracker/build.mjs', '--check'], { cwd: root, encoding: 'utf8' });
    const bytes = Number(/(\d+) bytes gzipped/.exec(out)?.[1]);
    expect(bytes).toBeGreaterThan(500);
    expect(bytes).toBeLessThanOrEqual(1500);
  });
});
