// End to end: the edge worker in a real workerd on a loopback port. It checks the cookies and
// headers of /v1/assign, sticky bucketing through the whale_sb cookie, that the edge answers
// exactly what the native engine answers, and that bad input gets a JSON error, never a 500.
//
// Env: WHALE_NATIVE_CLI (the native `whale`), WHALE_EMSCRIPTEN_DIR (its wasm/core.wasm is served).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listVendors } from '../../edge-workers/gen-config.mjs';
import { REPO, WORKERD, startTestEdge, stopEdge } from '../../scripts/stack.mjs';

const NATIVE_CLI = process.env.WHALE_NATIVE_CLI ?? join(REPO, 'build', 'native', 'src', 'cli', 'whale');
const REQUEST_MS = 10000;
const COOKIE_ATTRIBUTES = ['Path=/', 'HttpOnly', 'SameSite=Lax', 'Max-Age=31536000'];
const VISITOR = '5b0e4c1e-7d2a-4f7e-9a51-0c3d2b9e8f10';

const vendors = listVendors();
const VENDOR = vendors.includes('flora-distro') ? 'flora-distro' : vendors[0];
const work = mkdtempSync(join(tmpdir(), 'whale-edge-'));
let workerd = null;
let base = '';

before(async () => {
  assert.ok(VENDOR, 'no vendor with a features.json under fixtures/vendors');
  assert.ok(existsSync(WORKERD), `workerd not installed at ${WORKERD} (npm ci)`);
  workerd = await startTestEdge({ outDir: join(work, 'edge') });
  base = workerd.base;
});

after(async () => {
  await stopEdge(workerd);
  rmSync(work, { recursive: true, force: true });
});

// --- helpers -------------------------------------------------------------------------------

function parseSetCookie(line) {
  const [pair, ...attributes] = line.split(';').map((s) => s.trim());
  const eq = pair.indexOf('=');
  return { name: pair.slice(0, eq), value: pair.slice(eq + 1), attributes };
}

async function call(path, { method = 'GET', cookies = {}, headers = {}, body } = {}) {
  const cookie = Object.entries(cookies).map(([k, v]) => `${k}=${v}`).join('; ');
  const res = await fetch(base + path, {
    method,
    headers: { ...(cookie ? { Cookie: cookie } : {}), ...headers },
    body,
    signal: AbortSignal.timeout(REQUEST_MS),
  });
  const text = await res.text();
  const setCookies = Object.fromEntries(res.headers.getSetCookie().map(parseSetCookie).map((c) => [c.name, c]));
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    assert.fail(`${method} ${path}: ${res.status} answered non-JSON: ${text.slice(0, 200)}`);
  }
  return { status: res.status, headers: res.headers, json, setCookies };
}

function assignPath(vendor, query = {}) {
  return `/v1/assign?${new URLSearchParams({ vendor, ...query })}`;
}

function post(vendor, body, options = {}) {
  return call(assignPath(vendor), { ...options, method: 'POST', body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });
}

// The whale_sb format (edge-workers/README.md): base64url of [[name, value, assignments], ...].
function decodeSticky(value) {
  const docs = {};
  for (const [attributeName, attributeValue, assignments] of JSON.parse(Buffer.from(value, 'base64url').toString('utf8'))) {
    docs[`${attributeName}||${attributeValue}`] = { attributeName, attributeValue, assignments };
  }
  return docs;
}

function encodeSticky(docs) {
  const entries = Object.values(docs).map((d) => [d.attributeName, d.attributeValue, d.assignments]);
  return Buffer.from(JSON.stringify(entries)).toString('base64url');
}

function payloadText(vendor) {
  return readFileSync(join(REPO, 'fixtures', 'vendors', vendor, 'features.json'), 'utf8');
}

let nativeRuns = 0;
function nativeEvalAll(vendor, attributes, { stickyBucketAssignmentDocs = {}, url } = {}) {
  const file = join(work, `native-${nativeRuns++}.json`);
  const request = { attributes, stickyBucketAssignmentDocs, ...(url === undefined ? {} : { url }) };
  writeFileSync(file, `{"payload":${payloadText(vendor)},"request":${JSON.stringify(request)}}`);
  const out = execFileSync(NATIVE_CLI, ['call', 'evalAll', file], { encoding: 'utf8', timeout: REQUEST_MS });
  return JSON.parse(out);
}

