// The edge's layout cache, request inputs, ETag and Vary, the warm after a publish
// (edge-workers/storefront.js, with the real core for the warm), its events
// buffer (edge-workers/events.js) and the browser glue's summary format, in Node. The routes
// themselves run in workerd in tests/e2e/storefront.test.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventBuffer } from '../../edge-workers/events.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  LayoutCache, Popularity, Storefront, etagOf, httpVary, keptOut, requestInputs,
} from '../../edge-workers/storefront.js';
import { engineFor, root, targets } from './targets.mjs';
import { formatBehaviour } from '../../js-glue/browser.js';

const entry = (slug, body, extra = {}) => ({ slug, body, etag: '"x"', vary: 'Cookie', storedAt: 0, ...extra });

test('LayoutCache: least recently used goes first, bounded in entries and bytes', () => {
  const cache = new LayoutCache({ maxEntries: 2, maxBytes: 1000, ttlMs: 60_000 });
  const a = LayoutCache.key('v', 1, 'home', { a: '1' });
  const b = LayoutCache.key('v', 1, 'home', { b: '1' });
  const c = LayoutCache.key('v', 1, 'home', { c: '1' });
  cache.set(a, entry('v', 'A'));
  cache.set(b, entry('v', 'B'));
  assert.equal(cache.get(a, 1).body, 'A'); // a is now the most recent
  cache.set(c, entry('v', 'C'));
  assert.equal(cache.get(b, 1), null);
  assert.equal(cache.get(a, 1).body, 'A');
  assert.equal(cache.stats().evicted, 1);
  cache.set(a, entry('v', 'x'.repeat(960)));
  assert.equal(cache.get(c, 1), null, 'over the byte bound, the oldest goes');
  assert.ok(cache.stats().bytes <= 1000);
  cache.set(b, entry('v', 'x'.repeat(2000)));
  assert.equal(cache.get(b, 1), null, 'an entry bigger than the bound is not stored');
});

test('LayoutCache: keys ignore attribute order; entries expire at the TTL or the layout\'s own max age', () => {
  assert.equal(LayoutCache.key('v', 1, 'home', { a: '1', b: ['x', 'y'] }), LayoutCache.key('v', 1, 'home', { b: ['x', 'y'], a: '1' }));
  assert.notEqual(LayoutCache.key('v', 1, 'home', {}), LayoutCache.key('v', 2, 'home', {}));
  const cache = new LayoutCache({ ttlMs: 30_000 });
  cache.set('k', entry('v', 'A', { storedAt: 1000 }));
  assert.ok(cache.get('k', 30_999));
  assert.equal(cache.get('k', 31_000), null);
  cache.set('s', entry('v', 'S', { storedAt: 1000, ttlMs: 5000 }));
  assert.ok(cache.get('s', 5999));
  assert.equal(cache.get('s', 6000), null, 'a schedule boundary in 5 s ends the entry then');
  assert.equal(cache.stats().expired, 2);
});

test('LayoutCache: a new version of a vendor drops its entries, not other vendors\'', () => {
  const cache = new LayoutCache();
  cache.observeVersion('v', 1);
  cache.observeVersion('w', 7);
  cache.set(LayoutCache.key('v', 1, 'home', {}), entry('v', 'V1'));
  cache.set(LayoutCache.key('w', 7, 'home', {}), entry('w', 'W7'));
  cache.observeVersion('v', 1);
  assert.equal(cache.stats().entries, 2);
  cache.observeVersion('v', 2);
  assert.equal(cache.stats().entries, 1);
  assert.equal(cache.stats().invalidated, 1);
  assert.ok(cache.get(LayoutCache.key('w', 7, 'home', {}), 1));
});

