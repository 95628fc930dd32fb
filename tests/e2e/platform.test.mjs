// Platform intelligence end to end (docs/platform.md): a real whale-origin with three vendors in
// two verticals and their results; GET /v1/platform with an operator token (top components with
// intervals, synergies with uplift, layouts that win per vertical, publishes and transformations
// per day, the timeline), the operator view in headless Chromium (screenshot at
// build/operator.png), and bootstrap: a new grocer's draft gets its vertical's winning layout and
// is never published by it.
//
// Env: WHALE_ORIGIN (the whale-origin binary), WHALE_CHROMIUM (default /usr/bin/chromium).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { testDb } from './test-db.mjs';
import {
  ORIGIN_BIN, REPO, addPrincipal, heroExperimentConfig, postResults, publish, readConfig, request, startOrigin, stop,
} from '../../scripts/stack.mjs';

const CHROMIUM = process.env.WHALE_CHROMIUM ?? '/usr/bin/chromium';
const GROCERS = ['gh-north', 'gh-south'];
const NEW = 'gh-new';
const HERO_RESULTS = [[2000, 60], [2000, 60], [2000, 120], [2000, 60]]; // video + promo converts twice as well
const work = mkdtempSync(join(tmpdir(), 'whale-platform-'));
const db = testDb(join(work, 'origin.db'));
const tokens = {};
let origin = null;

before(async () => {
  assert.ok(existsSync(ORIGIN_BIN), `whale-origin not built at ${ORIGIN_BIN}`);
  tokens.edge = addPrincipal('edge', 'edges', db);
  tokens.operator = addPrincipal('operator', 'ops', db);
  for (const slug of [...GROCERS, 'flora-distro', NEW]) tokens[slug] = addPrincipal('vendor', slug, db);
  origin = await startOrigin({ db, args: ['--reweight-every', '0'] });
  for (const slug of GROCERS) {
    await publish(origin.base, slug, tokens[slug], heroExperimentConfig(slug));
    await postResults(origin.base, tokens.edge, slug, 'gh-home-hero', HERO_RESULTS, `p-${slug}`);
  }
  await publish(origin.base, 'flora-distro', tokens['flora-distro'], readConfig('flora-distro'));
  // A transformation: the optimizer's proposal for one grocer, applied to its draft.
  const proposed = await request(origin.base, 'POST', `/v1/vendors/${GROCERS[1]}/optimizer/propose`, { token: tokens[GROCERS[1]], body: '' });
  assert.equal(proposed.status, 201, proposed.text);
  const applied = await request(origin.base, 'POST', `/v1/vendors/${GROCERS[1]}/optimizer/proposals/${proposed.json.proposal.id}/apply`, { token: tokens[GROCERS[1]], body: '' });
  assert.equal(applied.status, 200, applied.text);
});

after(async () => {
  if (origin) await stop(origin.child);
  rmSync(work, { recursive: true, force: true });
});

const platform = (token) => request(origin.base, 'GET', '/v1/platform', { token });

test('the platform view takes an operator token', async () => {
  assert.equal((await platform()).status, 401);
  const vendor = await platform(tokens[GROCERS[0]]);
  assert.equal(vendor.status, 403);
  assert.equal(vendor.json.error.message, 'the platform view takes an operator token');
  assert.equal((await platform(tokens.edge)).status, 403);
  assert.equal((await platform('who_not-a-token')).status, 401);
});

test('what every vendor\'s results say together', async () => {
  const res = await platform(tokens.operator);
  assert.equal(res.status, 200, res.text);
  const p = res.json;
  assert.equal(p.vendors, 3);
  assert.deepEqual(p.verticals, ['cannabis', 'grocery']);
  // Components pooled over both grocers, each with its interval.
  const video = p.topComponents.find((c) => c.key === 'hero-video');
  assert.ok(video, JSON.stringify(p.topComponents));
  assert.equal(video.vendors, 2);
  assert.equal(video.units, 2 * 4000);
  for (const c of p.topComponents) assert.ok(c.low < c.mean && c.mean < c.high, JSON.stringify(c));
  assert.equal(p.topComponents[0].key, 'hero-video', 'the video converts best over the pooled arms');
  // The strongest synergy: video with the promo strip, at both grocers.
  const [top] = p.synergies;
  assert.deepEqual([top.a, top.b], ['hero-video', 'promo-strip']);
  assert.ok(top.uplift > 0.2 && top.low < top.effect && top.effect < top.high, JSON.stringify(top));
  assert.equal(top.units, 4000, 'the arms showing both, at both grocers');
  // The layout that wins the grocers' home hero: video + promo, seen at both.
  const [winner, second] = p.layoutsByVertical.grocery;
  assert.deepEqual([winner.page, winner.section, winner.components], ['home', 'hero', ['hero-video', 'promo-strip']]);
  assert.deepEqual([winner.units, winner.conversions, winner.vendors], [4000, 240, 2]);
  assert.ok(second.mean < winner.mean);
  assert.equal(p.layoutsByVertical.cannabis, undefined, 'flora-distro has no results yet');
  // Per day: three publishes (the proposal was applied to a draft, not published) and the applied proposal.
  const publishes = p.perDay.reduce((n, d) => n + d.publishes, 0);
  const transformations = p.perDay.reduce((n, d) => n + d.transformations, 0);
  assert.equal(publishes, 3);
  assert.equal(transformations, 1);
  assert.match(p.perDay[0].day, /^\d{4}-\d\d-\d\d$/);
  const kinds = p.timeline.map((e) => `${e.vendor}:${e.kind}`);
  for (const slug of [...GROCERS, 'flora-distro']) assert.ok(kinds.includes(`${slug}:publish`), kinds.join(' '));
  assert.ok(p.timeline.some((e) => e.kind === 'proposal' && /\(applied\)$/.test(e.detail)));
  assert.ok(p.timeline.every((e, i) => i === 0 || p.timeline[i - 1].at >= e.at), 'newest first');
});

