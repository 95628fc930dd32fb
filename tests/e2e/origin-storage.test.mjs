// Storage integrity (docs/origin.md, "Storage and durability"): a database file damaged while the
// origin was stopped (bytes overwritten in the middle of the file) makes `serve` refuse to start
// with a message naming the check and the damage; with --skip-integrity-check it starts, the check
// runs in the background and /healthz answers 503 naming the storage fault. An event batch that
// reaches a damaged page is answered 503 storage_unavailable with Retry-After (retryable), not 500.
//
// Env: WHALE_ORIGIN (the whale-origin binary).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ORIGIN_BIN, REPO, addPrincipal, publish, request, signEvents, sleep, startOrigin, stop } from '../../scripts/stack.mjs';

const work = mkdtempSync(join(tmpdir(), 'whale-storage-'));
const running = [];

after(async () => {
  for (const o of running) await stop(o.child);
  rmSync(work, { recursive: true, force: true });
});

// A database holding several versions of the largest fixture (about 200 KB each), so that the
// middle of the file is snapshot pages. Stopped cleanly: the WAL is checkpointed into the file.
async function databaseWithSnapshots(name) {
  const db = join(work, `${name}.db`);
  const token = addPrincipal('vendor', 'green-harbor', db);
  const origin = await startOrigin({ db });
  const config = JSON.parse(readFileSync(join(REPO, 'fixtures/vendors/green-harbor/config.json'), 'utf8'));
  for (let v = 1; v <= 8; v++) {
    config.vendor.name = `Green Harbor ${v}`;
    await publish(origin.base, 'green-harbor', token, config);
  }
  await stop(origin.child);
  assert.equal(existsSync(`${db}-wal`) && statSync(`${db}-wal`).size > 0, false, 'the WAL was checkpointed');
  return db;
}

// Overwrites `bytes` in the middle of the file, page-aligned, with a fixed pattern.
function damage(db, bytes = 64 * 1024) {
  const size = statSync(db).size;
  const at = Math.floor((size - bytes) / 2 / 4096) * 4096;
  const fd = openSync(db, 'r+');
  writeSync(fd, Buffer.alloc(bytes, 0xa5), 0, bytes, at);
  closeSync(fd);
}

// `n` exposures of distinct units, as an edge forwards them (signed ids).
const exposures = (slug, from, n) => signEvents(Array.from({ length: n }, (_, i) => ({
  type: 'exposure', slug, experiment: 'hero-banner-copy', variation: i % 2, unit: `unit-${from + i}`, ts: 1764000000000 + from + i,
})));

test('a damaged database: serve refuses to start, naming the check and the damage', async () => {
  const db = await databaseWithSnapshots('damaged');
  const sound = await startOrigin({ db });
  const healthy = await request(sound.base, 'GET', '/healthz');
  await stop(sound.child);
  assert.equal(healthy.status, 200);
  assert.deepEqual(healthy.json, { ok: true });

  damage(db);
  const r = spawnSync(ORIGIN_BIN, ['serve', '--db', db, '--port', '0'], { encoding: 'utf8', timeout: 60000 });
  assert.equal(r.status, 1, `exit ${r.status} ${r.signal}\n${r.stdout}\n${r.stderr}`);
  assert.doesNotMatch(r.stdout, /listening/);
  assert.match(r.stderr, /integrity check \(PRAGMA quick_check\) of .*damaged\.db failed: /);
  assert.match(r.stderr, /page|tree|corrupt|malformed/i);
  assert.match(r.stderr, /--skip-integrity-check/);

  // With the flag it serves, and /healthz reports the fault once the background check has run.
  const origin = await startOrigin({ db, args: ['--skip-integrity-check'] });
  running.push(origin);
  let health;
  for (let i = 0; i < 300; i++) {
    health = await request(origin.base, 'GET', '/healthz');
    if (health.status !== 200) break;
    await sleep(100);
  }
  assert.equal(health.status, 503);
  assert.equal(health.json.ok, false);
  assert.match(health.json.storage, /integrity check failed: /);
  assert.match(origin.stderr, /"event":"integrity_check","ok":false/);
});

test('a storage error while storing an event batch is a retryable 503, not a 500', async () => {
  // A database whose middle is event pages: 20 000 stored exposures.
  const db = join(work, 'events.db');
  const token = addPrincipal('vendor', 'minimal', db);
  const edge = addPrincipal('edge', 'edge-1', db);
  const before = await startOrigin({ db });
  const config = JSON.parse(readFileSync(join(REPO, 'fixtures/vendors/minimal/config.json'), 'utf8'));
  await publish(before.base, 'minimal', token, config);
  for (let from = 0; from < 20000; from += 1000) {
    const stored = await request(before.base, 'POST', '/v1/events', { token: edge, body: { events: exposures('minimal', from, 1000) } });
    assert.equal(stored.status, 200, stored.text);
    assert.equal(stored.json.accepted, 1000, stored.text);
  }
  await stop(before.child);
  damage(db, 512 * 1024);

  const origin = await startOrigin({ db, args: ['--skip-integrity-check'] });
  running.push(origin);
  // New units land all over the event tables' keys: some batch reaches a damaged page.
  let refused;
  for (let from = 100000; from < 110000 && !refused; from += 1000) {
    const res = await request(origin.base, 'POST', '/v1/events', { token: edge, body: { events: exposures('minimal', from, 1000) } });
    assert.notEqual(res.status, 500, res.text);
    if (res.status !== 200) refused = res;
  }
  assert.ok(refused, 'no batch reached the damaged pages');
  assert.equal(refused.status, 503, refused.text);
  assert.equal(refused.json.error.code, 'storage_unavailable');
  assert.ok(Number(refused.headers.get('retry-after')) > 0);
});
