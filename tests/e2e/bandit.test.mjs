// The bandit loop end to end (docs/bandits.md): a real whale-origin on a loopback port with a
// temporary database. Event ingestion (idempotent by eventId, attribution of conversions to the
// exposed variation, auth, bad batches), reweighting (nothing below minUnits; above it a new
// signed version whose weights favour the better arm and respect the floor; the SRM test flags
// and stops an experiment, and clearing the flag resumes it), the weights history with the prior
// each reweight started from (the configured one, or the collective prior of the vertical), the
// reweight timer (--reweight-every) on its own, and one workerd edge forwarding events it
// buffered to the origin.
//
// Env: WHALE_ORIGIN (the whale-origin binary).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, verify } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testDb } from './test-db.mjs';
import {
  ORIGIN_BIN, WORKERD, addPrincipal, eventIdOf, freePort, publish, readConfig, request, sleep, startEdge, startOrigin, stop,
} from '../../scripts/stack.mjs';

const SLUG = 'minimal';
const HARBOR = 'green-harbor';  // vertical grocery: the collective priors
const work = mkdtempSync(join(tmpdir(), 'whale-bandit-'));
const db = testDb(join(work, 'origin.db'));
const tokens = {};
let origin = null;
let edge = null;
let eventSeq = 0;

function banditConfig() {
  const config = readConfig(SLUG);
  const rule = config.features['hero-banner-copy'].rules[0];
  rule.weights = [0.5, 0.5];
  rule.bandit = { floor: 0.01, minUnits: 100, topTwo: false, prior: { alpha: 1, beta: 1 } };
  config.features['srm-feature'] = {
    defaultValue: 'a',
    rules: [{ key: 'srm-exp', hashAttribute: 'id', variations: ['a', 'b'], weights: [0.5, 0.5], bandit: { minUnits: 100 } }],
  };
  return config;
}

// An event as an edge forwards it: its id is its MAC under the events key (stack.mjs).
const ev = (type, experiment, variation, unit, extra = {}) => {
  const e = { type, slug: SLUG, experiment, variation, unit, ts: 1764000000000 + ++eventSeq, ...extra };
  return { ...e, eventId: eventIdOf(e) };
};

const postEvents = (events, token = tokens.edge) => request(origin.base, 'POST', '/v1/events', { token, body: { events } });

// Sends `units` exposures of experiment/variation (units named prefix-i), the first `converted` of
// them converting, for `slug` to `base` with the edge token `token` (by default the test's origin).
async function population(experiment, variation, prefix, units, converted, { slug = SLUG, base, token } = {}) {
  const events = [];
  for (let i = 0; i < units; i++) {
    events.push(ev('exposure', experiment, variation, `${prefix}-${i}`, { slug }));
    if (i < converted) events.push(ev('conversion', experiment, variation, `${prefix}-${i}`, { slug }));
  }
  for (let i = 0; i < events.length; i += 1000) {
    const res = await request(base ?? origin.base, 'POST', '/v1/events', { token: token ?? tokens.edge, body: { events: events.slice(i, i + 1000) } });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.rejected, 0);
  }
}

const reweight = (token = tokens.vendor) => request(origin.base, 'POST', `/v1/vendors/${SLUG}/reweight`, { token, body: '' });
const bandits = () => request(origin.base, 'GET', `/v1/vendors/${SLUG}/bandits`, { token: tokens.vendor });
const experimentOf = (answer, key) => answer.experiments.find((e) => e.experiment === key);

before(async () => {
  assert.ok(existsSync(ORIGIN_BIN), `whale-origin not built at ${ORIGIN_BIN}`);
  tokens.edge = addPrincipal('edge', 'edges', db);
  tokens.vendor = addPrincipal('vendor', SLUG, db);
  tokens.harbor = addPrincipal('vendor', HARBOR, db);
  origin = await startOrigin({ db, args: ['--reweight-every', '0'] });
  const published = await publish(origin.base, SLUG, tokens.vendor, banditConfig());
  assert.equal(published.version, 1);
});

