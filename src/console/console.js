// The console (docs/console.md): a page of the worker, over its own API. Every value shown comes
// from events anyone with a public key can send, so it is rendered as text only: nodes made with
// createElement and textContent, never HTML strings; and the page's Content-Security-Policy
// allows no inline script and no eval.

const TOKEN = 'we_console_token';
const MAX_LIVE = 500;
const app = document.getElementById('main');
const nav = document.getElementById('nav');

/** An element with attributes and children (strings become text nodes). */
/** A table with these column headings over its body. */
function headed(headings, body) {
  return el(
    'table',
    {},
    el(
      'thead',
      {},
      el(
        'tr',
        {},
        headings.map((h) => el('th', {}, h)),
      ),
    ),
    body,
  );
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElementNS(tag.startsWith('svg:') ? 'http://www.w3.org/2000/svg' : 'http://www.w3.org/1999/xhtml', tag.replace('svg:', ''));
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, String(v));
  }
  for (const child of children.flat())
    if (child !== null && child !== undefined) node.append(typeof child === 'string' || typeof child === 'number' ? String(child) : child);
  return node;
}
const cut = (text, n = 120) => {
  const s = String(text ?? '');
  return s.length > n ? `${s.slice(0, n)}…` : s;
};
const token = () => sessionStorage.getItem(TOKEN);
const b64url = (s) =>
  btoa(String.fromCharCode(...new TextEncoder().encode(s)))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');

async function api(path, init = {}) {
  const res = await fetch(path, {
    ...init,
    headers: { authorization: `Bearer ${token()}`, ...(init.body ? { 'content-type': 'application/json' } : {}), ...init.headers },
  });
  const body = res.status === 204 ? null : await res.json().catch(() => null);
  if (!res.ok) throw new Error(body?.error?.message ?? `${res.status}`);
  return body;
}

let sources = [];
let admin = false;
let chosen = null;
let socket = null;

function show(...nodes) {
  if (socket && !location.hash.startsWith('#live')) {
    socket.close();
    socket = null;
  }
  app.replaceChildren(...nodes.filter(Boolean));
}

function sourcePicker(onChange) {
  const select = el(
    'select',
    {
      id: 'source',
      onchange: (e) => {
        chosen = e.target.value;
        onChange();
      },
    },
    sources.map((s) => el('option', { value: s.id, selected: s.id === chosen }, `${s.name} (${s.id})`)),
  );
  return el('label', {}, 'Source ', select);
}

// ---- sign in ----

function signIn(error) {
  nav.hidden = true;
  const input = el('input', { type: 'password', id: 'token', autocomplete: 'off', placeholder: 'admin token or sk_…' });
  show(
    el(
      'form',
      {
        class: 'card',
        onsubmit: async (e) => {
          e.preventDefault();
          sessionStorage.setItem(TOKEN, input.value.trim());
          await start();
        },
      },
      el('h1', {}, 'Sign in'),
      el('p', {}, 'The admin token sees every source; a source’s secret key sees that source. It is kept for this tab only.'),
      input,
      el('button', { type: 'submit', id: 'signin' }, 'Sign in'),
      error ? el('p', { class: 'error' }, error) : null,
    ),
  );
}

async function start() {
  try {
    sources = (await api('/api/v1/sources')).sources;
  } catch (e) {
    sessionStorage.removeItem(TOKEN);
    return signIn(`Not signed in: ${e.message}`);
  }
  // Only the admin token may list the admin API.
  admin = await fetch('/api/v1/admin/sources', { headers: { authorization: `Bearer ${token()}` } }).then((r) => r.ok);
  chosen ??= sources[0]?.id ?? null;
  nav.hidden = false;
  route();
}

// ---- sources ----

