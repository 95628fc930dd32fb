// End to end: GET /v1/storefront/<slug>/<page>, POST /v1/events and the demo storefront, in a real
// workerd on a loopback port (fixture configs, version 0), plus one edge synced with a real
// whale-origin to show that a revalidation replaces the cached anonymous layouts. The demo page
// runs in headless Chromium (Debian's, driven by playwright-core); its screenshot is kept at
// build/storefront-demo.png.
//
// Env: WHALE_ORIGIN (the whale-origin binary), WHALE_CHROMIUM (default /usr/bin/chromium).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { createEngine } from '../../js-glue/index.js';
import {
  ORIGIN_BIN, REPO, WORKERD, addPrincipal, publish, readConfig, request, reservePort, startEdge, startOrigin, startTestEdge, startWrangler, stop, stopEdge, EDGE_RUNTIME,
  waitForVersion,
} from '../../scripts/stack.mjs';

const CHROMIUM = process.env.WHALE_CHROMIUM ?? '/usr/bin/chromium';
const SCREENSHOT = join(REPO, 'build', 'storefront-demo.png');
const VENDOR = 'flora-distro';
const HOME = `/v1/storefront/${VENDOR}/home`;
const VISITOR = '5b0e4c1e-7d2a-4f7e-9a51-0c3d2b9e8f10';
const BATCH_LIMIT = 100; // edge-workers/events.js MAX_BATCH_EVENTS

const work = mkdtempSync(join(tmpdir(), 'whale-storefront-'));
let edge = null;

before(async () => {
  assert.ok(existsSync(WORKERD), `workerd not installed at ${WORKERD} (npm ci)`);
  edge = await startTestEdge({ outDir: join(work, 'edge') });
});

after(async () => {
  await stopEdge(edge);
  rmSync(work, { recursive: true, force: true });
});

const get = (path, headers = {}) => request(edge.base, 'GET', path, { headers });
const cookie = (pairs) => ({ cookie: Object.entries(pairs).map(([k, v]) => `${k}=${v}`).join('; ') });
const varyOf = (res) => res.headers.get('vary').split(',').map((s) => s.trim());

async function eventStats(base = edge.base) {
  const res = await request(base, 'GET', '/v1/events/stats');
  assert.equal(res.status, 200, res.text);
  return res.json;
}

function event(n, extra = {}) {
  return { type: 'exposure', experiment: 'hero-test', variation: n % 2, id: `user-${n}`, ts: 1750000000000 + n, eventId: `ev-${n}`, ...extra };
}

// --- the layout route ----------------------------------------------------------------------

// Global Privacy Control keeps a visitor out of experiments (flora-distro's consent settings):
// such requests are the anonymous ones, shared by everyone with the same attributes.
const GPC = { 'sec-gpc': '1' };
const setCookies = (res) => res.headers.getSetCookie?.() ?? [];
const cookieValue = (res, name) => setCookies(res).find((c) => c.startsWith(`${name}=`))?.slice(name.length + 1).split(';')[0];

test('a visitor kept out gets the control layout, rendered once, then served from the edge cache with ETag, Age and public caching', async () => {
  const path = `${HOME}?segment=new&probe=cache`;
  const first = await get(path, GPC);
  assert.equal(first.status, 200, first.text);
  assert.equal(first.headers.get('content-type'), 'application/json');
  assert.equal(first.headers.get('x-whale-cache'), 'miss');
  const layout = first.json;
  assert.equal(layout.vendor, VENDOR);
  assert.equal(layout.version, 0);
  assert.equal(layout.page, 'home');
  assert.deepEqual(layout.assignments, [], 'no experiment runs for a visitor kept out');
  assert.ok(layout.sections.length > 0 && layout.sections.every((s) => Array.isArray(s.components)));
  assert.equal(first.headers.get('etag'), `"0.${layout.cacheKey}"`);
  const cacheControl = first.headers.get('cache-control');
  assert.match(cacheControl, /^public, max-age=(\d+), stale-while-revalidate=30$/);
  assert.ok(Number(/max-age=(\d+)/.exec(cacheControl)[1]) <= Math.min(30, layout.maxAge));
  for (const name of ['Cookie', 'X-Whale-Behaviour', 'Sec-GPC']) assert.ok(varyOf(first).includes(name), name);
  assert.deepEqual(setCookies(first), [], 'no id, no receipt');

  const second = await get(path, GPC);
  assert.equal(second.headers.get('x-whale-cache'), 'hit');
  assert.equal(second.text, first.text, 'a cache hit answers the same bytes');
  assert.equal(second.headers.get('etag'), first.headers.get('etag'));
  assert.match(second.headers.get('age'), /^\d+$/);

  // The same attributes in another order are the same context.
  const reordered = await get(`${HOME}?probe=cache&segment=new`, GPC);
  assert.equal(reordered.headers.get('x-whale-cache'), 'hit');
  const other = await get(`${HOME}?segment=returning&probe=cache`, GPC);
  assert.equal(other.headers.get('x-whale-cache'), 'miss');
});

test('If-None-Match with the ETag answers 304 without a body, for shared and personalized layouts', async () => {
  const path = `${HOME}?probe=etag`;
  for (const headers of [GPC, cookie({ whale_id: VISITOR })]) {
    const full = await get(path, headers);
    const etag = full.headers.get('etag');
    const res = await get(path, { 'if-none-match': etag, ...headers });
    assert.equal(res.status, 304);
    assert.equal(res.text, '');
    assert.equal(res.headers.get('etag'), etag);
    assert.ok(res.headers.get('cache-control'));
    assert.ok(res.headers.get('vary'));
    assert.equal((await get(path, { 'if-none-match': `W/${etag}`, ...headers })).status, 304, 'weak comparison');
    assert.equal((await get(path, { 'if-none-match': '"0.other"', ...headers })).status, 200);
  }
});

