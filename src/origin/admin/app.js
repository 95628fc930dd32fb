// The vendor dashboard: asks for the vendor token once (kept in sessionStorage), then reads
// /admin/api/{slug}/experiments with `Authorization: Bearer` and draws tables and SVG plots.
import { COLORS, densityPlot, weightsChart } from './plots.js';
import { readableTime } from './format.js';

const KEY = 'whale.admin.token';
const $ = (sel) => document.querySelector(sel);
let slug = '';

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') node.className = v; else node.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

async function api(path, init = {}) {
  const token = sessionStorage.getItem(KEY);
  const res = await fetch(path, { ...init, headers: { ...(init.headers ?? {}), Authorization: `Bearer ${token}` } });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) {
    const err = new Error(body?.error?.message ?? `HTTP ${res.status}`);
    err.status = res.status;
    throw err;
  }
  return body;
}

const pct = (x) => (x === null || x === undefined ? '–' : `${(x * 100).toFixed(2)}%`);
const fmt = (x) => (Number.isInteger(x) ? String(x) : x.toFixed(2));
// The SRM test says nothing useful on a handful of units: below this many per variation (the
// reweighting job's default minimum) the page waits instead of giving a verdict.
const SRM_MIN_UNITS = 100;

const HEADINGS = [
  ['variation', ''],
  ['units', 'visitors who saw this variation'],
  ['conversions', 'of them, how many converted'],
  ['rate', 'conversions / units: what was observed'],
  ['posterior α', 'prior α + conversions (the Beta posterior\'s first parameter)'],
  ['posterior β', 'prior β + units that did not convert'],
  ['P(best)', 'the chance that this variation has the highest true conversion rate, given the data so far'],
  ['weight', 'the share of new visitors this variation gets in the published config'],
];

// The SRM badge: a verdict only once every variation has enough units.
function srmView(e) {
  if (e.flagged || (e.srm && Math.min(...e.variations.map((v) => v.units)) >= SRM_MIN_UNITS)) {
    return h('span', {
      class: 'srm',
      title: `The variations got visitors in proportions their weights do not explain (chi² ${e.chi_square.toFixed(2)}, `
        + `p ${e.srm_p.toExponential(2)}): usually a bug in assignment or tracking. The bandit stops reweighting until you clear the flag.`,
    }, 'traffic split mismatch (SRM)');
  }
  const fewest = e.variations.length ? Math.min(...e.variations.map((v) => v.units)) : 0;
  if (fewest < SRM_MIN_UNITS) {
    return h('span', { class: 'muted' }, e.units > 0
      ? `traffic split check after ${SRM_MIN_UNITS} visitors per variation (fewest so far: ${fewest})` : 'no data yet');
  }
  return h('span', { class: 'ok', title: `chi² ${e.chi_square.toFixed(2)}, p ${e.srm_p.toPrecision(2)}` },
    'traffic split matches the weights');
}

function experimentView(e) {
  const swatch = (i) => h('span', { class: 'swatch', style: `background:${COLORS[i % COLORS.length]}` });
  const table = h('table', { class: 'variations' },
    h('thead', {}, h('tr', {}, ...HEADINGS.map(([t, title]) => h('th', title ? { title } : {}, t)))),
    h('tbody', {}, ...e.variations.map((v) => h('tr', { 'data-key': v.key },
      h('td', {}, swatch(v.index), v.name ? `${v.key} (${v.name})` : v.key),
      h('td', {}, String(v.units)), h('td', {}, String(v.conversions)), h('td', {}, pct(v.rate)),
      h('td', {}, String(v.alpha)), h('td', {}, String(v.beta)),
      h('td', { class: 'p-best' }, pct(v.p_best)), h('td', {}, pct(v.weight))))));
  const flag = srmView(e);
  // The reweighting job's flag stops the bandit until the vendor clears it.
  const clear = e.flagged ? h('button', { class: 'small clear-srm', type: 'button' }, 'Clear SRM flag') : null;
  clear?.addEventListener('click', () => clearSrm(e.key, clear));
  const plots = h('div', { class: 'plots' },
    h('figure', {}, densityPlot(e.variations),
      h('figcaption', {}, 'What each variation\'s true conversion rate could be: the taller and narrower a curve, the surer')),
    h('figure', {}, weightsChart(e.weights_history.length ? e.weights_history : [{ version: 0, weights: e.variations.map((v) => v.weight) }], e.variations.length),
      h('figcaption', {}, 'Traffic weights by published version')));
  return h('article', { class: 'experiment', 'data-experiment': e.key },
    h('h2', {}, `${e.key} `, flag, clear),
    h('p', {}, `feature ${e.feature}${e.id ? ` · ${e.id}` : ''} · ${e.units} units · `
      + `prior Beta(${fmt(e.prior.alpha)}, ${fmt(e.prior.beta)}) (${e.prior.source})`),
    table, plots);
}