function setupFor(source, secretKey) {
  const origin = location.origin;
  if (source.kind === 'website')
    return el(
      'div',
      {},
      el('p', {}, 'Paste this in every page, before </head> (the first line keeps calls made before the script loads):'),
      el(
        'pre',
        { id: 'snippet' },
        `<script>window.webevents = window.webevents || function(){(webevents.q = webevents.q || []).push(arguments)}</script>\n<script async src="${origin}/t.js" data-source="${source.public_key}"></script>`,
      ),
    );
  if (source.kind === 'mobile_app')
    return el(
      'div',
      {},
      el('p', {}, 'In the app (npm install @web-events/sdk):'),
      el('pre', { id: 'snippet' }, `const client = new WebEventsClient({ endpoint: '${origin}', sourceKey: '${source.public_key}' });`),
    );
  return el(
    'div',
    {},
    el('p', {}, 'From the server:'),
    el(
      'pre',
      { id: 'snippet' },
      `curl ${origin}/api/v1/web-events -H 'authorization: Bearer ${secretKey ?? 'SECRET_KEY'}' -H 'content-type: application/json' -d '{"events":[{"session_id":"s-1","name":"page_view","occurred_at":"${new Date().toISOString()}"}]}'`,
    ),
  );
}

/** "waiting for the first event…" until the source's health shows one. */
function firstEvent(source) {
  const line = el('p', { class: 'waiting', id: 'first-event' }, 'waiting for the first event…');
  const poll = async () => {
    if (!line.isConnected) return;
    const h = await api(`/api/v1/sources/${source.id}/health?range=hour`).catch(() => null);
    if (!h?.last_event_at) return setTimeout(poll, 1500);
    line.replaceChildren(`first event received at ${h.last_event_at}`);
    line.setAttribute('class', 'ok');
  };
  poll();
  return line;
}

function sourcesView(created) {
  const rows = sources.map((s) =>
    el(
      'tr',
      {},
      el('td', {}, s.id),
      el('td', {}, s.name),
      el('td', {}, s.kind),
      el('td', {}, s.active ? 'active' : 'inactive'),
      el('td', {}, (s.allowed_origins ?? []).join(' ')),
      el(
        'td',
        {},
        admin ? el('button', { onclick: () => editSource(s) }, 'Edit') : null,
        admin ? el('button', { onclick: () => rotate(s) }, 'Rotate keys') : null,
      ),
    ),
  );
  const form = admin
    ? el(
        'form',
        {
          class: 'card',
          id: 'create',
          onsubmit: async (e) => {
            e.preventDefault();
            const f = new FormData(e.target);
            try {
              const source = await api('/api/v1/admin/sources', {
                method: 'POST',
                body: JSON.stringify({
                  id: f.get('id'),
                  name: f.get('name'),
                  kind: f.get('kind'),
                  allowed_origins: String(f.get('origins')).split(/\s+/).filter(Boolean),
                }),
              });
              sources = (await api('/api/v1/sources')).sources;
              chosen = source.id;
              sourcesView(source);
            } catch (err) {
              e.target.append(el('p', { class: 'error' }, err.message));
            }
          },
        },
        el('h2', {}, 'New source'),
        el('input', { name: 'id', placeholder: 'id, e.g. shop-eu', required: true }),
        el('input', { name: 'name', placeholder: 'name', required: true }),
        el(
          'select',
          { name: 'kind' },
          ['website', 'mobile_app', 'server'].map((k) => el('option', { value: k }, k)),
        ),
        el('input', { name: 'origins', placeholder: 'allowed origins (https://shop.example …)' }),
        el('button', { type: 'submit' }, 'Create'),
      )
    : null;
  const made = created
    ? el(
        'div',
        { class: 'card', id: 'created' },
        el('h2', {}, `Source ${created.id} created`),
        el('p', {}, 'The secret key is shown this once: keep it on your server.'),
        el('pre', { id: 'secret-key' }, created.secret_key),
        el('p', {}, 'The identity secret signs customer ids (customer_hash) on your backend; also shown this once:'),
        el('pre', { id: 'identity-secret' }, created.identity_secret),
        setupFor(created, created.secret_key),
        firstEvent(created),
      )
    : null;
  show(el('h1', {}, 'Sources'), made, headed(['id', 'name', 'kind', 'status', 'allowed origins', ''], el('tbody', {}, rows)), form);
}

