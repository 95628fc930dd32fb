// The vendor dashboard (/admin on the origin) end to end: a real whale-origin with a temporary
// database and the flora-distro config published, the page opened in headless Chromium
// (playwright-core), the token entered, tables and SVG plots checked, the top components panel
// (counts and credible intervals), revalidate pressed (the version goes up), a screenshot kept in
// build/dashboard.png, and the data API's auth. A second vendor (green-harbor's config, with
// results on its hero section) proposes a layout from the optimizer panel and applies the draft.
//
// Env: WHALE_ORIGIN (the whale-origin binary), WHALE_CHROMIUM (default /usr/bin/chromium).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { EVENTS_KEY, signEvents } from '../../scripts/stack.mjs';
import { keyArgs, testDb } from './test-db.mjs';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ORIGIN = process.env.WHALE_ORIGIN ?? join(REPO, 'build', 'native', 'src', 'origin', 'whale-origin');
const CHROMIUM = process.env.WHALE_CHROMIUM ?? '/usr/bin/chromium';
const CONFIG = join(REPO, 'fixtures', 'vendors', 'flora-distro', 'config.json');
const HARBOR_CONFIG = join(REPO, 'fixtures', 'vendors', 'green-harbor', 'config.json');
const SCREENSHOT = join(REPO, 'build', 'dashboard.png');
const STARTUP_MS = 20000;

const work = mkdtempSync(join(tmpdir(), 'whale-dashboard-'));
const db = testDb(join(work, 'whale.db'));
let child = null;
let base = '';
const tokens = {};

function addPrincipal(kind, name) {
  const r = spawnSync(ORIGIN, [kind, 'add', name, '--db', db], { encoding: 'utf8', timeout: 10000 });
  assert.equal(r.status, 0, `${r.error ?? ""} ${r.stderr}`);
  return r.stdout.trim();
}

before(async () => {
  tokens.flora = addPrincipal('vendor', 'flora-distro');
  tokens.other = addPrincipal('vendor', 'other-vendor');
  tokens.edge = addPrincipal('edge', 'edge-1');
  tokens.harbor = addPrincipal('vendor', 'green-harbor');
  child = spawn(ORIGIN, ['serve', '--db', db, ...keyArgs(db), '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, WHALE_EVENTS_KEY: EVENTS_KEY } });
  let stdout = '', stderr = '';
  child.stderr.on('data', (c) => { stderr += c; });
  base = await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`whale-origin did not start\n${stderr}`)), STARTUP_MS);
    child.stdout.on('data', (c) => {
      stdout += c;
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout);
      if (m) { clearTimeout(timer); ok(m[1]); }
    });
    child.once('exit', (code, signal) => { clearTimeout(timer); fail(new Error(`whale-origin exited (${signal ?? code})\n${stderr}`)); });
  });
  const put = await fetch(`${base}/v1/vendors/flora-distro/config`, {
    method: 'PUT', headers: { Authorization: `Bearer ${tokens.flora}` }, body: readFileSync(CONFIG),
  });
  assert.equal(put.status, 200, await put.text());
  const pub = await fetch(`${base}/v1/vendors/flora-distro/revalidate`, {
    method: 'POST', headers: { Authorization: `Bearer ${tokens.flora}`, 'Idempotency-Key': 'dashboard-setup' }, body: '',
  });
  assert.equal(pub.status, 200, await pub.text());
  // green-harbor: its hero section's video variation (arm 2) converts best.
  const harbor = { Authorization: `Bearer ${tokens.harbor}` };
  let res = await fetch(`${base}/v1/vendors/green-harbor/config`, { method: 'PUT', headers: harbor, body: readFileSync(HARBOR_CONFIG) });
  assert.equal(res.status, 200, await res.text());
  res = await fetch(`${base}/v1/vendors/green-harbor/revalidate`, { method: 'POST', headers: { ...harbor, 'Idempotency-Key': 'harbor-setup' }, body: '' });
  assert.equal(res.status, 200, await res.text());
  const events = [];
  for (const [variation, units, converted] of [[0, 300, 9], [1, 300, 9], [2, 300, 30]]) {
    for (let u = 0; u < units; u++) {
      const unit = `h${variation}-${u}`;
      events.push({ eventId: `hx-${unit}`, type: 'exposure', slug: 'green-harbor', experiment: 'gh-home-hero', variation, unit, ts: 1764000000000 + u });
      if (u < converted) events.push({ eventId: `hc-${unit}`, type: 'conversion', slug: 'green-harbor', experiment: 'gh-home-hero', variation, unit, ts: 1764000001000 + u });
    }
  }
  res = await fetch(`${base}/v1/events`, {
    method: 'POST', headers: { authorization: `Bearer ${tokens.edge}`, 'content-type': 'application/json' }, body: JSON.stringify({ events: signEvents(events) }),
  });
  assert.equal(res.status, 200, await res.text());
});

