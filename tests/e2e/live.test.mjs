// Live updates (edge-workers/live.js, connectLive in js-glue/browser.js) under `wrangler dev`: the
// real worker, a real LivePage Durable Object and real WebSockets, synced with a real whale-origin,
// with the demo storefront open in headless Chromium. A transform posted for the page (by the
// vendor through the origin, or with the edge token to the edge) reaches the browser, which swaps
// the section it names and only that one; the routes' refusals are JSON.
//
// Env: WHALE_ORIGIN (the whale-origin binary), WHALE_CHROMIUM (default /usr/bin/chromium).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request as httpRequest } from 'node:http';
 import { chromium } from 'playwright-core';
import {
  EVENTS_KEY, ORIGIN_BIN, REPO, addPrincipal, publish, request, reservePort, startOrigin, startWrangler, stop, stopWrangler,
} from '../../scripts/stack.mjs';

const CHROMIUM = process.env.WHALE_CHROMIUM ?? '/usr/bin/chromium';
const VENDOR = 'flora-distro';
const PAGE = 'home';
const LIVE = `/v1/live/${VENDOR}/${PAGE}`;
const work = mkdtempSync(join(tmpdir(), 'whale-live-'));
after(() => rmSync(work, { recursive: true, force: true }));

const MAX_SOCKETS = 4; // per page, for this edge (LIVE_MAX_CONNECTIONS)
const config = JSON.parse(readFileSync(join(REPO, 'fixtures/vendors', VENDOR, 'config.json'), 'utf8'));
let edge; // wrangler dev, synced with origin
let origin;
let token; // the edge token: the edge reads snapshots with it, the origin posts with it
let vendorToken;
let started;

// The origin with VENDOR's config published, and wrangler dev synced with it (its nudges and
// the vendor's live transforms go to the edge's port, chosen first).
function startStack() {
  started ??= (async () => {
    assert.ok(existsSync(ORIGIN_BIN), `whale-origin missing at ${ORIGIN_BIN}: run scripts/build.sh`);
    mkdirSync(join(work, 'origin'));
    const db = join(work, 'origin', 'whale.db');
    token = addPrincipal('edge', 'edge-1', db);
    vendorToken = addPrincipal('vendor', VENDOR, db);
    const { port, release } = await reservePort();
    origin = await startOrigin({ db, edges: [`http://127.0.0.1:${port}/v1/invalidate`], edgeToken: token });
    await publish(origin.base, VENDOR, vendorToken, config);
    await release();
    edge = await startWrangler({
      persistDir: join(work, 'wrangler'), port,
      vars: { ORIGIN_URL: origin.base, ORIGIN_KEYS: { [origin.keyId]: origin.publicKey }, LIVE_MAX_CONNECTIONS: String(MAX_SOCKETS) },
      secrets: { EDGE_TOKEN: token, EVENTS_KEY },
    });
  })();
  return started;
}
after(async () => {
  await stopWrangler(edge);
  await stop(origin?.child);
});

// The demo page for VENDOR/pageId, loaded and connected; every section element marked, so a test
// can tell a swapped element from one left alone.
async function openDemo(t, pageId = PAGE) {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-quic'] });
  t.after(() => browser.close());
  const page = await browser.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(String(e)));
  await page.goto(`${edge.base}/demo/${VENDOR}/${pageId}`);
  try {
    await page.waitForFunction(() => document.body.dataset.ready === 'true' && document.body.dataset.live === 'open', null,
      { timeout: 30_000 });
  } catch (e) {
    const state = await page.evaluate(() => ({ ...document.body.dataset, status: document.getElementById('status').textContent }));
    throw new Error(`${e.message}: ${JSON.stringify(state)} ${problems.join('; ')}`);
  }
  await page.evaluate(() => {
    for (const s of document.querySelectorAll('[data-section]')) s.dataset.mark = 'first';
  });
  return { page, problems };
}

const sections = (page) => page.$$eval('[data-section]', (list) => list.map((s) => ({
  id: s.dataset.section, mark: s.dataset.mark ?? null, components: [...s.querySelectorAll('[data-component]')].map((c) => c.dataset.component),
})));