function editSource(s) {
  const input = el('input', { value: (s.allowed_origins ?? []).join(' '), id: 'origins' });
  show(
    el(
      'form',
      {
        class: 'card',
        onsubmit: async (e) => {
          e.preventDefault();
          await api(`/api/v1/admin/sources/${s.id}`, { method: 'PATCH', body: JSON.stringify({ allowed_origins: input.value.split(/\s+/).filter(Boolean) }) });
          sources = (await api('/api/v1/sources')).sources;
          sourcesView();
        },
      },
      el('h1', {}, `Allowed origins of ${s.id}`),
      input,
      el('button', { type: 'submit' }, 'Save'),
    ),
  );
}

async function rotate(s) {
  const next = await api(`/api/v1/admin/sources/${s.id}/rotate-keys`, { method: 'POST', body: JSON.stringify({ keys: ['public', 'secret'] }) });
  show(
    el(
      'div',
      { class: 'card' },
      el('h1', {}, `New keys of ${s.id}`),
      el('p', {}, 'The old keys work for their grace period. The secret key is shown this once.'),
      el('pre', {}, `public: ${next.public_key}\nsecret: ${next.secret_key}`),
      setupFor(next, next.secret_key),
    ),
  );
}

// ---- live events ----

function summary(item) {
  const c = item.context;
  return c
    ? cut(
        `${c.type}${c.id !== undefined ? ` ${c.id}` : ''}${c.name ? ` · ${c.name}` : ''}${c.price !== undefined ? ` · ${c.price} ${c.currency ?? ''}` : ''}`,
        80,
      )
    : '';
}

function liveView() {
  if (!chosen) return show(el('p', {}, 'No source yet.'));
  const items = [];
  let paused = false;
  const name = el('input', { id: 'filter-name', placeholder: 'name' });
  const session = el('input', { id: 'filter-session', placeholder: 'session' });
  const body = el('tbody', { id: 'live-rows' });
  const detail = el('pre', { id: 'detail', class: 'detail' });
  const status = el('span', { id: 'live-status' }, 'connecting…');
  const pause = el(
    'button',
    {
      id: 'pause',
      onclick: () => {
        paused = !paused;
        pause.textContent = paused ? 'Resume' : 'Pause';
        if (!paused) render();
      },
    },
    'Pause',
  );
  const render = () => {
    // A refused event is matched on what was sent.
    const matches = (i, field, text) => !text || (i.rejected ? i.rejected.payload.includes(text) : String(i[field] ?? '').includes(text));
    const shown = items.filter((i) => matches(i, 'name', name.value) && matches(i, 'session_id', session.value));
    body.replaceChildren(...shown.reverse().map((i) => (i.rejected ? rejectedRow(i.rejected) : eventRow(i))));
  };
  // A row of the table (a cell: its content, or {td: attributes, text}); a click shows its whole
  // object in the detail pane, as text.
  const row = (cls, object, ...cells) =>
    el(
      'tr',
      { class: cls, onclick: () => (detail.textContent = JSON.stringify(object, null, 2)) },
      cells.map((cell) => (cell?.td ? el('td', cell.td, cell.text) : el('td', {}, cell))),
    );
  const eventRow = (e) =>
    row(
      'event',
      e,
      e.received_at?.slice(11, 23),
      { td: { class: 'name' }, text: e.name },
      e.channel,
      el('a', { href: `#session/${encodeURIComponent(e.source_id)}/${encodeURIComponent(e.session_id)}` }, cut(e.session_id, 40)),
      e.customer_id ?? (e.claimed_customer_id ? `claim: ${cut(e.claimed_customer_id, 40)}` : ''),
      cut(e.page?.url, 60),
      summary(e),
      (e.flags ?? []).join(' '),
    );
  const rejectedRow = (r) =>
    row('rejected', r, r.at?.slice(11, 23), { td: { class: 'name' }, text: 'rejected' }, r.channel, {
      td: { colspan: 5 },
      text: cut(`${r.code}: ${r.message}`, 200),
    });
  name.addEventListener('input', render);
  session.addEventListener('input', render);
  show(
    el('h1', {}, 'Live events'),
    el('div', { class: 'bar' }, sourcePicker(liveView), name, session, pause, status),
    headed(['time', 'name', 'channel', 'session', 'customer', 'page', 'context', 'flags'], body),
    detail,
  );
  socket?.close();
  const source = chosen;
  let retry = 1000;
  // Kept open: a keep-alive every 30 s (answered without waking the monitor), and a new connection
  // after a drop (a deploy, the monitor restarting), sooner at first.
  const connect = () => {
    const ws = new WebSocket(`${location.origin.replace(/^http/, 'ws')}/api/v1/sources/${encodeURIComponent(source)}/live`, [
      'web-events',
      `bearer.${b64url(token())}`,
    ]);
    socket = ws;
    const ping = setInterval(() => ws.readyState === WebSocket.OPEN && ws.send('ping'), 30_000);
    ws.onopen = () => {
      status.textContent = 'live';
      retry = 1000;
      items.length = 0;
    };
    ws.onclose = () => {
      clearInterval(ping);
      status.textContent = 'closed';
      if (socket !== ws || !status.isConnected) return;
      status.textContent = 'reconnecting…';
      setTimeout(() => socket === ws && status.isConnected && connect(), retry);
      retry = Math.min(retry * 2, 30_000);
    };
    ws.onmessage = (m) => {
      if (m.data === 'pong') return;
      const { items: arrived } = JSON.parse(m.data);
      items.push(...arrived);
      items.splice(0, Math.max(0, items.length - MAX_LIVE));
      if (!paused) render();
    };
  };
  connect();
}

