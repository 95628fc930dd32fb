// The origin end to end: a real whale-origin on a loopback port with a temporary database. The
// auth matrix, validation (bad input stores nothing), drafts and revalidation with idempotency,
// signed snapshots verified with node's crypto over the bytes docs/origin.md defines, ETag/304,
// the since= listing, edge nudges, metrics and logs, and durability: kill -9 in the middle of a
// write burst loses no acknowledged write.
//
// Env: WHALE_ORIGIN (the whale-origin binary; default build/native/src/origin/whale-origin).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createPublicKey, verify } from 'node:crypto';
import { createServer } from 'node:http';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { keyArgs, testDb } from './test-db.mjs';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ORIGIN = process.env.WHALE_ORIGIN ?? join(REPO, 'build', 'native', 'src', 'origin', 'whale-origin');
const MINIMAL_CONFIG = join(REPO, 'fixtures', 'vendors', 'minimal', 'config.json');
const STARTUP_MS = 20000;
const REQUEST_MS = 10000;
const TOKEN = /^wh[ve]_[A-Za-z0-9_-]{43}$/;

const work = mkdtempSync(join(tmpdir(), 'whale-origin-'));
const running = new Set();  // every origin started, killed in after()
let edgeStub = null;        // a fake edge recording the nudges it receives
const nudges = [];
let main = null;            // {child, base, stdout, stderr}
const tokens = {};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A valid config for `slug`: the minimal vendor fixture with its slug replaced.
function configFor(slug, name = 'Test vendor') {
  const config = JSON.parse(readFileSync(MINIMAL_CONFIG, 'utf8'));
  config.vendor.slug = slug;
  config.vendor.name = name;
  return config;
}

function cli(args) {
  const r = spawnSync(ORIGIN, args, { encoding: 'utf8', timeout: REQUEST_MS });
  return { status: r.status, stdout: r.stdout.trim(), stderr: r.stderr };
}

function addPrincipal(kind, name, db) {
  const r = cli([kind, 'add', name, '--db', db]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, TOKEN);
  return r.stdout;
}

// Starts `whale-origin serve` on a free port; resolves when it prints where it listens.
// Without the revalidate rate limit (tests/e2e/origin-bounds.test.mjs tests it): the suite publishes in bursts.
async function startOrigin(db, args = [], env = {}) {
  const child = spawn(ORIGIN, ['serve', '--db', db, ...keyArgs(db), '--port', '0', '--revalidate-rate', '0', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  running.add(child);
  const origin = { child, base: '', stdout: '', stderr: '' };
  child.stderr.on('data', (chunk) => { origin.stderr += chunk; });
  const listening = new Promise((resolveStart, reject) => {
    const timer = setTimeout(() => reject(new Error(`whale-origin did not start\n${origin.stderr}`)), STARTUP_MS);
    child.stdout.on('data', (chunk) => {
      origin.stdout += chunk;
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(origin.stdout);
      if (m) {
        clearTimeout(timer);
        origin.base = m[1];
        resolveStart(origin);
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`whale-origin exited (${signal ?? code})\n${origin.stderr}`));
    });
  });
  return listening;
}

const exitOf = (child) => new Promise((r) => {
  if (child.exitCode !== null || child.signalCode !== null) r();
  else child.once('exit', r);
});

async function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  if (await Promise.race([exited.then(() => true), sleep(3000).then(() => false)])) return;
  child.kill('SIGKILL');
  await Promise.race([exited, sleep(3000)]);
}

// One request; resolves to {status, headers, text, json}.
async function call(base, method, path, { token, body, headers = {} } = {}) {
  const h = { ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  const payload = body === undefined || typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body);
  if (payload !== undefined) h['content-type'] = 'application/json';
  const res = await fetch(base + path, { method, headers: h, body: payload, signal: AbortSignal.timeout(REQUEST_MS) });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, headers: res.headers, text, json };
}

const api = (method, path, options) => call(main.base, method, path, options);