function assertSameAsNative(edge, native, what) {
  assert.equal(edge.status, 200, `${what}: ${JSON.stringify(edge.json)}`);
  assert.deepEqual(edge.json.features, native.features, `${what}: features`);
  assert.deepEqual(edge.json.experiments, native.experiments, `${what}: experiments`);
}

function assertCookieAttributes(cookie, { secure = false } = {}) {
  for (const attribute of COOKIE_ATTRIBUTES) assert.ok(cookie.attributes.includes(attribute), `${cookie.name}: ${attribute}`);
  assert.equal(cookie.attributes.includes('Secure'), secure, `${cookie.name}: Secure`);
}

// An experiment rule of the vendor's payload, by the feature it belongs to.
function experimentRule(vendor, featureId) {
  const feature = JSON.parse(payloadText(vendor)).features[featureId];
  return feature.rules.find((rule) => Array.isArray(rule.variations));
}

const MOBILE_US = { country: 'US', device: 'mobile' };

// --- tests ---------------------------------------------------------------------------------

test('healthz answers', async () => {
  const res = await call('/healthz');
  assert.equal(res.status, 200);
  assert.deepEqual(res.json, { ok: true });
});

test('GET /v1/assign sets whale_id and whale_sb and reports Server-Timing', async () => {
  const res = await call(assignPath(VENDOR, MOBILE_US));
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'application/json');
  assert.equal(res.headers.get('cache-control'), 'private, no-store');
  assert.match(res.headers.get('server-timing') ?? '', /^wasm;dur=\d+(\.\d+)?$/);
  assert.equal(res.json.vendor, VENDOR);
  assert.equal(typeof res.json.features, 'object');
  assert.ok(Array.isArray(res.json.experiments));

  const { whale_id: id, whale_sb: sb } = res.setCookies;
  assert.ok(id, 'whale_id set');
  assert.match(id.value, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  assertCookieAttributes(id);
  assert.ok(sb, 'whale_sb set');
  assertCookieAttributes(sb);
  assert.match(sb.value, /^[A-Za-z0-9_-]+$/);
  assert.ok(res.json.experiments.length > 0, 'the fixture puts a mobile US visitor in an experiment');
  for (const result of res.json.experiments) assert.equal(result.hashValue, id.value, 'the anonymous id is the attribute id');
  const doc = decodeSticky(sb.value)[`id||${id.value}`];
  assert.ok(doc, 'whale_sb holds the visitor\'s document');
  for (const result of res.json.experiments) assert.ok(Object.values(doc.assignments).includes(result.key));
});

test('cookies are Secure when the request came over https', async () => {
  const res = await call(assignPath(VENDOR, MOBILE_US), { headers: { 'X-Forwarded-Proto': 'https' } });
  assert.equal(res.status, 200);
  assertCookieAttributes(res.setCookies.whale_id, { secure: true });
  assertCookieAttributes(res.setCookies.whale_sb, { secure: true });
});

test('a returning visitor keeps its assignments and gets no new cookies', async () => {
  const first = await call(assignPath(VENDOR, MOBILE_US));
  const cookies = { whale_id: first.setCookies.whale_id.value, whale_sb: first.setCookies.whale_sb.value, whale_rc: first.setCookies.whale_rc.value };
  for (let i = 0; i < 3; i++) {
    const again = await call(assignPath(VENDOR, MOBILE_US), { cookies });
    assert.equal(again.status, 200);
    assert.deepEqual(again.setCookies, {}, 'nothing changed, so no Set-Cookie');
    assert.deepEqual(
      Object.fromEntries(Object.entries(again.json.features).map(([k, f]) => [k, f.value])),
      Object.fromEntries(Object.entries(first.json.features).map(([k, f]) => [k, f.value])));
    assert.deepEqual(again.json.experiments.map((r) => [r.featureId, r.variationId, r.stickyBucketUsed]),
      first.json.experiments.map((r) => [r.featureId, r.variationId, true]));
  }
});

test('every assignment served is recorded once as an exposure event', async () => {
  const before = (await call('/v1/events/stats')).json.events;
  const first = await call(assignPath(VENDOR, MOBILE_US));
  const served = first.json.experiments.length;
  assert.ok(served > 0);
  const mid = (await call('/v1/events/stats')).json.events;
  assert.equal(mid.accepted - before.accepted, served, 'one exposure per experiment served');
  const cookies = { whale_id: first.setCookies.whale_id.value, whale_sb: first.setCookies.whale_sb.value };
  await call(assignPath(VENDOR, MOBILE_US), { cookies });
  const after = (await call('/v1/events/stats')).json.events;
  assert.equal(after.accepted, mid.accepted, 'a returning visitor\'s exposures deduplicate');
  assert.equal(after.duplicates - mid.duplicates, served);
});

