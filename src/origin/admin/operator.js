// The operator view: asks for an operator token once (sessionStorage), then reads GET
// /v1/platform and draws it: top components with their intervals, synergies, the layouts that
// win per vertical, publishes and transformations per day, the evolution timeline.
const KEY = 'whale.operator.token';
const SVG = 'http://www.w3.org/2000/svg';
const $ = (s) => document.querySelector(s);

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

function s(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

const pct = (x) => `${(100 * x).toFixed(2)}%`;

async function api(path, init = {}) {
  const res = await fetch(path, { ...init, headers: { ...(init.headers ?? {}), Authorization: `Bearer ${sessionStorage.getItem(KEY)}` } });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) {
    const err = new Error(body.error?.message ?? `HTTP ${res.status}`);
    err.status = res.status;
    throw err;
  }
  return body;
}

// Intervals as horizontal bars on one shared axis, the mean as a dot.
function intervalPlot(rows, { width = 640, row = 22, label = 160 } = {}) {
  const height = rows.length * row + 24;
  const max = Math.max(0.0001, ...rows.map((r) => r.high));
  const x = (v) => label + (v / max) * (width - label - 20);
  const svg = s('svg', { width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': 'conversion intervals', class: 'plot' });
  rows.forEach((r, i) => {
    const y = i * row + row / 2 + 4;
    svg.append(s('text', { x: label - 8, y: y + 4, 'text-anchor': 'end', 'font-size': 12 }, r.key));
    svg.append(s('line', { x1: x(r.low), x2: x(r.high), y1: y, y2: y, stroke: '#4b7bec', 'stroke-width': 6, 'stroke-linecap': 'round', 'data-key': r.key }));
    svg.append(s('circle', { cx: x(r.mean), cy: y, r: 4, fill: '#1e272e' }));
  });
  const axis = rows.length * row + 12;
  svg.append(s('line', { x1: label, x2: width - 20, y1: axis, y2: axis, stroke: '#888' }));
  svg.append(s('text', { x: label, y: axis + 12, 'font-size': 10 }, '0%'));
  svg.append(s('text', { x: width - 20, y: axis + 12, 'font-size': 10, 'text-anchor': 'end' }, pct(max)));
  return svg;
}

// Publishes and transformations per day as paired bars.
function perDayPlot(days, { width = 640, height = 180 } = {}) {
  const svg = s('svg', { width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': 'publishes and transformations per day', class: 'plot' });
  const max = Math.max(1, ...days.flatMap((d) => [d.publishes, d.transformations]));
  const slot = (width - 40) / Math.max(1, days.length);
  const bar = Math.max(2, Math.min(24, slot / 2 - 4));
  const y = (v) => height - 30 - (v / max) * (height - 50);
  days.forEach((d, i) => {
    const x0 = 30 + i * slot;
    svg.append(s('rect', { x: x0, y: y(d.publishes), width: bar, height: height - 30 - y(d.publishes), fill: '#20bf6b', 'data-day': d.day, 'data-kind': 'publishes' }));
    svg.append(s('rect', { x: x0 + bar + 2, y: y(d.transformations), width: bar, height: height - 30 - y(d.transformations), fill: '#fa8231', 'data-day': d.day, 'data-kind': 'transformations' }));
    svg.append(s('text', { x: x0, y: height - 14, 'font-size': 10 }, d.day.slice(5)));
  });
  svg.append(s('text', { x: 30, y: 12, 'font-size': 11, fill: '#20bf6b' }, 'publishes'));
  svg.append(s('text', { x: 110, y: 12, 'font-size': 11, fill: '#fa8231' }, 'transformations'));
  svg.append(s('text', { x: 4, y: y(max) + 4, 'font-size': 10 }, String(max)));
  return svg;
}

function render(p) {
  $('#counts').textContent = `${p.vendors} vendors in ${p.verticals.length} verticals (${p.verticals.join(', ')})`;
  $('#components-plot').replaceChildren(intervalPlot(p.topComponents));
  $('#components tbody').replaceChildren(...p.topComponents.map((c) => h('tr', { 'data-component': c.key },
    h('td', {}, c.key), h('td', {}, pct(c.mean)), h('td', {}, `${pct(c.low)} – ${pct(c.high)}`),
    h('td', {}, String(c.units)), h('td', {}, String(c.vendors)))));
  $('#synergies tbody').replaceChildren(...p.synergies.map((x) => h('tr', { 'data-pair': `${x.a}+${x.b}` },
    h('td', {}, `${x.a} + ${x.b}`), h('td', {}, x.effect.toFixed(3)), h('td', {}, `${x.low.toFixed(2)} – ${x.high.toFixed(2)}`),
    h('td', {}, `${x.uplift >= 0 ? '+' : ''}${pct(x.uplift)}`), h('td', {}, String(x.units)))));
  $('#verticals').replaceChildren(...Object.entries(p.layoutsByVertical).map(([vertical, layouts]) => h('div', { 'data-vertical': vertical },
    h('h3', {}, vertical),
    h('table', {}, h('thead', {}, h('tr', {}, ...['section', 'layout', 'conversion', '95% interval', 'units', 'vendors'].map((t) => h('th', {}, t)))),
      h('tbody', {}, ...layouts.map((l, i) => h('tr', { 'data-section': `${l.page}/${l.section}`, class: i === 0 || layouts[i - 1].section !== l.section || layouts[i - 1].page !== l.page ? 'winner' : '' },
        h('td', {}, `${l.page} / ${l.section}`), h('td', {}, l.components.join(', ')), h('td', {}, pct(l.mean)),
        h('td', {}, `${pct(l.low)} – ${pct(l.high)}`), h('td', {}, String(l.units)), h('td', {}, String(l.vendors)))))))));
  $('#per-day-plot').replaceChildren(perDayPlot(p.perDay));
  $('#timeline').replaceChildren(...p.timeline.map((e) => h('li', { 'data-kind': e.kind },
    h('time', { datetime: e.at }, e.at.replace('T', ' ').slice(0, 19)), ` ${e.vendor}: ${e.kind} ${e.detail}`)));
}

async function start() {
  try {
    render(await api('/v1/platform'));
    $('#login').hidden = true;
    $('#app').hidden = false;
    document.body.dataset.loaded = 'true';
  } catch (err) {
    if (err.status === 401 || err.status === 403) sessionStorage.removeItem(KEY);
    $('#login').hidden = false;
    $('#login-error').textContent = err.message;
  }
}

$('#login').addEventListener('submit', (e) => {
  e.preventDefault();
  sessionStorage.setItem(KEY, $('#token').value.trim());
  $('#token').value = '';
  start();
});
$('#logout').addEventListener('click', () => {
  sessionStorage.removeItem(KEY);
  location.reload();
});
$('#bootstrap').addEventListener('submit', async (e) => {
  e.preventDefault();
  const slug = $('#bootstrap-slug').value.trim();
  try {
    const r = await api(`/v1/vendors/${encodeURIComponent(slug)}/bootstrap`, { method: 'POST', body: '' });
    $('#bootstrap-result').textContent = r.applied.length === 0
      ? `nothing to apply for ${slug} (${r.vertical})`
      : `${slug}: ${r.applied.map((a) => `${a.page}/${a.section} ← ${a.components.join(', ')} (${a.from})`).join('; ')}; draft saved, not published`;
  } catch (err) {
    $('#bootstrap-result').textContent = `bootstrap failed: ${err.message}`;
  }
});
if (sessionStorage.getItem(KEY)) start(); else $('#login').hidden = false;