// The signed message of docs/origin.md, and the config bytes as they appear in the snapshot.
function signedMessage(snapshot, configBytes) {
  return Buffer.concat([
    Buffer.from(`whale-snapshot-v1\n${snapshot.slug}\n${snapshot.version}\n${snapshot.published_at}\n`, 'utf8'),
    Buffer.from(configBytes, 'utf8'),
  ]);
}
function configBytesOf(text) {
  const at = text.indexOf(',"config":');
  assert.ok(at > 0 && text.endsWith('}'), 'config is the last member of the snapshot');
  return text.slice(at + ',"config":'.length, -1);
}
// An Ed25519 public key from its raw 32 bytes (SPKI DER = fixed prefix + key).
function publicKeyFromRaw(base64) {
  const der = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(base64, 'base64')]);
  return createPublicKey({ key: der, format: 'der', type: 'spki' });
}

before(async () => {
  assert.ok(existsSync(ORIGIN), `whale-origin not built at ${ORIGIN}`);
  assert.ok(existsSync(MINIMAL_CONFIG), `no fixture at ${MINIMAL_CONFIG}`);
  edgeStub = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      nudges.push({ path: req.url, auth: req.headers.authorization, body: JSON.parse(body) });
      res.writeHead(204).end();
    });
  });
  await new Promise((r) => edgeStub.listen(0, '127.0.0.1', r));
  const db = testDb(join(work, 'main.db'));
  tokens.acme = addPrincipal('vendor', 'acme', db);
  tokens.other = addPrincipal('vendor', 'other', db);
  tokens.edge = addPrincipal('edge', 'edge-1', db);
  const edgeUrl = `http://127.0.0.1:${edgeStub.address().port}/v1/invalidate`;
  // The second edge refuses connections: nudging it fails and must not slow anything down.
  main = await startOrigin(db, ['--edge', edgeUrl, '--edge', 'http://127.0.0.1:9/v1/invalidate'],
    { WHALE_EDGE_TOKEN: tokens.edge });
});

after(async () => {
  await Promise.all([...running].map(stop));
  if (edgeStub) await new Promise((r) => edgeStub.close(r));
  rmSync(work, { recursive: true, force: true });
});

test('cli: tokens are printed once, bad use exits 2, a taken name exits 1', () => {
  const db = testDb(join(work, 'cli.db'));
  const token = addPrincipal('vendor', 'flora-distro', db);
  assert.notEqual(addPrincipal('vendor', 'flora-two', db), token);
  assert.equal(cli(['vendor', 'add', 'flora-distro', '--db', db]).status, 1);
  for (const args of [[], ['vendor'], ['vendor', 'add'], ['vendor', 'add', 'Bad_Slug', '--db', db],
    ['vendor', 'add', 'x-', '--db', db], ['serve', '--port', 'http'], ['serve', '--nope', '1'], ['frobnicate']]) {
    const r = cli(args);
    assert.equal(r.status, 2, `${args.join(' ')} -> ${r.status}`);
    assert.match(r.stderr, /usage:|expected/);
  }
});

test('health, keys, unknown routes', async () => {
  assert.deepEqual((await api('GET', '/healthz')).json, { ok: true });
  const keys = (await api('GET', '/v1/keys')).json.keys;
  assert.equal(keys.length, 1);
  assert.equal(keys[0].alg, 'Ed25519');
  assert.equal(Buffer.from(keys[0].public_key, 'base64').length, 32);
  assert.match(main.stdout, new RegExp(keys[0].public_key.replace(/[+/]/g, '\\$&')));
  const missing = await api('GET', '/v1/nothing');
  assert.equal(missing.status, 404);
  assert.equal(missing.json.error.code, 'not_found');
});