after(async () => {
  if (edge) await stop(edge.child);
  if (origin) await stop(origin.child);
  rmSync(work, { recursive: true, force: true });
});

const refused = (malformed, signature) => ({ malformed, signature });

test('events: stored once by id, malformed and unsigned ones rejected, conversions attributed to the exposure', async () => {
  const batch = [ev('exposure', 'attr-exp', 0, 'u1'), ev('exposure', 'attr-exp', 'treatment', 'u2'),
    ev('conversion', 'attr-exp', 0, 'u2')];
  let res = await postEvents(batch);
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(res.json, { accepted: 3, duplicates: 0, rejected: 0, refused: refused(0, 0) });
  res = await postEvents(batch);
  assert.deepEqual(res.json, { accepted: 0, duplicates: 3, rejected: 0, refused: refused(0, 0) });
  const bad = [{ ...ev('exposure', 'attr-exp', 0, 'u3'), type: 'click' }, { ...ev('exposure', 'attr-exp', 0, 'u3'), slug: 'Bad Slug' },
    { ...ev('exposure', 'attr-exp', 0, 'u3'), ts: 'now' }, { ...ev('exposure', 'attr-exp', -1, 'u3') },
    { ...ev('exposure', 'attr-exp', 0, '') }, 42, ev('exposure', 'attr-exp', 0, 'u3')];
  res = await postEvents(bad);
  assert.deepEqual(res.json, { accepted: 1, duplicates: 0, rejected: 6, refused: refused(6, 0) });
  // Ids that are not the events key's MAC: made up, made with another key, or a signed event
  // whose unit, variation or vendor was changed afterwards.
  const forged = [{ ...ev('exposure', 'attr-exp', 1, 'f1'), eventId: 'e-1' },
    { ...ev('exposure', 'attr-exp', 1, 'f2'), eventId: eventIdOf({ type: 'exposure', slug: SLUG, experiment: 'attr-exp', variation: 1, unit: 'f2', ts: 1764000000000 }, 'another-key-of-at-least-32-bytes!!') },
    { ...ev('exposure', 'attr-exp', 0, 'f3'), unit: 'f4' }, { ...ev('exposure', 'attr-exp', 0, 'f5'), variation: 1 },
    { ...ev('exposure', 'attr-exp', 0, 'f6'), slug: 'green-harbor' }];
  res = await postEvents(forged);
  assert.deepEqual(res.json, { accepted: 0, duplicates: 0, rejected: 5, refused: refused(0, 5) });
  // The rows form carries the same facts.
  const row = ev('exposure', 'attr-exp', 0, 'u4');
  res = await request(origin.base, 'POST', '/v1/events', {
    token: tokens.edge, body: { rows: [[row.type, row.slug, row.experiment, row.variation, row.unit, row.ts, row.eventId], [1, 2, 3]] },
  });
  assert.deepEqual(res.json, { accepted: 1, duplicates: 0, rejected: 1, refused: refused(1, 0) });
  // A conversion before its exposure counts once the exposure arrives; a second conversion (the
  // same fact on the same day: the same id) and a second exposure of a unit count nothing more.
  res = await postEvents([ev('conversion', 'attr-exp', 1, 'late'), ev('conversion', 'attr-exp', 1, 'late')]);
  assert.deepEqual(res.json, { accepted: 1, duplicates: 1, rejected: 0, refused: refused(0, 0) });
  await postEvents([ev('exposure', 'attr-exp', 1, 'late'), ev('exposure', 'attr-exp', 0, 'late')]);
  const arms = (await bandits()).json.arms.filter((a) => a.experiment === 'attr-exp');
  assert.deepEqual(arms, [
    { experiment: 'attr-exp', variation: '0', units: 3, conversions: 0 },
    { experiment: 'attr-exp', variation: '1', units: 1, conversions: 1 },
    { experiment: 'attr-exp', variation: 'treatment', units: 1, conversions: 1 },
  ]);
  const metrics = (await request(origin.base, 'GET', '/metrics')).text;
  assert.match(metrics, /whale_origin_events_total\{result="accepted"\} 8\n/);
  assert.match(metrics, /whale_origin_events_total\{result="duplicate"\} 4\n/);
  assert.match(metrics, /whale_origin_events_total\{result="rejected"\} 12\n/);
  assert.match(metrics, /whale_origin_events_refused_total\{reason="signature"\} 5\n/);
});