after(() => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
});

const get = (path, token) => fetch(`${base}${path}`, { headers: token ? { Authorization: `Bearer ${token}` } : {} });

test('the experiments API answers the vendor and refuses everyone else', async () => {
  const path = '/admin/api/flora-distro/experiments';
  const none = await get(path);
  assert.equal(none.status, 401);
  assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer/);
  assert.equal((await get(path, 'whv_not-a-token')).status, 401);
  assert.equal((await get(path, tokens.other)).status, 403);
  assert.equal((await get(path, tokens.edge)).status, 403);
  assert.equal((await get('/admin/api/me', tokens.edge)).status, 403);
  const me = await get('/admin/api/me', tokens.flora);
  assert.deepEqual(await me.json(), { slug: 'flora-distro' });

  const res = await get(path, tokens.flora);
  assert.equal(res.status, 200);
  const data = await res.json();
  assert.equal(data.slug, 'flora-distro');
  assert.equal(data.version, 1);
  const config = JSON.parse(readFileSync(CONFIG, 'utf8'));
  const expected = Object.values(config.features).flatMap((f) => (f.rules ?? []).filter((r) => Array.isArray(r.variations)));
  assert.equal(data.experiments.length, expected.length);
  for (const e of data.experiments) {
    const rule = expected.find((r) => r.key === e.key);
    assert.ok(rule, e.key);
    assert.equal(e.variations.length, rule.variations.length);
    const pBest = e.variations.reduce((s, v) => s + v.p_best, 0);
    assert.ok(Math.abs(pBest - 1) < 1e-9, `${e.key}: P(best) sums to ${pBest}`);
    e.variations.forEach((v, i) => {
      assert.equal(v.alpha, 1 + v.conversions);
      assert.equal(v.beta, 1 + v.units - v.conversions);
      assert.equal(v.weight, rule.weights ? rule.weights[i] : 1 / rule.variations.length);
    });
    assert.equal(typeof e.srm, 'boolean');
    assert.deepEqual(e.weights_history.map((h) => h.version), [1]);
  }
  // Events posted by an edge show up as units and conversions (docs/bandits.md).
  const exp = data.experiments[0];
  const events = [];
  for (let u = 0; u < 12; u++) {
    const variation = u % 2;
    events.push({ eventId: `x-${u}`, type: 'exposure', slug: 'flora-distro', experiment: exp.key, variation, unit: `u${u}`, ts: 1764000000000 + u });
    if (u < 3) events.push({ eventId: `c-${u}`, type: 'conversion', slug: 'flora-distro', experiment: exp.key, variation, unit: `u${u}`, ts: 1764000001000 + u });
  }
  const posted = await fetch(`${base}/v1/events`, {
    method: 'POST', headers: { authorization: `Bearer ${tokens.edge}`, 'content-type': 'application/json' },
    body: JSON.stringify({ events: signEvents(events) }),
  });
  assert.equal(posted.status, 200, await posted.text());
  const after = (await (await get(path, tokens.flora)).json()).experiments.find((e) => e.key === exp.key);
  assert.deepEqual(after.variations.slice(0, 2).map((v) => [v.units, v.conversions]), [[6, 2], [6, 1]]);
  assert.equal(after.variations[0].alpha, 3);
  assert.deepEqual(after.prior, { alpha: 1, beta: 1, source: 'uniform' });
  // Top components: hero-copy-q3 (feature hero-banner-copy) shows the hero-banner in every arm.
  const top = (await (await get(path, tokens.flora)).json()).top_components;
  assert.equal(top.length, 1);
  assert.deepEqual([top[0].key, top[0].units, top[0].conversions, top[0].arms, top[0].experiments], ['hero-banner', 12, 3, 2, 1]);
  assert.equal(top[0].rate, 0.25);
  assert.equal(top[0].mean, 4 / 14);
  assert.ok(top[0].low > 0.08 && top[0].low < top[0].mean && top[0].high > top[0].mean && top[0].high < 0.6, JSON.stringify(top[0]));

  // The page and its modules are public (they hold no data).
  const page = await get('/admin');
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type'), /text\/html/);
  assert.match((await get('/admin/plots.js')).headers.get('content-type'), /javascript/);
  assert.equal((await get('/admin/nothing.js')).status, 404);
});