test('a sticky document wins over hashing', async () => {
  const first = await call(assignPath(VENDOR, MOBILE_US));
  const id = first.setCookies.whale_id.value;
  const docs = decodeSticky(first.setCookies.whale_sb.value);
  const result = first.json.experiments.find((r) => experimentRule(VENDOR, r.featureId)?.meta?.length >= 2);
  assert.ok(result, 'an experiment rule with meta keys assigned the visitor');
  const rule = experimentRule(VENDOR, result.featureId);
  const stickyKey = `${rule.key ?? result.featureId}__${rule.bucketVersion ?? 0}`;
  assert.equal(docs[`id||${id}`].assignments[stickyKey], result.key);

  const other = (result.variationId + 1) % rule.variations.length;
  docs[`id||${id}`].assignments[stickyKey] = rule.meta[other].key;
  const cookies = { whale_id: id, whale_sb: encodeSticky(docs) };
  const res = await call(assignPath(VENDOR, MOBILE_US), { cookies });
  assert.equal(res.status, 200);
  const sticky = res.json.experiments.find((r) => r.featureId === result.featureId);
  assert.equal(sticky.variationId, other);
  assert.equal(sticky.stickyBucketUsed, true);
  assert.deepEqual(res.json.features[result.featureId].value, rule.variations[other]);
  const native = nativeEvalAll(VENDOR, { id, ...MOBILE_US }, { stickyBucketAssignmentDocs: docs });
  assertSameAsNative(res, native, 'sticky documents');
});

test('the edge answers exactly what the native engine answers', async () => {
  const cookies = { whale_id: VISITOR };
  const queries = [{}, MOBILE_US, { country: 'CA', device: 'tablet', browser: 'safari' },
    { country: 'DE', device: 'desktop', id: 'u_query' }, { deviceId: 'd_1234', segment: 'new' }];
  for (const vendor of vendors) {
    for (const query of queries) {
      const edge = await call(assignPath(vendor, query), { cookies });
      assertSameAsNative(edge, nativeEvalAll(vendor, { id: VISITOR, ...query }), `${vendor} GET ${JSON.stringify(query)}`);
    }
  }
  const attributesFile = join(REPO, 'fixtures', 'vendors', VENDOR, 'attributes.json');
  const sets = existsSync(attributesFile) ? JSON.parse(readFileSync(attributesFile, 'utf8')) : [];
  sets.push({ loggedIn: true, appVersion: '3.4.0', country: 'US', cart: [{ sku: 'PRE-ROLL-1G', qty: 2 }] });
  for (const attributes of sets) {
    const edge = await post(VENDOR, { attributes }, { cookies });
    assertSameAsNative(edge, nativeEvalAll(VENDOR, { id: VISITOR, ...attributes }), `POST ${JSON.stringify(attributes)}`);
  }
  // POST attributes are merged over the query's; the page URL reaches the core, whose
  // GrowthBook query-string override (?<experiment key>=<variation>) forces a variation.
  const [featureId, rule] = Object.entries(JSON.parse(payloadText(VENDOR)).features)
    .map(([key, feature]) => [key, feature.rules?.find((r) => r.key && r.variations?.length >= 2 && !r.condition)])
    .find(([, found]) => found) ?? [];
  const forced = rule ? rule.variations.length - 1 : 0;
  const url = rule ? `https://shop.example/?${rule.key}=${forced}` : 'https://shop.example/';
  const edge = await call(assignPath(VENDOR, { country: 'US' }),
    { method: 'POST', cookies, body: JSON.stringify({ attributes: { device: 'mobile' }, url }) });
  assertSameAsNative(edge, nativeEvalAll(VENDOR, { id: VISITOR, country: 'US', device: 'mobile' }, { url }), 'POST merged over GET');
  if (rule) assert.deepEqual(edge.json.features[featureId].value, rule.variations[forced], 'the URL forced a variation');
});

