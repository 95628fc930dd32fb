// Config sync end to end: a real whale-origin (a temporary database: SQLite, or PostgreSQL with
// WHALE_TEST_DB=postgres, tests/e2e/test-db.mjs) and three workerd edges on loopback. edge-1 reads through its region's replica (the origin itself), edge-2's replica is
// down so it falls back to the primary, and edge-3's primary is a small proxy in front of the
// origin that can tamper with, forge, swap or replay snapshots. Checks that a revalidation
// reaches every edge through the nudge, that edges keep serving the last known good config (with
// Age and Warning) while the origin is down, that tampered, foreign, forged and replayed
// snapshots are refused, counted and change nothing, and that kill -9 of the origin in a write
// burst loses no acknowledged version, which then reaches the edges.
//
// Env: WHALE_ORIGIN (the whale-origin binary), WHALE_EMSCRIPTEN_DIR (its wasm/core.wasm is served).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import { createServer } from 'node:http';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ORIGIN_BIN, WORKERD, addPrincipal, edgeVersion, freePort, publish, reservePort, readConfig, request, sleep,
  startEdge, startOrigin, stop, waitForVersion, until,
} from '../../scripts/stack.mjs';
import { keyIdOf } from '../../edge-workers/gen-config.mjs';
import { keyArgs, testDb } from './test-db.mjs';

const GEN_CONFIG = new URL('../../edge-workers/gen-config.mjs', import.meta.url).pathname;

const MAX_AGE_S = 2;             // the edges' CONFIG_MAX_AGE: short, so staleness shows quickly
const PROPAGATION_MS = 5000;     // a bound for a nudged version to reach every edge (it takes ms)
const CATCH_UP_MS = 20000;       // a bound for edges to catch up without a nudge (stale refresh)
const A = 'flora-distro';
const B = 'minimal';

const work = mkdtempSync(join(tmpdir(), 'whale-sync-'));
const db = testDb(join(work, 'origin.db'));
const tokens = {};
let origin = null;             // {child, base, port, publicKey, keyId}
let originArgs = null;         // how to start it again on the same port and database
const edges = [];              // [edge-1, edge-2, edge-3]
let proxy = null;              // {server, mode, base}
let round = 0;

// A vendor's fixture config carrying a marker feature, so an answer shows which version served it.
function markedConfig(slug, marker) {
  const config = readConfig(slug);
  config.features = { ...config.features, 'sync-marker': { defaultValue: marker } };
  return config;
}

async function publishMarked(slug, marker = `${slug}-${++round}`) {
  const answer = await publish(origin.base, slug, tokens[slug], markedConfig(slug, marker));
  return { ...answer, marker };
}

async function assignOn(edge, slug) {
  const res = await request(edge.base, 'GET', `/v1/assign?vendor=${slug}&id=sync-user&country=US`);
  assert.equal(res.status, 200, `${edge.name}: ${res.text}`);
  return { marker: res.json.features['sync-marker']?.value, age: res.headers.get('age'), warning: res.headers.get('warning') };
}

async function describe(edge, slug) {
  const res = await request(edge.base, 'GET', `/v1/config/${slug}`);
  assert.equal(res.status, 200, `${edge.name}: ${res.text}`);
  return res.json;
}


const invalidate = (edge, body, token = tokens.edge) =>
  request(edge.base, 'POST', '/v1/invalidate', { token, body: body === undefined ? undefined : body });

// --- the proxy in front of the origin for edge-3 --------------------------------------------------

const otherKey = generateKeyPairSync('ed25519');
const otherPublicKey = otherKey.publicKey.export({ format: 'der', type: 'spki' }).subarray(-32).toString('base64');

// The snapshot body as the origin writes it, signed with `privateKey` over docs/origin.md's bytes.
function signedSnapshot({ slug, version, published_at: publishedAt }, configText, privateKey, keyId) {
  const message = Buffer.from(`whale-snapshot-v1\n${slug}\n${version}\n${publishedAt}\n${configText}`, 'utf8');
  const signature = sign(null, message, privateKey).toString('base64');
  return `{"slug":${JSON.stringify(slug)},"version":${version},"published_at":${JSON.stringify(publishedAt)},` +
    `"key_id":"${keyId}","signature":"${signature}","config":${configText}}`;
}

function configTextOf(body) {
  return body.slice(body.indexOf(',"config":') + ',"config":'.length, -1);
}