test('the dashboard renders in Chromium, plots, and revalidates', { timeout: 60000 }, async () => {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-quic'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 1400 } });
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    page.setDefaultTimeout(15000);
    await page.goto(`${base}/admin`);
    // A wrong token is refused and the form stays.
    await page.fill('#token', 'whv_wrong');
    await page.click('#login button[type=submit]');
    await page.waitForFunction(() => document.querySelector('#login-error').textContent.length > 0);
    assert.equal(await page.isVisible('#app'), false);

    await page.fill('#token', tokens.flora);
    await page.click('#login button[type=submit]');
    await page.waitForSelector('body[data-loaded="1"]');
    assert.equal(await page.textContent('#version'), '1');
    assert.equal(await page.textContent('#who'), 'flora-distro');
    const tables = await page.$$eval('table.variations', (ts) => ts.map((t) => t.querySelectorAll('tbody tr').length));
    assert.equal(tables.length, 9); // flora-distro's 8 bandit experiments and the home page's hero
    assert.ok(tables.every((rows) => rows >= 2), JSON.stringify(tables));
    const densities = await page.$$eval('svg.density path', (ps) => ps.map((p) => p.getAttribute('d')));
    assert.ok(densities.length >= 16, `density paths: ${densities.length}`);
    assert.ok(densities.every((d) => /^M[\d.]+,[\d.]+(L[\d.]+,[\d.]+){100,}$/.test(d)), densities[0]);
    const weights = await page.$$eval('svg.weights path', (ps) => ps.map((p) => p.getAttribute('d')));
    assert.ok(weights.length >= 16 && weights.every((d) => d.length > 10));
    assert.match(await page.textContent('td.p-best'), /%$/);
    // Words a vendor reads: round rate ticks, no density scale, a readable time, the help, and no
    // traffic-split verdict on a handful of units.
    const ticks = await page.$$eval('svg.density text.tick', (ts) => ts.map((t) => t.textContent));
    assert.ok(ticks.length >= 16 && ticks.every((t) => /^\d+(\.\d{1,4})?%$/.test(t)), JSON.stringify(ticks));
    assert.match(await page.textContent('#published-at'), /^at .*\((just now|\d+ min ago)\)$/);
    assert.match(await page.textContent('#help summary'), /How to read/);
    const badges = await page.$$eval('article.experiment h2', (hs) => hs.map((x) => x.textContent));
    assert.ok(badges.some((b) => /traffic split check after 100 visitors per variation/.test(b)), JSON.stringify(badges));
    assert.ok(badges.every((b) => !/\bSRM\b/.test(b) || /mismatch/.test(b)), JSON.stringify(badges));
    // Top components: one row per component shown, with counts and a credible interval.
    assert.equal(await page.isVisible('#top-components'), true);
    const rows = await page.$$eval('#top-components tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((td) => td.textContent)));
    assert.equal(rows.length, 1);
    assert.deepEqual(rows[0].slice(0, 4), ['hero-banner', '12', '3', '25.00%']);
    assert.match(rows[0][4], /^\d+\.\d\d% – \d+\.\d\d%$/);
    // The optimizer panel: nothing to propose for flora (no layout experiments).
    assert.equal(await page.isVisible('#optimizer'), true);
    await page.click('#propose');
    await page.waitForFunction(() => document.querySelector('#propose-result').textContent.length > 0);
    assert.match(await page.textContent('#propose-result'), /no new proposal \(nothing_better\)/);

    // The token survives a reload (sessionStorage) and revalidate publishes version 2.
    await page.reload();
    await page.waitForSelector('body[data-loaded="1"]');
    await page.click('#revalidate');
    await page.waitForSelector('body[data-loaded="2"]');
    assert.equal(await page.textContent('#version'), '2');
    assert.match(await page.textContent('#revalidate-result'), /published version 2/);
    const history = await page.$$eval('svg.weights', (s) => s[0].querySelectorAll('circle').length);
    assert.ok(history >= 2, `weights points: ${history}`);

    mkdirSync(dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    assert.ok(statSync(SCREENSHOT).size > 10000);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
  const snap = await get('/v1/snapshots/flora-distro', tokens.edge);
  assert.equal((await snap.json()).version, 2);
});

test('the optimizer panel proposes a layout and applies the draft', { timeout: 60000 }, async () => {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-quic'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 1400 } });
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    page.setDefaultTimeout(15000);
    await page.goto(`${base}/admin`);
    await page.fill('#token', tokens.harbor);
    await page.click('#login button[type=submit]');
    await page.waitForSelector('body[data-loaded="1"]');
    const components = await page.$$eval('#top-components tbody tr', (trs) => trs.map((tr) => tr.dataset.component));
    assert.deepEqual(components.sort(), ['hero-banner', 'hero-video', 'promo-strip']);
    assert.equal(await page.isVisible('#proposals'), false);

    await page.click('#propose');
    await page.waitForSelector('#proposals tbody tr[data-status="draft"]');
    assert.match(await page.textContent('#propose-result'), /proposed opt-home-hero-1/);
    const row = await page.$eval('#proposals tbody tr', (tr) => [...tr.cells].map((td) => td.textContent));
    assert.deepEqual(row.slice(0, 4), ['opt-home-hero-1', 'draft', 'home / hero', 'hero-banner, promo-strip → hero-video']);
    // Still a draft: nothing was published.
    assert.equal(await page.textContent('#version'), '1');

    await page.click('#proposals tbody tr[data-status="draft"] button');
    await page.waitForSelector('#proposals tbody tr[data-status="applied"]');
    assert.match(await page.textContent('#propose-result'), /applied to the draft/);

    // Per segment (green-harbor declares mobile and desktop): one draft each, grouped under its
    // segment after the proposals for every visitor.
    await page.click('#propose-segments');
    await page.waitForSelector('#proposals tbody tr[data-segment="desktop"]');
    assert.match(await page.textContent('#propose-result'), /^mobile: proposed opt-mobile-home-hero-\d+; desktop: proposed opt-desktop-home-hero-\d+$/);
    const groups = await page.$$eval('#proposals tbody tr', (trs) => trs.map((tr) => [tr.dataset.segment, tr.cells[5].textContent, tr.dataset.status]));
    assert.deepEqual(groups, [['all', 'every visitor', 'applied'], ['mobile', 'mobile', 'draft'], ['desktop', 'desktop', 'draft']]);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
  const draft = await (await get('/v1/vendors/green-harbor/config', tokens.harbor)).json();
  const hero = draft.config.pages.find((p) => p.id === 'home').sections.find((s) => s.id === 'hero');
  assert.equal(hero.feature, 'opt-home-hero-1');
  assert.equal((await (await get('/v1/snapshots/green-harbor', tokens.edge)).json()).version, 1);
});
