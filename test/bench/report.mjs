// Medians, ratios and the issue's targets from one bench run, and the markdown tables printed.
import { formatShare, formatSpread, spread } from './ratios.mjs';

const median = (xs) => {
  const v = xs.filter((x) => x !== null && x !== undefined && Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return null;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};

export function summarize(results) {
  const rows = {};
  for (const s of results.scenarios) {
    const of = (phase) => results.runs.filter((r) => r.scenario === s.key && r.phase === phase);
    const max = of('max');
    const half = of('half');
    const over = of('double');
    const events = (r) => Math.max(1, r.ok * s.events);
    rows[s.key] = {
      label: s.label,
      events_per_request: s.events,
      req_per_s: median(max.map((r) => r.req_per_s)),
      events_per_s: median(max.map((r) => r.events_per_s)),
      p50_ms: median(half.map((r) => r.p50_ms)),
      p99_ms: median(half.map((r) => r.p99_ms)),
      half_rate: median(half.map((r) => r.target_rate)),
      cpu_us_per_event: median(max.map((r) => (r.cpu_s / events(r)) * 1e6)),
      cpu_us_per_request: median(max.map((r) => (r.cpu_s / Math.max(1, r.ok)) * 1e6)),
      flush_cpu_us_per_event: median(max.map((r) => (r.flush_cpu_s / events(r)) * 1e6)),
      overload_failed_share: median(over.map((r) => (r.non2xx + r.errors + r.timeouts) / Math.max(1, r.sent))),
      overload_req_per_s: median(over.map((r) => r.req_per_s)),
      overload_p99_ms: median(over.map((r) => r.p99_ms)),
    };
  }
  // Round by round: each scenario of ours against the floor it ran beside (ingest.mjs).
  for (const s of results.scenarios.filter((sc) => sc.vs)) {
    const pairs = results.runs.filter((r) => r.phase === 'max' && r.pair === s.key);
    const ratios = [...new Set(pairs.map((r) => r.round))].map((round) => {
      const of = (key) => pairs.find((r) => r.round === round && r.scenario === key)?.cpu_us_per_event;
      return of(s.key) / of(s.vs);
    });
    rows[s.key].cpu_vs_floor = { vs: s.vs, ...spread(ratios) };
    rows[s.key].cpu_vs_floor_detectable = results.aa?.detectable?.[s.key] ?? null;
  }
  const f1 = rows.floor1;
  const b1 = rows.beacon1;
  for (const row of Object.values(rows)) {
    row.req_vs_floor1 = f1?.req_per_s ? row.req_per_s / f1.req_per_s : null;
    row.p99_vs_floor1 = f1?.p99_ms ? row.p99_ms / f1.p99_ms : null;
    row.events_vs_floor1 = f1?.events_per_s ? row.events_per_s / f1.events_per_s : null;
    row.events_vs_beacon1 = b1?.events_per_s ? row.events_per_s / b1.events_per_s : null;
  }

  const target = (name, measured, met, note) => ({ name, measured, status: met === null ? 'not measured' : met ? 'met' : 'NOT met', note });
  const ratio = (x, digits = 2) => (x === null || x === undefined ? null : `${x.toFixed(digits)}×`);
  const ours = results.weight?.ours;
  const peers = (results.weight?.peers ?? []).filter((p) => p.gzip);
  const targets = [
    target('beacon (1 event) req/s ≥ 0.85 × floor 1', ratio(b1?.req_vs_floor1), b1 && f1 ? b1.req_vs_floor1 >= 0.85 : null),
    target('beacon (1 event) p99 ≤ 2 × floor 1 p99', ratio(b1?.p99_vs_floor1), b1 && f1 ? b1.p99_vs_floor1 <= 2 : null),
    target(
      '20-event beacon events/s ≥ 12 × 1-event beacon',
      ratio(rows.beacon20?.events_vs_beacon1, 1),
      rows.beacon20 && b1 ? rows.beacon20.events_vs_beacon1 >= 12 : null,
    ),
    target(
      'REST batch of 100 events/s ≥ 40 × 1-event beacon',
      ratio(rows.rest100?.events_vs_beacon1, 1),
      rows.rest100 && b1 ? rows.rest100.events_vs_beacon1 >= 40 : null,
      [
        rows.rest100 && `REST-100 vs floor 1 events/s: ${ratio(rows.rest100.events_vs_floor1, 1)}`,
        rows.floor1x100 && `the platform's own: floor 1 at 100 events/request is ${ratio(rows.floor1x100.events_vs_floor1, 1)} floor 1`,
      ]
        .filter(Boolean)
        .join('; ') || undefined,
    ),
    target(
      'D1 visibility lag bounded at max ingest',
      results.lag ? `${results.lag.thirds.map((t) => t.median_s?.toFixed(1) ?? '–').join(' / ')} s (thirds)` : null,
      results.lag ? results.lag.bounded : null,
    ),
    target('tracker ≤ 1,500 B gzip', ours ? `${ours.gzip} B` : null, ours ? ours.gzip <= 1500 : null),
    target(
      'tracker smaller than every peer (gzip)',
      ours && peers.length ? `${ours.gzip} B vs ${Math.min(...peers.map((p) => p.gzip))} B smallest peer` : null,
      ours && peers.length ? peers.every((p) => ours.gzip < p.gzip) : null,
    ),
  ];
  return { rows, targets };
}

const n = (x, digits = 0) => (x === null || x === undefined ? '–' : x.toLocaleString('en', { maximumFractionDigits: digits, minimumFractionDigits: digits }));
const x = (v, digits = 2) => (v === null || v === undefined ? '–' : `${v.toFixed(digits)}×`);
const pct = (v) => (v === null || v === undefined ? '–' : `${(v * 100).toFixed(v > 0 && v < 0.01 ? 2 : 1)} %`);

export function printReport(results) {
  const { rows, targets } = results.summary;
  const s = results.settings;
  const out = [];
  out.push(
    `\n### Ingest: medians of ${s.rounds ?? s.reps} rounds at the max, ${s.reps} of latency and overload (${results.machine.cores} cores, ${results.machine.cpus})\n`,
  );
  out.push(
    `workerd on core 0, autocannon on core 1; ${s.connections} connections for the max (${s.maxS} s a run), ${s.pool} sessions per scenario; latency at half the max rate, paced; overload at 2× the max with ${s.overloadConnections} connections.\n`,
  );
  out.push(
    '| scenario | events/req | req/s | events/s | req/s × floor 1 | events/s × floor 1 | events/s × beacon-1 | p50 ms | p99 ms | p99 × floor 1 | CPU µs/event | + D1 flush µs/event | failed at 2× | req/s at 2× |',
  );
  out.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of Object.values(rows)) {
    out.push(
      `| ${r.label} | ${r.events_per_request} | ${n(r.req_per_s)} | ${n(r.events_per_s)} | ${x(r.req_vs_floor1)} | ${x(r.events_vs_floor1, 1)} | ${x(r.events_vs_beacon1, 1)} | ${n(r.p50_ms, 2)} | ${n(r.p99_ms, 2)} | ${x(r.p99_vs_floor1)} | ${n(r.cpu_us_per_event, 1)} | ${r.flush_cpu_us_per_event ? n(r.flush_cpu_us_per_event, 1) : '–'} | ${pct(r.overload_failed_share)} | ${n(r.overload_req_per_s)} |`,
    );
  }
  const paired = Object.values(rows).filter((r) => r.cpu_vs_floor);
  if (paired.length) {
    out.push(`\n### CPU per event against the floor, round by round (${s.rounds} rounds, each side ${s.maxS} s, alternating)\n`);
    out.push('| scenario | against | ours ÷ floor: median of the rounds (spread) | compare.mjs can show |');
    out.push('|---|---|---|---:|');
    for (const r of paired) out.push(`| ${r.label} | ${r.cpu_vs_floor.vs} | ${formatSpread(r.cpu_vs_floor)} | ${formatShare(r.cpu_vs_floor_detectable)} |`);
    out.push(
      `\nThese rounds are whole runs back to back (a drain after each of ours), for the other columns' sake: read their 95 % interval. To judge a change, compare two builds (\`npm run bench -- --against <commit>\`): its turns of 0.5 s ${
        results.aa
          ? `can show ${formatShare(Object.values(results.aa.detectable ?? {}).reduce((a, b) => Math.max(a, b ?? 0), 0))} by its newest A/A run (${results.aa.file})`
          : 'have no A/A run yet (`npm run bench -- --against HEAD --now HEAD`)'
      }.`,
    );
  }
  const touches = Object.entries(results.first_touch ?? {});
  if (touches.length) {
    out.push(
      `\nFirst event of a session (the object is created): ${touches.map(([pool, t]) => `${pool} (${t.scenario}) ${n(t.req_per_s)} req/s, ${n(t.cpu_us_per_request)} µs CPU/request`).join('; ')}.`,
    );
  }
  if (results.not_measured?.length) out.push(`\nNot measured (endpoint not in src/ yet): ${results.not_measured.join(', ')}.`);
  for (const [key, why] of Object.entries(results.refused ?? {})) out.push(`\nLeft out: ${key}, its request was refused (${why.replace(/\|/g, '/')}).`);

  out.push('\n### Targets (issue 6)\n');
  out.push('| target | measured | status |');
  out.push('|---|---|---|');
  for (const t of targets) out.push(`| ${t.name} | ${t.measured ?? '–'}${t.note ? ` (${t.note})` : ''} | ${t.status} |`);

  if (results.lag) {
    const l = results.lag;
    out.push(`\n### D1 keeps up: ${l.scenario} at max for ${l.seconds} s (${n(l.events_per_s)} events/s), FLUSH_DELAY_S=${s.flush_delay_s}\n`);
    out.push('| third of the run | markers | visible | median lag s | max lag s |');
    out.push('|---|---:|---:|---:|---:|');
    for (const [i, t] of l.thirds.entries()) out.push(`| ${i + 1} | ${t.markers} | ${t.visible} | ${n(t.median_s, 2)} | ${n(t.max_s, 2)} |`);
    out.push(
      `\nMarkers are identified sessions on the partner API (an anonymous session is written out when it closes). The last one showed in D1 ${n(l.drain_s, 1)} s after the load stopped${l.caught_up ? '' : ' (NOT every marker showed)'}. Bounded: ${l.bounded ? 'yes' : 'NO'}.`,
    );
  }

  if (results.weight) {
    const w = results.weight;
    out.push('\n### Tracker weight (bytes; gzip -9, brotli q11)\n');
    out.push('| script | file | raw | gzip | brotli | gzip × ours |');
    out.push('|---|---|---:|---:|---:|---:|');
    if (w.ours) out.push(`| **ours** | ${w.ours.where} | ${n(w.ours.raw)} | ${n(w.ours.gzip)} | ${n(w.ours.brotli)} | 1.0× |`);
    else out.push('| **ours** | not built yet | – | – | – | – |');
    for (const p of w.peers) {
      if (p.error) out.push(`| ${p.name} (${p.pkg}) | ${p.file} | not fetched: ${p.error} | | | |`);
      else
        out.push(
          `| ${p.name} (${p.pkg}@${p.version}) | ${p.file} | ${n(p.raw)} | ${n(p.gzip)} | ${n(p.brotli)} | ${w.ours ? x(p.gzip / w.ours.gzip, 1) : '–'} |`,
        );
    }
  }
  console.log(out.join('\n'));
}