test('the edge answers exactly what the core renders for the same inputs', async () => {
  const core = await createEngine();
  core.loadConfig(readFileSync(join(REPO, 'fixtures', 'vendors', VENDOR, 'config.json')), 0);
  const attributes = { device: 'mobile', segment: 'returning', country: 'US' };
  // A schedule boundary may fall between the two renders: the bytes then differ once. maxAge
  // counts down from the second each was rendered in, and the edge may answer a layout it rendered
  // earlier for the same decision (visitors share them): the rest must be byte for byte the core's,
  // maxAge no less than the core's and at most a minute more.
  const apart = (text) => {
    const maxAge = Number(/"maxAge":(\d+)/.exec(text)?.[1]);
    return { maxAge, rest: text.replace(/"maxAge":\d+/, '"maxAge":0') };
  };
  for (const [who, headers, options] of [
    ['kept out', GPC, { experiments: false }],
    ['a visitor', cookie({ whale_id: VISITOR }), { id: VISITOR, stickyBucketAssignmentDocs: {}, writeStickyDocs: false }],
  ]) {
    let same = false;
    for (let attempt = 0; attempt < 3 && !same; attempt++) {
      const res = await get(`${HOME}?device=mobile&segment=returning&probe=core${attempt}`, { 'cf-ipcountry': 'US', ...headers });
      const { id, ...rest } = options;
      const local = core.renderLayout(VENDOR, 0, {
        page: 'home', attributes: { ...attributes, ...(id ? { id } : {}), probe: `core${attempt}` }, ...rest,
      });
      const edge = apart(res.text), mine = apart(JSON.stringify(local));
      same = edge.rest === mine.rest && edge.maxAge >= mine.maxAge && edge.maxAge - mine.maxAge <= 60;
    }
    assert.ok(same, `${who}: the edge and the core rendered different layouts`);
  }
});

test('CDN headers supply attributes and appear in Vary when the layout depends on them', async () => {
  const byHeader = await get(`${HOME}?probe=geo`, { 'cf-ipcountry': 'CA', 'cf-device-type': 'mobile', ...GPC });
  const byQuery = await get(`${HOME}?probe=geo&country=CA&device=mobile`, GPC);
  assert.equal(byHeader.status, 200, byHeader.text);
  assert.equal(byHeader.json.cacheKey, byQuery.json.cacheKey, 'a header attribute counts as the same attribute in the query');
  const vary = varyOf(byHeader);
  assert.equal(vary.includes('CF-IPCountry'), byHeader.json.vary.includes('country'));
  assert.equal(vary.includes('CF-Device-Type'), byHeader.json.vary.includes('device'));
  // 'XX' is Cloudflare's "unknown country": no attribute.
  const unknown = await get(`${HOME}?probe=geo`, { 'cf-ipcountry': 'XX', ...GPC });
  const none = await get(`${HOME}?probe=geo`, GPC);
  assert.equal(unknown.json.cacheKey, none.json.cacheKey);
  assert.equal(none.headers.get('x-whale-cache'), 'hit', 'an ignored header does not split the cache');
  const mobile = await get(`${HOME}?probe=geo`, { 'cf-device-type': 'mobile', ...GPC });
  assert.equal(mobile.headers.get('x-whale-cache'), 'miss');
  assert.notDeepEqual(mobile.json.sections, none.json.sections, 'the fixture home page differs on mobile');
});

test('a first visit gets an id, is in the experiments and records its exposure once; visitors share cached layouts', async () => {
  const before = (await eventStats()).events;
  const first = await get(`${HOME}?probe=first`);
  assert.equal(first.status, 200, first.text);
  assert.equal(first.headers.get('cache-control'), 'private, no-cache');
  const id = cookieValue(first, 'whale_id');
  assert.match(id ?? '', /^[0-9a-f-]{36}$/, `a new visitor id: ${setCookies(first)}`);
  const receipt = cookieValue(first, 'whale_rc');
  assert.ok(receipt, 'the receipt its browser events need');
  const [hero] = first.json.assignments;
  assert.equal(hero.experiment, 'home-hero');
  assert.equal(hero.inExperiment, true);
  assert.equal(first.json.stickyBucketAssignmentDocs, undefined, 'the sticky documents go in a cookie, not the shared body');
  assert.ok(cookieValue(first, 'whale_sb'), 'sticky bucketing keeps the visitor in its variation');
  let after = (await eventStats()).events;
  assert.equal(after.generated - before.generated, 1, 'one exposure: the hero experiment');

  // The visitor returns with its cookies: the same layout, no new cookie, no second exposure.
  const jar = cookie({ whale_id: id, whale_rc: receipt, whale_sb: cookieValue(first, 'whale_sb') });
  const again = await get(`${HOME}?probe=first`, jar);
  assert.equal(again.text, first.text);
  assert.deepEqual(setCookies(again), []);
  assert.equal(again.headers.get('x-whale-cache'), 'hit');
  after = (await eventStats()).events;
  assert.equal(after.generated - before.generated, 1, 'the receipt lists the exposure: it is not recorded again');

  // Thirty new visitors: each is bucketed, but they share at most one layout per variation.
  const etags = new Set();
  const variations = new Set();
  let hits = 0;
  for (let n = 0; n < 30; n++) {
    const res = await get(`${HOME}?probe=many`);
    assert.ok(cookieValue(res, 'whale_id'));
    etags.add(res.headers.get('etag'));
    variations.add(res.json.assignments[0].variation);
    if (res.headers.get('x-whale-cache') === 'hit') hits++;
  }
  assert.equal(etags.size, variations.size, 'one cached layout per variation');
  assert.ok(variations.size >= 2 && hits >= 30 - variations.size, `hits ${hits}, variations ${[...variations]}`);
  assert.equal((await eventStats()).events.generated - after.generated, 30);
});

