// End to end: URL redirect experiments served by the edge (GET /v1/redirect) in a real workerd.
// A vendor of its own (a temporary vendors dir, not the shared fixtures) carries GrowthBook auto
// experiments with urlPatterns and urlRedirect variations. Checked: the 302 and its Location
// (query strings merged), the whale_id and whale_sb cookies as /v1/assign sets them (and not
// again for a returning visitor), the 200 {redirect: null} answers, the Location of 24 visitors
// against the real GrowthBook SDK's getRedirectUrl, and 4xx JSON for bad input.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GrowthBook } from '@growthbook/growthbook';
import { WORKERD, startTestEdge, stopEdge } from '../../scripts/stack.mjs';

const SLUG = 'redirects';
const REQUEST_MS = 10000;

const experiments = [
  { // everyone in the redirecting variation; the page's query is kept
    key: 'home-redesign',
    urlPatterns: [{ type: 'simple', include: true, pattern: 'https://shop.test/home' }],
    variations: [{}, { urlRedirect: 'https://shop.test/home-new?layout=b' }],
    weights: [0, 1],
    meta: [{ key: 'control' }, { key: 'redesign' }],
    persistQueryString: true,
  },
  { // everyone in the control: no redirect, the assignment still sticks
    key: 'checkout-v2',
    urlPatterns: [{ type: 'regex', pattern: '^/checkout' }],
    variations: [{}, { urlRedirect: 'https://shop.test/checkout-v2' }],
    weights: [1, 0],
    meta: [{ key: 'control' }, { key: 'v2' }],
  },
  { // half and half
    key: 'landing',
    urlPatterns: [{ type: 'simple', include: true, pattern: '/landing/*' }, { type: 'simple', include: false, pattern: '/landing/skip' }],
    variations: [{}, { urlRedirect: 'https://shop.test/landing-b' }],
    meta: [{ key: 'a' }, { key: 'b' }],
  },
];

const work = mkdtempSync(join(tmpdir(), 'whale-redirect-'));
const vendorsDir = join(work, 'vendors');
let edge = null;

function writeVendor(list) {
  mkdirSync(join(vendorsDir, SLUG), { recursive: true });
  writeFileSync(join(vendorsDir, SLUG, 'features.json'), JSON.stringify({ features: { gate: { defaultValue: true } }, experiments: list }));
}

before(async () => {
  assert.ok(existsSync(WORKERD), `workerd not installed at ${WORKERD} (npm ci)`);
  writeVendor(experiments);
  edge = await startTestEdge({ outDir: join(work, 'edge'), vendorsDir });
});

after(async () => {
  await stopEdge(edge);
  rmSync(work, { recursive: true, force: true });
});

// GET /v1/redirect without following the redirect.
async function redirect(query, cookie) {
  const res = await fetch(`${edge.base}/v1/redirect?${new URLSearchParams(query)}`, {
    redirect: 'manual', headers: cookie ? { Cookie: cookie } : {}, signal: AbortSignal.timeout(REQUEST_MS),
  });
  const text = await res.text();
  const cookies = Object.fromEntries(res.headers.getSetCookie().map((line) => {
    const [pair, ...attributes] = line.split('; ');
    const eq = pair.indexOf('=');
    return [pair.slice(0, eq), { value: pair.slice(eq + 1), attributes }];
  }));
  return { status: res.status, location: res.headers.get('Location'), cookies, headers: res.headers, body: text ? JSON.parse(text) : null };
}

