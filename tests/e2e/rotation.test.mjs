// Keys and tokens that change, end to end (docs/origin.md, "Tokens" and "Rotating the signing
// key"): a real whale-origin on a temporary database, its commands run as other processes while
// it serves, and two workerd edges. A rotated vendor or edge token keeps the old one valid for
// the grace period and no longer; a revoke refuses every token of one principal at once and no
// other's; a signing key is announced before it signs, edges pinned to both keys follow the
// rotation while an edge pinned to the old key only refuses the new snapshots and keeps the last
// good one, and a retired key leaves /v1/keys with the stored snapshots re-signed.
//
// Env: WHALE_ORIGIN (the whale-origin binary), WHALE_EMSCRIPTEN_DIR (its wasm/core.wasm is served).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createPublicKey, verify } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ORIGIN_BIN, WORKERD, addPrincipal, freePort, publish, reservePort, readConfig, request, sleep, startEdge, startOrigin, stop,
  waitForVersion, until,
} from '../../scripts/stack.mjs';

const A = 'flora-distro';  // its tokens are rotated and revoked
const B = 'minimal';       // never touched by A's commands; its snapshots follow the signing key
const GRACE_S = 2;
const TOKEN = /^wh[ve]_[A-Za-z0-9_-]{43}$/;

const work = mkdtempSync(join(tmpdir(), 'whale-rotation-'));
const db = join(work, 'origin.db');
const tokens = {};
let origin = null;
const edges = {};  // both: pins the old and the next key; old: pins the old key only

// `whale-origin <args> --db <db>`: {status, stdout, stderr}.
function cli(...args) {
  const r = spawnSync(ORIGIN_BIN, [...args, '--db', db], { encoding: 'utf8', timeout: 10000 });
  return { status: r.status, stdout: r.stdout.trim(), stderr: r.stderr };
}

function rotate(kind, name, grace = GRACE_S) {
  const r = cli(kind, 'rotate', name, '--grace', String(grace));
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, TOKEN);
  return r.stdout;
}

function revoke(kind, name) {
  const r = cli(kind, 'revoke', name);
  assert.equal(r.status, 0, r.stderr);
}

const vendorRead = (slug, token) => request(origin.base, 'GET', `/v1/vendors/${slug}/config`, { token });
const edgeRead = (slug, token) => request(origin.base, 'GET', `/v1/snapshots/${slug}`, { token });

async function statusOf(read, token) {
  return (await read(token)).status;
}

// Polls until `token` is refused (401), at most `timeoutMs`.
async function refusedWithin(read, token, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await statusOf(read, token)) === 401) return true;
    await sleep(100);
  }
  return false;
}

async function keys() {
  const res = await request(origin.base, 'GET', '/v1/keys');
  assert.equal(res.status, 200, res.text);
  return res.json.keys;
}

async function held(edge, slug) {
  const res = await request(edge.base, 'GET', `/v1/config/${slug}`);
  assert.equal(res.status, 200, res.text);
  return res.json;
}


// Verifies a snapshot body against a raw Ed25519 public key (base64), over docs/origin.md's bytes.
function verifies(body, publicKey) {
  const s = JSON.parse(body);
  const config = body.slice(body.indexOf(',"config":') + ',"config":'.length, -1);
  const message = Buffer.from(`whale-snapshot-v1\n${s.slug}\n${s.version}\n${s.published_at}\n${config}`, 'utf8');
  const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(publicKey, 'base64').toString('base64url') }, format: 'jwk' });
  return verify(null, message, key, Buffer.from(s.signature, 'base64'));
}

before(async () => {
  assert.ok(existsSync(ORIGIN_BIN), `whale-origin not built at ${ORIGIN_BIN}`);
  assert.ok(existsSync(WORKERD), `workerd not installed at ${WORKERD} (npm ci)`);
  tokens.edge = addPrincipal('edge', 'edges', db);  // the edges' and the nudger's token
  tokens.probe = addPrincipal('edge', 'probe', db);
  tokens[A] = addPrincipal('vendor', A, db);
  tokens[B] = addPrincipal('vendor', B, db);
  edges.reserved = { both: await reservePort(), old: await reservePort() };
  edges.ports = { both: edges.reserved.both.port, old: edges.reserved.old.port };
  origin = await startOrigin({
    db, edgeToken: tokens.edge,
    edges: Object.values(edges.ports).map((p) => `http://127.0.0.1:${p}/v1/invalidate`),
  });
  for (const slug of [A, B]) await publish(origin.base, slug, tokens[slug], readConfig(slug));
});

after(async () => {
  await Promise.all([edges.both, edges.old].filter(Boolean).map((e) => stop(e.child)));
  if (origin) await stop(origin.child);
  rmSync(work, { recursive: true, force: true });
});

