// The load side of one round of compare.mjs: the sides (now, base, the floor) take turns in short
// slices, A B C, C B A, A B C…, in this one process, so a burst from other processes on this shared
// machine falls on every side alike. A slice is a fixed number of requests (every one answered and
// counted: none cut off at a deadline), then workerd is let go idle; workerd's CPU from the slice's
// start to then is the slice's. The first slice of each side warms it and is not counted.
// Started by compare.mjs on the load core; prints one JSON line: per side, CPU seconds, requests
// answered and seconds under load over the counted slices.
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon from 'autocannon';
import { byKey } from './scenarios.mjs';

const opts = JSON.parse(process.argv[2]);
const CLK_TCK = opts.clockTicks;
const cpu = () => {
  const f = readFileSync(`/proc/${opts.pid}/stat`, 'utf8')
    .replace(/^.*\) /s, '')
    .split(' ');
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
};
async function settle() {
  let last = cpu();
  for (let i = 0; i < 30; i++) {
    await sleep(100);
    const now = cpu();
    if (now - last <= 0.5 / CLK_TCK) return;
    last = now;
  }
}

let counter = 0;
const ids = () => `${opts.idPrefix}-${(counter++).toString(36)}`;
let now = new Date().toISOString();
const clock = setInterval(() => (now = new Date().toISOString()), 100);

async function slice(side) {
  const scenario = byKey(side.scenario);
  const c0 = cpu();
  const result = await autocannon({
    url: new URL(side.url).origin,
    connections: opts.connections,
    amount: side.amount,
    timeout: 10,
    requests: [
      {
        setupRequest(req) {
          const session = `${side.sessionPrefix}-${Math.floor(Math.random() * opts.pool)}`;
          return { ...req, ...scenario.request(side.ctx, session, ids, now) };
        },
      },
    ],
  });
  await settle();
  return { cpu_s: cpu() - c0, ok: result['2xx'], failed: result.non2xx + result.errors + result.timeouts, s: result.duration };
}

const totals = Object.fromEntries(opts.sides.map((s) => [s.name, { cpu_s: 0, ok: 0, failed: 0, s: 0 }]));
for (let i = 0; i <= opts.slices; i++) {
  for (const side of i % 2 ? [...opts.sides].reverse() : opts.sides) {
    const r = await slice(side);
    if (i === 0) continue;
    for (const k of Object.keys(r)) totals[side.name][k] += r[k];
  }
}
clearInterval(clock);
process.stdout.write(`${JSON.stringify(totals)}\n`);