test('the live routes refuse what they should, as JSON', { timeout: 120_000 }, async () => {
  await startStack();
  const get = await request(edge.base, 'GET', LIVE);
  assert.equal(get.status, 426, get.text);
  assert.equal(get.json.error.code, 'upgrade_required');
  const transform = { section: 'hero', reason: 'vendor' };
  for (const auth of [undefined, 'whe_wrong']) {
    const res = await request(edge.base, 'POST', LIVE, { token: auth, body: transform });
    assert.equal(res.status, 401, res.text);
    assert.equal(res.json.error.code, 'unauthorized');
    assert.equal(res.headers.get('www-authenticate'), 'Bearer');
  }
  const bad = [
    ['{', 'invalid_json'], ['[]', 'wrong_type'], [{ section: 'hero' }, 'invalid_value'],
    [{ reason: 'because' }, 'invalid_value'], [{ reason: 'vendor', section: 'no spaces' }, 'invalid_value'],
    [{ reason: 'vendor', version: -1 }, 'invalid_value'], [{ reason: 'vendor', components: [] }, 'invalid_value'],
    [{ reason: 'vendor', section: 'hero', components: [{ id: 'x' }] }, 'invalid_value'],
    [{ reason: 'vendor', extra: 1 }, 'invalid_value'],
  ];
  for (const [body, code] of bad) {
    const res = await request(edge.base, 'POST', LIVE, { token, body });
    assert.equal(res.status, 400, `${JSON.stringify(body)}: ${res.text}`);
    assert.equal(res.json.error.code, code, JSON.stringify(body));
  }
  const big = await request(edge.base, 'POST', LIVE, {
    token, body: { reason: 'vendor', section: 'hero', components: [{ id: 'x', key: 'k', props: { text: 'x'.repeat(20000) } }] },
  });
  assert.equal(big.status, 413, big.text);
  assert.equal((await request(edge.base, 'GET', `/v1/live/no-such-vendor/${PAGE}`)).status, 404); // before any object
  assert.equal((await request(edge.base, 'PUT', LIVE, { token, body: transform })).status, 405);
  const none = await request(edge.base, 'POST', LIVE, { token, body: transform });
  assert.equal(none.status, 200, none.text);
  assert.deepEqual(none.json, { page: `${VENDOR}/${PAGE}`, delivered: 0, connections: 0 });
});

test('a transform posted for the page swaps that section in Chromium, and a refresh swaps only what changed', { timeout: 180_000 }, async (t) => {
  assert.ok(existsSync(CHROMIUM), `Chromium missing at ${CHROMIUM}: scripts/setup.sh installs it`);
  await startStack();
  const { page, problems } = await openDemo(t);
  const before = await sections(page);
  const hero = before.find((s) => s.id === 'hero');
  assert.ok(hero && hero.components.length > 0, `the home page has a hero section: ${JSON.stringify(before)}`);

  // The vendor's content for the section, sent with the transform: swapped in without a re-fetch.
  const posted = await request(edge.base, 'POST', LIVE, {
    token, body: { section: 'hero', reason: 'vendor', components: [{ id: 'flash-sale', key: 'hero-banner', props: { headline: 'Flash sale' } }] },
  });
  assert.equal(posted.status, 200, posted.text);
  assert.deepEqual(posted.json, { page: `${VENDOR}/${PAGE}`, delivered: 1, connections: 1 });
  await page.waitForSelector('[data-section="hero"] [data-component="flash-sale"]', { timeout: 10_000 });
  await page.waitForFunction(() => document.getElementById('status').textContent.includes('hero updated (vendor)'));
  const swapped = await sections(page);
  assert.deepEqual(swapped.map((s) => s.id), before.map((s) => s.id), 'the sections keep their order');
  for (const s of swapped) {
    if (s.id === 'hero') assert.deepEqual(s, { id: 'hero', mark: null, components: ['flash-sale'] });
    else assert.deepEqual(s, before.find((b) => b.id === s.id), `${s.id} is left alone`);
  }

  // Content sent stays through refreshes that do not name its section: a transform for another
  // section re-fetches the layout, which is unchanged, so nothing is swapped.
  const refetched = page.waitForResponse((r) => r.url().includes(`/v1/storefront/${VENDOR}/${PAGE}`));
  const whole = await request(edge.base, 'POST', LIVE, { token, body: { reason: 'schedule', section: 'top' } });
  assert.equal(whole.json.delivered, 1, whole.text);
  assert.equal((await refetched).status(), 200);
  await page.waitForTimeout(500);
  assert.deepEqual(await sections(page), swapped, 'the layout is unchanged: nothing swapped, hero keeps the content sent');

  // A transform naming the hero without content hands it back to the layout: the hero only is
  // swapped (to the layout's), the rest untouched.
  const back = await request(edge.base, 'POST', LIVE, { token, body: { reason: 'vendor', section: 'hero' } });
  assert.equal(back.json.delivered, 1, back.text);
  await page.waitForFunction((ids) => {
    const hero = document.querySelector('[data-section="hero"]');
    return JSON.stringify([...hero.querySelectorAll('[data-component]')].map((c) => c.dataset.component)) === JSON.stringify(ids);
  }, hero.components, { timeout: 10_000 });
  const after = await sections(page);
  for (const s of after) {
    if (s.id === 'hero') assert.deepEqual(s, { id: 'hero', mark: null, components: hero.components });
    else assert.equal(s.mark, 'first', `${s.id} is left alone`);
  }
  assert.deepEqual(problems, []);
});