test('vendor rotate: old and new tokens both work during the grace, only the new one after it', async () => {
  const old = tokens[A];
  const fresh = rotate('vendor', A);
  assert.notEqual(fresh, old);
  assert.equal(await statusOf((t) => vendorRead(A, t), old), 200, 'the old token works during the grace');
  assert.equal(await statusOf((t) => vendorRead(A, t), fresh), 200, 'the new token works at once');
  assert.ok(await refusedWithin((t) => vendorRead(A, t), old, (GRACE_S + 3) * 1000), 'the old token is refused after the grace');
  const refused = await vendorRead(A, old);
  assert.equal(refused.json.error.code, 'unauthorized');
  assert.match(refused.headers.get('www-authenticate') ?? '', /^Bearer/);
  assert.equal(await statusOf((t) => vendorRead(A, t), fresh), 200, 'the new token still works');
  assert.equal(await statusOf((t) => vendorRead(B, t), tokens[B]), 200, 'another vendor is unaffected');
  tokens[A] = fresh;

  assert.equal(cli('vendor', 'rotate', 'nobody-here').status, 1, 'no such vendor');
  assert.equal(cli('vendor', 'rotate', A, '--grace', '-1').status, 2, 'a negative grace is a usage error');
});

test('vendor revoke: every token of the vendor refused at once, other vendors unaffected', async () => {
  const inGrace = tokens[A];
  const fresh = rotate('vendor', A, 3600);  // inGrace stays valid for an hour...
  assert.equal(await statusOf((t) => vendorRead(A, t), inGrace), 200);
  assert.equal(await statusOf((t) => vendorRead(A, t), fresh), 200);
  revoke('vendor', A);  // ...unless revoked
  for (const token of [inGrace, fresh]) {
    assert.equal(await statusOf((t) => vendorRead(A, t), token), 401, 'revoked from the next request');
    const put = await request(origin.base, 'PUT', `/v1/vendors/${A}/config`, { token, body: readConfig(A) });
    assert.equal(put.status, 401, 'writes refused too');
  }
  assert.equal(await statusOf((t) => vendorRead(B, t), tokens[B]), 200, 'another vendor is unaffected');
  assert.equal(await statusOf((t) => edgeRead(A, t), tokens.edge), 200, 'edges still read the vendor');

  tokens[A] = rotate('vendor', A);  // a later rotate issues a fresh token
  assert.equal(await statusOf((t) => vendorRead(A, t), tokens[A]), 200);
  for (const token of [inGrace, fresh]) assert.equal(await statusOf((t) => vendorRead(A, t), token), 401, 'still revoked');
});

test('edge rotate and revoke: the same for an edge token on GET /v1/snapshots/{slug}', async () => {
  const read = (t) => edgeRead(A, t);
  const old = tokens.probe;
  const fresh = rotate('edge', 'probe');
  assert.equal(await statusOf(read, old), 200, 'the old edge token works during the grace');
  assert.equal(await statusOf(read, fresh), 200, 'the new edge token works at once');
  assert.ok(await refusedWithin(read, old, (GRACE_S + 3) * 1000), 'the old edge token is refused after the grace');
  assert.equal(await statusOf(read, fresh), 200);
  assert.equal(await statusOf((t) => vendorRead(A, t), fresh), 403, 'still an edge token, not a vendor one');

  const inGrace = fresh;
  const newer = rotate('edge', 'probe', 3600);
  revoke('edge', 'probe');
  for (const token of [inGrace, newer]) assert.equal(await statusOf(read, token), 401, 'every token of the edge refused');
  assert.equal(await statusOf(read, tokens.edge), 200, 'another edge is unaffected');
  const list = await request(origin.base, 'GET', '/v1/snapshots?since=0', { token: newer });
  assert.equal(list.status, 401);
  tokens.probe = rotate('edge', 'probe');
  assert.equal(await statusOf(read, tokens.probe), 200, 'a later rotate issues a fresh token');
});