// ---- session timeline ----

async function timelineView(sourceId, sessionId) {
  const src = el('input', { id: 'tl-source', value: sourceId ?? chosen ?? '', placeholder: 'source' });
  const sid = el('input', { id: 'tl-session', value: sessionId ?? '', placeholder: 'session id' });
  const cust = el('input', { id: 'tl-customer', placeholder: 'customer id' });
  const out = el('div', { id: 'timeline' });
  show(
    el('h1', {}, 'Session timeline'),
    el(
      'form',
      {
        class: 'bar',
        onsubmit: (e) => {
          e.preventDefault();
          location.hash = `#session/${encodeURIComponent(src.value)}/${encodeURIComponent(sid.value)}`;
        },
      },
      src,
      sid,
      el('button', { type: 'submit' }, 'Show'),
    ),
    el(
      'form',
      {
        class: 'bar',
        onsubmit: (e) => {
          e.preventDefault();
          customerSessions(src.value, cust.value, out);
        },
      },
      cust,
      el('button', { type: 'submit' }, 'Customer’s sessions'),
    ),
    out,
  );
  if (!sourceId || !sessionId) return;
  try {
    let page = await api(`/api/v1/sessions/${encodeURIComponent(sourceId)}/${encodeURIComponent(sessionId)}`);
    const events = [...page.events];
    while (page.next_cursor && events.length < 5000) {
      page = await api(`/api/v1/sessions/${encodeURIComponent(sourceId)}/${encodeURIComponent(sessionId)}?cursor=${encodeURIComponent(page.next_cursor)}`);
      events.push(...page.events);
    }
    out.replaceChildren(drawTimeline(page.session, events));
  } catch (e) {
    out.replaceChildren(el('p', { class: 'error' }, e.message));
  }
}

