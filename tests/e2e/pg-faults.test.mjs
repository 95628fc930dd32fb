// The primary down (docs/origin.md, "PostgreSQL", "When the primary is down"): with --db-replica,
// the GET routes (snapshots, the since= listing, keys, bandit results) are still served from the
// replica, their tokens checked there; writes (PUT config, revalidate, events) answer 503
// storage_unavailable with Retry-After and a JSON error naming the database; once the primary is
// back the same origin process writes again, without a restart, and nothing acknowledged is lost.
// Twice: an origin connected to the primary directly, and one through PgBouncer (transaction
// pooling), which stays up while the server behind it is down.
//
// Needs PostgreSQL 15 and the postgres user (scripts/pg.mjs starts a primary and a replica).
// Env: WHALE_ORIGIN (the whale-origin binary).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addPrincipal, eventIdOf, readConfig, request, startOrigin, stop, until } from '../../scripts/stack.mjs';
import { startPgCluster } from '../../scripts/pg.mjs';

const SLUG = 'flora-distro';
const work = mkdtempSync(join(tmpdir(), 'whale-pg-faults-'));
let pg;
let urls;      // the database of the origin under test: { primary, replica, bouncer }
let origin;
const origins = [];
const tokens = {};
let eventSeq = 0;

before(async () => {
  // PgBouncer gives up on a server it cannot reach after 3 s (not its default 120) and tries it
  // again after 1 s (not 15): a request's lookups fail over to the replica within the test's bounds.
  pg = await startPgCluster({ replica: true, bouncer: true, loginRetryS: 1, queryWaitS: 3 });
});

after(async () => {
  await Promise.all(origins.map((o) => stop(o.child)));
  await pg?.stop();
  rmSync(work, { recursive: true, force: true });
});

// A fresh database with its tokens and an origin on it, reaching the primary through `via`.
async function startOn(via) {
  urls = pg.createDatabase();
  tokens.edge = addPrincipal('edge', 'edge-1', urls.primary);
  tokens.vendor = addPrincipal('vendor', SLUG, urls.primary);
  origin = await startOrigin({
    db: urls[via],
    args: ['--key', join(work, `${via}.key.pem`), '--reweight-every', '0', '--db-replica', urls.replica],
  });
  origins.push(origin);
}

const putConfig = () => request(origin.base, 'PUT', `/v1/vendors/${SLUG}/config`, { token: tokens.vendor, body: readConfig(SLUG) });
const revalidate = () => request(origin.base, 'POST', `/v1/vendors/${SLUG}/revalidate`, { token: tokens.vendor, body: '' });
const snapshot = (query = '') => request(origin.base, 'GET', `/v1/snapshots/${SLUG}${query}`, { token: tokens.edge });
const events = () => {
  const e = { type: 'exposure', slug: SLUG, experiment: 'hero-copy-q3', variation: 0, unit: `u-${++eventSeq}`, ts: Date.now() };
  return request(origin.base, 'POST', '/v1/events', { token: tokens.edge, body: { events: [{ ...e, eventId: eventIdOf(e) }] } });
};

function assertUnavailable(res, what) {
  assert.equal(res.status, 503, `${what}: ${res.text}`);
  assert.equal(res.json?.error?.code, 'storage_unavailable', `${what}: ${res.text}`);
  assert.match(res.json.error.message, /postgres/, what);
  assert.ok(res.headers.get('retry-after'), `${what}: Retry-After`);
}

for (const via of ['primary', 'bouncer']) test(`the primary down (${via === 'primary' ? 'connected directly' : 'through PgBouncer'}): ` +
  'reads from the replica, writes 503 storage_unavailable; both recover when it returns', async () => {
  await startOn(via);
  assert.equal((await putConfig()).status, 200);
  const published = [];
  for (let i = 0; i < 3; i++) {
    const r = await revalidate();
    assert.equal(r.status, 200, r.text);
    published.push(r.json.version);
  }
  const last = published.at(-1);
  assert.equal((await events()).status, 200);
  // The replica has replayed everything before the primary goes.
  const replayed = () => {
    try {
      return Number(pg.psql(urls.replica, `SELECT COALESCE(MAX(version), 0) FROM snapshots WHERE slug = '${SLUG}'`));
    } catch {
      return 0;  // the database not replayed yet
    }
  };
  await until('the replica has the last version', () => replayed() === last, 10000, 50);

  pg.stopPrimary();
  try {
    for (let i = 0; i < 3; i++) {  // not once by luck: every read, with the token checked on the replica
      const latest = await snapshot();
      assert.equal(latest.status, 200, latest.text);
      assert.equal(latest.json.version, last);
      const old = await snapshot(`?version=${published[0]}`);
      assert.equal(old.status, 200, old.text);
      assert.equal(old.json.version, published[0]);
      const list = await request(origin.base, 'GET', '/v1/snapshots?since=0', { token: tokens.edge });
      assert.equal(list.status, 200, list.text);
      assert.equal(list.json.find((c) => c.slug === SLUG).version, last);
      const keys = await request(origin.base, 'GET', '/v1/keys');
      assert.equal(keys.status, 200, keys.text);
      const results = await request(origin.base, 'GET', `/v1/vendors/${SLUG}/bandits`, { token: tokens.vendor });
      assert.equal(results.status, 200, results.text);
    }
    // Auth still refuses what it must, from the replica.
    const unknown = await request(origin.base, 'GET', `/v1/snapshots/${SLUG}`, { token: 'whe_not-a-token' });
    assert.equal(unknown.status, 401, unknown.text);
    const wrongKind = await request(origin.base, 'GET', `/v1/snapshots/${SLUG}`, { token: tokens.vendor });
    assert.equal(wrongKind.status, 403, wrongKind.text);

    assertUnavailable(await putConfig(), 'PUT config');
    assertUnavailable(await revalidate(), 'revalidate');
    assertUnavailable(await events(), 'events');
    // The jobs and the SRM flag: they read, then write, and the write finds the primary away.
    const vendorPost = (path) => request(origin.base, 'POST', `/v1/vendors/${SLUG}${path}`, { token: tokens.vendor, body: '' });
    assertUnavailable(await vendorPost('/reweight'), 'reweight');
    assertUnavailable(await vendorPost('/experiments/hero-copy-q3/srm/clear'), 'SRM clear');
    const health = await request(origin.base, 'GET', '/healthz');
    assert.equal(health.status, 503, health.text);
  } finally {
    await pg.startPrimary();
  }

  // The same process writes again: no restart.
  const put = await until('PUT config accepted again', async () => {
    const r = await putConfig();
    return r.status === 200 ? r : null;
  }, 15000, 100);
  assert.equal(put.status, 200);
  const again = await revalidate();
  assert.equal(again.status, 200, again.text);
  assert.equal(again.json.version, last + 1, 'no version lost or skipped across the outage');
  assert.equal((await events()).status, 200);
  const latest = await snapshot();
  assert.equal(latest.status, 200, latest.text);
  assert.equal(latest.json.version, last + 1);
  assert.equal((await request(origin.base, 'GET', '/healthz')).status, 200);
});