test('signing key: announced, pinned, rotated; an edge pinned to the old key only keeps its last good version', async () => {
  const [first] = await keys();
  assert.equal(first.key_id, origin.keyId);
  assert.equal(first.active, true);

  // The next key is announced before it signs, so that the edges can pin it first.
  const added = cli('key', 'add');
  assert.equal(added.status, 0, added.stderr);
  const announced = await keys();
  assert.equal(announced.length, 2);
  const next = announced.find((k) => k.key_id !== first.key_id);
  assert.deepEqual({ active: next.active, next: next.next }, { active: false, next: true });
  assert.equal(announced.find((k) => k.active).key_id, first.key_id, 'the old key still signs');
  const keyFile = join(work, 'origin.keys', 'next.pem');
  assert.equal(statSync(keyFile).mode & 0o777, 0o600, 'private keys are mode 0600');

  const pins = (list) => Object.fromEntries(list.map((k) => [k.key_id, k.public_key]));
  const common = { origin: origin.base, edgeToken: tokens.edge, maxAge: 2, timeoutMs: 1000 };
  await edges.reserved.both.release();
  edges.both = await startEdge({ ...common, name: 'both', port: edges.ports.both, outDir: join(work, 'both'), keys: pins(announced) });
  await edges.reserved.old.release();
  edges.old = await startEdge({ ...common, name: 'old', port: edges.ports.old, outDir: join(work, 'old'), keys: pins([first]) });
  for (const edge of [edges.both, edges.old]) {
    const h = await held(edge, B);
    assert.equal(h.version, 1, edge.name);
    assert.equal(h.key_id, first.key_id, `${edge.name} accepts the snapshot signed by the old key`);
  }

  const rotated = cli('key', 'rotate');
  assert.equal(rotated.status, 0, rotated.stderr);
  const overlap = await keys();
  assert.deepEqual(overlap.map((k) => [k.key_id, k.active]), [[next.key_id, true], [first.key_id, false]],
    'both keys listed during the overlap, the new one active');

  const { version } = await publish(origin.base, B, tokens[B], readConfig(B));
  assert.equal(version, 2);
  const latest = await edgeRead(B, tokens.edge);
  assert.equal(latest.json.key_id, next.key_id, 'the running origin signs with the new key, no restart');
  assert.ok(verifies(latest.text, next.public_key));
  await waitForVersion([edges.both], B, 2);
  assert.equal((await held(edges.both, B)).key_id, next.key_id, 'the edge pinned to both accepts the new key');

  const refused = await until('the old-key edge to refuse the new snapshot', async () => {
    const h = await held(edges.old, B);
    return h.rejected.unknown_key >= 1 ? h : null;
  });
  assert.equal(refused.version, 1, 'the edge pinned to the old key keeps its last good version');
  assert.equal(refused.key_id, first.key_id);
  const served = await request(edges.old.base, 'GET', `/v1/assign?vendor=${B}&id=rotation-user&country=US`);
  assert.equal(served.status, 200, 'and keeps serving it');

  // Retiring the active key is refused; retiring the old one drops it and re-signs what it signed.
  assert.equal(cli('key', 'retire', next.key_id).status, 1);
  const retired = cli('key', 'retire', first.key_id);
  assert.equal(retired.status, 0, retired.stderr);
  assert.deepEqual((await keys()).map((k) => [k.key_id, k.active]), [[next.key_id, true]], 'only the new key after retire');
  const v1 = await request(origin.base, 'GET', `/v1/snapshots/${B}?version=1`, { token: tokens.edge });
  assert.equal(v1.json.key_id, next.key_id, 'the old key\'s snapshots re-signed');
  assert.ok(verifies(v1.text, next.public_key));
  assert.equal(cli('key', 'retire', first.key_id).status, 1, 'a key retired twice is not found');
});

test('tokens stored by an older origin (one per principal, in vendors and edges) keep working, and revoke', async (t) => {
  if (spawnSync('sqlite3', ['-version']).status !== 0) return t.skip('the sqlite3 shell is not installed');
  const legacy = join(work, 'legacy.db');
  const token = 'whv_legacy-token-made-by-an-older-origin-aaaaaaaa';
  const hash = (await import('node:crypto')).createHash('sha256').update(token).digest('hex');
  const made = spawnSync('sqlite3', [legacy,
    'CREATE TABLE vendors(slug TEXT PRIMARY KEY, token_hash TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL);' +
    'CREATE TABLE edges(name TEXT PRIMARY KEY, token_hash TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL);' +
    `INSERT INTO vendors VALUES('${B}', '${hash}', '2026-01-01T00:00:00.000Z');`], { encoding: 'utf8' });
  assert.equal(made.status, 0, made.stderr);
  const old = await startOrigin({ db: legacy, eventsKey: null });
  try {
    const put = await request(old.base, 'PUT', `/v1/vendors/${B}/config`, { token, body: readConfig(B) });
    assert.equal(put.status, 200, put.text);
    const r = spawnSync(ORIGIN_BIN, ['vendor', 'revoke', B, '--db', legacy], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal((await request(old.base, 'GET', `/v1/vendors/${B}/config`, { token })).status, 401);
  } finally {
    await stop(old.child);
  }
  // Reopening the file does not bring the revoked token back from the old column.
  const again = await startOrigin({ db: legacy, eventsKey: null });
  try {
    assert.equal((await request(again.base, 'GET', `/v1/vendors/${B}/config`, { token })).status, 401);
  } finally {
    await stop(again.child);
  }
});
