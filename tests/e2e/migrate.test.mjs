// whale-origin migrate (docs/origin.md, "Moving an SQLite origin to PostgreSQL"): an SQLite origin
// built through the HTTP API (vendor tokens, one of them rotated, published versions of two fixture
// vendors, signed events, a reweight, an optimizer proposal and an auto-publish setting) is stopped
// and copied into a fresh PostgreSQL database. An origin on PostgreSQL with the same --key then
// serves the same signed snapshots, the same change feed and the same results, accepts the old
// tokens, and numbers the next publish after the copied ones. A second migrate into that database,
// a missing file, a file that is not an origin database and an unreachable server are refused.
//
// Env: WHALE_ORIGIN (the whale-origin binary); PostgreSQL as tests/e2e/test-db.mjs starts it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pgDb, psql } from './test-db.mjs';
import { ORIGIN_BIN, addPrincipal, heroExperimentConfig, postResults as postResultsTo, publish, readConfig, request, startOrigin, stop } from '../../scripts/stack.mjs';

const MINIMAL = 'minimal';        // a bandit experiment, reweighted once
const HARBOR = 'green-harbor';    // an optimizer proposal
const work = mkdtempSync(join(tmpdir(), 'whale-migrate-'));
const sqliteDb = join(work, 'origin.db');
const keyFile = join(work, 'origin.key.pem');  // the SQLite origin's default key, beside its file
const tokens = {};
let target = '';    // the PostgreSQL URL
let origin = null;  // the origin running now
const before_ = {};  // answers of the SQLite origin

const migrate = (from, to) => spawnSync(ORIGIN_BIN, ['migrate', '--from', from, '--to', to], { encoding: 'utf8', timeout: 120000 });
const get = (path, token) => request(origin.base, 'GET', path, { token });

function banditConfig() {
  const config = readConfig(MINIMAL);
  const rule = config.features['hero-banner-copy'].rules[0];
  rule.weights = [0.5, 0.5];
  rule.bandit = { floor: 0.01, minUnits: 100, topTwo: false, prior: { alpha: 1, beta: 1 } };
  return config;
}

const heroConfig = heroExperimentConfig;

const postResults = (slug, experiment, results, prefix) =>
  postResultsTo(origin.base, tokens.edge, slug, experiment, results, prefix);

// What the comparisons look at: snapshots (bytes), the change feed, results and the dashboard.
async function answers() {
  const out = {};
  for (const slug of [MINIMAL, HARBOR]) {
    out[`snapshot ${slug}`] = (await get(`/v1/snapshots/${slug}`, tokens.edge)).text;
    out[`bandits ${slug}`] = (await get(`/v1/vendors/${slug}/bandits`, tokens[slug])).text;
    out[`dashboard ${slug}`] = (await get(`/admin/api/${slug}/experiments`, tokens[slug])).text;
    out[`draft ${slug}`] = (await get(`/v1/vendors/${slug}/config`, tokens[slug])).text;
  }
  out['snapshot minimal v1'] = (await get(`/v1/snapshots/${MINIMAL}?version=1`, tokens.edge)).text;
  out.since0 = (await get('/v1/snapshots?since=0', tokens.edge)).text;
  out.since1 = (await get('/v1/snapshots?since=1', tokens.edge)).text;
  out.keys = (await get('/v1/keys')).text;
  const optimizer = (await get(`/v1/vendors/${HARBOR}/optimizer`, tokens[HARBOR])).json;
  out.proposals = JSON.stringify(optimizer.proposals);
  out.autoPublish = optimizer.autoPublish;
  return out;
}

