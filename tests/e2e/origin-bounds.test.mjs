// Bounded work at the origin (docs/origin.md, "Limits"): snapshots pruned to the last N per
// vendor at publish (never the current one), revalidate rate-limited per vendor (429 with
// Retry-After; idempotent replays not counted), and the dashboard's config-derived data computed
// once per published version (Cache-Status), not per request.
//
// Env: WHALE_ORIGIN (the whale-origin binary).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO, addPrincipal, publish, request, signEvents, startOrigin, stop } from '../../scripts/stack.mjs';

const work = mkdtempSync(join(tmpdir(), 'whale-bounds-'));
const running = [];

after(async () => {
  for (const o of running) await stop(o.child);
  rmSync(work, { recursive: true, force: true });
});

// A valid config for `slug`: the minimal fixture (one experiment) renamed, `name` marking the version.
function configFor(slug, name = 'v') {
  const config = JSON.parse(readFileSync(join(REPO, 'fixtures/vendors/minimal/config.json'), 'utf8'));
  config.vendor.slug = slug;
  config.vendor.name = name;
  return config;
}

// An origin on a fresh database with the vendors `slugs`; resolves to {base, tokens, edge}.
async function originWith(name, slugs, args, { revalidateRate = 0 } = {}) {
  const db = join(work, `${name}.db`);
  const tokens = Object.fromEntries(slugs.map((slug) => [slug, addPrincipal('vendor', slug, db)]));
  const edge = addPrincipal('edge', 'edge-1', db);
  const origin = await startOrigin({ db, args, revalidateRate });
  running.push(origin);
  return { base: origin.base, tokens, edge };
}

const revalidate = (o, slug, headers = {}) =>
  request(o.base, 'POST', `/v1/vendors/${slug}/revalidate`, { token: o.tokens[slug], body: '', headers });

test('snapshots are pruned to the last --keep-snapshots at each publish, the current one kept', async () => {
  const o = await originWith('prune', ['pruned'], ['--keep-snapshots', '3']);
  for (let v = 1; v <= 5; v++) await publish(o.base, 'pruned', o.tokens.pruned, configFor('pruned', `v${v}`));
  const status = async (query) => (await request(o.base, 'GET', `/v1/snapshots/pruned${query}`, { token: o.edge })).status;
  assert.deepEqual(await Promise.all([1, 2, 3, 4, 5].map((v) => status(`?version=${v}`))), [404, 404, 200, 200, 200]);
  const latest = await request(o.base, 'GET', '/v1/snapshots/pruned', { token: o.edge });
  assert.equal(latest.json.version, 5);
  assert.equal(latest.json.config.vendor.name, 'v5');

  const one = await originWith('prune-one', ['single'], ['--keep-snapshots', '1']);
  for (let v = 1; v <= 3; v++) await publish(one.base, 'single', one.tokens.single, configFor('single', `v${v}`));
  const current = await request(one.base, 'GET', '/v1/snapshots/single', { token: one.edge });
  assert.equal(current.json.version, 3);
  assert.equal((await request(one.base, 'GET', '/v1/snapshots/single?version=2', { token: one.edge })).status, 404);
});

test('revalidate is rate-limited per vendor: 429 with Retry-After, replays not counted', async () => {
  const o = await originWith('rate', ['busy', 'calm'], ['--revalidate-rate', '3']);
  for (const slug of ['busy', 'calm']) {
    const put = await request(o.base, 'PUT', `/v1/vendors/${slug}/config`, { token: o.tokens[slug], body: configFor(slug) });
    assert.equal(put.status, 200);
  }
  const first = await revalidate(o, 'busy', { 'idempotency-key': 'first' });
  assert.equal(first.status, 200);
  for (let i = 0; i < 2; i++) assert.equal((await revalidate(o, 'busy')).status, 200);
  const limited = await revalidate(o, 'busy');
  assert.equal(limited.status, 429);
  assert.equal(limited.json.error.code, 'rate_limited');
  assert.match(limited.json.error.message, /publishes a minute/);
  assert.ok(Number(limited.headers.get('retry-after')) >= 1, limited.headers.get('retry-after'));
  // Nothing was published by the refused request.
  const latest = await request(o.base, 'GET', '/v1/snapshots/busy', { token: o.edge });
  assert.equal(latest.json.version, 3);
  // A replay of a remembered key is answered (the same bytes) while the vendor is limited.
  const replay = await revalidate(o, 'busy', { 'idempotency-key': 'first' });
  assert.equal(replay.status, 200);
  assert.equal(replay.headers.get('idempotent-replayed'), 'true');
  assert.equal(replay.text, first.text);
  // Another vendor has its own bucket.
  assert.equal((await revalidate(o, 'calm')).status, 200);
});

test('revalidate allows 10 a minute by default', async () => {
  const o = await originWith('rate-default', ['eager'], [], { revalidateRate: null });
  await request(o.base, 'PUT', '/v1/vendors/eager/config', { token: o.tokens.eager, body: configFor('eager') });
  const statuses = [];
  for (let i = 0; i < 11; i++) statuses.push((await revalidate(o, 'eager')).status);
  assert.deepEqual(statuses, [...Array(10).fill(200), 429]);
});

test('the dashboard computes a version once, shows new events at once, and recomputes after a publish', async () => {
  const o = await originWith('dashboard', ['shop'], []);
  const get = () => request(o.base, 'GET', '/admin/api/shop/experiments', { token: o.tokens.shop });
  await publish(o.base, 'shop', o.tokens.shop, configFor('shop', 'v1'));
  const cold = await get();
  assert.equal(cold.status, 200);
  assert.equal(cold.headers.get('cache-status'), 'whale-origin; fwd=miss');
  assert.equal(cold.json.version, 1);
  assert.equal(cold.json.experiments[0].key, 'hero-banner-copy');
  const warm = await get();
  assert.equal(warm.headers.get('cache-status'), 'whale-origin; hit');
  assert.deepEqual(warm.json, cold.json);

  // New events show at once, without recomputing the version's view.
  const events = signEvents([0, 1, 2].map((i) => ({
    type: 'exposure', slug: 'shop', experiment: 'hero-banner-copy', variation: i % 2, unit: `u${i}`, ts: 1764000000000 + i,
  })));
  const posted = await request(o.base, 'POST', '/v1/events', { token: o.edge, body: { events } });
  assert.equal(posted.json.accepted, 3, posted.text);
  const counted = await get();
  assert.equal(counted.headers.get('cache-status'), 'whale-origin; hit');
  assert.equal(counted.json.experiments[0].units, 3);

  await publish(o.base, 'shop', o.tokens.shop, configFor('shop', 'v2'));
  const next = await get();
  assert.equal(next.headers.get('cache-status'), 'whale-origin; fwd=miss');
  assert.equal(next.json.version, 2);
  assert.deepEqual(next.json.experiments[0].weights_history.map((h) => h.version), [1, 2]);
  assert.equal((await get()).headers.get('cache-status'), 'whale-origin; hit');
});
