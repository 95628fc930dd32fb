// scripts/pg.mjs, the PostgreSQL the origin's PostgreSQL tests run on: a primary, a streaming
// replica and PgBouncer in transaction mode, started as the postgres user on free loopback ports.
// Checks that a row written on the primary reaches the replica, that the replica refuses writes,
// that PgBouncer holds many concurrent clients on its few server connections, and that stop()
// leaves no process and no directory behind; and the local stack on it (two origins).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PG_BIN, psql, startPgCluster } from '../../scripts/pg.mjs';
import { request, startStack, until } from '../../scripts/stack.mjs';

const POOL = 4;
const CLIENTS = 40;
let pg = null;

before(async () => {
  pg = await startPgCluster({ replica: true, bouncer: true, poolSize: POOL });
});

after(async () => {
  await pg?.stop();
});

test('a row written on the primary is read on the streaming replica, which refuses writes', async () => {
  psql(pg.primary.url, 'CREATE TABLE marks (id int PRIMARY KEY, v text)');
  psql(pg.primary.url, "INSERT INTO marks VALUES (1, 'one')");
  await until('the replica to have the row', async () => {
    try {
      return psql(pg.replica.url, 'SELECT v FROM marks WHERE id = 1') === 'one';
    } catch {
      return false; // the table itself may not have arrived yet
    }
  }, 10000);
  assert.equal(psql(pg.replica.url, 'SELECT pg_is_in_recovery()'), 't');
  assert.throws(() => psql(pg.replica.url, "INSERT INTO marks VALUES (2, 'two')"), /read-only transaction/);
});

test(`PgBouncer serves ${CLIENTS} concurrent clients on at most ${POOL} server connections`, async () => {
  // Each client holds a transaction for 200 ms; in transaction mode they queue for the pool.
  const clients = Array.from({ length: CLIENTS }, () => new Promise((resolve) => {
    const child = spawn(join(PG_BIN, 'psql'), ['-X', '-q', '-A', '-t', '-d', pg.bouncer.url, '-c', 'SELECT pg_sleep(0.2), 1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c) => { out += c; });
    // 'close', not 'exit': a child can exit before its stdout has been read to the end.
    child.on('close', (code) => resolve({ code, out: out.trim() }));
  }));
  let maxServers = 0;
  // PgBouncer's server connections to the database (they stay open, idle, after their clients).
  const poll = () => {
    const r = spawnSync(join(PG_BIN, 'psql'), ['-X', '-A', '-t', '-d', pg.primary.url, '-c',
      "SELECT count(*) FROM pg_stat_activity WHERE datname = 'whale' AND backend_type = 'client backend' AND pid <> pg_backend_pid()"], { encoding: 'utf8' });
    if (r.status === 0) maxServers = Math.max(maxServers, Number(r.stdout.trim()));
  };
  const watch = setInterval(poll, 50);
  const results = await Promise.all(clients);
  clearInterval(watch);
  poll();
  assert.deepEqual(results.filter((r) => r.code !== 0 || !r.out.endsWith('|1')), []);
  assert.ok(maxServers >= 1 && maxServers <= POOL, `server connections seen: ${maxServers}`);
});

test('stop() ends every server and removes the directory', async () => {
  const { dir } = pg;
  await pg.stop();
  pg = null;
  assert.equal(existsSync(dir), false);
  const left = spawnSync('pgrep', ['-f', dir], { encoding: 'utf8' });
  assert.equal(left.stdout.trim(), '');
});

test('the local stack on PostgreSQL (scripts/start.sh with WHALE_ORIGIN_STORAGE=postgres): two origins, three edges', { timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'whale-pg-stack-'));
  const stack = await startStack({ dir, storage: 'postgres' });
  t.after(async () => {
    await stack.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  assert.equal(stack.origins.length, 2);
  const [a, b] = stack.origins;
  assert.equal(a.keyId, b.keyId, 'both origins sign with one key');
  for (const edge of stack.edges) {
    const layout = await request(edge.base, 'GET', '/v1/storefront/flora-distro/home');
    assert.equal(layout.status, 200, layout.text);
    assert.equal(layout.json.version, 1);
  }
  // edge-2 reads through the second origin, which reads the replica.
  const held = await request(stack.edges[1].base, 'GET', '/v1/config/flora-distro');
  assert.equal(held.json.source, b.base);
  const health = await request(b.base, 'GET', '/healthz');
  assert.ok(health.json.reads.replica >= 1, JSON.stringify(health.json));
  const { dir: pgDir } = stack.pg;
  await stack.stop();
  assert.equal(existsSync(pgDir), false, 'the PostgreSQL servers stopped with the stack');
});