test('auth matrix: 401 without or with a wrong token, 403 across vendors and kinds', async () => {
  const body = configFor('acme');
  const cases = [
    ['PUT', '/v1/vendors/acme/config', undefined, 401],
    ['PUT', '/v1/vendors/acme/config', 'whv_not-a-token', 401],
    ['PUT', '/v1/vendors/acme/config', tokens.other, 403],
    ['PUT', '/v1/vendors/acme/config', tokens.edge, 403],
    ['GET', '/v1/vendors/acme/config', tokens.other, 403],
    ['POST', '/v1/vendors/acme/revalidate', undefined, 401],
    ['POST', '/v1/vendors/acme/revalidate', tokens.acme.slice(0, -1), 401],
    ['POST', '/v1/vendors/acme/revalidate', tokens.other, 403],
    ['POST', '/v1/vendors/acme/revalidate', tokens.edge, 403],
    ['GET', '/v1/snapshots/acme', undefined, 401],
    ['GET', '/v1/snapshots/acme', 'whe_wrong', 401],
    ['GET', '/v1/snapshots/acme', tokens.acme, 403],
    ['GET', '/v1/snapshots?since=0', undefined, 401],
    ['GET', '/v1/snapshots?since=0', tokens.acme, 403],
  ];
  for (const [method, path, token, status] of cases) {
    const res = await api(method, path, { token, body: method === 'GET' ? undefined : (method === 'PUT' ? body : '') });
    assert.equal(res.status, status, `${method} ${path} with ${token ? token.slice(0, 4) : 'no token'}`);
    assert.equal(res.json.error.code, status === 401 ? 'unauthorized' : 'forbidden');
    if (status === 401) assert.match(res.headers.get('www-authenticate'), /^Bearer/);
  }
  // Nothing above stored a draft.
  assert.equal((await api('GET', '/v1/vendors/acme/config', { token: tokens.acme })).status, 404);
});