test('bootstrap: a new grocer\'s draft gets the vertical\'s winning layout, and stays a draft', async () => {
  const post = (slug, token) => request(origin.base, 'POST', `/v1/vendors/${slug}/bootstrap`, { token, body: '' });
  assert.equal((await post(NEW, tokens[NEW])).status, 404, 'no draft yet');
  const config = readConfig('green-harbor');
  config.vendor.slug = NEW;
  const put = await request(origin.base, 'PUT', `/v1/vendors/${NEW}/config`, { token: tokens[NEW], body: config });
  assert.equal(put.status, 200, put.text);
  assert.equal((await post(NEW, tokens[GROCERS[0]])).status, 403, 'another vendor\'s token');
  const res = await post(NEW, tokens[NEW]);
  assert.equal(res.status, 200, res.text);
  assert.deepEqual([res.json.vertical, res.json.draft, res.json.published], ['grocery', true, false]);
  const hero = res.json.applied.find((a) => a.page === 'home' && a.section === 'hero');
  assert.deepEqual(hero.components, ['hero-video', 'promo-strip']);
  assert.ok(GROCERS.includes(hero.from));
  assert.equal(hero.vendors, 2);
  const draft = (await request(origin.base, 'GET', `/v1/vendors/${NEW}/config`, { token: tokens[NEW] })).json.config;
  const section = draft.pages.find((p) => p.id === 'home').sections.find((s) => s.id === 'hero');
  assert.deepEqual(section.components.map((c) => c.key).sort(), ['hero-video', 'promo-strip']);
  assert.equal(section.feature, undefined, 'the winner as it is, no experiment of the new vendor');
  assert.equal((await request(origin.base, 'GET', `/v1/snapshots/${NEW}`, { token: tokens.edge })).status, 404, 'never published by bootstrap');
  // An operator may bootstrap too; once the vendor published, it is not new any more.
  assert.equal((await post(NEW, tokens.operator)).status, 200);
  const rev = await request(origin.base, 'POST', `/v1/vendors/${NEW}/revalidate`, { token: tokens[NEW], body: '' });
  assert.equal(rev.status, 200, rev.text);
  const late = await post(NEW, tokens.operator);
  assert.equal(late.status, 409, late.text);
  assert.equal(late.json.error.code, 'not_new');
});

test('the operator view draws it in Chromium', { timeout: 60_000 }, async (t) => {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-quic'] });
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1100, height: 1400 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${origin.base}/admin/operator`);
  await page.fill('#token', tokens[GROCERS[0]]);
  await page.click('#login button[type=submit]');
  await page.waitForFunction(() => document.querySelector('#login-error').textContent.length > 0);
  assert.match(await page.textContent('#login-error'), /operator token/);
  await page.fill('#token', tokens.operator);
  await page.click('#login button[type=submit]');
  await page.waitForSelector('body[data-loaded="true"]');
  const seen = await page.evaluate(() => ({
    counts: document.querySelector('#counts').textContent,
    bars: [...document.querySelectorAll('#components-plot line[data-key]')].map((l) => l.dataset.key),
    rows: document.querySelectorAll('#components tbody tr').length,
    pair: document.querySelector('#synergies tbody tr')?.dataset.pair,
    winner: document.querySelector('[data-vertical="grocery"] tr.winner td:nth-child(2)')?.textContent,
    days: document.querySelectorAll('#per-day-plot rect[data-kind="publishes"]').length,
    timeline: document.querySelectorAll('#timeline li').length,
  }));
  assert.match(seen.counts, /^4 vendors in 2 verticals/);
  assert.equal(seen.bars.length, seen.rows);
  assert.equal(seen.bars[0], 'hero-video');
  assert.equal(seen.pair, 'hero-video+promo-strip');
  assert.equal(seen.winner, 'hero-video, promo-strip');
  assert.ok(seen.days >= 1);
  assert.ok(seen.timeline >= 5);
  assert.deepEqual(errors, []);
  mkdirSync(join(REPO, 'build'), { recursive: true });
  await page.screenshot({ path: join(REPO, 'build', 'operator.png'), fullPage: true });
});
