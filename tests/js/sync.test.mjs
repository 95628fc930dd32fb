// The edge's config sync (edge-workers/sync.js) in Node, against a scripted origin: which bytes
// are verified, what is refused and counted, one pull in flight per vendor, remembered failures,
// replica fallback on timeout, stale-while-revalidate through ctx.waitUntil, and the nudge's token
// check. tests/e2e/sync.test.mjs runs the same code in workerd against the real origin.
import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { ConfigSync } from '../../edge-workers/sync.js';
import { targets, engineFor } from './targets.mjs';

const engine = await engineFor(targets[0]);
const PRIMARY = 'http://origin.test';
const REPLICA = 'http://replica.test';

function keyPair() {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  return { privateKey, publicKey: raw.toString('base64'), keyId: createHash('sha256').update(raw).digest('hex').slice(0, 16) };
}
const key = keyPair();
const otherKey = keyPair();

function configFor(slug, banner) {
  return { vendor: { slug }, features: { banner: { defaultValue: banner } }, savedGroups: {} };
}

// A snapshot body as docs/origin.md defines it (config last), signed with `signer`.
function snapshot(slug, version, config, { signer = key, keyId = signer.keyId, configText = JSON.stringify(config) } = {}) {
  const publishedAt = `2026-01-01T00:00:0${version % 10}.000Z`;
  const message = Buffer.from(`whale-snapshot-v1\n${slug}\n${version}\n${publishedAt}\n${configText}`);
  const signature = sign(null, message, signer.privateKey).toString('base64');
  return `{"slug":"${slug}","version":${version},"published_at":"${publishedAt}","key_id":"${keyId}",` +
    `"signature":"${signature}","config":${configText}}`;
}

// The scripted origin: routes[url] is a function (request) -> Response | Promise<Response>.
let routes;
let calls;
const realFetch = globalThis.fetch;
beforeEach(() => {
  routes = {};
  calls = [];
  globalThis.fetch = async (url, init) => {
    calls.push({ url, headers: init.headers });
    const route = routes[url];
    if (!route) return new Response('{"error":{"code":"not_found"}}', { status: 404 });
    return route(init);
  };
});
afterEach(() => { globalThis.fetch = realFetch; });

function ctx() {
  const pending = [];
  return { waitUntil: (p) => pending.push(p), settle: () => Promise.all(pending) };
}

function makeSync(env = {}) {
  return new ConfigSync({
    ORIGIN_URL: PRIMARY, ORIGIN_KEYS: { [key.keyId]: key.publicKey }, EDGE_TOKEN: 'whe_secret', CONFIG_MAX_AGE: '5', ...env,
  }, async () => engine);
}

const serve = (body, status = 200) => () => new Response(body, { status });
const banner = (v) => engine.evalAll(v.held.set, {}).features.banner.value;

test('a signed snapshot is pulled once, verified and loaded; the edge token goes with it', async () => {
  routes[`${PRIMARY}/v1/snapshots/acme`] = serve(snapshot('acme', 3, configFor('acme', 'hello')));
  const sync = makeSync();
  const c = ctx();
  const all = await Promise.all(Array.from({ length: 10 }, () => sync.ready('acme', c)));
  assert.equal(calls.length, 1, 'concurrent first requests share one pull');
  assert.equal(calls[0].headers.Authorization, 'Bearer whe_secret');
  assert.ok(all.every((v) => v === all[0]));
  assert.equal(all[0].held.version, 3);
  assert.equal(banner(all[0]), 'hello');
  const d = sync.describe(all[0]);
  assert.equal(d.source, PRIMARY);
  assert.equal(d.trigger, 'first');
  assert.equal(d.refreshes, 1);
  assert.deepEqual(sync.headers(all[0]), { Age: '0' });
});

test('only the signed config bytes are read: members around them are refused or ignored', async () => {
  const good = configFor('acme', 'signed');
  const body = snapshot('acme', 1, good);
  const sync = makeSync();
  // An extra config member first: the head (everything before the signed bytes) is parsed for
  // its fields only, so the signed config is what loads.
  routes[`${PRIMARY}/v1/snapshots/acme`] = serve(body.replace('{"slug"', `{"config":${JSON.stringify(configFor('acme', 'evil'))},"slug"`));
  const v = await sync.ready('acme', ctx());
  assert.equal(banner(v), 'signed');
  // A member after the signed config makes those bytes unparseable: malformed.
  const sync2 = makeSync();
  routes[`${PRIMARY}/v1/snapshots/acme`] = serve(body.replace(/\}$/, ',"banner":"evil"}'));
  await assert.rejects(sync2.ready('acme', ctx()), (e) => e.status === 503 && /snapshot: .*JSON/.test(e.message));
});