async function customerSessions(sourceId, customerId, out) {
  try {
    const { sessions: list } = await api(`/api/v1/customers/${encodeURIComponent(customerId)}/sessions?source_id=${encodeURIComponent(sourceId)}`);
    out.replaceChildren(
      el(
        'ul',
        { id: 'customer-sessions' },
        list.map((s) =>
          el(
            'li',
            {},
            el(
              'a',
              { href: `#session/${encodeURIComponent(s.source_id)}/${encodeURIComponent(s.session_id)}` },
              `${s.last_event_at} · ${s.session_id} · ${s.event_count} events`,
            ),
          ),
        ),
      ),
    );
  } catch (e) {
    out.replaceChildren(el('p', { class: 'error' }, e.message));
  }
}

function drawTimeline(session, events) {
  const t = (iso) => Date.parse(iso);
  const start = t(session.started_at);
  const end = Math.max(t(session.closed_at ?? session.last_event_at), t(session.last_event_at), start + 1000);
  const W = 960;
  // Room at both ends for the labels.
  const x = (ms) => 90 + ((ms - start) / (end - start)) * (W - 180);
  const svg = el('svg:svg', { viewBox: `0 0 ${W} 150`, class: 'timeline', role: 'img' });
  svg.append(el('svg:line', { x1: 90, x2: W - 90, y1: 70, y2: 70, class: 'axis' }));
  // Inactivity gaps to scale, labelled when longer than a minute.
  for (let i = 1; i < events.length; i++) {
    const gap = t(events[i].occurred_at) - t(events[i - 1].occurred_at);
    if (gap > 60_000)
      svg.append(
        el('svg:text', { x: (x(t(events[i].occurred_at)) + x(t(events[i - 1].occurred_at))) / 2, y: 90, class: 'gap' }, `${Math.round(gap / 60_000)} min`),
      );
  }
  for (const [i, e] of events.entries()) {
    const cx = x(t(e.occurred_at));
    svg.append(el('svg:circle', { cx, cy: 70, r: 6, class: `dot ${(e.flags ?? []).join(' ')}` }, el('svg:title', {}, `${e.occurred_at} ${e.name}`)));
    svg.append(el('svg:text', { x: cx, y: i % 2 ? 50 : 40, class: 'label' }, cut(e.name, 24)));
  }
  if (session.deanonymized_at) {
    const dx = x(Math.min(Math.max(t(session.deanonymized_at), start), end));
    svg.append(el('svg:line', { x1: dx, x2: dx, y1: 20, y2: 110, class: 'deanon' }));
    svg.append(el('svg:text', { x: dx, y: 125, class: 'deanon-label', id: 'deanonymized' }, `de-anonymized by ${session.deanonymized_by}`));
  }
  if (session.closed_at) {
    const cx = x(t(session.closed_at));
    svg.append(el('svg:line', { x1: cx, x2: cx, y1: 55, y2: 85, class: 'close' }));
    svg.append(el('svg:text', { x: cx, y: 145, class: 'gap' }, 'closed'));
  }
  const list = el(
    'table',
    { id: 'timeline-events' },
    el(
      'tbody',
      {},
      events.map((e) =>
        el(
          'tr',
          {},
          el('td', {}, e.occurred_at),
          el('td', {}, e.name),
          el('td', {}, e.customer_id ?? ''),
          el('td', {}, (e.flags ?? []).join(' ')),
          el('td', {}, summary(e)),
        ),
      ),
    ),
  );
  return el(
    'div',
    {},
    el(
      'p',
      { id: 'session-facts' },
      `${session.session_id} · ${session.status} · ${session.event_count} events · customer ${session.customer_id ?? '(anonymous)'}${session.identity_conflicts ? ` · ${session.identity_conflicts} identity conflicts` : ''}`,
    ),
    svg,
    list,
  );
}

// ---- health ----

