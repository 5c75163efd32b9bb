// The cost bench's build of the worker (test/bench/cost.mjs copies this file beside the bundle
// `wrangler deploy --dry-run` makes, and runs it as the entry): the worker and its session object,
// unchanged, with counters around the bindings. Every figure is one the runtime returns: D1's
// `meta.rows_written` / `rows_read`, the Durable Object SQL cursor's `rowsWritten` / `rowsRead`,
// and the calls themselves. Production builds never load this file.
import worker, { SessionObject as Counted, VisitorObject as CountedVisitor } from './index.js';

const zero = () => ({
  worker_requests: 0,
  queue_invocations: 0,
  do_rpc_calls: 0,
  do_alarm_runs: 0,
  do_rows_written: 0,
  do_rows_read: 0,
  do_set_alarm: 0,
  d1_statements: 0,
  d1_rows_written: 0,
  d1_rows_read: 0,
  queue_messages: 0,
  lake_records: 0,
  lake_bytes: 0,
  lake_session_records: 0,
});
let units = zero();

// COST_TRACE=1: every statement that writes, with its rows (to find what to cut; not a unit).
let TRACE = false; // set from the COST_TRACE binding
const trace = (where, text, written) => {
  if (TRACE && written) console.log(`[rows] ${where} ${written} ${String(text).replace(/\s+/g, ' ').slice(0, 110)}`);
};

const counted = (result, text) => {
  trace('d1', text, result.meta?.rows_written);
  units.d1_statements += 1;
  units.d1_rows_written += result.meta?.rows_written ?? 0;
  units.d1_rows_read += result.meta?.rows_read ?? 0;
  return result;
};

/** A D1 statement whose results are counted; `first` goes through `all`, which reports its meta. */
function statement(inner, text) {
  return {
    inner,
    text,
    bind: (...values) => statement(inner.bind(...values), text),
    run: async () => counted(await inner.run(), text),
    all: async () => counted(await inner.all(), text),
    raw: (options) => inner.raw(options),
    first: async (column) => {
      const row = counted(await inner.all(), text).results[0] ?? null;
      return column === undefined ? row : row === null ? null : row[column];
    },
  };
}

function database(db) {
  return new Proxy(db, {
    get(target, prop) {
      if (prop === 'prepare') return (sql) => statement(target.prepare(sql), sql);
      if (prop === 'batch')
        return async (statements) => (await target.batch(statements.map((s) => s.inner ?? s))).map((r, i) => counted(r, statements[i].text));
      const value = Reflect.get(target, prop);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

const bytes = (records) => records.reduce((n, r) => n + new TextEncoder().encode(JSON.stringify(r)).byteLength, 0);
const wrappers = {
  TRIGGERS: (queue) => ({
    send: async (body, options) => {
      units.queue_messages += 1;
      return queue.send(body, options);
    },
    sendBatch: async (messages, options) => {
      units.queue_messages += messages.length;
      return queue.sendBatch(messages, options);
    },
  }),
  LAKE: (lake) => ({
    send: async (records) => {
      units.lake_records += records.length;
      units.lake_bytes += bytes(records);
      return lake.send(records);
    },
  }),
  LAKE_SESSIONS: (lake) => ({
    send: async (records) => {
      units.lake_session_records += records.length;
      return lake.send(records);
    },
  }),
};

const wrapped = new WeakMap();
/** The env with its D1 shards, queue and lake counted (one wrapper per env object: the worker caches by it). */
function countedEnv(env) {
  let out = wrapped.get(env);
  if (!out) {
    TRACE = env.COST_TRACE === '1';
    out = {};
    for (const [name, value] of Object.entries(env)) {
      out[name] = /^DB(_\d+)?$/.test(name) ? database(value) : wrappers[name] ? wrappers[name](value) : value;
    }
    wrapped.set(env, out);
  }
  return out;
}

/**
 * The object's storage with its SQL counted: each cursor's rows, once the call that made it is
 * over. The runtime checks the state is its own, so its methods are wrapped in place.
 */
function countSql(storage, cursors) {
  const { sql } = storage;
  const exec = sql.exec.bind(sql);
  sql.exec = (...args) => {
    const cursor = exec(...args);
    cursor.text = args[0];
    cursors.push(cursor);
    return cursor;
  };
  const setAlarm = storage.setAlarm.bind(storage);
  storage.setAlarm = (...args) => {
    units.do_set_alarm += 1;
    trace('do', 'setAlarm', 1);
    return setAlarm(...args);
  };
  if (sql.exec === exec || storage.setAlarm === setAlarm) throw new Error('the storage methods could not be wrapped');
}

export class SessionObject extends Counted {
  constructor(ctx, env) {
    const cursors = [];
    countSql(ctx.storage, cursors);
    super(ctx, countedEnv(env));
    this.cursors = cursors;
  }
  drain() {
    for (const c of this.cursors) {
      trace('do', c.text, c.rowsWritten);
      units.do_rows_written += c.rowsWritten;
      units.do_rows_read += c.rowsRead;
    }
    this.cursors.length = 0;
  }
}
for (const name of ['ingest', 'linkCustomer', 'read', 'eventsById', 'erase', 'eraseEventsOf', 'alarm']) {
  const method = Counted.prototype[name];
  SessionObject.prototype[name] = async function (...args) {
    if (name === 'alarm') units.do_alarm_runs += 1;
    else units.do_rpc_calls += 1;
    try {
      return await method.apply(this, args);
    } finally {
      this.drain();
    }
  };
}

/**
 * The visitor object (sessions made for Segment, Snowplow and PostHog clients that send none): its
 * calls, and its key-value writes, each one row of the object's SQLite (its `_cf_KV` table).
 */
export class VisitorObject extends CountedVisitor {
  constructor(ctx, env) {
    const put = ctx.storage.put.bind(ctx.storage);
    ctx.storage.put = (...args) => {
      units.do_rows_written += 1;
      return put(...args);
    };
    super(ctx, countedEnv(env));
  }
}
for (const name of ['sessionsFor', 'linked', 'follow']) {
  const method = CountedVisitor.prototype[name];
  VisitorObject.prototype[name] = function (...args) {
    units.do_rpc_calls += 1;
    return method.apply(this, args);
  };
}

export default {
  async fetch(request, env, ctx) {
    if (new URL(request.url).pathname === '/__units') {
      const taken = units;
      units = zero();
      return Response.json(taken);
    }
    units.worker_requests += 1;
    return worker.fetch(request, countedEnv(env), ctx);
  },
  scheduled: (controller, env, ctx) => worker.scheduled(controller, countedEnv(env), ctx),
  async queue(batch, env, ctx) {
    units.queue_invocations += 1;
    return worker.queue(batch, countedEnv(env), ctx);
  },
};