test('events: auth and bad batches', async () => {
  const one = [ev('exposure', 'auth-exp', 0, 'a')];
  let res = await request(origin.base, 'POST', '/v1/events', { body: { events: one } });
  assert.equal(res.status, 401);
  res = await postEvents(one, tokens.vendor);
  assert.equal(res.status, 403);
  res = await request(origin.base, 'POST', '/v1/events', { token: tokens.edge, body: '{"events":[' });
  assert.equal(res.status, 400);
  assert.equal(res.json.error.code, 'invalid_json');
  res = await request(origin.base, 'POST', '/v1/events', { token: tokens.edge, body: { nope: [] } });
  assert.equal(res.status, 400);
  assert.equal(res.json.error.code, 'wrong_type');
  res = await postEvents(Array.from({ length: 1001 }, () => ev('exposure', 'auth-exp', 0, 'x')));
  assert.equal(res.status, 413);
  res = await request(origin.base, 'POST', `/v1/vendors/${SLUG}/reweight`, { token: tokens.edge, body: '' });
  assert.equal(res.status, 403);
});

test('reweight: below minUnits nothing changes; above it a new signed version favours the better arm, SRM flags', async () => {
  await population('hero-banner-copy', 0, 'h0', 50, 3);
  await population('hero-banner-copy', 1, 'h1', 50, 15);
  let res = await reweight();
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json.version, null);
  assert.equal(experimentOf(res.json, 'hero-banner-copy').status, 'below_min_units');
  assert.equal(experimentOf(res.json, 'srm-exp').status, 'below_min_units');

  await population('hero-banner-copy', 'control', 'h0b', 150, 7);  // the meta key of arm 0
  await population('hero-banner-copy', 1, 'h1b', 150, 45);
  await population('srm-exp', 0, 's0', 300, 10);
  await population('srm-exp', 1, 's1', 100, 10);
  res = await reweight();
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json.version, 2);
  const hero = experimentOf(res.json, 'hero-banner-copy');
  assert.equal(hero.status, 'reweighted');
  assert.deepEqual(hero.units, [200, 200]);
  assert.deepEqual(hero.conversions, [10, 60]);
  assert.ok(hero.weights[1] > 0.95, JSON.stringify(hero));
  assert.ok(hero.weights[0] >= 0.01, JSON.stringify(hero));
  assert.ok(Math.abs(hero.weights[0] + hero.weights[1] - 1) < 1e-9);
  assert.equal(hero.srm.p > 0.001, true);
  assert.deepEqual(hero.prior, { alpha: 1, beta: 1, source: 'config', component: '' });
  const srm = experimentOf(res.json, 'srm-exp');
  assert.equal(srm.status, 'srm');
  // No bandit.prior and no collective data for its vertical (demo): Beta(1, 1).
  assert.deepEqual(srm.prior, { alpha: 1, beta: 1, source: 'uniform', component: '' });
  assert.ok(srm.srm.p < 0.001 && Math.abs(srm.srm.chi2 - 100) < 1e-9, JSON.stringify(srm));

  // The new version carries the weights, signed like any publish.
  const snap = await request(origin.base, 'GET', `/v1/snapshots/${SLUG}`, { token: tokens.edge });
  assert.equal(snap.json.version, 2);
  assert.deepEqual(snap.json.config.features['hero-banner-copy'].rules[0].weights, hero.weights);
  assert.deepEqual(snap.json.config.features['srm-feature'].rules[0].weights, [0.5, 0.5]);
  const configText = snap.text.slice(snap.text.indexOf(',"config":') + 10, -1);
  const keys = (await request(origin.base, 'GET', '/v1/keys')).json.keys;
  const publicKey = createPublicKey({
    key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(keys[0].public_key, 'base64')]), format: 'der', type: 'spki',
  });
  const message = Buffer.from(`whale-snapshot-v1\n${SLUG}\n2\n${snap.json.published_at}\n${configText}`);
  assert.ok(verify(null, message, publicKey, Buffer.from(snap.json.signature, 'base64')));
  // The draft follows, so that the vendor's next revalidate keeps the learned weights.
  const draft = await request(origin.base, 'GET', `/v1/vendors/${SLUG}/config`, { token: tokens.vendor });
  assert.deepEqual(draft.json.config.features['hero-banner-copy'].rules[0].weights, hero.weights);

  // Flagged experiments stay stopped; the other goes on (a new window: no SRM test yet).
  res = await reweight();
  assert.equal(res.json.version, 3);
  assert.equal(experimentOf(res.json, 'srm-exp').status, 'flagged');
  assert.equal(experimentOf(res.json, 'hero-banner-copy').status, 'reweighted');
  assert.equal(experimentOf(res.json, 'hero-banner-copy').srm, null);

  const history = (await bandits()).json;
  const heroHistory = history.history.filter((h) => h.experiment === 'hero-banner-copy');
  assert.deepEqual(heroHistory.map((h) => [h.version, h.status]), [[2, 'reweighted'], [3, 'reweighted']]);
  assert.deepEqual(heroHistory[0].weights, hero.weights);
  assert.equal(heroHistory[0].p_best.length, 2);
  assert.deepEqual(heroHistory[0].prior, { alpha: 1, beta: 1, source: 'config' });
  assert.deepEqual(history.history.filter((h) => h.experiment === 'srm-exp').map((h) => h.status), ['srm']);
  assert.equal(history.flags.length, 1);
  assert.equal(history.flags[0].experiment, 'srm-exp');
  assert.ok(history.flags[0].srm_p < 0.001);
  const metrics = (await request(origin.base, 'GET', '/metrics')).text;
  assert.match(metrics, /whale_origin_reweights_total\{status="reweighted"\} 2\n/);
  assert.match(metrics, /whale_origin_reweights_total\{status="srm"\} 1\n/);
});