test('refusals are counted by reason and keep the held version', async () => {
  const sync = makeSync();
  const url = `${PRIMARY}/v1/snapshots/acme`;
  routes[url] = serve(snapshot('acme', 5, configFor('acme', 'v5')));
  const v = await sync.ready('acme', ctx());
  const v6 = configFor('acme', 'v6');
  const cases = [
    ['bad_signature', snapshot('acme', 6, v6).replace('"v6"', '"v7"')],
    ['bad_signature', snapshot('acme', 6, v6, { signer: otherKey, keyId: key.keyId })],
    ['unknown_key', snapshot('acme', 6, v6, { signer: otherKey })],
    ['slug_mismatch', snapshot('other', 6, configFor('other', 'x'))],
    ['rollback', snapshot('acme', 4, configFor('acme', 'v4'))],
    ['malformed', 'not json'],
    ['malformed', snapshot('acme', 6, v6).replace('"version":6', '"version":"6"')],
    ['invalid_config', snapshot('acme', 6, { features: { f: { rules: [{ condition: { a: { $regex: '(' } }, force: 1 }] } } })],
  ];
  for (const [reason, body] of cases) {
    routes[url] = serve(body);
    const before = v.rejected[reason];
    const answer = await sync.invalidate('acme', 6, ctx());
    assert.equal(answer.status, 202, reason);
    assert.equal(answer.body.version, 5);
    assert.equal(v.rejected[reason], before + 1, `${reason}: ${v.lastError}`);
    assert.equal(banner(v), 'v5');
  }
  assert.match(sync.headers(v).Warning, /111 - "Revalidation Failed"/);
  routes[url] = serve(snapshot('acme', 6, v6));
  const healed = await sync.invalidate('acme', 6, ctx());
  assert.deepEqual(healed, { status: 200, body: { slug: 'acme', version: 6, requested: 6 } });
  assert.equal(banner(v), 'v6');
  assert.equal(sync.headers(v).Warning, undefined);
});

test('304 confirms what is held; a nudge for a version held already pulls nothing', async () => {
  const sync = makeSync({ CONFIG_MAX_AGE: '0' });
  const url = `${PRIMARY}/v1/snapshots/acme`;
  routes[url] = serve(snapshot('acme', 2, configFor('acme', 'x')));
  const v = await sync.ready('acme', ctx());
  routes[url] = (init) => {
    assert.equal(init.headers['If-None-Match'], '"2"');
    return new Response(null, { status: 304 });
  };
  const c = ctx();
  await new Promise((r) => setTimeout(r, 5));
  await sync.ready('acme', c);  // past maxAge (0 s): a background pull
  assert.equal(calls.length, 2);
  await c.settle();
  assert.equal(v.refreshes, 2);
  assert.equal(v.held.trigger, 'first');
  assert.equal((await sync.invalidate('acme', 2, ctx())).status, 200);
  assert.equal(calls.length, 2);
});

test('failed first pulls are remembered: 404 for maxAge, origin errors for a second', async () => {
  const sync = makeSync();
  await assert.rejects(sync.ready('ghost', ctx()), (e) => e.status === 404 && e.code === 'not_found');
  await assert.rejects(sync.ready('ghost', ctx()), (e) => e.status === 404);
  assert.equal(calls.length, 1);
  assert.equal(sync.vendors.has('ghost'), false, 'an unknown name keeps no state');
  routes[`${PRIMARY}/v1/snapshots/down`] = serve('{"error":{"code":"internal"}}', 500);
  await assert.rejects(sync.ready('down', ctx()), (e) => e.status === 503 && /HTTP 500/.test(e.message));
  await assert.rejects(sync.ready('down', ctx()), (e) => e.status === 503);
  assert.equal(calls.length, 2);
});

test('reads try the region replica first and fall back to the primary on timeout', async () => {
  const sync = makeSync({ EDGE_REGION: 'eu', ORIGIN_REPLICAS: { eu: REPLICA, us: 'http://elsewhere.test' }, ORIGIN_TIMEOUT_MS: '50' });
  routes[`${REPLICA}/v1/snapshots/acme`] = (init) => new Promise((_, reject) => {
    init.signal.addEventListener('abort', () => reject(init.signal.reason));
  });
  routes[`${PRIMARY}/v1/snapshots/acme`] = serve(snapshot('acme', 1, configFor('acme', 'p')));
  const keepAlive = setTimeout(() => {}, 5000);  // AbortSignal.timeout's timer does not hold Node's loop open
  const v = await sync.ready('acme', ctx());
  clearTimeout(keepAlive);
  assert.deepEqual(calls.map((c) => c.url), [`${REPLICA}/v1/snapshots/acme`, `${PRIMARY}/v1/snapshots/acme`]);
  const d = sync.describe(v);
  assert.equal(d.source_region, 'primary');
  assert.equal(d.errors, 1);
  assert.deepEqual(d.reads, [{ region: 'eu', url: REPLICA }, { region: 'primary', url: PRIMARY }]);
});

test('a replica behind the nudged version hands over to the primary', async () => {
  const sync = makeSync({ EDGE_REGION: 'eu', ORIGIN_REPLICAS: { eu: REPLICA } });
  routes[`${REPLICA}/v1/snapshots/acme`] = serve(snapshot('acme', 1, configFor('acme', 'one')));
  routes[`${PRIMARY}/v1/snapshots/acme`] = serve(snapshot('acme', 2, configFor('acme', 'two')));
  const answer = await sync.invalidate('acme', 2, ctx());
  assert.equal(answer.status, 200);
  assert.equal(answer.body.version, 2);
  assert.equal(sync.describe(sync.vendor('acme')).source, PRIMARY);
});

test('the nudge needs the edge token', async () => {
  const sync = makeSync();
  assert.equal(await sync.authorized('Bearer whe_secret'), true);
  for (const header of [null, '', 'Bearer ', 'Bearer whe_secreT', 'Basic whe_secret', 'whe_secret']) {
    assert.equal(await sync.authorized(header), false, String(header));
  }
  assert.equal(await makeSync({ EDGE_TOKEN: undefined }).authorized('Bearer '), false, 'no token configured: nobody');
});