test('bad input: a 4xx naming the problem, nothing stored', async () => {
  const put = (body, headers) => api('PUT', '/v1/vendors/other/config', { token: tokens.other, body, headers });
  const deep = '{"vendor":' + '['.repeat(5000) + ']'.repeat(5000) + '}';
  const wrongType = configFor('other');
  wrongType.features = { banner: { defaultValue: 'a', rules: 5 } };
  const wrongSlug = configFor('acme');
  const duplicate = JSON.stringify(configFor('other')).replace(/^\{/, '{"features":{},"features":{},');
  const invalidUtf8 = Buffer.concat([Buffer.from('{"vendor":{"name":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}}')]);
  const cases = [
    ['not JSON', '{"vendor":', 400, 'invalid_json', /./],
    ['empty', '', 400, 'invalid_json', /./],
    ['deep nesting', deep, 400, 'too_deep', /deep|nest/],
    ['duplicate keys', duplicate, 400, 'invalid_json', /duplicate key "features"/],
    ['invalid UTF-8', invalidUtf8, 400, 'invalid_utf8', /UTF-8/],
    ['wrong type', JSON.stringify(wrongType), 400, 'wrong_type', /features\.banner\.rules/],
    ['not an object', '[1,2]', 400, 'wrong_type', /object/],
    ['another vendor\'s config', JSON.stringify(wrongSlug), 400, 'invalid_value', /vendor\.slug/],
  ];
  for (const [name, body, status, code, message] of cases) {
    const res = await put(body);
    assert.equal(res.status, status, `${name}: ${res.text}`);
    assert.equal(res.json.error.code, code, `${name}: ${res.text}`);
    assert.match(res.json.error.message, message, name);
  }
  // Over the limit (config::max_config_bytes, 4 MiB): 413, whether the handler or httplib refuses it.
  const big = JSON.stringify({ ...configFor('other'), 'x-padding': 'x'.repeat(4 * 1024 * 1024) });
  const tooLarge = await put(big);
  assert.equal(tooLarge.status, 413);
  assert.equal(tooLarge.json.error.code, 'too_large');
  const wayTooLarge = await put(new Uint8Array(20 * 1024 * 1024).fill(0x20));  // refused unread
  assert.equal(wayTooLarge.status, 413);
  assert.equal(wayTooLarge.json.error.code, 'too_large');
  // Nothing stored: no draft, so nothing to publish.
  assert.equal((await api('GET', '/v1/vendors/other/config', { token: tokens.other })).status, 404);
  const publish = await api('POST', '/v1/vendors/other/revalidate', { token: tokens.other, body: '' });
  assert.equal(publish.status, 409);
  assert.equal(publish.json.error.code, 'no_draft');
  // A bad write after a good one leaves the good draft in place.
  assert.equal((await put(configFor('other', 'Good'))).status, 200);
  assert.equal((await put(JSON.stringify(wrongType))).status, 400);
  assert.equal((await api('GET', '/v1/vendors/other/config', { token: tokens.other })).json.config.vendor.name, 'Good');
});

test('draft, revalidate, idempotency, signed snapshot, ETag and since=', async () => {
  const config = { 'x-price': 1.5, ...configFor('acme', 'Acme v1') };
  // Pretty-printed, with a number JSON.stringify would write otherwise: stored minified, bytes kept.
  const body = JSON.stringify(config, null, 2).replace('"x-price": 1.5', '"x-price": 1.50');
  const put = await api('PUT', '/v1/vendors/acme/config', { token: tokens.acme, body });
  assert.equal(put.status, 200, put.text);
  assert.equal(put.json.slug, 'acme');
  assert.equal(put.json.draft, true);
  assert.equal(put.json.bytes, Buffer.byteLength(JSON.stringify(config)) + 1, 'whitespace dropped, "1.50" kept');

  const revalidate = (key) => api('POST', '/v1/vendors/acme/revalidate',
    { token: tokens.acme, body: '', headers: key ? { 'idempotency-key': key } : {} });
  const first = await revalidate('key-1');
  assert.equal(first.status, 200, first.text);
  assert.equal(first.json.version, 1);
  assert.match(first.json.published_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  const replay = await revalidate('key-1');
  assert.equal(replay.status, 200);
  assert.equal(replay.text, first.text, 'same key, same answer');
  assert.equal(replay.headers.get('idempotent-replayed'), 'true');
  const second = await revalidate();
  assert.equal(second.json.version, 2, 'no key: a new version');
  assert.equal((await revalidate('k'.repeat(256))).status, 400);

  const snap = await api('GET', '/v1/snapshots/acme', { token: tokens.edge });
  assert.equal(snap.status, 200);
  assert.equal(snap.headers.get('etag'), '"2"');
  assert.equal(snap.json.slug, 'acme');
  assert.equal(snap.json.version, 2);
  assert.equal(snap.json.published_at, second.json.published_at);
  assert.deepEqual(snap.json.config, config);
  const conditional = (tag) => api('GET', '/v1/snapshots/acme', { token: tokens.edge, headers: { 'if-none-match': tag } });
  assert.equal((await conditional('"2"')).status, 304);
  assert.equal((await conditional('W/"1", "2"')).status, 304);
  assert.equal((await conditional('"1"')).status, 200);
  const v1 = await api('GET', '/v1/snapshots/acme?version=1', { token: tokens.edge });
  assert.equal(v1.json.version, 1);
  assert.equal((await api('GET', '/v1/snapshots/acme?version=9', { token: tokens.edge })).status, 404);
  assert.equal((await api('GET', '/v1/snapshots/nobody', { token: tokens.edge })).status, 404);

  // The signature verifies over the documented bytes with the key of /v1/keys; tampering breaks it.
  const { keys } = (await api('GET', '/v1/keys')).json;
  assert.equal(snap.json.key_id, keys[0].key_id);
  const key = publicKeyFromRaw(keys[0].public_key);
  const signature = Buffer.from(snap.json.signature, 'base64');
  const bytes = configBytesOf(snap.text);
  assert.deepEqual(JSON.parse(bytes), snap.json.config);
  assert.ok(bytes.startsWith('{"x-price":1.50,'), bytes.slice(0, 40));
  assert.equal(verify(null, signedMessage(snap.json, bytes), key, signature), true);
  const v1Signature = Buffer.from(v1.json.signature, 'base64');
  assert.equal(verify(null, signedMessage(v1.json, configBytesOf(v1.text)), key, v1Signature), true);
  const tampered = bytes.replace('Acme v1', 'Acme v2');
  assert.notEqual(tampered, bytes);
  assert.equal(verify(null, signedMessage(snap.json, tampered), key, signature), false);
  const newer = signedMessage({ ...snap.json, version: 3 }, bytes);
  assert.equal(verify(null, newer, key, signature), false, 'replayed as a newer version');
  assert.equal(verify(null, signedMessage({ ...snap.json, slug: 'other' }, bytes), key, signature), false, 'another vendor');

  // since=: the latest version of each vendor published after a sequence number.
  const all = await api('GET', '/v1/snapshots?since=0', { token: tokens.edge });
  assert.equal(all.status, 200);
  const acme = all.json.find((c) => c.slug === 'acme');
  assert.equal(acme.version, 2);
  const later = await api('GET', `/v1/snapshots?since=${acme.seq}`, { token: tokens.edge });
  assert.ok(!later.json.some((c) => c.slug === 'acme'));
  assert.equal((await api('GET', '/v1/snapshots?since=-1', { token: tokens.edge })).status, 400);
  assert.equal((await api('GET', '/v1/snapshots?since=abc', { token: tokens.edge })).status, 400);
});

test('revalidate nudges the edges with the edge token; a dead edge blocks nothing', async () => {
  const put = await api('PUT', '/v1/vendors/acme/config', { token: tokens.acme, body: configFor('acme', 'Acme nudge') });
  assert.equal(put.status, 200);
  const times = [];
  const versions = [];
  for (let i = 0; i < 20; i++) {
    const t0 = performance.now();
    const res = await api('POST', '/v1/vendors/acme/revalidate', { token: tokens.acme, body: '' });
    times.push(performance.now() - t0);
    assert.equal(res.status, 200);
    versions.push(res.json.version);
  }
  times.sort((a, b) => a - b);
  console.log(`revalidate round trip (one fsync'd transaction each): p50 ${times[10].toFixed(2)} ms, ` +
    `max ${times[19].toFixed(2)} ms`);
  // Nudges queued for one edge coalesce per vendor: the edge sees increasing versions, ending
  // with the last one.
  const last = () => nudges.find((n) => n.body.slug === 'acme' && n.body.version === versions.at(-1));
  const deadline = Date.now() + REQUEST_MS;
  while (Date.now() < deadline && !last()) await sleep(20);
  assert.ok(last(), `version ${versions.at(-1)} never reached the edge`);
  const seen = nudges.filter((n) => n.body.slug === 'acme' && n.body.version >= versions[0]).map((n) => n.body.version);
  assert.deepEqual(seen, [...seen].sort((a, b) => a - b));
  assert.deepEqual(last().body, { slug: 'acme', version: versions.at(-1) });
  assert.equal(last().path, '/v1/invalidate');
  assert.equal(last().auth, `Bearer ${tokens.edge}`);
  const metrics = (await api('GET', '/metrics')).text;
  assert.match(metrics, /whale_origin_edge_nudges_total\{result="error"\} [1-9]/);
});

test('metrics and structured logs', async () => {
  const { status, text, headers } = await api('GET', '/metrics');
  assert.equal(status, 200);
  assert.match(headers.get('content-type'), /^text\/plain/);
  assert.match(text, /whale_origin_requests_total\{route="PUT \/v1\/vendors\/\{slug\}\/config",status="401"\} [1-9]/);
  assert.match(text, /whale_origin_requests_total\{route="GET \/v1\/snapshots\/\{slug\}",status="304"\} [1-9]/);
  assert.match(text, /whale_origin_publishes_total [1-9]/);
  assert.match(text, /whale_origin_validation_failures_total\{code="wrong_type"\} [1-9]/);
  assert.match(text,
    /whale_origin_request_duration_seconds_bucket\{route="POST \/v1\/vendors\/\{slug\}\/revalidate",le="\+Inf"\} [1-9]/);
  const lines = main.stderr.split('\n').filter((l) => l.startsWith('{'));
  assert.ok(lines.length > 20);
  for (const line of lines.filter((l) => l.includes('"method"'))) {
    const entry = JSON.parse(line);
    assert.deepEqual(Object.keys(entry), ['ts', 'method', 'path', 'route', 'status', 'ms']);
    assert.equal(typeof entry.ms, 'number');
  }
});

test('kill -9 in the middle of a write burst loses no acknowledged write', async () => {
  const db = testDb(join(work, 'burst.db'));
  const writers = ['w0', 'w1', 'w2', 'w3'].map((slug) => ({ slug, token: addPrincipal('vendor', slug, db), acked: [] }));
  const edge = addPrincipal('edge', 'edge-burst', db);
  const first = await startOrigin(db);
  const base = first.base;
  let killed = false;
  // Each writer: PUT a config naming its round, then revalidate under a fresh key; record what was acknowledged.
  const burst = writers.map(async (w) => {
    for (let round = 0; !killed && round < 10000; round++) {
      try {
        const put = await call(base, 'PUT', `/v1/vendors/${w.slug}/config`,
          { token: w.token, body: configFor(w.slug, `round ${round}`) });
        if (put.status !== 200) throw new Error(put.text);
        w.lastPut = round;
        const key = `${w.slug}-${round}`;
        const rev = await call(base, 'POST', `/v1/vendors/${w.slug}/revalidate`,
          { token: w.token, body: '', headers: { 'idempotency-key': key } });
        if (rev.status === 200) w.acked.push({ key, round, version: rev.json.version, response: rev.text });
      } catch {
        return;  // the origin is gone
      }
    }
  });
  const deadline = Date.now() + 20000;
  while (Date.now() < deadline && writers.reduce((n, w) => n + w.acked.length, 0) < 40) await sleep(5);
  first.child.kill('SIGKILL');
  killed = true;
  await Promise.all(burst);
  await exitOf(first.child);
  assert.equal(first.child.signalCode, 'SIGKILL');

  const second = await startOrigin(db);
  let unacknowledged = 0;
  for (const w of writers) {
    assert.ok(w.acked.length > 0, `${w.slug} got no acknowledgement before the kill`);
    for (const a of w.acked) {
      const snap = await call(second.base, 'GET', `/v1/snapshots/${w.slug}?version=${a.version}`, { token: edge });
      assert.equal(snap.status, 200, `${w.slug} v${a.version} lost`);
      assert.equal(snap.json.config.vendor.name, `round ${a.round}`);
      const replay = await call(second.base, 'POST', `/v1/vendors/${w.slug}/revalidate`,
        { token: w.token, body: '', headers: { 'idempotency-key': a.key } });
      assert.equal(replay.text, a.response, 'the idempotency record survived too');
    }
    const latest = await call(second.base, 'GET', `/v1/snapshots/${w.slug}`, { token: edge });
    assert.ok(latest.json.version >= w.acked.at(-1).version);
    unacknowledged += latest.json.version - w.acked.at(-1).version;
    const draft = await call(second.base, 'GET', `/v1/vendors/${w.slug}/config`, { token: w.token });
    assert.ok(Number(draft.json.config.vendor.name.split(' ')[1]) >= w.lastPut, 'the last acknowledged draft survived');
  }
  const acked = writers.reduce((n, w) => n + w.acked.length, 0);
  console.log(`kill -9 after ${acked} acknowledged publishes: all present after restart ` +
    `(${unacknowledged} more were committed but their answer was lost with the process)`);
  await stop(second.child);
});