test('browsers only listen: "ping" gets "pong", anything else closes the socket; each page has its own object', { timeout: 180_000 }, async (t) => {
  await startStack();
  // Another page than the tests above: its object has seen no browser yet.
  const live = `/v1/live/${VENDOR}/product`;
  const { page, problems } = await openDemo(t, 'product');
  const answers = await page.evaluate(async (url) => {
    const open = () => new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.onopen = () => resolve(ws);
      ws.onerror = reject;
    });
    const ws = await open();
    const pong = await new Promise((resolve) => { ws.onmessage = (e) => resolve(e.data); ws.send('ping'); });
    const closed = await new Promise((resolve) => { ws.onclose = (e) => resolve(e.code); ws.send('{"type":"transform"}'); });
    return { pong, closed };
  }, `${edge.base.replace('http:', 'ws:')}${live}`);
  assert.deepEqual(answers, { pong: 'pong', closed: 1008 });

  // The demo's own socket is still open; a second browser on the page is counted too.
  const { problems: otherProblems } = await openDemo(t, 'product');
  const res = await request(edge.base, 'POST', live, { token, body: { reason: 'vendor', section: 'pdp' } });
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(res.json, { page: `${VENDOR}/product`, delivered: 2, connections: 2 });
  assert.deepEqual([...problems, ...otherProblems], []);
});

test('the vendor acts through the origin: a new version is published and its transform makes the browser swap the section', { timeout: 180_000 }, async (t) => {
  await startStack();
  const { page, problems } = await openDemo(t, 'cart');
  const live = `/v1/vendors/${VENDOR}/live/cart`;
  const before = await sections(page);
  assert.ok(before.find((s) => s.id === 'cart')?.components.includes('bundle'), JSON.stringify(before));

  // The origin's refusals: its own (token, JSON), and the edge's, passed through.
  assert.equal((await request(origin.base, 'POST', live, { body: { reason: 'vendor' } })).status, 401);
  assert.equal((await request(origin.base, 'POST', live, { token, body: { reason: 'vendor' } })).status, 403);
  const notJson = await request(origin.base, 'POST', live, { token: vendorToken, body: '{' });
  assert.equal(notJson.status, 400, notJson.text);
  const refused = await request(origin.base, 'POST', live, { token: vendorToken, body: { reason: 'whim' } });
  assert.equal(refused.status, 400, refused.text);
  assert.equal(refused.json.error.code, 'invalid_value');

  // The vendor edits the cart page's "cart" section and publishes version 2; the edge is nudged,
  // and the transform names the version, so the glue re-fetches until it gets it.
  const edited = structuredClone(config);
  const cartPage = edited.pages.find((p) => p.id === 'cart');
  const section = cartPage.sections.find((s) => s.id === 'cart');
  section.components = section.components.filter((c) => c.id !== 'bundle');
  const published = await publish(origin.base, VENDOR, vendorToken, edited);
  assert.equal(published.version, 2);
  const posted = await request(origin.base, 'POST', live, {
    token: vendorToken, body: { reason: 'vendor', section: 'cart', version: published.version },
  });
  assert.equal(posted.status, 200, posted.text);
  assert.equal(posted.json.delivered, 1, posted.text);
  assert.deepEqual(posted.json.edges.map((e) => [e.url, e.status]), [[`${edge.base}/v1/live/${VENDOR}/cart`, 200]]);
  await page.waitForFunction(() => !document.querySelector('[data-section="cart"] [data-component="bundle"]'), null, { timeout: 15_000 });
  const after = await sections(page);
  for (const s of after) {
    if (s.id === 'cart') assert.deepEqual(s.components, before.find((b) => b.id === 'cart').components.filter((c) => c !== 'bundle'));
    else assert.equal(s.mark, 'first', `${s.id} is left alone`);
  }
  // onUpdate runs once the transition has finished.
  await page.waitForFunction(() => document.getElementById('status').textContent === 'live: cart updated (vendor)');
  assert.deepEqual(problems, []);
});