const GROUPS = [
  ['Accepted', (k) => k === 'accepted'],
  ['Duplicates', (k) => k === 'duplicate'],
  ['Rejected', (k) => k.startsWith('rejected:')],
  ['Bots dropped', (k) => k === 'bot'],
  ['Webhooks delivered', (k) => k === 'webhook_delivered'],
  ['Webhooks retried or dead-lettered', (k) => k === 'webhook_retried' || k === 'webhook_dead_lettered'],
  ['Failed D1 and lake writes', (k) => k === 'd1_write_failed' || k === 'lake_write_failed'],
];

async function healthView(range = 'hour') {
  if (!chosen) return show(el('p', {}, 'No source yet.'));
  const h = await api(`/api/v1/sources/${encodeURIComponent(chosen)}/health?range=${range}`).catch((e) => ({ error: e.message, minutes: [] }));
  const span = range === 'hour' ? 60 : 1440;
  const now = Math.floor(Date.now() / 60_000) * 60_000;
  const series = (match) => {
    const per = new Map();
    for (const m of h.minutes) if (match(m.kind)) per.set(Date.parse(m.minute), (per.get(Date.parse(m.minute)) ?? 0) + m.n);
    return Array.from({ length: span }, (_, i) => per.get(now - (span - 1 - i) * 60_000) ?? 0);
  };
  const lag = (() => {
    const sum = series((k) => k === 'd1_lag_ms');
    const n = series((k) => k === 'd1_writes');
    return sum.map((s, i) => (n[i] ? s / n[i] : 0));
  })();
  const chart = (title, values, unit = '') => {
    const max = Math.max(0, ...values);
    const total = values.reduce((a, b) => a + b, 0);
    const svg = el('svg:svg', { viewBox: `0 0 ${span} 40`, preserveAspectRatio: 'none', class: 'chart' });
    values.forEach((v, i) => {
      if (v) svg.append(el('svg:rect', { x: i, y: 40 - (v / max) * 40, width: 0.8, height: (v / max) * 40 }));
    });
    return el(
      'div',
      { class: 'chart-card', 'data-kind': title },
      el('h3', {}, title),
      el('p', { class: 'total' }, unit ? `max ${Math.round(max)} ${unit}` : `${total} in the last ${range}`),
      svg,
    );
  };
  const reasons = new Map();
  for (const m of h.minutes) if (m.kind.startsWith('rejected:')) reasons.set(m.kind.slice(9), (reasons.get(m.kind.slice(9)) ?? 0) + m.n);
  show(
    el('h1', {}, 'Health'),
    el(
      'div',
      { class: 'bar' },
      sourcePicker(() => healthView(range)),
      el(
        'select',
        { id: 'range', onchange: (e) => healthView(e.target.value) },
        ['hour', 'day'].map((r) => el('option', { value: r, selected: r === range }, `last ${r}`)),
      ),
    ),
    h.error ? el('p', { class: 'error' }, h.error) : null,
    el('p', { id: 'last-event' }, `Last event seen: ${h.last_event_at ?? 'none yet'}`),
    el(
      'div',
      { class: 'charts' },
      GROUPS.map(([title, match]) => chart(title, series(match))),
      chart('D1 write lag', lag, 'ms'),
    ),
    reasons.size ? el('p', {}, `Rejected by reason: ${[...reasons].map(([r, n]) => `${r} ${n}`).join(', ')}`) : null,
  );
}

// ---- routing ----

function route() {
  if (!token()) return signIn();
  let view;
  let a;
  let b;
  try {
    [view, a, b] = location.hash.slice(1).split('/').map(decodeURIComponent);
  } catch {
    view = 'sources'; // a link that is not one of ours
  }
  for (const link of nav.querySelectorAll('a')) link.classList.toggle('current', link.getAttribute('href') === `#${view}`);
  if (view === 'live') return liveView();
  if (view === 'session') return timelineView(a, b);
  if (view === 'timeline') return timelineView();
  if (view === 'health') return healthView();
  return sourcesView();
}

window.addEventListener('hashchange', route);
document.getElementById('signout').addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN);
  signIn();
});
if (token()) start();
else signIn();