async function load() {
  const data = await api(`/admin/api/${slug}/experiments`);
  $('#version').textContent = String(data.version);
  const at = $('#published-at');
  at.textContent = data.published_at ? `at ${readableTime(data.published_at)}` : '(nothing published yet)';
  at.title = data.published_at ?? '';
  const list = $('#experiments');
  list.replaceChildren(...data.experiments.map(experimentView));
  if (data.experiments.length === 0) list.append(h('p', {}, 'No experiments in this config.'));
  const top = $('#top-components');
  top.hidden = !(data.top_components?.length > 0);
  const rows = (data.top_components ?? []).map((c) => h('tr', { 'data-component': c.key },
    h('td', {}, c.key), h('td', {}, String(c.units)), h('td', {}, String(c.conversions)), h('td', {}, pct(c.rate)),
    h('td', { class: 'interval' }, `${pct(c.low)} – ${pct(c.high)}`), h('td', {}, String(c.arms))));
  top.querySelector('tbody').replaceChildren(...rows);
  await loadOptimizer();
  document.body.dataset.loaded = String(data.version);
}

// The optimizer's synergies and proposals (GET /v1/vendors/{slug}/optimizer); hidden until
// something is published.
async function loadOptimizer() {
  const section = $('#optimizer');
  let o;
  try {
    o = await api(`/v1/vendors/${slug}/optimizer`);
  } catch (err) {
    section.hidden = true;
    return;
  }
  section.hidden = false;
  $('#optimizer-mode').textContent = o.autoPublish
    ? 'Proposals are published automatically.'
    : 'Proposals stay drafts until applied.';
  const synergies = o.synergies.slice(0, 5);
  $('#synergies').hidden = synergies.length === 0;
  $('#synergies tbody').replaceChildren(...synergies.map((p) => h('tr', {},
    h('td', {}, `${p.a} + ${p.b}`), h('td', {}, p.effect.toFixed(3)),
    h('td', {}, `${p.low.toFixed(2)} – ${p.high.toFixed(2)}`),
    h('td', {}, pct(p.uplift)), h('td', {}, String(p.units)))));
  $('#proposals').hidden = o.proposals.length === 0;
  $('#propose-segments').hidden = !(o.segments?.length > 0);
  // Grouped per segment: every visitor first, then the segments in the config's order; newest
  // first within a group.
  const order = ['', ...(o.segments ?? [])];
  const group = (p) => {
    const i = order.indexOf(p.proposal.segment ?? '');
    return i < 0 ? order.length : i;
  };
  const rows = [...o.proposals].sort((a, b) => group(a) - group(b));
  $('#proposals tbody').replaceChildren(...rows.map((p) => {
    const apply = p.status === 'draft' ? h('button', { class: 'small', type: 'button' }, 'Apply to draft') : null;
    apply?.addEventListener('click', () => applyProposal(p.id, apply));
    const segment = p.proposal.segment ?? '';
    return h('tr', { 'data-proposal': String(p.id), 'data-status': p.status, 'data-segment': segment || 'all' },
      h('td', {}, p.experiment), h('td', { class: 'status' }, p.version ? `${p.status} (v${p.version})` : p.status),
      h('td', {}, `${p.proposal.page} / ${p.proposal.section}`),
      h('td', {}, `${p.proposal.control.join(', ')} → ${p.proposal.variant.join(', ')}`),
      h('td', {}, p.proposal.gain.toFixed(3)), h('td', {}, segment || 'every visitor'), h('td', {}, apply));
  }));
}