test('consent: Global Privacy Control and the vendor\'s consent cookie keep a visitor out; its cookies are expired', async () => {
  const before = (await eventStats()).events;
  for (const headers of [GPC, cookie({ flora_consent: 'none' }), cookie({ flora_consent: 'essential', whale_id: VISITOR })]) {
    const res = await get(`${HOME}?probe=consent`, headers);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json.assignments, [], JSON.stringify(headers));
    assert.equal(cookieValue(res, 'whale_rc'), undefined);
    const id = setCookies(res).find((c) => c.startsWith('whale_id='));
    if (headers.cookie?.includes('whale_id')) assert.match(id, /^whale_id=; .*Max-Age=0/, 'the id it held is expired');
    else assert.equal(id, undefined, 'no id minted');
  }
  const controlHero = (await get(`${HOME}?probe=consent`, GPC)).json.sections.find((s) => s.id === 'hero');
  const core = await createEngine();
  core.loadConfig(readFileSync(join(REPO, 'fixtures', 'vendors', VENDOR, 'config.json')), 0);
  assert.deepEqual(controlHero, core.renderLayout(VENDOR, 0, { page: 'home', attributes: { probe: 'consent' }, experiments: false })
    .sections.find((s) => s.id === 'hero'), 'the hero as written: the control');
  assert.equal((await eventStats()).events.generated, before.generated, 'no exposure');
  // Opted in (any other value of the cookie): in again.
  const optedIn = await get(`${HOME}?probe=consent`, cookie({ flora_consent: 'all' }));
  assert.equal(optedIn.json.assignments[0].inExperiment, true);
});

test('behaviour summaries and sticky documents are personal inputs of the decision', async () => {
  const path = `${HOME}?probe=private`;
  const cases = [
    { 'x-whale-behaviour': 'v1;rc=5', ...cookie({ whale_id: VISITOR }) },
    cookie({ whale_id: VISITOR, whale_bx: encodeURIComponent('v1;rc=5') }),
  ];
  const byHeader = await get(path, cases[0]);
  const byCookie = await get(path, cases[1]);
  assert.equal(byHeader.headers.get('cache-control'), 'private, no-cache');
  assert.equal(byHeader.text, byCookie.text, 'the header and the cookie carry the same summary');
  assert.deepEqual(byHeader.json.behaviour, ['frustrated']);
  const plain = await get(path, cookie({ whale_id: VISITOR }));
  assert.notEqual(plain.headers.get('etag'), byHeader.headers.get('etag'));
  // An invalid summary is the core's to judge: the unadapted page, never an error.
  const invalid = await get(path, { 'x-whale-behaviour': 'v2;zz=1', ...cookie({ whale_id: VISITOR }) });
  assert.equal(invalid.status, 200);
  assert.deepEqual(invalid.json.behaviour ?? [], []);
});

test('layout errors are JSON: unknown vendor or page, bad path, method, oversized input', async () => {
  const cases = [
    ['GET', '/v1/storefront/no-such-vendor/home', 404, 'not_found'],
    ['GET', `/v1/storefront/${VENDOR}/no-such-page`, 404, 'not_found'],
    ['GET', `/v1/storefront/${VENDOR}`, 404, 'not_found'],
    ['GET', `/v1/storefront/${VENDOR}/home/extra`, 404, 'not_found'],
    ['GET', '/v1/storefront/Bad%20Slug/home', 404, 'not_found'],
    ['POST', HOME, 405, 'method_not_allowed'],
  ];
  for (const [method, path, status, code] of cases) {
    const res = await request(edge.base, method, path);
    assert.equal(res.status, status, `${method} ${path}: ${res.text}`);
    assert.equal(res.json?.error?.code, code, `${method} ${path}`);
  }
  const long = await get(HOME, { 'x-whale-behaviour': `v1;rc=1${';'.repeat(200)}` });
  assert.equal(long.status, 400);
  assert.equal(long.json.error.code, 'too_large');
  const manyParams = new URLSearchParams(Array.from({ length: 40 }, (_, i) => [`a${i}`, '1']));
  const many = await get(`${HOME}?${manyParams}`);
  assert.equal(many.status, 400);
  assert.equal(many.json.error.code, 'too_large');
});

// --- events --------------------------------------------------------------------------------

// A receipt for VISITOR from the edge: the whale_rc cookie of a personalized layout (green-harbor's
// home page has sections that are experiments).
async function receiptOf(visitor = VISITOR) {
  const res = await get('/v1/storefront/green-harbor/home', cookie({ whale_id: visitor }));
  assert.equal(res.status, 200, res.text);
  const set = (res.headers.getSetCookie?.() ?? []).find((c) => c.startsWith('whale_rc='));
  assert.ok(set, `a personalized layout hands out a receipt: ${res.headers.get('set-cookie')}`);
  const assigned = res.json.assignments.filter((a) => a.inExperiment);
  assert.ok(assigned.length > 0, 'the visitor is in an experiment');
  return { receipt: set.slice('whale_rc='.length).split(';')[0], assigned };
}