test('clearing an SRM flag resumes reweighting with a fresh SRM window', async () => {
  const clear = (key, token = tokens.vendor) =>
    request(origin.base, 'POST', `/v1/vendors/${SLUG}/experiments/${key}/srm/clear`, { token, body: '' });
  assert.equal((await clear('srm-exp', tokens.edge)).status, 403);
  assert.equal((await clear('srm-exp', tokens.harbor)).status, 403);
  assert.equal((await request(origin.base, 'POST', `/v1/vendors/${SLUG}/experiments/srm-exp/srm/clear`, { body: '' })).status, 401);
  const notFlagged = await clear('hero-banner-copy');
  assert.equal(notFlagged.status, 404);
  assert.equal(notFlagged.json.error.code, 'not_flagged');

  const cleared = await clear('srm-exp');
  assert.equal(cleared.status, 200, cleared.text);
  assert.equal(cleared.json.cleared, true);
  assert.equal(cleared.json.flag.reason, 'sample ratio mismatch');
  assert.ok(cleared.json.flag.srm_p < 0.001);
  assert.match(origin.stderr, /"event":"srm_cleared","slug":"minimal","experiment":"srm-exp"/);
  assert.equal((await clear('srm-exp')).status, 404);
  let history = (await bandits()).json;
  assert.deepEqual(history.flags, []);
  assert.deepEqual(history.history.filter((h) => h.experiment === 'srm-exp').map((h) => h.status), ['srm', 'srm_cleared']);

  // The units that made the mismatch are before the new window: no SRM test yet, reweighted.
  const res = await reweight();
  assert.equal(res.status, 200, res.text);
  const srm = experimentOf(res.json, 'srm-exp');
  assert.equal(srm.status, 'reweighted');
  assert.equal(srm.srm, null);
  history = (await bandits()).json;
  assert.deepEqual(history.history.filter((h) => h.experiment === 'srm-exp').map((h) => h.status), ['srm', 'srm_cleared', 'reweighted']);
  assert.match((await request(origin.base, 'GET', '/metrics')).text, /whale_origin_srm_flags_cleared_total 1\n/);
});