before(async () => {
  assert.ok(existsSync(ORIGIN_BIN), `whale-origin not built at ${ORIGIN_BIN}`);
  tokens.edge = addPrincipal('edge', 'edges', sqliteDb);
  for (const slug of [MINIMAL, HARBOR]) tokens[slug] = addPrincipal('vendor', slug, sqliteDb);
  // A rotated token: the old one keeps working until its expiry, which the copy must carry.
  const rotated = spawnSync(ORIGIN_BIN, ['vendor', 'rotate', MINIMAL, '--db', sqliteDb, '--grace', '86400'], { encoding: 'utf8' });
  assert.equal(rotated.status, 0, rotated.stderr);
  tokens.minimalOld = tokens[MINIMAL];
  tokens[MINIMAL] = rotated.stdout.trim();

  origin = await startOrigin({ db: sqliteDb, args: ['--reweight-every', '0'] });
  assert.equal((await publish(origin.base, MINIMAL, tokens[MINIMAL], banditConfig(), { idempotencyKey: 'm-1' })).version, 1);
  assert.equal((await publish(origin.base, HARBOR, tokens[HARBOR], readConfig(HARBOR))).version, 1);
  assert.equal((await publish(origin.base, HARBOR, tokens[HARBOR], heroConfig())).version, 2);

  await postResults(MINIMAL, 'hero-banner-copy', [[200, 10], [200, 60]]);
  const reweighted = await request(origin.base, 'POST', `/v1/vendors/${MINIMAL}/reweight`, { token: tokens[MINIMAL], body: '' });
  assert.equal(reweighted.status, 200, reweighted.text);
  assert.equal(reweighted.json.version, 2);

  await postResults(HARBOR, 'gh-home-hero', [[2000, 60], [2000, 60], [2000, 120], [2000, 60]]);
  const proposed = await request(origin.base, 'POST', `/v1/vendors/${HARBOR}/optimizer/propose`, { token: tokens[HARBOR], body: '' });
  assert.equal(proposed.status, 201, proposed.text);
  const setting = await request(origin.base, 'PUT', `/v1/vendors/${HARBOR}/optimizer/settings`, { token: tokens[HARBOR], body: { autoPublish: true } });
  assert.equal(setting.status, 200, setting.text);

  Object.assign(before_, await answers());
  before_.keyId = origin.keyId;
  await stop(origin.child);
  origin = null;
  target = pgDb(join(work, 'migrated.db'));
});

after(async () => {
  if (origin) await stop(origin.child);
  rmSync(work, { recursive: true, force: true });
});

test('migrate copies every table and prints the comparison', () => {
  const r = migrate(sqliteDb, target);
  assert.equal(r.status, 0, r.stderr + r.stdout);
  const lines = r.stdout.trim().split('\n');
  assert.match(lines[0], /^table\s+sqlite\s+postgres\s+sha256/);
  const tables = Object.fromEntries(lines.slice(1, -1).map((l) => {
    const [table, source, copied, digest, verdict] = l.split(/\s+/);
    return [table, { source: Number(source), copied: Number(copied), digest, verdict }];
  }));
  for (const t of ['vendors', 'edges', 'tokens', 'drafts', 'snapshots', 'idempotency', 'events', 'exposures', 'conversions',
    'arm_stats', 'bandit_history', 'optimizer_settings', 'optimizer_proposals']) {
    assert.ok(tables[t], `${t} in\n${r.stdout}`);
    assert.ok(tables[t].source > 0, `${t} copied nothing`);
  }
  for (const [t, row] of Object.entries(tables)) {
    assert.equal(row.verdict, 'ok', t);
    assert.equal(row.source, row.copied, t);
  }
  assert.equal(tables.tokens.source, 4);  // the edge's, two vendors', minimal's rotated one
  assert.equal(tables.snapshots.source, 4);
  assert.equal(tables.events.source, 400 + 60 + 10 + 8000 + 300);
  assert.match(lines.at(-1), new RegExp(`--key ${keyFile.replace(/[.]/g, '\\.')}`));
  assert.equal(psql(target, "SELECT value FROM counters WHERE name = 'seq'"), '4');
  assert.equal(psql(target, "SELECT string_agg(name || '=' || value, ',' ORDER BY name) FROM counters WHERE name <> 'seq'"),
    `version:${HARBOR}=2,version:${MINIMAL}=2`);
});