test('events: only what a receipt vouches for counts; the rest is refused and counted by reason', async () => {
  const before = (await eventStats()).events;
  const { receipt, assigned } = await receiptOf();
  const [first] = assigned;
  const batch = [
    { type: 'exposure', experiment: first.experiment, variation: first.variation },
    { type: 'conversion', experiment: first.experiment, value: 12.5 },
    { type: 'exposure', experiment: first.experiment, variation: first.variation }, // the same fact again
    { type: 'exposure', experiment: 'not-in-the-receipt', variation: 0 },
    { type: 'exposure', experiment: first.experiment, variation: first.variation + 1 }, // not what it was shown
    { type: 'click', experiment: first.experiment },
  ];
  let res = await request(edge.base, 'POST', '/v1/events', {
    body: JSON.stringify({ events: batch }), headers: { 'content-type': 'text/plain', ...cookie({ whale_rc: receipt }) },
  });
  assert.equal(res.status, 202, res.text);
  // The exposures are duplicates: the edge recorded the visitor's exposure when it served the page.
  assert.deepEqual(res.json, { accepted: 1, rejected: 3, duplicates: 2, reasons: { not_assigned: 2, malformed: 1 } });
  // The receipt in the body works as the cookie does; without one, or with a forged one, nothing counts.
  const second = assigned[1] ?? first;
  res = await request(edge.base, 'POST', '/v1/events', { body: { events: [{ type: 'conversion', experiment: second.experiment }], receipt } });
  assert.equal(res.json.accepted + res.json.duplicates, 1);
  res = await request(edge.base, 'POST', '/v1/events', { body: [event(1), event(2)] });
  assert.deepEqual(res.json, { accepted: 0, rejected: 2, duplicates: 0, reasons: { no_receipt: 2 } });
  const [payload, mac] = receipt.split('.');
  const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload, 'base64url')), a: [['hero-test', 1, 'someone']] })).toString('base64url');
  res = await request(edge.base, 'POST', '/v1/events', { body: { events: [event(3)], receipt: `${forged}.${mac}` } });
  assert.deepEqual(res.json, { accepted: 0, rejected: 1, duplicates: 0, reasons: { bad_receipt: 1 } });

  const after = (await eventStats()).events;
  assert.ok(after.accepted - before.accepted >= 1);
  assert.equal((after.refused.not_assigned ?? 0) - (before.refused.not_assigned ?? 0), 2);
  assert.equal((after.refused.malformed ?? 0) - (before.refused.malformed ?? 0), 1);
  assert.equal((after.refused.no_receipt ?? 0) - (before.refused.no_receipt ?? 0), 2);
  assert.equal((after.refused.bad_receipt ?? 0) - (before.refused.bad_receipt ?? 0), 1);
  assert.equal(after.forwarding, false);

  const errors = [
    [{ body: 'not json' }, 400, 'invalid_json'],
    [{ body: '{"events": 3}' }, 400, 'wrong_type'],
    [{ body: Array.from({ length: BATCH_LIMIT + 1 }, (_, i) => event(100000 + i)) }, 413, 'too_large'],
    [{ body: 'x'.repeat(70 * 1024) }, 413, 'too_large'],
  ];
  for (const [options, status, code] of errors) {
    const r = await request(edge.base, 'POST', '/v1/events', options);
    assert.equal(r.status, status, r.text);
    assert.equal(r.json.error.code, code);
  }
  assert.equal((await request(edge.base, 'GET', '/v1/events')).status, 405);
});

test('events: one visitor is rate limited; the buffer is bounded in bytes', async () => {
  const before = (await eventStats()).events;
  const visitor = '9d3f6a51-2b7c-4e08-8f1a-6c5d4e3b2a10';
  const { receipt, assigned } = await receiptOf(visitor);
  let accepted = 0;
  for (let n = 0; n < 3; n++) {
    const events = Array.from({ length: BATCH_LIMIT }, () => ({ type: 'conversion', experiment: assigned[0].experiment }));
    const r = await request(edge.base, 'POST', '/v1/events', { body: { events, receipt } });
    accepted += r.json.accepted + r.json.duplicates;
  }
  const after = (await eventStats()).events;
  assert.ok(accepted <= 60, `a visitor's burst is limited: ${accepted}`);
  assert.ok((after.refused.rate_limited_visitor ?? 0) - (before.refused.rate_limited_visitor ?? 0) >= 240);
  assert.ok(after.capacityBytes > 0 && after.bufferedBytes <= after.capacityBytes);
});

// --- a revalidation --------------------------------------------------------------------------

test('a revalidation at the origin replaces the cached anonymous layouts, the visited ones rendered before the first visitor asks', { timeout: 120_000 }, async (t) => {
  assert.ok(existsSync(ORIGIN_BIN), `whale-origin missing at ${ORIGIN_BIN}: run scripts/build.sh`);
  const db = join(work, 'origin.db');
  const edgeToken = addPrincipal('edge', 'storefront-edge', db);
  const vendorToken = addPrincipal('vendor', VENDOR, db);
  const { port, release } = await reservePort();
  // workerd is nudged (POST /v1/invalidate) and pulls; under wrangler the origin publishes to the
  // worker, which writes KV (the Cloudflare way).
  const wrangler = EDGE_RUNTIME === 'wrangler';
  const origin = wrangler
    ? await startOrigin({ db, edgeToken, args: ['--publish', `http://127.0.0.1:${port}/v1/publish`] })
    : await startOrigin({ db, edges: [`http://127.0.0.1:${port}/v1/invalidate`], edgeToken });
  t.after(() => stop(origin.child));
  const config = readConfig(VENDOR);
  const v1 = await publish(origin.base, VENDOR, vendorToken, config);
  const keys = { [origin.keyId]: origin.publicKey };
  await release();
  const synced = wrangler
    ? await startWrangler({ persistDir: join(work, 'synced'), port, vars: { ORIGIN_URL: origin.base, ORIGIN_KEYS: keys }, secrets: { EDGE_TOKEN: edgeToken } })
    : await startEdge({ port, outDir: join(work, 'synced'), origin: origin.base, keys, edgeToken, maxAge: 60 });
  synced.runtime = EDGE_RUNTIME;
  t.after(() => stopEdge(synced));

  const path = `${HOME}?probe=revalidate`;
  const first = await request(synced.base, 'GET', path, { headers: GPC });
  assert.equal(first.status, 200, first.text);
  assert.equal(first.json.version, v1.version);
  assert.equal((await request(synced.base, 'GET', path, { headers: GPC })).headers.get('x-whale-cache'), 'hit');

  const hero = (c) => c.pages.find((p) => p.id === 'home').sections.find((s) => s.id === 'hero').components.find((i) => i.id === 'hero');
  hero(config).props.title = 'Revalidated title';
  const v2 = await publish(origin.base, VENDOR, vendorToken, config);
  await waitForVersion([synced], VENDOR, v2.version);

  // Warm after a publish: the page and attributes visited before were rendered for v2 when the
  // isolate installed it, so its first visitor is a hit, and sees v2.
  let started = performance.now();
  const after = await request(synced.base, 'GET', path, { headers: GPC });
  const hitMs = performance.now() - started;
  assert.equal(after.headers.get('x-whale-cache'), 'hit', 'rendered for the new version before anyone asked');
  assert.equal(after.json.version, v2.version);
  const warm = (await eventStats(synced.base)).layouts.warm;
  assert.ok(warm.runs >= 1 && warm.rendered >= 1, JSON.stringify(warm));
  // Attributes nobody came with were not rendered.
  started = performance.now();
  const unvisited = await request(synced.base, 'GET', `${HOME}?probe=never`, { headers: GPC });
  const missMs = performance.now() - started;
  assert.equal(unvisited.headers.get('x-whale-cache'), 'miss');
  console.log(`warm after a publish (${EDGE_RUNTIME}): the first visitor of a warmed page ${hitMs.toFixed(1)} ms ` +
    `(${after.headers.get('server-timing')}), of one not warmed ${missMs.toFixed(1)} ms (${unvisited.headers.get('server-timing')})`);
  assert.equal(unvisited.json.version, v2.version);
  assert.equal(after.headers.get('etag'), `"${v2.version}.${after.json.cacheKey}"`);
  assert.notEqual(after.headers.get('etag'), first.headers.get('etag'));
  const shown = after.json.sections.find((s) => s.id === 'hero').components.find((c) => c.id === 'hero');
  assert.equal(shown.props.title, 'Revalidated title');
  assert.ok((await eventStats(synced.base)).layouts.invalidated >= 1, 'the old version\'s entries were dropped');
  const stale = await request(synced.base, 'GET', path, { headers: { 'if-none-match': first.headers.get('etag'), ...GPC } });
  assert.equal(stale.status, 200, 'the old version\'s ETag no longer matches');
});

