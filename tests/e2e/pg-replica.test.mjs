// Reads from a streaming replica (docs/origin.md, "PostgreSQL", "Reads from a replica"): the GET
// routes read the replica while it keeps up, a vendor reads its own publish at once, a replica
// that lags past --replica-max-lag-ms or is down hands its reads to the primary, and /healthz
// counts where reads went.
//
// Needs PostgreSQL 15 and the postgres user (scripts/pg.mjs starts a primary and a replica).
// Env: WHALE_ORIGIN (the whale-origin binary).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addPrincipal, readConfig, request, sleep, startOrigin, stop, until } from '../../scripts/stack.mjs';
import { startPgCluster } from '../../scripts/pg.mjs';

const SLUG = 'flora-distro';
const work = mkdtempSync(join(tmpdir(), 'whale-pg-replica-'));
let pg;
let urls;
let writer;  // publishes, and reads right after
let reader;  // only reads, with a tight lag bound
const tokens = {};

before(async () => {
  pg = await startPgCluster({ replica: true });
  urls = pg.createDatabase();
  tokens.edge = addPrincipal('edge', 'edge-1', urls.primary);
  tokens.vendor = addPrincipal('vendor', SLUG, urls.primary);
  const args = ['--key', join(work, 'whale.key.pem'), '--reweight-every', '0', '--db-replica', urls.replica];
  writer = await startOrigin({ db: urls.primary, args });
  reader = await startOrigin({ db: urls.primary, args: [...args, '--replica-max-lag-ms', '300'] });
  const put = await request(writer.base, 'PUT', `/v1/vendors/${SLUG}/config`, { token: tokens.vendor, body: readConfig(SLUG) });
  assert.equal(put.status, 200, put.text);
});

after(async () => {
  await Promise.all([stop(writer?.child), stop(reader?.child)]);
  await pg?.stop();
  rmSync(work, { recursive: true, force: true });
});

const publish = async (origin) => {
  const r = await request(origin.base, 'POST', `/v1/vendors/${SLUG}/revalidate`, { token: tokens.vendor, body: '' });
  assert.equal(r.status, 200, r.text);
  return r.json.version;
};
const latest = async (origin, query = '') => {
  const r = await request(origin.base, 'GET', `/v1/snapshots/${SLUG}${query}`, { token: tokens.edge });
  assert.equal(r.status, 200, r.text);
  return r.json.version;
};
const reads = async (origin) => (await request(origin.base, 'GET', '/healthz')).json.reads;

test('a publish is read back at once from the process that made it, by version and as the latest', async () => {
  for (let i = 0; i < 20; i++) {
    const version = await publish(writer);
    assert.equal(await latest(writer), version);
    assert.equal(await latest(writer, `?version=${version}`), version);
  }
});

test('reads go to the replica once it has replayed them; /healthz and /metrics count both targets', async () => {
  const before = await reads(writer);
  await until('reads served by the replica', async () => {
    await latest(writer);
    return (await reads(writer)).replica > before.replica;
  }, 10000, 50);
  const metrics = await (await fetch(`${writer.base}/metrics`)).text();
  assert.match(metrics, /whale_origin_db_reads_total\{target="replica"\} [1-9]/);
  assert.match(metrics, /whale_origin_db_reads_total\{target="primary"\} \d+/);
});

test('a version another process published and the replica does not have yet is read from the primary', async () => {
  pg.psql(pg.admin('replica'), 'SELECT pg_wal_replay_pause()');
  try {
    const version = await publish(writer);
    assert.equal(await latest(reader, `?version=${version}`), version);
    // Past the reader's lag bound (300 ms) its reads of the latest go to the primary too.
    await sleep(600);
    const before = await reads(reader);
    assert.equal(await latest(reader), version);
    assert.equal((await reads(reader)).primary, before.primary + 1);
  } finally {
    pg.psql(pg.admin('replica'), 'SELECT pg_wal_replay_resume()');
  }
});

test('the replica down: reads are served by the primary, and return to the replica when it is back', async () => {
  pg.stopReplica();
  try {
    const version = await publish(writer);
    const before = await reads(reader);
    for (let i = 0; i < 5; i++) assert.equal(await latest(reader), version);
    const list = await request(reader.base, 'GET', '/v1/snapshots?since=0', { token: tokens.edge });
    assert.equal(list.status, 200, list.text);
    assert.equal(list.json.find((c) => c.slug === SLUG).version, version);
    const health = await request(reader.base, 'GET', '/healthz');
    assert.equal(health.status, 200, health.text);
    assert.ok(health.json.reads.primary >= before.primary + 6, JSON.stringify(health.json));
  } finally {
    await pg.startReplica();
  }
  const before = await reads(reader);
  await until('reads back on the replica', async () => {
    await latest(reader);
    return (await reads(reader)).replica > before.replica;
  }, 15000, 100);
});