// What edge-3 gets for GET /v1/snapshots/{slug} in each proxy mode.
async function proxied(slug, headers) {
  const upstream = (path, extra = {}) => request(origin.base, 'GET', path,
    { headers: { authorization: headers.authorization ?? '', ...extra }, timeoutMs: 3000 });
  const mode = proxy.mode;
  if (mode === 'down') return { status: 503, body: '{"error":{"code":"unavailable"}}' };
  if (mode === 'pass') {
    const res = await upstream(`/v1/snapshots/${slug}`, headers['if-none-match'] ? { 'if-none-match': headers['if-none-match'] } : {});
    return { status: res.status, body: res.text };
  }
  if (mode === 'wrong-slug') return { status: 200, body: (await upstream(`/v1/snapshots/${slug === A ? B : A}`)).text };
  if (mode === 'replay') return { status: 200, body: (await upstream(`/v1/snapshots/${slug}?version=1`)).text };
  const genuine = await upstream(`/v1/snapshots/${slug}`);
  const configText = configTextOf(genuine.text);
  if (mode === 'tamper') {
    const tampered = configText.replace('"sync-marker":{"defaultValue":"', '"sync-marker":{"defaultValue":"tampered-');
    assert.notEqual(tampered, configText);
    return { status: 200, body: genuine.text.replace(configText, tampered) };
  }
  const keyId = mode === 'foreign-key' ? keyIdOf(otherPublicKey) : origin.keyId;  // 'forged': the origin's key id
  return { status: 200, body: signedSnapshot(genuine.json, configText, otherKey.privateKey, keyId) };
}

function startProxy() {
  const server = createServer((req, res) => {
    const m = /^\/v1\/snapshots\/([a-z0-9-]+)$/.exec(req.url);
    if (req.method !== 'GET' || !m) return res.writeHead(404).end();
    proxied(m[1], req.headers).then(
      ({ status, body }) => res.writeHead(status, { 'content-type': 'application/json' }).end(status === 304 ? undefined : body),
      () => res.writeHead(502, { 'content-type': 'application/json' }).end('{"error":{"code":"bad_gateway"}}'));
  });
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r({ server, mode: 'pass', base: `http://127.0.0.1:${server.address().port}` })));
}

// --- setup ----------------------------------------------------------------------------------------

before(async () => {
  assert.ok(existsSync(ORIGIN_BIN), `whale-origin not built at ${ORIGIN_BIN}`);
  assert.ok(existsSync(WORKERD), `workerd not installed at ${WORKERD} (npm ci)`);
  tokens.edge = addPrincipal('edge', 'edges', db);
  tokens[A] = addPrincipal('vendor', A, db);
  tokens[B] = addPrincipal('vendor', B, db);
  const reserved = [await reservePort(), await reservePort(), await reservePort()];
  const edgePorts = reserved.map((r) => r.port);
  const deadReplica = `http://127.0.0.1:${await freePort()}`;  // nothing listens there
  originArgs = {
    db, port: await freePort(), edgeToken: tokens.edge, args: keyArgs(db),
    edges: edgePorts.map((p) => `http://127.0.0.1:${p}/v1/invalidate`),
  };
  origin = await startOrigin(originArgs);
  for (const slug of [A, B]) await publishMarked(slug);
  proxy = await startProxy();
  const common = { keys: { [origin.keyId]: origin.publicKey }, edgeToken: tokens.edge, maxAge: MAX_AGE_S, timeoutMs: 1000 };
  const layout = [
    { name: 'edge-1', origin: origin.base, region: 'us-east', replicas: { 'us-east': origin.base } },
    { name: 'edge-2', origin: origin.base, region: 'eu-west', replicas: { 'eu-west': deadReplica } },
    { name: 'edge-3', origin: proxy.base, region: 'ap-south' },
  ];
  for (const [i, options] of layout.entries()) {
    await reserved[i].release();
    edges.push(await startEdge({ ...common, ...options, port: edgePorts[i], outDir: join(work, options.name) }));
  }
});

after(async () => {
  await Promise.all(edges.map((e) => stop(e.child)));
  if (origin) await stop(origin.child);
  if (proxy) await new Promise((r) => proxy.server.close(r));
  rmSync(work, { recursive: true, force: true });
});

// --- tests ----------------------------------------------------------------------------------------