test('bad JSON, wrong shapes and unknown vendors are JSON errors', async () => {
  const bad = await call(assignPath(VENDOR), { method: 'POST', body: '{"attributes": {' });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error.code, 'invalid_json');
  assert.equal(typeof bad.json.error.message, 'string');

  for (const body of ['[1,2]', '{"attributes": 5}', '{"url": 7}']) {
    const res = await call(assignPath(VENDOR), { method: 'POST', body });
    assert.equal(res.status, 400, body);
    assert.equal(res.json.error.code, 'wrong_type', body);
  }

  // The core's own refusals keep their code.
  let deep = {};
  for (let i = 0; i < 300; i++) deep = { x: deep };
  const refused = await post(VENDOR, { attributes: deep });
  assert.equal(refused.status, 400);
  assert.equal(refused.json.error.code, 'too_deep');

  for (const path of [assignPath('no-such-vendor'), '/v1/assign', assignPath('../etc'), '/nowhere']) {
    const res = await call(path);
    assert.equal(res.status, 404, path);
    assert.equal(res.json.error.code, 'not_found', path);
  }

  const put = await call(assignPath(VENDOR), { method: 'PUT', body: '{}' });
  assert.equal(put.status, 405);
  assert.equal(put.headers.get('allow'), 'GET, POST');
  assert.equal(put.json.error.code, 'method_not_allowed');
});

test('a body over 64 KB is refused with 413', async () => {
  const attributes = { id: 'u1', blob: 'x'.repeat(70 * 1024) };
  const declared = await post(VENDOR, { attributes });
  assert.equal(declared.status, 413);
  assert.equal(declared.json.error.code, 'too_large');

  // Without a Content-Length the worker counts the bytes as they arrive.
  const bytes = new TextEncoder().encode(JSON.stringify({ attributes }));
  const stream = new ReadableStream({
    start(controller) {
      for (let i = 0; i < bytes.length; i += 8192) controller.enqueue(bytes.subarray(i, i + 8192));
      controller.close();
    },
  });
  const res = await fetch(base + assignPath(VENDOR), {
    method: 'POST', body: stream, duplex: 'half', signal: AbortSignal.timeout(REQUEST_MS),
  });
  assert.equal(res.status, 413);
  assert.equal((await res.json()).error.code, 'too_large');

  const fits = await post(VENDOR, { attributes: { id: 'u1', blob: 'x'.repeat(60 * 1024) } });
  assert.equal(fits.status, 200);
});

test('garbage cookies are ignored and replaced', async () => {
  const garbage = ['%%%not-base64', 'bm90IGpzb24', Buffer.from('{"a":1}').toString('base64url'),
    Buffer.from('[["id","x",{"k":1}]]').toString('base64url'), 'x'.repeat(5000)];
  for (const value of garbage) {
    const res = await call(assignPath(VENDOR, MOBILE_US), { cookies: { whale_id: VISITOR, whale_sb: value } });
    assert.equal(res.status, 200, value);
    const fresh = res.setCookies.whale_sb;
    assert.ok(fresh, `a fresh whale_sb replaces ${value.slice(0, 20)}`);
    assert.ok(decodeSticky(fresh.value)[`id||${VISITOR}`]);
    assert.equal(res.setCookies.whale_id, undefined, 'a valid whale_id is kept');
    assertSameAsNative(res, nativeEvalAll(VENDOR, { id: VISITOR, ...MOBILE_US }), `garbage whale_sb ${value.slice(0, 20)}`);
  }
  const res = await call(assignPath(VENDOR), { cookies: { whale_id: 'bad id;<>' } });
  assert.equal(res.status, 200);
  assert.notEqual(res.setCookies.whale_id?.value, undefined);
  assert.notEqual(res.setCookies.whale_id.value, 'bad id;<>');
});

test('whale_sb stays under its cap by dropping the oldest documents', async () => {
  const docs = {};
  for (let i = 0; i < 60; i++) {
    docs[`id||old-${i}`] = { attributeName: 'id', attributeValue: `old-${i}`, assignments: { 'hero-copy-q3__0': 'control' } };
  }
  const res = await call(assignPath(VENDOR, MOBILE_US), { cookies: { whale_id: VISITOR, whale_sb: encodeSticky(docs) } });
  assert.equal(res.status, 200);
  const value = res.setCookies.whale_sb.value;
  assert.ok(value.length <= 3072, `whale_sb is ${value.length} chars`);
  const kept = Object.keys(decodeSticky(value));
  assert.equal(kept.at(-1), `id||${VISITOR}`, 'the newest document is kept');
  assert.ok(!kept.includes('id||old-0'), 'the oldest document is dropped');
  assert.ok(kept.includes('id||old-59'));
});