test('a redirect experiment answers 302 to the variation URL with the page query merged, and sets the cookies', async () => {
  const r = await redirect({ vendor: SLUG, url: 'https://shop.test/home?utm_source=mail&layout=a' });
  assert.equal(r.status, 302);
  assert.equal(r.location, 'https://shop.test/home-new?layout=b&utm_source=mail');
  assert.equal(r.headers.get('Cache-Control'), 'private, no-store');
  assert.match(r.cookies.whale_id?.value ?? '', /^[0-9a-f-]{36}$/);
  assert.ok(r.cookies.whale_sb, 'the sticky assignment is written');
  for (const name of ['whale_id', 'whale_sb']) {
    for (const attribute of ['Path=/', 'HttpOnly', 'SameSite=Lax']) assert.ok(r.cookies[name].attributes.includes(attribute), `${name} ${attribute}`);
  }
  assert.ok(Buffer.from(r.cookies.whale_sb.value, 'base64url').toString().includes('home-redesign'), 'whale_sb holds the assignment');

  // The same visitor again: the same redirect, and nothing new to write.
  const cookie = `whale_id=${r.cookies.whale_id.value}; whale_sb=${r.cookies.whale_sb.value}`;
  const again = await redirect({ vendor: SLUG, url: 'https://shop.test/home' }, cookie);
  assert.equal(again.status, 302);
  assert.equal(again.location, 'https://shop.test/home-new?layout=b');
  assert.equal(again.cookies.whale_id, undefined);
  assert.equal(again.cookies.whale_sb, undefined);
});

test('a visitor in a control variation gets 200 {redirect: null} and a sticky assignment', async () => {
  const r = await redirect({ vendor: SLUG, url: 'https://shop.test/checkout?step=1' });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('Content-Type'), 'application/json');
  assert.equal(r.body.redirect, null);
  assert.equal(r.body.results.length, 1);
  assert.equal(r.body.results[0].experimentKey, 'checkout-v2');
  assert.equal(r.body.results[0].variationId, 0);
  assert.equal(r.body.results[0].urlWithParams, null);
  assert.ok(r.cookies.whale_sb && r.cookies.whale_id);
});

test('a page no redirect experiment targets gets 200 {redirect: null, results: []}', async () => {
  for (const url of ['https://shop.test/about', 'https://shop.test/landing/skip', 'https://shop.test/home-new']) {
    const r = await redirect({ vendor: SLUG, url });
    assert.equal(r.status, 200, url);
    assert.deepEqual(r.body, { vendor: SLUG, redirect: null, results: [] }, url);
    assert.equal(r.cookies.whale_sb, undefined, url);
  }
});

test('the Location is what the GrowthBook SDK redirects to, visitor by visitor', async () => {
  let redirected = 0;
  for (let i = 0; i < 24; i++) {
    const id = `visitor-${String(i).padStart(4, '0')}`;
    const url = `https://shop.test/landing/offer?v=${i}`;
    const r = await redirect({ vendor: SLUG, url }, `whale_id=${id}`);
    const want = new GrowthBook({ attributes: { id }, url, experiments: structuredClone(experiments) }).getRedirectUrl() || null;
    assert.equal(r.status === 302 ? r.location : null, want, id);
    if (want) redirected++;
  }
  assert.ok(redirected > 0 && redirected < 24, `both variations seen (${redirected}/24 redirected)`);
});

test('bad input gets a JSON error, never a redirect', async () => {
  const cases = [
    [{ vendor: SLUG }, 400],
    [{ vendor: SLUG, url: 'not a url' }, 400],
    [{ vendor: SLUG, url: '/home' }, 400],
    [{ vendor: SLUG, url: 'ftp://shop.test/home' }, 400],
    [{ vendor: SLUG, url: `https://shop.test/${'x'.repeat(9000)}` }, 400],
    [{ url: 'https://shop.test/home' }, 404],
    [{ vendor: 'no-such-vendor', url: 'https://shop.test/home' }, 404],
  ];
  for (const [query, status] of cases) {
    const r = await redirect(query);
    assert.equal(r.status, status, JSON.stringify(query).slice(0, 100));
    assert.equal(r.location, null);
    assert.equal(typeof r.body.error?.code, 'string');
  }
  const post = await fetch(`${edge.base}/v1/redirect?vendor=${SLUG}&url=https://shop.test/home`, { method: 'POST', redirect: 'manual' });
  assert.equal(post.status, 405);
  assert.equal(post.headers.get('Allow'), 'GET');
});