// docs/priors.md: the method of moments over arms with at least 2 units, strength clamped to [2, 100].
function momentsPrior(arms) {
  const used = arms.filter(([n]) => n >= 2);
  const k = used.length;
  const rates = used.map(([n, c]) => c / n);
  const m = rates.reduce((a, r) => a + r, 0) / k;
  const s2 = rates.reduce((a, r) => a + (r - m) ** 2, 0) / (k - 1);
  const sampling = used.reduce((a, [n, c]) => a + ((c / n) * (1 - c / n)) / (n - 1), 0) / k;
  const v = m * (1 - m);
  const tau2 = Math.min(Math.max(s2 - sampling, v / 101), v / 3);
  const strength = v / tau2 - 1;
  return { alpha: m * strength, beta: (1 - m) * strength };
}

test('a bandit without a prior starts from the collective prior of its vertical', async () => {
  const config = readConfig(HARBOR);
  config.features['gh-home-hero'].rules[0].bandit = { minUnits: 100 };
  assert.equal((await publish(origin.base, HARBOR, tokens.harbor, config)).version, 1);
  // Other experiments of the vertical (grocery): ten arms of the section experiments.
  const others = { 'gh-home-grid-sort': [[200, 10], [200, 20], [200, 30]], 'gh-nav-variant': [[200, 8], [200, 16]],
    'gh-category-tiles': [[200, 12], [200, 24]], 'gh-pdp-reviews': [[200, 5], [200, 15], [200, 25]] };
  for (const [experiment, arms] of Object.entries(others)) {
    for (const [variation, [units, converted]] of arms.entries()) {
      await population(experiment, variation, `${experiment}-${variation}`, units, converted, { slug: HARBOR });
    }
  }
  // The experiment's own arms: left out of its prior.
  const own = [[120, 6], [120, 12], [120, 3]];
  for (const [variation, [units, converted]] of own.entries()) {
    await population('gh-home-hero', variation, `hero-${variation}`, units, converted, { slug: HARBOR });
  }
  const res = await request(origin.base, 'POST', `/v1/vendors/${HARBOR}/reweight`, { token: tokens.harbor, body: '' });
  assert.equal(res.status, 200, res.text);
  const hero = res.json.experiments.find((e) => e.experiment === 'gh-home-hero');
  assert.equal(hero.status, 'reweighted', JSON.stringify(hero));
  const expected = momentsPrior(Object.values(others).flat());
  assert.equal(hero.prior.source, 'vertical');
  assert.equal(hero.prior.component, 'hero-banner');
  assert.ok(Math.abs(hero.prior.alpha - expected.alpha) < 1e-9 * expected.alpha, `${JSON.stringify(hero.prior)} vs ${JSON.stringify(expected)}`);
  assert.ok(Math.abs(hero.prior.beta - expected.beta) < 1e-9 * expected.beta, `${JSON.stringify(hero.prior)} vs ${JSON.stringify(expected)}`);
  const history = (await request(origin.base, 'GET', `/v1/vendors/${HARBOR}/bandits`, { token: tokens.harbor })).json.history;
  assert.deepEqual(history.map((h) => [h.experiment, h.status, h.prior.source]), [['gh-home-hero', 'reweighted', 'vertical']]);
  assert.equal(history[0].prior.alpha, hero.prior.alpha);
  assert.equal(history[0].prior.beta, hero.prior.beta);
});