async function proposeSegments() {
  const button = $('#propose-segments');
  button.disabled = true;
  try {
    const r = await api(`/v1/vendors/${slug}/optimizer/propose`, { method: 'POST', body: JSON.stringify({ segments: true }) });
    $('#propose-result').textContent = r.segments.map((s) => (s.created
      ? `${s.segment}: proposed ${s.proposal.experiment}` : `${s.segment}: no new proposal (${s.reason})`)).join('; ');
    await load();
  } catch (err) {
    $('#propose-result').textContent = `propose failed: ${err.message}`;
  } finally {
    button.disabled = false;
  }
}

async function propose() {
  const button = $('#propose');
  button.disabled = true;
  try {
    const r = await api(`/v1/vendors/${slug}/optimizer/propose`, { method: 'POST', body: '' });
    $('#propose-result').textContent = r.created
      ? `proposed ${r.proposal.experiment}${r.published ? `, published as version ${r.version}` : ''}`
      : `no new proposal (${r.reason})`;
    await load();
  } catch (err) {
    $('#propose-result').textContent = `propose failed: ${err.message}`;
  } finally {
    button.disabled = false;
  }
}

async function applyProposal(id, button) {
  button.disabled = true;
  try {
    await api(`/v1/vendors/${slug}/optimizer/proposals/${id}/apply`, { method: 'POST', body: '' });
    $('#propose-result').textContent = `proposal ${id} applied to the draft: revalidate to publish it`;
    await load();
  } catch (err) {
    $('#propose-result').textContent = `apply failed: ${err.message}`;
    button.disabled = false;
  }
}

async function clearSrm(key, button) {
  button.disabled = true;
  try {
    await api(`/v1/vendors/${slug}/experiments/${encodeURIComponent(key)}/srm/clear`, { method: 'POST', body: '' });
    await load();
  } catch (err) {
    button.textContent = `clear failed: ${err.message}`;
  }
}

async function revalidate() {
  const button = $('#revalidate');
  button.disabled = true;
  const key = crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`;
  try {
    const r = await api(`/v1/vendors/${slug}/revalidate`, { method: 'POST', headers: { 'Idempotency-Key': key }, body: '' });
    $('#revalidate-result').textContent = `published version ${r.version}`;
    await load();
  } catch (err) {
    $('#revalidate-result').textContent = `revalidate failed: ${err.message}`;
  } finally {
    button.disabled = false;
  }
}

async function start() {
  try {
    const me = await api('/admin/api/me');
    slug = me.slug;
    $('#who').textContent = slug;
    $('#login').hidden = true;
    $('#app').hidden = false;
    await load();
  } catch (err) {
    if (err.status === 401 || err.status === 403) sessionStorage.removeItem(KEY);
    $('#app').hidden = true;
    $('#login').hidden = false;
    $('#login-error').textContent = err.message;
  }
}

$('#login').addEventListener('submit', (ev) => {
  ev.preventDefault();
  sessionStorage.setItem(KEY, $('#token').value.trim());
  $('#token').value = '';
  start();
});
$('#revalidate').addEventListener('click', revalidate);
$('#propose').addEventListener('click', propose);
$('#propose-segments').addEventListener('click', proposeSegments);
$('#logout').addEventListener('click', () => {
  sessionStorage.removeItem(KEY);
  location.reload();
});

if (sessionStorage.getItem(KEY)) start(); else $('#login').hidden = false;