// A WebSocket upgrade by hand: the status and body of a refusal, or 101.
function upgrade(base, path) {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${base}${path}`, {
      headers: {
        Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': Buffer.from('whale-live-test!').toString('base64'),
      },
    });
    req.on('upgrade', (res, socket) => { socket.destroy(); resolve({ status: res.statusCode }); });
    req.on('response', (res) => {
      let text = '';
      res.on('data', (c) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, json: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('a page holds at most LIVE_MAX_CONNECTIONS sockets: the next upgrade is a 503 JSON answer', { timeout: 120_000 }, async (t) => {
  await startStack();
  const { page } = await openDemo(t, 'shop'); // the demo's own socket is the first
  const opened = await page.evaluate(async ({ url, n }) => {
    const results = [];
    for (let i = 0; i < n; i++) {
      results.push(await new Promise((resolve) => {
        const ws = new WebSocket(url);
        ws.onopen = () => resolve('open');
        ws.onerror = () => resolve('refused');
      }));
    }
    return results;
  }, { url: `${edge.base.replace('http:', 'ws:')}/v1/live/${VENDOR}/shop`, n: MAX_SOCKETS });
  assert.deepEqual(opened, [...Array(MAX_SOCKETS - 1).fill('open'), 'refused']);
  const over = await upgrade(edge.base, `/v1/live/${VENDOR}/shop`);
  assert.equal(over.status, 503);
  assert.equal(over.json.error.code, 'too_many_connections');
  assert.equal(over.headers['retry-after'], '30');
  const res = await request(edge.base, 'POST', `/v1/live/${VENDOR}/shop`, { token, body: { reason: 'vendor', section: 'grid' } });
  assert.deepEqual(res.json, { page: `${VENDOR}/shop`, delivered: MAX_SOCKETS, connections: MAX_SOCKETS });
  // Another page is another object, with room of its own.
  assert.equal((await upgrade(edge.base, `/v1/live/${VENDOR}/product`)).status, 101);
});

test('the glue re-checks the layout at its schedule boundary (maxAge) and after behaviour signals', { timeout: 120_000 }, async (t) => {
  await startStack();
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-quic'] });
  t.after(() => browser.close());
  const page = await browser.newPage();
  await page.clock.install(); // the page's timers run on a clock this test moves
  const layouts = [];
  page.on('request', (r) => {
    if (r.url().includes(`/v1/storefront/${VENDOR}/${PAGE}`)) layouts.push(r);
  });
  await page.goto(`${edge.base}/demo/${VENDOR}/${PAGE}`);
  await page.waitForFunction(() => document.body.dataset.ready === 'true' && document.body.dataset.live === 'open');
  assert.equal(layouts.length, 1);
  const maxAge = (await (await layouts[0].response()).json()).maxAge;
  assert.ok(maxAge > 0 && maxAge <= 86400, `maxAge ${maxAge}`);

  // Behaviour: a burst of clicks changes the summary; the cookie is written a second later and
  // the glue asks for the layout again, with it.
  const behaviour = page.waitForRequest((r) => r.url().includes(`/v1/storefront/${VENDOR}/${PAGE}`));
  for (let i = 0; i < 3; i++) await page.mouse.click(600, 20);
  await page.clock.runFor(1100);
  const cookie = (await (await behaviour).allHeaders()).cookie ?? '';
  assert.match(decodeURIComponent(cookie), /whale_bx=v1;rc=1;/);

  // Schedule: the boundary is maxAge after the last layout (plus up to 2 s of jitter); nothing
  // before it, a re-check after it. (The installed clock also flows with real time: 5 s of margin.)
  const before = layouts.length;
  await page.clock.runFor(maxAge * 1000 - 5000);
  assert.equal(layouts.length, before, 'no re-check before the boundary');
  const scheduled = page.waitForRequest((r) => r.url().includes(`/v1/storefront/${VENDOR}/${PAGE}`));
  await page.clock.runFor(10_000);
  await scheduled;
});