test('first requests pull the signed snapshot; reads go to the region replica, else the primary', async () => {
  for (const edge of edges) {
    assert.equal((await assignOn(edge, A)).marker, `${A}-1`, edge.name);
    const held = await describe(edge, A);
    assert.equal(held.version, 1);
    assert.equal(held.key_id, origin.keyId);
    assert.equal(held.trigger, 'first');
    assert.deepEqual(held.rejected, { bad_signature: 0, unknown_key: 0, rollback: 0, slug_mismatch: 0, malformed: 0, invalid_config: 0 });
    assert.ok(!JSON.stringify(held).includes(tokens.edge), 'no secrets');
  }
  const [one, two, three] = await Promise.all(edges.map((e) => describe(e, A)));
  assert.equal(one.source_region, 'us-east', 'edge-1 read its replica');
  assert.deepEqual(two.reads.map((r) => r.region), ['eu-west', 'primary']);
  assert.equal(two.source_region, 'primary', 'edge-2 fell back to the primary');
  assert.ok(two.errors >= 1, 'the dead replica counted as an error');
  assert.equal(three.source, proxy.base);

  const unknown = await request(edges[0].base, 'GET', '/v1/assign?vendor=nobody-here');
  assert.equal(unknown.status, 404);
  assert.equal(unknown.json.error.code, 'not_found');
});

test('gen-config pins checked keys and keeps the edge token out of the config', () => {
  const run = (...args) => spawnSync(process.execPath, [GEN_CONFIG, '--out', join(work, 'gen'), ...args], { encoding: 'utf8' });
  const key = `${origin.keyId}=${origin.publicKey}`;
  const ok = run('--origin', origin.base, '--key', key, '--region', 'eu-west', '--replica', `eu-west=${origin.base}`, '--name', 'edge-x');
  assert.equal(ok.status, 0, ok.stderr);
  const text = readFileSync(join(work, 'gen', 'workerd.capnp'), 'utf8');
  assert.match(text, /fromEnvironment = "WHALE_EDGE_TOKEN"/);
  assert.ok(text.includes(origin.publicKey) && !text.includes(tokens.edge));
  assert.ok(!text.includes('features.json'), 'no embedded payloads with an origin');
  const refusals = [
    [['--origin', origin.base], /pinned key/],
    [['--origin', origin.base, '--key', `0123456789abcdef=${origin.publicKey}`], /does not match/],
    [['--origin', origin.base, '--key', `${origin.keyId}=c2hvcnQ=`], /32-byte/],
    [['--origin', 'ftp://x', '--key', key], /http/],
    [['--key', key], /need --origin/],
  ];
  for (const [args, message] of refusals) {
    const r = run(...args);
    assert.notEqual(r.status, 0, args.join(' '));
    assert.match(r.stderr, message, args.join(' '));
  }
});

test('the invalidate endpoint wants the edge token and a {slug, version} body', async () => {
  const edge = edges[0];
  for (const token of [null, 'whe_wrong', tokens[A]]) {
    const res = await invalidate(edge, { slug: A, version: 1 }, token);
    assert.equal(res.status, 401);
    assert.equal(res.json.error.code, 'unauthorized');
    assert.match(res.headers.get('www-authenticate'), /^Bearer/);
  }
  for (const body of ['{', '[1]', { slug: 'Bad Slug' }, { slug: A, version: 0 }, { slug: A, version: '2' }]) {
    const res = await invalidate(edge, body);
    assert.equal(res.status, 400, JSON.stringify(body));
  }
  const ok = await invalidate(edge, { slug: A, version: 1 });
  assert.equal(ok.status, 200);
  assert.deepEqual(ok.json, { slug: A, version: 1, requested: 1 });
  assert.equal((await request(edge.base, 'GET', '/v1/invalidate')).status, 405);
});

test('a revalidation reaches all three edges through the nudge', async () => {
  // Fresh pulls first, so no stale refresh (maxAge) can race the nudges below.
  for (const edge of edges) assert.equal((await invalidate(edge, { slug: A })).status, 200);
  const times = [];
  for (let i = 0; i < 5; i++) {
    const { version, marker } = await publishMarked(A);
    times.push(await waitForVersion(edges, A, version, { timeoutMs: PROPAGATION_MS }));
    for (const edge of edges) {
      assert.equal((await assignOn(edge, A)).marker, marker, `${edge.name} serves v${version}`);
      const held = await describe(edge, A);
      assert.equal(held.version, version);
      assert.equal(held.trigger, 'invalidate', `${edge.name} was nudged`);
    }
  }
  times.sort((a, b) => a - b);
  console.log(`revalidate -> all three edges serving it: ${times.map((t) => t.toFixed(1)).join(', ')} ms`);
});

