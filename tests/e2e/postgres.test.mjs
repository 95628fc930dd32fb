// Two origin processes on one PostgreSQL database (docs/origin.md, "PostgreSQL"): concurrent
// revalidations of one vendor from both get versions 1..N with no gap and no duplicate, publish
// seqs are consecutive and a poller of ?since= misses no vendor's last version, an Idempotency-Key
// is honoured across processes, a vendor's reweight runs in one process at a time, and event
// batches sharing units, sent at once to both (some twice), store each fact once with aggregates
// equal to a count of the facts.
//
// Needs PostgreSQL 15 (a throwaway server is started, or WHALE_TEST_PG_URL names one; see
// tests/e2e/test-db.mjs). Env: WHALE_ORIGIN (the whale-origin binary).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addPrincipal, readConfig, request, signEvents, startOrigin, stop } from '../../scripts/stack.mjs';
import { keyArgs, pgDb, psql } from './test-db.mjs';

const VENDORS = ['flora-distro', 'green-harbor', 'minimal'];
const work = mkdtempSync(join(tmpdir(), 'whale-postgres-'));
const db = pgDb(join(work, 'shared.db'));
const tokens = {};
let a;
let b;

before(async () => {
  tokens.edge = addPrincipal('edge', 'edge-1', db);
  for (const slug of VENDORS) tokens[slug] = addPrincipal('vendor', slug, db);
  const args = [...keyArgs(db), '--reweight-every', '0'];
  a = await startOrigin({ db, args });
  b = await startOrigin({ db, args });  // the key a created; both sign with it
  assert.equal(a.keyId, b.keyId);
  for (const slug of VENDORS) {
    const put = await request(a.base, 'PUT', `/v1/vendors/${slug}/config`, { token: tokens[slug], body: readConfig(slug) });
    assert.equal(put.status, 200, put.text);
  }
});

after(async () => {
  await Promise.all([stop(a?.child), stop(b?.child)]);
  rmSync(work, { recursive: true, force: true });
});

const revalidate = (origin, slug, headers = {}) =>
  request(origin.base, 'POST', `/v1/vendors/${slug}/revalidate`, { token: tokens[slug], body: '', headers });

test('concurrent revalidations from two processes: versions 1..N, seqs consecutive, no change missed by a poller', async () => {
  const perVendor = 30;
  const seen = new Map();  // what a poller following ?since= holds: slug -> latest version
  let since = 0;
  let polling = true;
  const poller = (async () => {
    while (polling) {
      const r = await request(b.base, 'GET', `/v1/snapshots?since=${since}`, { token: tokens.edge });
      assert.equal(r.status, 200, r.text);
      for (const c of r.json) {
        seen.set(c.slug, c.version);
        assert.ok(c.seq > since);
        since = Math.max(since, c.seq);
      }
    }
  })();
  const answers = await Promise.all(VENDORS.flatMap((slug) =>
    Array.from({ length: perVendor }, (_, i) => revalidate(i % 2 ? a : b, slug))));
  polling = false;
  await poller;
  for (const r of answers) assert.equal(r.status, 200, r.text);
  for (const slug of VENDORS) {
    const versions = answers.map((r) => r.json).filter((j) => j.slug === slug).map((j) => j.version).sort((x, y) => x - y);
    assert.deepEqual(versions, Array.from({ length: perVendor }, (_, i) => i + 1), slug);
  }
  const seqs = answers.map((r) => r.json.seq).sort((x, y) => x - y);
  assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => i + 1));
  // One more poll after the burst: the poller ends holding every vendor's last version.
  const last = await request(a.base, 'GET', `/v1/snapshots?since=${since}`, { token: tokens.edge });
  for (const c of last.json) seen.set(c.slug, c.version);
  for (const slug of VENDORS) assert.equal(seen.get(slug), perVendor, slug);
  // Both processes serve the same latest snapshot.
  for (const origin of [a, b]) {
    const s = await request(origin.base, 'GET', '/v1/snapshots/flora-distro', { token: tokens.edge });
    assert.equal(s.json.version, perVendor);
  }
});

test('an Idempotency-Key is shared: concurrent requests with one key on both processes publish once', async () => {
  const before = (await request(a.base, 'GET', '/v1/snapshots/minimal', { token: tokens.edge })).json.version;
  const headers = { 'idempotency-key': 'shared-key-1' };
  const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => revalidate(i % 2 ? a : b, 'minimal', headers)));
  for (const r of answers) assert.equal(r.status, 200, r.text);
  assert.equal(answers.filter((r) => r.headers.get('idempotent-replayed') !== 'true').length, 1);
  assert.equal(new Set(answers.map((r) => r.text)).size, 1);
  assert.equal(answers[0].json.version, before + 1);
  const later = await revalidate(a, 'minimal', headers);  // the other process remembers it too
  assert.equal(later.headers.get('idempotent-replayed'), 'true');
  assert.equal(later.text, answers[0].text);
  assert.equal((await request(b.base, 'GET', '/v1/snapshots/minimal', { token: tokens.edge })).json.version, before + 1);
});