test('an origin on PostgreSQL with the same key serves what the SQLite origin served', async () => {
  origin = await startOrigin({ db: target, args: ['--key', keyFile, '--reweight-every', '0'] });
  assert.equal(origin.keyId, before_.keyId);
  const after_ = await answers();
  for (const [what, answer] of Object.entries(before_)) {
    if (what === 'keyId') continue;
    assert.equal(after_[what], answer, what);
  }
  assert.notEqual(JSON.parse(after_.proposals).length, 0);
  assert.equal(after_.autoPublish, true);
  // Both of minimal's tokens (the rotated one within its grace), and the others.
  for (const token of [tokens.minimalOld, tokens[MINIMAL]]) {
    assert.equal((await get(`/v1/vendors/${MINIMAL}/config`, token)).status, 200);
  }
  assert.equal((await get(`/v1/vendors/${HARBOR}/config`, tokens[HARBOR])).status, 200);
  assert.equal((await get(`/v1/vendors/${HARBOR}/config`, 'not-a-token')).status, 401);
  // A replayed revalidate is still a replay: the idempotency record came along.
  const replay = await request(origin.base, 'POST', `/v1/vendors/${MINIMAL}/revalidate`, { token: tokens[MINIMAL], body: '', headers: { 'idempotency-key': 'm-1' } });
  assert.equal(replay.status, 200, replay.text);
  assert.equal(replay.json.version, 1);
});

test('the next publish and the next events continue the numbering', async () => {
  const next = await publish(origin.base, MINIMAL, tokens[MINIMAL], banditConfig());
  assert.equal(next.version, 3);
  const since = (await get('/v1/snapshots?since=4', tokens.edge)).json;
  assert.deepEqual(since, [{ slug: MINIMAL, version: 3, seq: 5 }]);
  const harbor = await publish(origin.base, HARBOR, tokens[HARBOR], heroConfig());
  assert.equal(harbor.version, 3);
  // New units are counted on top of the copied aggregates (new exposure ids after the copied ones).
  const unitsOf = async () => JSON.parse((await get(`/v1/vendors/${MINIMAL}/bandits`, tokens[MINIMAL])).text).arms
    .filter((a) => a.experiment === 'hero-banner-copy').map((a) => a.units);
  const [a, b] = await unitsOf();
  await postResults(MINIMAL, 'hero-banner-copy', [[5, 0], [5, 1]], 'after');
  assert.deepEqual(await unitsOf(), [a + 5, b + 5]);
});

test('migrating into a database that holds data is refused and changes nothing', () => {
  const count = psql(target, 'SELECT count(*) FROM snapshots');
  const r = migrate(sqliteDb, target);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /already holds data \(.*snapshots.*\): migrate only into an empty database/);
  assert.equal(psql(target, 'SELECT count(*) FROM snapshots'), count);
});

test('bad input: a clear message and a non-zero exit', () => {
  let r = migrate(join(work, 'missing.db'), pgDb(join(work, 'empty1.db')));
  assert.equal(r.status, 1);
  assert.match(r.stderr, /no such file: .*missing\.db/);
  const junk = join(work, 'junk.db');
  writeFileSync(junk, 'not a database at all');
  r = migrate(junk, pgDb(join(work, 'empty2.db')));
  assert.equal(r.status, 1);
  assert.match(r.stderr, /is not an SQLite origin database/);
  r = migrate(sqliteDb, 'postgres://whale@127.0.0.1:1/nothing');
  assert.equal(r.status, 1);
  assert.match(r.stderr, /cannot connect/);
  r = migrate(sqliteDb, join(work, 'other.db'));
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--to takes a postgres:\/\/ URL/);
  r = spawnSync(ORIGIN_BIN, ['migrate', '--from', sqliteDb], { encoding: 'utf8' });
  assert.equal(r.status, 2);
});
