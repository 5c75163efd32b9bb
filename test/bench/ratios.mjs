// Per-round ratios and how far to trust them. A comparison runs in rounds, its two sides back to
// back in each (alternating which goes first), so drift on this shared machine hits both; each
// round gives one ratio, and a figure is the median of the rounds' ratios with its spread.
//
// The smallest change a figure can show comes from an A/A run (compare.mjs with one commit on
// both sides): there every ratio's truth is 1, so how far the A/A median's confidence interval
// strays from 1 is what noise alone produces here.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

export const resultsDir = path.join(import.meta.dirname, 'results');

const finite = (xs) => xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);

/** The p-quantile of sorted values, interpolated between neighbours. */
function quantile(sorted, p) {
  const at = (sorted.length - 1) * p;
  const lo = Math.floor(at);
  return sorted[lo] + (sorted[Math.min(lo + 1, sorted.length - 1)] - sorted[lo]) * (at - lo);
}

/** P(Binomial(n, ½) < k). */
function binomialBelow(n, k) {
  let sum = 0;
  let c = 1;
  for (let i = 0; i < k; i++) {
    sum += c;
    c = (c * (n - i)) / (i + 1);
  }
  return sum / 2 ** n;
}

/**
 * A confidence interval of the median with no assumption on the distribution: the k-th lowest and
 * k-th highest values, k as large as keeps the coverage at 95 % or more (for 9 rounds: the 2nd
 * lowest and 2nd highest, 96 %). Below 6 values no k does; min–max is given instead.
 */
function medianInterval(sorted) {
  const n = sorted.length;
  let k = 1;
  while (k + 1 <= n / 2 && 1 - 2 * binomialBelow(n, k + 1) >= 0.95) k++;
  return { lo: sorted[k - 1], hi: sorted[n - k], level: 1 - 2 * binomialBelow(n, k) };
}

/** The median of per-round ratios with its spread: IQR, min–max, and the median's interval. */
export function spread(ratios) {
  const v = finite(ratios);
  if (!v.length) return null;
  const ci = medianInterval(v);
  return {
    n: v.length,
    median: quantile(v, 0.5),
    q1: quantile(v, 0.25),
    q3: quantile(v, 0.75),
    min: v[0],
    max: v.at(-1),
    ci_lo: ci.lo,
    ci_hi: ci.hi,
    ci_level: Number(ci.level.toFixed(3)),
  };
}

/** From an A/A spread: the smallest change (as a fraction, 0.05 = 5 %) that noise did not reach. */
export const detectable = (s) => (s ? Math.max(Math.abs(s.ci_lo - 1), Math.abs(s.ci_hi - 1)) : null);

/** The newest A/A comparison in results/ (compare-*.json with `aa: true`), or null. */
export function latestAA() {
  let files = [];
  try {
    files = readdirSync(resultsDir).filter((f) => /^compare-.*\.json$/.test(f));
  } catch {
    return null;
  }
  for (const file of files.sort().reverse()) {
    try {
      const r = JSON.parse(readFileSync(path.join(resultsDir, file), 'utf8'));
      if (r.aa) return { file, started_at: r.started_at, rounds: r.settings.rounds, detectable: r.detectable };
    } catch {
      // a file being written, or an older shape
    }
  }
  return null;
}

const f = (v, d = 3) => (v === null || v === undefined ? '–' : v.toFixed(d));
/** `1.031× (IQR 0.990–1.050; min–max 0.950–1.100; 96 % CI 0.970–1.060)` */
export const formatSpread = (s) =>
  s ? `${f(s.median)}× (IQR ${f(s.q1)}–${f(s.q3)}; min–max ${f(s.min)}–${f(s.max)}; ${Math.round(s.ci_level * 100)} % CI ${f(s.ci_lo)}–${f(s.ci_hi)})` : '–';
export const formatShare = (x) => (x === null || x === undefined ? '–' : `±${(x * 100).toFixed(1)} %`);