// --- the demo storefront in Chromium ----------------------------------------------------------

test('the demo storefront\'s debug view renders the layout as blocks, sends exposures and writes the behaviour cookie', { timeout: 120_000 }, async (t) => {
  assert.ok(existsSync(CHROMIUM), `Chromium missing at ${CHROMIUM}: scripts/setup.sh installs it`);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  t.after(() => browser.close());
  const context = await browser.newContext({ viewport: { width: 1024, height: 768 } });
  await context.addCookies([{ name: 'whale_id', value: VISITOR, url: edge.base }]);
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));

  await page.goto(`${edge.base}/demo/${VENDOR}/home?segment=returning&debug=1`);
  await page.waitForSelector('body[data-ready]', { timeout: 30_000 });
  assert.equal(await page.getAttribute('body', 'data-ready'), 'true', await page.textContent('#status'));
  assert.deepEqual(errors, []);

  // The blocks on the page are the layout's components, section by section, in order.
  const rendered = await page.$$eval('section[data-section]', (sections) => sections.map((s) => ({
    id: s.dataset.section,
    components: [...s.querySelectorAll('[data-component]')].map((b) => `${b.dataset.component}:${b.dataset.key}`),
  })));
  const layout = await page.evaluate(async (p) => (await fetch(p)).json(), `${HOME}?segment=returning`);
  assert.deepEqual(rendered, layout.sections.map((s) => ({ id: s.id, components: s.components.map((c) => `${c.id}:${c.key}`) })));
  assert.ok(rendered.flatMap((s) => s.components).length >= 10);
  mkdirSync(join(REPO, 'build'), { recursive: true });
  await page.screenshot({ path: SCREENSHOT, fullPage: true });

  // Behaviour: a burst of clicks on one spot, a hover on a price, a cart add, a scroll.
  await page.mouse.click(600, 20, { clickCount: 1 });
  for (let i = 0; i < 3; i++) await page.mouse.click(600, 20);
  const price = page.locator('[data-price]').first();
  await price.hover();
  await page.waitForTimeout(600);
  await page.mouse.move(1, 1);
  await page.locator('[data-cart-add]').first().click();
  await page.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight));
  await page.waitForTimeout(1200); // the cookie is written at most once a second
  const bx = (await context.cookies(edge.base)).find((c) => c.name === 'whale_bx');
  assert.ok(bx, 'whale_bx written');
  const summary = decodeURIComponent(bx.value);
  const m = /^v1;rc=(\d+);bo=(\d+);sd=(\d+);dw=(\d+);ph=(\d+);ca=(\d+)$/.exec(summary);
  assert.ok(m, summary);
  assert.ok(Number(m[1]) >= 1, `rapid clicks counted: ${summary}`);
  assert.equal(Number(m[3]), 100, `scrolled to the bottom: ${summary}`);
  assert.equal(Number(m[5]), 1, `price hover counted: ${summary}`);
  assert.equal(Number(m[6]), 1, `cart add counted: ${summary}`);
  const withBehaviour = await page.evaluate(async (p) => {
    const res = await fetch(p);
    return { cacheControl: res.headers.get('cache-control'), layout: await res.json() };
  }, HOME);
  assert.equal(withBehaviour.cacheControl, 'private, no-cache');

  // Exposures: tracked in the page, sent by sendBeacon when the page goes away. They count only
  // for what the visitor's receipt (the whale_rc cookie a layout with experiments sets) lists:
  // 'demo-exp' is not an experiment of the page, so the two events tracked here are refused, and
  // the demo's own exposures (one per assignment: the home hero) are all there is to accept.
  const before = (await eventStats()).events;
  const refusedOf = (events) => Object.values(events.refused).reduce((n, c) => n + c, 0);
  const assigned = layout.assignments.filter((a) => a.inExperiment).length;
  await page.evaluate(async () => {
    const glue = await import('/js-glue/browser.js');
    glue.trackExposure({ experiment: 'demo-exp', variation: 1 });
    glue.trackConversion({ experiment: 'demo-exp', variation: 1, value: 20 });
  });
  await page.goto('about:blank');
  let seen = 0;
  let now = before;
  for (let i = 0; i < 50 && seen < 2 + assigned; i++) {
    now = (await eventStats()).events;
    seen = now.accepted + now.duplicates + refusedOf(now) - before.accepted - before.duplicates - refusedOf(before);
    if (seen < 2 + assigned) await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(seen, 2 + assigned, 'the beacon sent on pagehide delivered the events');
  assert.equal(now.accepted + now.duplicates - before.accepted - before.duplicates, assigned);
  assert.equal(refusedOf(now) - refusedOf(before), 2, 'events the visitor has no receipt for are refused');
});