test('with the origin stopped the edges keep serving the last known good config, with Age and Warning', async () => {
  const { version, marker } = await publishMarked(A);
  await waitForVersion(edges, A, version, { timeoutMs: PROPAGATION_MS });
  await stop(origin.child);
  for (const edge of edges) {
    const answer = await invalidate(edge, { slug: A, version: version + 1 });
    assert.equal(answer.status, 202, `${edge.name}: a failed pull keeps the old config`);
    assert.equal(answer.json.version, version);
  }
  // Past maxAge every answer is stale and says so; the content is the last good version's.
  await sleep(MAX_AGE_S * 1000 + 200);
  for (const edge of edges) {
    const answer = await until(`${edge.name} to mark its answers stale`, async () => {
      const a = await assignOn(edge, A);
      return /110/.test(a.warning ?? '') && /111/.test(a.warning ?? '') ? a : null;
    }, 10000);
    assert.equal(answer.marker, marker);
    assert.ok(Number(answer.age) >= MAX_AGE_S, `${edge.name}: Age ${answer.age}`);
    assert.match(answer.warning, /^110 - "Response is Stale", 111 - "Revalidation Failed"$/);
    const held = await describe(edge, A);
    assert.equal(held.version, version);
    assert.equal(held.stale, true);
    assert.ok(held.errors >= 1 && held.last_error, `${edge.name}: ${held.last_error}`);
  }
  // Back up: the next refresh clears the warnings.
  origin = await startOrigin(originArgs);
  for (const edge of edges) {
    await until(`${edge.name} to revalidate`, async () => (await assignOn(edge, A)).warning === null, CATCH_UP_MS);
  }
});

test('tampered, foreign-key, forged, swapped and replayed snapshots are refused and counted', async () => {
  const [one, two, three] = edges;
  const good = await publishMarked(A);
  await waitForVersion(edges, A, good.version, { timeoutMs: PROPAGATION_MS });

  // The next version reaches edge-3 tampered with: edges 1 and 2 take it, edge-3 keeps the old.
  proxy.mode = 'tamper';
  const next = await publishMarked(A);
  await waitForVersion([one, two], A, next.version, { timeoutMs: PROPAGATION_MS });
  await until('edge-3 to refuse the tampered snapshot', async () => (await describe(three, A)).rejected.bad_signature >= 1, PROPAGATION_MS);
  assert.equal((await describe(three, A)).version, good.version);
  assert.equal((await assignOn(three, A)).marker, good.marker);
  assert.equal((await assignOn(one, A)).marker, next.marker);

  const cases = [
    ['tamper', 'bad_signature'],
    ['foreign-key', 'unknown_key'],
    ['forged', 'bad_signature'],
    ['wrong-slug', 'slug_mismatch'],
    ['replay', 'rollback'],
  ];
  for (const [mode, reason] of cases) {
    proxy.mode = mode;
    const before = (await describe(three, A)).rejected;
    const answer = await invalidate(three, { slug: A, version: next.version });
    assert.equal(answer.status, 202, `${mode}: ${answer.text}`);
    assert.equal(answer.json.version, good.version, `${mode}: the old version is kept`);
    const held = await describe(three, A);
    assert.equal(held.version, good.version);
    // At least this pull; a background refresh (the config is past maxAge) may add more.
    assert.ok(held.rejected[reason] >= before[reason] + 1, `${mode} counted as ${reason}: ${JSON.stringify(held.rejected)}`);
    assert.match(held.last_error, new RegExp(reason === 'rollback' ? 'older' : reason === 'unknown_key' ? 'not pinned' :
      reason === 'slug_mismatch' ? 'served for' : 'signature'));
    assert.equal((await assignOn(three, A)).marker, good.marker, `${mode}: still serving the good config`);
  }

  proxy.mode = 'pass';
  const healed = await invalidate(three, { slug: A, version: next.version });
  assert.equal(healed.status, 200, healed.text);
  assert.equal(healed.json.version, next.version);
  assert.equal((await assignOn(three, A)).marker, next.marker);
  for (const edge of [one, two]) assert.equal(Object.values((await describe(edge, A)).rejected).reduce((a, b) => a + b), 0);
});

