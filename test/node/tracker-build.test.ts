import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { beaconUrl } from '../../src/tracker/wire';

describe('the built tracker', () => {
  it('is up to date with its source and within 1,600 bytes gzipped', () => {
    const root = path.resolve(import.meta.dirname, '../..');
    // Throws (fails) when src/tracker/built.ts is stale or the script is over budget.
    const out = execFileSync(process.execPath, ['src/tracker/build.mjs', '--check'], { cwd: root, encoding: 'utf8' });
    const bytes = Number(/(\d+) bytes gzipped/.exec(out)?.[1]);
    expect(bytes).toBeGreaterThan(500);
    expect(bytes).toBeLessThanOrEqual(1600);
  });

  it('sends its beacons to its own URL without .js and without the version hash', () => {
    expect(beaconUrl('https://collector.example/t.js')).toBe('https://collector.example/t');
    expect(beaconUrl('https://collector.example/t.0123abcd89.js')).toBe('https://collector.example/t');
    expect(beaconUrl('https://shop.example/assets/app-7f3.js?v=2')).toBe('https://shop.example/assets/app-7f3');
  });
});