// The reference storefront (renderStorefront in the browser glue): both fixture vendors' home
// pages on a phone and a desktop viewport, every component that has a view present in layout
// order, the hero through the image route with a srcset, no raw JSON or HTML from the config on
// the page, markdown rendered, the cart button counting and reporting; screenshots kept under
// build/storefront-<vendor>-<viewport>.png.
test('the reference storefront renders both vendors as shops on a phone and a desktop', { timeout: 120_000 }, async (t) => {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-quic'] });
  t.after(() => browser.close());
  mkdirSync(join(REPO, 'build'), { recursive: true });
  const viewports = { phone: { width: 390, height: 844 }, desktop: { width: 1280, height: 900 } };
  for (const vendor of ['flora-distro', 'green-harbor']) {
    for (const [name, viewport] of Object.entries(viewports)) {
      const context = await browser.newContext({ viewport, isMobile: name === 'phone', hasTouch: name === 'phone' });
      const page = await context.newPage();
      const errors = [];
      page.on('pageerror', (e) => errors.push(String(e)));
      await page.goto(`${edge.base}/demo/${vendor}/home`);
      await page.waitForSelector('body[data-ready]', { timeout: 30_000 });
      assert.equal(await page.getAttribute('body', 'data-ready'), 'true', await page.textContent('#status'));
      assert.deepEqual(errors, [], `${vendor} ${name}`);
      const seen = await page.evaluate(() => {
        const main = document.getElementById('page');
        return {
          components: [...main.querySelectorAll('[data-component]')].map((n) => n.dataset.component),
          text: main.innerText,
          scripts: main.querySelectorAll('script, iframe, object').length,
          hero: main.querySelector('.wt-hero img')?.getAttribute('srcset') ?? null,
          paragraphs: main.querySelectorAll('.wt-rich p').length,
          prices: [...main.querySelectorAll('.wt-price')].map((p) => p.textContent),
          links: [...main.querySelectorAll('a[href]')].map((a) => a.getAttribute('href')),
          primary: getComputedStyle(main.querySelector('.wt-shop')).getPropertyValue('--wt-primary').trim(),
        };
      });
      const layout = await page.evaluate(async (p) => (await fetch(p)).json(), `/v1/storefront/${vendor}/home`);
      const viewless = new Set(['cart-drawer', 'live-chat']);
      const expected = layout.sections.flatMap((s) => s.components)
        .filter((c) => !viewless.has(c.key) && !(Array.isArray(c.props?.products) && c.props.products.length === 0) &&
          !(/^(product-|recommendations|recently-viewed|bundle-upsell)/.test(c.key) && !Array.isArray(c.props?.products)))
        .map((c) => c.id);
      assert.deepEqual(seen.components, expected, `${vendor} ${name}: the components with a view, in order`);
      assert.equal(seen.primary, layout.theme.primary, 'the vendor\'s theme from its config');
      const hero = layout.sections.flatMap((s) => s.components).find((c) => c.key === 'hero-banner');
      if (hero) assert.ok(seen.hero && /\/img\/width=\d+,format=auto\//.test(seen.hero), `hero srcset: ${seen.hero}`);
      assert.equal(seen.scripts, 0);
      assert.doesNotMatch(seen.text, /[{}]|\[object|"sku"|\*\*/, 'no raw JSON, objects or markdown on the page');
      if (layout.sections.some((s) => s.components.some((c) => c.key === 'rich-text'))) {
        assert.ok(seen.paragraphs >= 1, 'rich text rendered as paragraphs');
      }
      assert.ok(seen.prices.length >= 4 && seen.prices.every((p) => /^\$\d+\.\d\d$/.test(p)), seen.prices.join(' '));
      assert.ok(seen.links.every((h) => h === '#' || h.startsWith('/') || /^https?:/.test(h)), seen.links.join(' '));
      // The age gate (flora-distro) is a dialog the visitor answers.
      const gate = page.locator('[data-age-gate]');
      if (await gate.count() > 0 && await gate.isVisible()) await gate.locator('button').click();
      await page.screenshot({ path: join(REPO, 'build', `storefront-${vendor}-${name}.png`), fullPage: true });
      const add = page.locator('.wt-card [data-cart-add]').first();
      await add.scrollIntoViewIfNeeded();
      await add.click();
      assert.equal(await page.locator('[data-cart-count]').first().textContent(), 'Cart (1)');
      await context.close();
    }
  }
});

// --- multi-variant pages (docs/layout.md#candidates) ----------------------------------------

const post = (path, body, headers = {}) => request(edge.base, 'POST', path, {
  headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body),
});

test('?candidates=K answers the arms of the page experiment; the choice records the kept one only', async () => {
  const before = (await eventStats()).events.generated;
  const res = await get(`${HOME}?candidates=3&probe=mv`);
  assert.equal(res.status, 200, res.text);
  assert.equal(res.headers.get('cache-control'), 'private, no-cache');
  const id = cookieValue(res, 'whale_id');
  assert.match(id ?? '', /^[0-9a-f-]{36}$/);
  const { watchMs, choice, candidates } = res.json;
  assert.equal(watchMs, 10000);
  assert.equal(choice, `/v1/choice/${VENDOR}/home?candidates=3&probe=mv`);
  assert.deepEqual(candidates.map((c) => c.name).sort(), ['control', 'headline', 'video']);
  for (const c of candidates) {
    const hero = c.layout.assignments.find((a) => a.experiment === 'home-hero');
    assert.equal(hero.variation, c.forcedVariations['home-hero'], c.name);
    assert.equal(hero.inExperiment, false, 'not an exposure before the choice');
  }
  assert.ok(candidates.find((c) => c.name === 'video').layout.sections.find((s) => s.id === 'hero').components.some((x) => x.key === 'hero-video'));
  assert.equal((await eventStats()).events.generated, before, 'no exposure for candidates shown');
  // The visitor's own arm comes first: what a single layout would have shown it.
  const jar = cookie({ whale_id: id, whale_sb: cookieValue(res, 'whale_sb') ?? '' });
  const single = await get(`${HOME}?probe=mv`, jar);
  assert.equal(single.json.assignments[0].variation, candidates[0].forcedVariations['home-hero']);
  const afterSingle = (await eventStats()).events.generated;

  // Engaged (scrolled half the page, a minute on the site): the vendor prefers the video arm.
  const chosen = await post(choice, { count: 3, behaviour: 'v1;sd=60;dw=60' }, jar);
  assert.equal(chosen.status, 200, chosen.text);
  assert.equal(chosen.json.name, 'video');
  assert.deepEqual(chosen.json.visit, ['engaged']);
  assert.equal(candidates[chosen.json.chosen].name, 'video');
  assert.equal(chosen.json.recorded, 1);
  assert.ok(cookieValue(chosen, 'whale_rc'), 'a receipt for the kept arm (its conversions need it)');
  assert.equal((await eventStats()).events.generated - afterSingle, 1, 'one exposure: the kept arm');

  // Leaving before the watch ends keeps the first (sent as kept: 0).
  const other = await get(`${HOME}?candidates=2`);
  const otherJar = cookie({ whale_id: cookieValue(other, 'whale_id'), whale_sb: cookieValue(other, 'whale_sb') ?? '' });
  const kept = await post(other.json.choice, { count: 2, kept: 0 }, otherJar);
  assert.equal(kept.status, 200, kept.text);
  assert.equal(kept.json.name, other.json.candidates[0].name);
});

test('strategies come in the declared order; visitors kept out get the control only; bad requests are JSON errors', async () => {
  const gh = await get('/v1/storefront/green-harbor/home?candidates=8');
  assert.equal(gh.status, 200, gh.text);
  assert.deepEqual(gh.json.candidates.map((c) => c.name), ['conservative', 'balanced', 'aggressive']);
  assert.deepEqual(gh.json.candidates[2].forcedVariations, { 'gh-home-hero': 2, 'gh-home-grid-sort': 1 });
  const out = await get(`${HOME}?candidates=3`, GPC);
  assert.equal(out.status, 200, out.text);
  assert.deepEqual(out.json.candidates.map((c) => c.name), ['default']);
  assert.equal(out.json.watchMs, 0);
  assert.equal(cookieValue(out, 'whale_id'), undefined, 'no id for a visitor kept out');
  const shop = await get(`/v1/storefront/${VENDOR}/shop?candidates=3`);
  assert.deepEqual(shop.json.candidates.map((c) => c.name), ['default'], 'a page without candidates');

  for (const bad of ['0', '9', 'abc', '1.5', '']) {
    const res = await get(`${HOME}?candidates=${bad}`);
    assert.equal(res.status, 400, `candidates=${bad}`);
    assert.equal(res.json.error.code, 'invalid_value');
  }
  const jar = cookie({ whale_id: VISITOR });
  const refused = [
    [{ count: 3 }, {}, 400, 'no_visitor'],
    [{ count: 0 }, jar, 400, 'invalid_value'],
    [{ count: 3, kept: 3 }, jar, 400, 'invalid_value'],
    [{ count: 3, behaviour: 7 }, jar, 400, 'invalid_value'],
    [{ count: 3, extra: 1 }, jar, 400, 'invalid_value'],
    [[3], jar, 400, 'wrong_type'],
    ['{"count":', jar, 400, 'invalid_json'],
    [JSON.stringify({ count: 3, behaviour: 'x'.repeat(2000) }), jar, 413, 'too_large'],
  ];
  for (const [body, headers, status, code] of refused) {
    const res = await post(`/v1/choice/${VENDOR}/home`, body, headers);
    assert.equal(res.status, status, `${JSON.stringify(body).slice(0, 60)}: ${res.text}`);
    assert.equal(res.json.error.code, code);
  }
  // A summary the core refuses chooses nothing: the first stays.
  const odd = await post(`/v1/choice/${VENDOR}/home`, { count: 3, behaviour: 'v9;zz=1' }, jar);
  assert.equal(odd.status, 200, odd.text);
  assert.equal(odd.json.chosen, 0);
  // One visitor choosing over and over is not a browser: after a burst of 10, 429.
  const flood = cookie({ whale_id: '0f0e0d0c-0b0a-4908-8706-050403020100' });
  const statuses = [];
  for (let i = 0; i < 12; i++) statuses.push((await post(`/v1/choice/${VENDOR}/home`, { count: 3, kept: 0 }, flood)).status);
  assert.deepEqual(statuses.slice(0, 10), Array(10).fill(200));
  assert.equal(statuses[11], 429);
  assert.equal((await post('/v1/choice/nobody/home', { count: 1 }, jar)).status, 404);
  assert.equal((await post(`/v1/choice/${VENDOR}/nope`, { count: 1 }, jar)).status, 404);
  assert.equal((await get(`/v1/choice/${VENDOR}/home`)).status, 405);
});

test('the storefront switches to the candidate the edge keeps without moving the page', { timeout: 120_000 }, async (t) => {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-quic'] });
  t.after(() => browser.close());
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.addInitScript(() => {
    window.__shifts = [];
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) window.__shifts.push({ value: e.value, at: e.startTime, input: e.hadRecentInput });
    })
      .observe({ type: 'layout-shift', buffered: true });
  });
  const choiceAnswer = page.waitForResponse((r) => r.url().includes('/v1/choice/green-harbor/home'), { timeout: 30_000 });
  // Six seconds of watching: time enough to add to the cart first on a loaded machine.
  await page.goto(`${edge.base}/demo/green-harbor/home?candidates=3&watch=6000`);
  await page.waitForSelector('body[data-ready]', { timeout: 30_000 });
  assert.equal(await page.getAttribute('body', 'data-ready'), 'true', await page.textContent('#status'));
  assert.equal(await page.getAttribute('body', 'data-candidates'), 'conservative,balanced,aggressive');
  const before = await page.evaluate(() => ({
    shown: document.querySelector('.wt-shop').dataset.candidate,
    footer: document.querySelector('[data-component="footer"]').getBoundingClientRect().top + scrollY,
    stacks: [...document.querySelectorAll('[data-stack]')].map((n) => n.dataset.stack),
    visible: [...document.querySelectorAll('[data-stack] > :not([data-candidate-hidden])')].map((n) => n.dataset.candidate),
  }));
  assert.equal(before.shown, 'conservative');
  assert.deepEqual(before.stacks, ['hero', 'deals'], 'the sections the strategies change');
  assert.deepEqual(before.visible, ['0', '0']);
  // A cart add makes the visit ready to buy: the grocer's aggressive strategy.
  const add = page.locator('[data-stack="deals"] > :not([data-candidate-hidden]) [data-cart-add]').first();
  await add.scrollIntoViewIfNeeded();
  await add.click();
  const clickedAt = await page.evaluate(() => performance.now());
  const choice = await (await choiceAnswer).json();
  assert.equal(choice.name, 'aggressive', JSON.stringify(choice));
  assert.deepEqual(choice.visit, ['ready_to_buy']);
  assert.equal(choice.recorded, 2, 'the two experiments the strategy forces');
  await page.waitForSelector('body[data-choice="aggressive"]');
  const afterSwitch = await page.evaluate(() => ({
    shown: document.querySelector('.wt-shop').dataset.candidate,
    footer: document.querySelector('[data-component="footer"]').getBoundingClientRect().top + scrollY,
    visible: [...document.querySelectorAll('[data-stack] > :not([data-candidate-hidden])')].map((n) => n.dataset.candidate),
    hiddenFocusable: [...document.querySelectorAll('[data-candidate-hidden]')].every((n) => n.inert),
    shifts: window.__shifts,
    video: !!document.querySelector('[data-stack="hero"] > :not([data-candidate-hidden]) [data-key="hero-video"]'),
  }));
  assert.equal(afterSwitch.shown, 'aggressive');
  assert.deepEqual(afterSwitch.visible, ['2', '2']);
  assert.ok(afterSwitch.video, 'the aggressive hero (the video arm) shows');
  assert.ok(afterSwitch.hiddenFocusable, 'hidden candidates are inert');
  assert.equal(afterSwitch.footer, before.footer, 'nothing below the switched sections moved');
  // Shifts after the cart add that no input explains: the switch's (the Layout Instability API's CLS rule).
  const late = afterSwitch.shifts.filter((s) => s.value > 0 && s.at > clickedAt && !s.input);
  assert.deepEqual(late, [], 'no layout shift from the switch');
  assert.deepEqual(errors, []);
  await page.screenshot({ path: join(REPO, 'build', 'storefront-candidates-green-harbor.png'), fullPage: true });
  await context.close();
});