test('the timer reweights on its own (--reweight-every 1)', async () => {
  const timerDb = testDb(join(work, 'timer.db'));
  const timerTokens = { edge: addPrincipal('edge', 'edges', timerDb), vendor: addPrincipal('vendor', SLUG, timerDb) };
  const timed = await startOrigin({ db: timerDb, args: ['--reweight-every', '1'] });
  try {
    assert.equal((await publish(timed.base, SLUG, timerTokens.vendor, banditConfig())).version, 1);
    const options = { base: timed.base, token: timerTokens.edge };
    await population('hero-banner-copy', 0, 't0', 150, 5, options);
    await population('hero-banner-copy', 1, 't1', 150, 45, options);
    // No POST .../reweight: wait for the timer's reweight to show in the history.
    const reweighted = async () => (await request(timed.base, 'GET', `/v1/vendors/${SLUG}/bandits`, { token: timerTokens.vendor }))
      .json.history.filter((h) => h.experiment === 'hero-banner-copy' && h.status === 'reweighted');
    let history = [];
    for (let polls = 0; polls < 200 && history.length === 0; polls++) {
      history = await reweighted();
      if (history.length === 0) await sleep(100);
    }
    assert.ok(history.length > 0, 'the timer never reweighted');
    assert.ok(history[0].weights[1] > 0.9, JSON.stringify(history[0]));
    // The version it published carries the weights (the timer may have gone on since).
    const snap = await request(timed.base, 'GET', `/v1/snapshots/${SLUG}`, { token: timerTokens.edge });
    assert.ok(snap.json.version >= 2);
    const row = (await reweighted()).find((h) => h.version === snap.json.version);
    assert.deepEqual(snap.json.config.features['hero-banner-copy'].rules[0].weights, row.weights);
    const metrics = (await request(timed.base, 'GET', '/metrics')).text;
    assert.match(metrics, /whale_origin_reweights_total\{status="reweighted"\} [1-9]/);
    assert.doesNotMatch(metrics, /route="POST \/v1\/vendors\/\{slug\}\/reweight"/);
  } finally {
    await stop(timed.child);
  }
});

test('an edge forwards the exposures it minted and the conversions its receipts vouch for', async () => {
  const port = await freePort();
  edge = await startEdge({
    port, outDir: join(work, 'edge'), name: 'edge-1', origin: origin.base, keys: { [origin.keyId]: origin.publicKey },
    edgeToken: tokens.edge, maxAge: 5, timeoutMs: 1000,
  });
  const armsOf = async (experiment) => (await bandits()).json.arms.filter((a) => a.experiment === experiment);
  const totals = (arms) => arms.reduce((t, a) => ({ units: t.units + a.units, conversions: t.conversions + a.conversions }), { units: 0, conversions: 0 });
  const before = totals(await armsOf('hero-banner-copy'));
  const answers = [];
  for (let i = 0; i < 5; i++) {
    const res = await request(edge.base, 'GET', `/v1/assign?vendor=${SLUG}&id=edge-visitor-${i}`);
    assert.equal(res.status, 200, res.text);
    answers.push(res.json);
  }
  const hero = answers.map((a) => a.experiments.find((e) => e.featureId === 'hero-banner-copy'));
  assert.ok(hero.every(Boolean), `every visitor is in the bandit experiment: ${JSON.stringify(answers[0])}`);
  // Visitor 1 converts, with the receipt /v1/assign gave it; the variation is the receipt's.
  const res = await request(edge.base, 'POST', '/v1/events', {
    body: { events: [{ type: 'conversion', experiment: 'hero-banner-copy' }], receipt: answers[1].receipt },
  });
  assert.equal(res.status, 202, res.text);
  assert.equal(res.json.accepted, 1);
  let after = before;
  const deadline = Date.now() + 10000;
  while (Date.now() < deadline) {
    after = totals(await armsOf('hero-banner-copy'));
    if (after.units - before.units === 5 && after.conversions - before.conversions === 1) break;
    await sleep(100);
  }
  assert.deepEqual({ units: after.units - before.units, conversions: after.conversions - before.conversions }, { units: 5, conversions: 1 });
  const stats = (await request(edge.base, 'GET', '/v1/events/stats')).json.events;
  assert.equal(stats.forwarding, true);
  assert.equal(stats.keyed, true);
  const minted = answers.reduce((n, a) => n + a.experiments.length, 0);
  assert.equal(stats.generated, minted);
  assert.equal(stats.sent, minted + 1);
  assert.equal(stats.failed, 0);
  assert.equal(stats.dropped, 0);
  assert.equal(stats.buffered, 0);
});