test('requestInputs: headers, then the id cookie, then the query', () => {
  const url = new URL('https://edge.example/v1/storefront/v/home?device=desktop&tag=a&tag=b');
  const headers = new Headers({ 'CF-IPCountry': 'DE', 'CF-Device-Type': 'mobile' });
  const anonymous = requestInputs(url, headers, {}, { id: null, stickyDocs: {} });
  assert.deepEqual(anonymous.attributes, { country: 'DE', device: 'desktop', tag: ['a', 'b'] });
  assert.deepEqual(anonymous.headerSources, { country: 'CF-IPCountry' });
  assert.equal(requestInputs(url, new Headers({ 'CF-IPCountry': 'XX' }), {}, { id: null, stickyDocs: null }).attributes.country, undefined);
  assert.equal(requestInputs(url, new Headers(), {}, { id: 'visitor-1', stickyDocs: {} }).attributes.id, 'visitor-1');
  assert.equal(requestInputs(new URL('https://e.example/?id=q'), new Headers(), {}, { id: 'visitor-1', stickyDocs: {} }).attributes.id, 'q');
  const sticky = { 'id||u': { attributeName: 'id', attributeValue: 'u', assignments: { e__0: '1' } } };
  assert.deepEqual(requestInputs(url, new Headers(), {}, { id: null, stickyDocs: sticky }).stickyDocs, sticky);
  assert.deepEqual(requestInputs(url, new Headers(), {}, { id: null, stickyDocs: null }).stickyDocs, {});
  const byCookie = requestInputs(url, new Headers(), { whale_bx: encodeURIComponent('v1;rc=3') }, { id: null, stickyDocs: {} });
  assert.equal(byCookie.behaviour, 'v1;rc=3');
  const byHeader = requestInputs(url, new Headers({ 'X-Whale-Behaviour': 'v1;ca=1' }), { whale_bx: 'v1%3Brc%3D3' }, { id: null, stickyDocs: {} });
  assert.equal(byHeader.behaviour, 'v1;ca=1', 'the header wins over the cookie');
  assert.throws(() => requestInputs(url, new Headers({ 'X-Whale-Behaviour': 'v1'.padEnd(200, ';') }), {}, { id: null, stickyDocs: {} }),
    (e) => e.status === 400 && e.code === 'too_large');
});

test('keptOut: Global Privacy Control, opt-in and opt-out consent cookies', () => {
  const none = { globalPrivacyControl: true, cookie: '', granted: [], denied: [] };
  const gpc = new Headers({ 'Sec-GPC': '1' });
  assert.equal(keptOut(none, new Headers(), {}), null);
  assert.equal(keptOut(none, gpc, {}), 'gpc');
  assert.equal(keptOut(none, new Headers({ 'Sec-GPC': '0' }), {}), null);
  assert.equal(keptOut({ ...none, globalPrivacyControl: false }, gpc, {}), null, 'a vendor may choose not to honour it');
  const optIn = { ...none, cookie: 'cc', granted: ['all', 'analytics'] };
  assert.equal(keptOut(optIn, new Headers(), {}), 'not_granted', 'opt-in: no cookie, no experiments');
  assert.equal(keptOut(optIn, new Headers(), { cc: 'essential' }), 'not_granted');
  assert.equal(keptOut(optIn, new Headers(), { cc: 'analytics' }), null);
  assert.equal(keptOut(optIn, gpc, { cc: 'all' }), 'gpc', 'GPC wins over the cookie');
  const optOut = { ...none, cookie: 'cc', denied: ['none'] };
  assert.equal(keptOut(optOut, new Headers(), {}), null, 'opt-out: in until the visitor says no');
  assert.equal(keptOut(optOut, new Headers(), { cc: 'none' }), 'denied');
  assert.equal(keptOut(optOut, new Headers(), { cc: 'all' }), null);
});

test('httpVary and etagOf', () => {
  assert.equal(httpVary(['country', 'device', 'segment', 'id'], {}), 'Cookie, X-Whale-Behaviour, Sec-GPC, CF-IPCountry, CF-Device-Type');
  assert.equal(httpVary(['segment'], {}), 'Cookie, X-Whale-Behaviour, Sec-GPC');
  assert.equal(httpVary(['Accept-Language'], {}), 'Cookie, X-Whale-Behaviour, Sec-GPC, Accept-Language');
  assert.equal(httpVary(undefined, {}), 'Cookie, X-Whale-Behaviour, Sec-GPC');
  assert.equal(etagOf(3, '1b78d01e83c851f4'), '"3.1b78d01e83c851f4"');
  assert.match(etagOf(3, 'has "quotes" and spaces'), /^"3\.h[0-9a-f]{8}"$/);
  assert.equal(etagOf(3, 'a "b"'), etagOf(3, 'a "b"'));
  assert.notEqual(etagOf(3, 'a "b"'), etagOf(3, 'a "c"'));
});