test('the browser glue: back-outs are counted, fetchLayout reports errors', { timeout: 60_000 }, async (t) => {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-quic'] });
  t.after(() => browser.close());
  const page = await browser.newPage();
  // Each step within 15 s, named when it is not (the test's own 60 s says nothing of which).
  page.setDefaultTimeout(15_000);
  const within = (label, promise) => Promise.race([promise, new Promise((_, reject) => {
    setTimeout(() => reject(new Error(`${label}: no answer within 15 s`)), 15_000).unref();
  })]);
  await page.goto(`${edge.base}/demo/${VENDOR}/home`);
  await page.waitForSelector('body[data-ready]');
  await page.goto(`${edge.base}/demo/${VENDOR}/shop`);
  await page.waitForSelector('body[data-ready]');
  await page.goBack(); // within 10 s of arriving on the shop page
  await page.waitForSelector('body[data-ready]');
  const summary = await within('the behaviour summary',
    page.evaluate(async () => (await import('/js-glue/browser.js')).startBehaviour().summary()));
  assert.match(summary, /;bo=1;/);
  const error = await within('fetchLayout of a missing page', page.evaluate(async () => {
    const { fetchLayout } = await import('/js-glue/browser.js');
    try {
      await fetchLayout('flora-distro', 'no-such-page');
      return null;
    } catch (e) {
      return { name: e.name, status: e.status, code: e.code };
    }
  }));
  assert.deepEqual(error, { name: 'LayoutError', status: 404, code: 'not_found' });
  // Refused events come back: the last result names the reason and onError hears of it.
  const refused = await within('the refused event\'s result', page.evaluate(async () => {
    const glue = await import('/js-glue/browser.js');
    const seen = [];
    glue.configureEvents({ onError: (r) => seen.push(r) });
    glue.trackConversion({ experiment: 'not-on-this-page', variation: 0 });
    glue.flushEvents();
    const result = await glue.eventsSettled();
    return { result, last: glue.lastEventsResult(), seen };
  }));
  // (The demo page's own exposure may go in the same batch: a duplicate, the edge recorded it.)
  assert.equal(refused.result.status, 202);
  assert.equal(refused.result.rejected, 1);
  assert.deepEqual(refused.result.reasons, { not_assigned: 1 });
  assert.deepEqual(refused.last, refused.result);
  assert.deepEqual(refused.seen, [refused.result]);
});