test('a vendor\'s reweight runs in one process at a time (its job lease)', async () => {
  const reweight = (origin) => request(origin.base, 'POST', '/v1/vendors/flora-distro/reweight',
    { token: tokens['flora-distro'], body: '', timeoutMs: 60000 });  // reweights queue in a debug build
  // A third holder (as if another process were mid-reweight): both processes stand back.
  psql(db, "INSERT INTO leases(name, holder, expires_at) VALUES('jobs:flora-distro', 'elsewhere', now() + interval '1 minute')");
  for (const origin of [a, b]) {
    const r = await reweight(origin);
    assert.equal(r.status, 409, r.text);
    assert.equal(r.json.error.code, 'job_running');
    assert.equal(r.headers.get('retry-after'), '1');
  }
  psql(db, "DELETE FROM leases WHERE name = 'jobs:flora-distro'");
  assert.equal((await reweight(a)).status, 200);
  // Many at once from both: each one runs alone or stands back; none fails, and none is left holding it.
  const answers = await Promise.all(Array.from({ length: 6 }, (_, i) => reweight(i % 2 ? a : b)));
  for (const r of answers) assert.ok(r.status === 200 || (r.status === 409 && r.json.error.code === 'job_running'), r.text);
  assert.ok(answers.some((r) => r.status === 200));
  assert.equal(psql(db, "SELECT count(*) FROM leases WHERE name = 'jobs:flora-distro'"), '0');
});

test('the events table is partitioned by range of arrival, one partition a day', () => {
  assert.equal(psql(db, "SELECT partstrat FROM pg_partitioned_table WHERE partrelid = 'events'::regclass"), 'r');
});

test('event batches sharing units, at once on both processes and some sent twice: each fact once, aggregates equal a recount', async () => {
  // A small pseudo-random generator, so that a failure can be replayed.
  let seed = 12345;  // Park and Miller's minimal standard (exact in doubles)
  const next = (n) => { seed = (seed * 48271) % 2147483647; return seed % n; };
  const batches = [];
  for (let b = 0; b < 40; b++) {
    const events = [];
    for (let i = 0; i < 150; i++) {
      const unit = `c-${next(1000)}`;
      // Mostly the unit's own variation; now and then another (the first exposure stored decides).
      const variation = next(10) === 0 ? next(3) : Number(unit.slice(2)) % 3;
      events.push({ type: next(8) === 0 ? 'conversion' : 'exposure', slug: 'flora-distro', experiment: 'concurrent-test',
        variation, unit, ts: 1764000000000 + b * 1000 + i });
    }
    batches.push(JSON.stringify({ events: signEvents(events) }));
  }
  const sends = [...batches, ...batches.filter((_, i) => i % 4 === 0)];  // a quarter sent again
  const answers = await Promise.all(sends.map((body, i) => request((i % 2 ? a : b).base, 'POST', '/v1/events',
    { token: tokens.edge, body, timeoutMs: 60000 })));
  let accepted = 0;
  for (const r of answers) {
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.accepted + r.json.duplicates, 150);
    accepted += r.json.accepted;
  }
  const where = "slug = 'flora-distro' AND experiment = 'concurrent-test'";
  assert.equal(Number(psql(db, `SELECT count(*) FROM events WHERE ${where}`)), accepted, 'the raw log holds what was accepted');
  // Every unit seen is exposed at most once and converted at most once (primary keys), and the
  // aggregates are what the facts say: units per variation, and those of them that converted.
  const recount = psql(db, `SELECT x.variation || ':' || count(*) || ':' || count(c.unit) FROM exposures x LEFT JOIN conversions c
    ON c.slug = x.slug AND c.experiment = x.experiment AND c.unit = x.unit WHERE x.${where.replace(' AND ', ' AND x.')}
    GROUP BY x.variation ORDER BY x.variation`);
  const arms = psql(db, `SELECT variation || ':' || units || ':' || conversions FROM arm_stats WHERE ${where} ORDER BY variation`);
  assert.equal(arms, recount);
  assert.equal(arms.split('\n').length, 3);
  assert.ok(Number(psql(db, `SELECT count(*) FROM conversions WHERE ${where}`)) > 0);
});