test('EventBuffer: deduplicates recent facts, drains in order, puts a failed batch back in front', () => {
  const ev = (n, extra = {}) => ({ type: 'exposure', slug: 's', experiment: 'e', variation: 0, unit: `u-${n}`, ts: 1, ...extra });
  const buffer = new EventBuffer({ dedupWindow: 2 });
  assert.deepEqual([ev(1), ev(2), ev(1)].map((e) => buffer.add(e)), ['accepted', 'accepted', 'duplicate']);
  buffer.add(ev(3));
  buffer.add(ev(4));
  assert.equal(buffer.add(ev(1)), 'accepted', 'outside the dedup window again');
  assert.deepEqual(buffer.drain(2).map((e) => e.unit), ['u-1', 'u-2']);
  buffer.requeue([ev(9)]);
  assert.deepEqual(buffer.drain().map((e) => e.unit), ['u-9', 'u-3', 'u-4', 'u-1']);
  assert.equal(buffer.stats().buffered, 0);
  assert.equal(buffer.stats().bufferedBytes, 0);
});

test('formatBehaviour writes the canonical summary of docs/behaviour.md', () => {
  assert.equal(formatBehaviour(), 'v1;rc=0;bo=0;sd=0;dw=0;ph=0;ca=0');
  assert.equal(formatBehaviour({ rapidClicks: 3, backOuts: 1, scrollDepth: 45.7, dwellSeconds: 120.9, priceHovers: 2 }),
    'v1;rc=3;bo=1;sd=45;dw=120;ph=2;ca=0');
  assert.equal(formatBehaviour({ scrollDepth: 140, cartAdds: 5e7, rapidClicks: -2 }), 'v1;rc=0;bo=0;sd=100;dw=0;ph=0;ca=1000000');
});

test('Popularity: pages by requests, attribute sets by visitors kept out; bounded; halved', () => {
  const p = new Popularity();
  const set = (attributes) => ({ attributes, headerSources: {} });
  for (let i = 0; i < 5; i++) p.count('home', set({ country: 'DE' }), '{"country":"DE"}');
  for (let i = 0; i < 2; i++) p.count('home', set({}), '{}');
  p.count('home', set({ country: 'FR' }), '{"country":"FR"}');
  for (let i = 0; i < 7; i++) p.count('sale');  // personalized visitors: the page only
  p.count('about', set({}), '{}');
  const top = p.top(2);
  assert.deepEqual(top.map((t) => t.page), ['home', 'sale']);
  assert.deepEqual(top[0].sets.map((s) => s.attributes), [{ country: 'DE' }, {}], 'its two most asked sets');
  assert.deepEqual(top[1].sets.map((s) => s.attributes), [{}], 'no kept-out visitor yet: no attributes');
  p.decay();
  assert.deepEqual(p.top(3).map((t) => [t.page, t.sets.length]), [['home', 2], ['sale', 1]], 'about (1) and FR (1) forgotten');
  for (let i = 0; i < 300; i++) p.count(`page-${i}`);
  assert.ok(p.pages.size <= 256, `${p.pages.size} pages held`);
});

test('Storefront.warm renders the top pages of a new version into the cache, and skips what it lacks', async () => {
  const core = await engineFor(targets[0]);
  const text = readFileSync(join(root, 'fixtures/vendors/flora-distro/config.json'), 'utf8');
  const storefront = new Storefront({ warmPages: 2 });
  const gpc = new Request('https://shop.example/v1/storefront/flora-distro/home?ref=mail', { headers: { 'Sec-GPC': '1' } });
  const v1 = { version: 1, text, headers: {} };
  const serve = (request, page, config) => storefront.serve(request, new URL(request.url), {
    slug: 'flora-distro', page, config, engine: async () => core, cookies: {}, visitor: { id: null, stickyDocs: null },
  });
  for (let i = 0; i < 3; i++) await serve(gpc, 'home', v1);
  await serve(new Request('https://shop.example/x', { headers: { 'Sec-GPC': '1' } }), 'nowhere', v1).catch((e) => e);
  const v2 = { version: 2, text, headers: {} };
  assert.equal(await storefront.warm(core, 'flora-distro', v2), 1, 'home with ?ref=mail; the unknown page fails');
  assert.deepEqual(storefront.warmCounters, { runs: 1, rendered: 1, failed: 1 });
  const first = await serve(gpc, 'home', v2);
  assert.equal(first.headers.get('X-Whale-Cache'), 'hit');
  assert.equal(JSON.parse(await first.text()).version, 2);
  const other = await serve(new Request('https://shop.example/v1/storefront/flora-distro/home', { headers: { 'Sec-GPC': '1' } }), 'home', v2);
  assert.equal(other.headers.get('X-Whale-Cache'), 'miss', 'attributes nobody came with are not rendered');
  assert.equal(await new Storefront({ warmPages: 0 }).warm(core, 'flora-distro', v2), 0, 'off');
});