test('an edge that missed a nudge catches up by itself once its config is past maxAge', async () => {
  const three = edges[2];
  proxy.mode = 'down';
  const missed = await publishMarked(A);
  await waitForVersion(edges.slice(0, 2), A, missed.version, { timeoutMs: PROPAGATION_MS });
  await until('edge-3 to fail its nudged pull', async () => !(await describe(three, A)).refreshing &&
    (await describe(three, A)).last_error?.includes('HTTP 503'), PROPAGATION_MS);
  assert.notEqual((await assignOn(three, A)).marker, missed.marker);
  proxy.mode = 'pass';
  const waited = await waitForVersion([three], A, missed.version, { timeoutMs: CATCH_UP_MS, everyMs: 50 });
  assert.equal((await assignOn(three, A)).marker, missed.marker);
  assert.equal((await describe(three, A)).trigger, 'stale');
  console.log(`edge-3 caught up without a nudge after ${waited.toFixed(0)} ms (maxAge ${MAX_AGE_S} s)`);
});

test('kill -9 of the origin in a write burst loses no acknowledged write; the edges get the latest', async () => {
  const acked = [];
  let killed = false;
  let reading = true;
  let served = 0;
  const failures = [];
  // Edges answer throughout: before, during and after the crash.
  const readers = edges.map(async (edge) => {
    while (reading) {
      try {
        const res = await request(edge.base, 'GET', `/v1/assign?vendor=${B}&id=reader`, { timeoutMs: 5000 });
        if (res.status === 200) served++;
        else failures.push(`${edge.name}: ${res.status} ${res.text}`);
      } catch (e) {
        failures.push(`${edge.name}: ${e.message}`);
      }
      await sleep(5);
    }
  });
  const writer = (async () => {
    for (let i = 0; !killed && i < 10000; i++) {
      const marker = `burst-${i}`;
      try {
        const answer = await publish(origin.base, B, tokens[B], markedConfig(B, marker), { idempotencyKey: marker });
        acked.push({ version: answer.version, marker });
      } catch {
        return;  // the origin is gone
      }
    }
  })();
  try {
    await until('25 acknowledged publishes', async () => acked.length >= 25, 30000);
    origin.child.kill('SIGKILL');
    killed = true;
    await writer;
    await new Promise((r) => (origin.child.exitCode !== null || origin.child.signalCode !== null ? r() : origin.child.once('exit', r)));
    assert.equal(origin.child.signalCode, 'SIGKILL');
    await sleep(300);  // the edges keep answering with the origin gone
  } finally {
    killed = true;
    reading = false;
    await Promise.all(readers);
  }
  assert.deepEqual(failures, [], 'every edge answered throughout');
  assert.ok(served > 0);

  origin = await startOrigin(originArgs);
  for (const { version, marker } of acked) {
    const snap = await request(origin.base, 'GET', `/v1/snapshots/${B}?version=${version}`, { token: tokens.edge });
    assert.equal(snap.status, 200, `acknowledged v${version} lost`);
    assert.equal(snap.json.config.features['sync-marker'].defaultValue, marker);
  }
  const latest = (await request(origin.base, 'GET', `/v1/snapshots/${B}`, { token: tokens.edge })).json;
  const last = acked.at(-1);
  assert.ok(latest.version >= last.version, `origin serves v${latest.version}, last acknowledged v${last.version}`);
  // No nudge is coming for what was published before the crash: the stale refresh (maxAge) brings it.
  const waited = await waitForVersion(edges, B, latest.version, { timeoutMs: CATCH_UP_MS, everyMs: 50 });
  for (const edge of edges) {
    assert.equal(await edgeVersion(edge, B), latest.version);
    assert.equal((await assignOn(edge, B)).marker, latest.config.features['sync-marker'].defaultValue);
  }
  console.log(`kill -9 after ${acked.length} acknowledged publishes (last v${last.version}, origin has v${latest.version}); ` +
    `edges served it ${waited.toFixed(0)} ms after the restart`);
  // The restarted origin publishes and nudges as before.
  const after = await publishMarked(B);
  assert.equal(after.version, latest.version + 1);
  await waitForVersion(edges, B, after.version, { timeoutMs: PROPAGATION_MS });
  for (const edge of edges) assert.equal((await assignOn(edge, B)).marker, after.marker);
});
