// Storage integrity (docs/origin.md, "Storage and durability"): a database file damaged while the
// origin was stopped (bytes overwritten in the middle of the file) makes `serve` refuse to start
// with a message naming the check and the damage; with --skip-integrity-check it starts, the check
// runs in the background and /healthz answers 503 naming the storage fault.
//
// Env: WHALE_ORIGIN (the whale-origin binary).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ORIGIN_BIN, REPO, addPrincipal, publish, request, sleep, startOrigin, stop } from '../../scripts/stack.mjs';

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

// Overwrites 64 KiB in the middle of the file, page-aligned, with a fixed pattern.
function damage(db) {
  const size = statSync(db).size;
  const at = Math.floor(size / 2 / 4096) * 4096;
  const fd = openSync(db, 'r+');
  writeSync(fd, Buffer.alloc(64 * 1024, 0xa5), 0, 64 * 1024, at);
  closeSync(fd);
}

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
