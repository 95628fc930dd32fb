// The self-optimizer end to end (docs/optimizer.md): a real whale-origin with a temporary
// database and two vendors running green-harbor's config, whose home hero section is an
// experiment over four layouts. Events make hero-video and promo-strip convert twice as well
// together as apart; the optimizer reports that synergy, proposes the pair for the section as a
// new draft experiment, keeps it a draft for a vendor that did not opt in (and applies it to
// that vendor's config draft on request), and publishes it, signed, for the vendor that did.
//
// Env: WHALE_ORIGIN (the whale-origin binary).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, verify } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testDb } from './test-db.mjs';
import { createEngine } from '../../js-glue/index.js';
import { ORIGIN_BIN, addPrincipal, heroExperimentConfig, postResults as postResultsTo, publish, request, startOrigin, stop } from '../../scripts/stack.mjs';

const DRAFTS = 'gh-drafts';  // keeps proposals as drafts
const AUTO = 'gh-auto';      // opted in: proposals are published
const SEG = 'gh-segments';   // proposals per segment (mobile, desktop)
const work = mkdtempSync(join(tmpdir(), 'whale-optimizer-'));
const db = testDb(join(work, 'origin.db'));
const tokens = {};
let origin = null;

// green-harbor's config for `slug`, its hero section an experiment over four layouts.
const heroConfig = heroExperimentConfig;

// Units and conversions per variation of gh-home-hero: video + promo converts at 6%, the rest at 3%.
const HERO_RESULTS = [[2000, 60], [2000, 60], [2000, 120], [2000, 60]];

const postResults = (slug, experiment, results, prefix) =>
  postResultsTo(origin.base, tokens.edge, slug, experiment, results, prefix);

const optimizer = (slug) => request(origin.base, 'GET', `/v1/vendors/${slug}/optimizer`, { token: tokens[slug] });
const propose = (slug, body = '') => request(origin.base, 'POST', `/v1/vendors/${slug}/optimizer/propose`, { token: tokens[slug], body });
const snapshotOf = (slug) => request(origin.base, 'GET', `/v1/snapshots/${slug}`, { token: tokens.edge });
const heroSection = (config) => config.pages.find((p) => p.id === 'home').sections.find((s) => s.id === 'hero');

before(async () => {
  assert.ok(existsSync(ORIGIN_BIN), `whale-origin not built at ${ORIGIN_BIN}`);
  tokens.edge = addPrincipal('edge', 'edges', db);
  for (const slug of [DRAFTS, AUTO, SEG]) tokens[slug] = addPrincipal('vendor', slug, db);
  origin = await startOrigin({ db, args: ['--reweight-every', '0'] });
  for (const slug of [DRAFTS, AUTO, SEG]) {
    const published = await publish(origin.base, slug, tokens[slug], heroConfig(slug));
    assert.equal(published.version, 1);
  }
});

after(async () => {
  if (origin) await stop(origin.child);
  rmSync(work, { recursive: true, force: true });
});

test('without results there is nothing to learn and nothing to propose', async () => {
  const res = await optimizer(DRAFTS);
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json.based_on, 1);
  assert.equal(res.json.autoPublish, false);
  assert.deepEqual(res.json.components, []);
  assert.deepEqual(res.json.synergies, []);
  assert.equal(res.json.proposal, null);
  assert.deepEqual(res.json.proposals, []);
  const proposed = await propose(DRAFTS);
  assert.equal(proposed.status, 200, proposed.text);
  assert.deepEqual([proposed.json.created, proposed.json.reason, proposed.json.proposal], [false, 'nothing_better', null]);
});

test('the optimizer routes take the vendor\'s own token', async () => {
  for (const [method, path] of [['GET', 'optimizer'], ['POST', 'optimizer/propose'], ['POST', 'optimizer/proposals/1/apply']]) {
    assert.equal((await request(origin.base, method, `/v1/vendors/${DRAFTS}/${path}`, { body: method === 'GET' ? undefined : '' })).status, 401);
    assert.equal((await request(origin.base, method, `/v1/vendors/${DRAFTS}/${path}`, { token: tokens.edge, body: method === 'GET' ? undefined : '' })).status, 403);
    assert.equal((await request(origin.base, method, `/v1/vendors/${DRAFTS}/${path}`, { token: tokens[AUTO], body: method === 'GET' ? undefined : '' })).status, 403);
  }
  const settings = await request(origin.base, 'PUT', `/v1/vendors/${DRAFTS}/optimizer/settings`, { token: tokens[DRAFTS], body: { autoPublish: 'yes' } });
  assert.equal(settings.status, 400);
  assert.equal(settings.json.error.code, 'wrong_type');
  const bad = await propose(DRAFTS, { page: 7 });
  assert.equal(bad.status, 400);
});

test('synergies are learned and the best pair is proposed as a draft experiment', async () => {
  await postResults(DRAFTS, 'gh-home-hero', HERO_RESULTS);
  const res = await optimizer(DRAFTS);
  assert.equal(res.status, 200, res.text);
  const report = res.json;
  assert.equal(report.model.arms, 4);
  assert.equal(report.model.converged, true);
  assert.deepEqual(report.components.map((c) => c.key), ['hero-banner', 'hero-video', 'promo-strip']);
  // hero-video and promo-strip: together twice the rate they give apart.
  const top = report.synergies[0];
  assert.deepEqual([top.a, top.b], ['hero-video', 'promo-strip']);
  assert.ok(top.effect > 0.2 && top.low < top.effect && top.high > top.effect, JSON.stringify(top));
  assert.ok(top.uplift > 0.2, JSON.stringify(top));
  assert.deepEqual([top.units, top.conversions, top.arms], [2000, 120, 1]);
  // hero-banner never shows without promo-strip: no synergy of its own.
  assert.equal(report.synergies.some((s) => s.a === 'hero-banner'), false);
  assert.equal(report.model.confounded_pairs, 1);
  const preview = report.proposal;
  assert.deepEqual([preview.page, preview.section, preview.feature], ['home', 'hero', 'gh-home-hero']);
  assert.deepEqual(preview.control, ['hero-banner', 'promo-strip']);
  assert.deepEqual(preview.variant, ['promo-strip', 'hero-video']);
  assert.ok(preview.gain > 0.3, JSON.stringify(preview));

  const proposed = await propose(DRAFTS);
  assert.equal(proposed.status, 201, proposed.text);
  assert.deepEqual([proposed.json.created, proposed.json.published, proposed.json.version], [true, false, null]);
  const p = proposed.json.proposal;
  assert.deepEqual([p.id, p.experiment, p.status, p.based_on, p.version], [1, 'opt-home-hero-1', 'draft', 1, null]);
  assert.deepEqual(p.proposal.variant, ['promo-strip', 'hero-video']);
  assert.deepEqual(p.proposal.instances.map((i) => i.id), ['promo', 'hero-video']);
  // A draft: nothing published, the live config does not have it.
  const snap = await snapshotOf(DRAFTS);
  assert.equal(snap.json.version, 1);
  assert.equal(snap.json.config.features['opt-home-hero-1'], undefined);
  // Proposing again gives the same draft back.
  const again = await propose(DRAFTS);
  assert.equal(again.status, 200, again.text);
  assert.deepEqual([again.json.created, again.json.reason, again.json.proposal.id], [false, 'unchanged', 1]);
  assert.deepEqual((await optimizer(DRAFTS)).json.proposals.map((r) => [r.id, r.status]), [[1, 'draft']]);
});

test('a draft proposal applied to the config draft is published by the vendor\'s revalidate', async () => {
  const applied = await request(origin.base, 'POST', `/v1/vendors/${DRAFTS}/optimizer/proposals/1/apply`, { token: tokens[DRAFTS], body: '' });
  assert.equal(applied.status, 200, applied.text);
  assert.deepEqual([applied.json.experiment, applied.json.status], ['opt-home-hero-1', 'applied']);
  const draft = (await request(origin.base, 'GET', `/v1/vendors/${DRAFTS}/config`, { token: tokens[DRAFTS] })).json.config;
  assert.equal(heroSection(draft).feature, 'opt-home-hero-1');
  const rule = draft.features['opt-home-hero-1'].rules[0];
  assert.equal(rule.variations[0], null);
  assert.deepEqual(rule.variations[1].components.map((c) => c.key), ['promo-strip', 'hero-video']);
  assert.deepEqual(rule.weights, [0.5, 0.5]);
  assert.ok(rule.bandit);
  const twice = await request(origin.base, 'POST', `/v1/vendors/${DRAFTS}/optimizer/proposals/1/apply`, { token: tokens[DRAFTS], body: '' });
  assert.equal(twice.status, 409);
  const unknown = await request(origin.base, 'POST', `/v1/vendors/${DRAFTS}/optimizer/proposals/99/apply`, { token: tokens[DRAFTS], body: '' });
  assert.equal(unknown.status, 404);
  assert.equal((await snapshotOf(DRAFTS)).json.version, 1);
  const rev = await request(origin.base, 'POST', `/v1/vendors/${DRAFTS}/revalidate`, { token: tokens[DRAFTS], body: '', headers: { 'idempotency-key': 'apply-1' } });
  assert.equal(rev.status, 200, rev.text);
  const snap = await snapshotOf(DRAFTS);
  assert.equal(snap.json.version, 2);
  assert.equal(heroSection(snap.json.config).feature, 'opt-home-hero-1');
});

test('for a vendor who opted in, the proposal is published as a signed version', async () => {
  await postResults(AUTO, 'gh-home-hero', HERO_RESULTS);
  const setting = await request(origin.base, 'PUT', `/v1/vendors/${AUTO}/optimizer/settings`, { token: tokens[AUTO], body: { autoPublish: true } });
  assert.equal(setting.status, 200, setting.text);
  assert.equal(setting.json.autoPublish, true);
  const proposed = await propose(AUTO, { page: 'home', section: 'hero' });
  assert.equal(proposed.status, 201, proposed.text);
  assert.deepEqual([proposed.json.created, proposed.json.published, proposed.json.version], [true, true, 2]);
  const p = proposed.json.proposal;
  assert.deepEqual([p.status, p.version, p.experiment], ['published', 2, `opt-home-hero-${p.id}`]);

  const snap = await snapshotOf(AUTO);
  assert.equal(snap.json.version, 2);
  const config = snap.json.config;
  assert.equal(heroSection(config).feature, p.experiment);
  assert.deepEqual(config.features[p.experiment].rules[0].variations[1].components.map((c) => c.key), ['promo-strip', 'hero-video']);
  const configText = snap.text.slice(snap.text.indexOf(',"config":') + 10, -1);
  const keys = (await request(origin.base, 'GET', '/v1/keys')).json.keys;
  const publicKey = createPublicKey({
    key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(keys[0].public_key, 'base64')]), format: 'der', type: 'spki',
  });
  const message = Buffer.from(`whale-snapshot-v1\n${AUTO}\n2\n${snap.json.published_at}\n${configText}`);
  assert.ok(verify(null, message, publicKey, Buffer.from(snap.json.signature, 'base64')));
  // The vendor's draft follows, so that its next revalidate keeps the experiment.
  const draft = (await request(origin.base, 'GET', `/v1/vendors/${AUTO}/config`, { token: tokens[AUTO] })).json.config;
  assert.equal(heroSection(draft).feature, p.experiment);

  // Proposing again from the new version: the same components, nothing new is published.
  const again = await propose(AUTO);
  assert.equal(again.status, 200, again.text);
  assert.deepEqual([again.json.created, again.json.published, again.json.reason], [false, false, 'unchanged']);
  assert.equal((await snapshotOf(AUTO)).json.version, 2);
  const metrics = (await request(origin.base, 'GET', '/metrics')).text;
  assert.match(metrics, /whale_origin_optimizer_proposals_total\{result="published"\} 1\n/);
});

test('segments: one proposal per segment, each a draft experiment targeted at it, learned from its own results once it has them', async () => {
  await postResults(SEG, 'gh-home-hero', HERO_RESULTS, 'seg');
  const first = await propose(SEG, { segments: true });
  assert.equal(first.status, 201, first.text);
  const [mobile, desktop] = first.json.segments;
  assert.deepEqual([mobile.segment, mobile.model, mobile.created, mobile.published], ['mobile', 'every visitor', true, false]);
  assert.deepEqual([desktop.segment, desktop.model, desktop.created], ['desktop', 'every visitor', true]);
  assert.equal(mobile.proposal.experiment, `opt-mobile-home-hero-${mobile.proposal.id}`);
  assert.equal(mobile.proposal.proposal.segment, 'mobile');
  assert.deepEqual(mobile.proposal.proposal.condition, { device: 'mobile' });
  assert.equal((await propose(SEG, { segment: 'tablet' })).status, 400, 'an unknown segment');
  assert.equal((await propose(SEG, { segments: 'yes' })).status, 400);
  // The report lists them with their segment (the dashboard groups by it).
  const report = (await optimizer(SEG)).json;
  assert.deepEqual(report.proposals.map((p) => p.proposal.segment).sort(), ['desktop', 'mobile']);

  // Applied and published: visitors of each segment enter its experiment; the others keep the
  // section's own experiment (the segment rules come first in its feature).
  for (const { proposal } of [mobile, desktop]) {
    const applied = await request(origin.base, 'POST', `/v1/vendors/${SEG}/optimizer/proposals/${proposal.id}/apply`, { token: tokens[SEG], body: '' });
    assert.equal(applied.status, 200, applied.text);
  }
  const rev = await request(origin.base, 'POST', `/v1/vendors/${SEG}/revalidate`, { token: tokens[SEG], body: '' });
  assert.equal(rev.status, 200, rev.text);
  const config = (await snapshotOf(SEG)).json.config;
  assert.equal(heroSection(config).feature, 'gh-home-hero');
  const rules = config.features['gh-home-hero'].rules;
  assert.deepEqual(rules.map((r) => r.key), [desktop.proposal.experiment, mobile.proposal.experiment, 'gh-home-hero']);
  assert.deepEqual(rules[1].condition, { device: 'mobile' });
  const engine = await createEngine();
  engine.loadConfig(config, rev.json.version);
  const heroExperiment = (attributes) => engine.decideLayout(SEG, rev.json.version, { page: 'home', attributes, now: 1751000000 })
    .assignments.find((a) => a.inExperiment && (a.experiment === 'gh-home-hero' || a.experiment.startsWith('opt-')))?.experiment;
  assert.equal(heroExperiment({ id: 'v-1', device: 'mobile' }), mobile.proposal.experiment);
  assert.equal(heroExperiment({ id: 'v-1', device: 'desktop' }), desktop.proposal.experiment);
  assert.equal(heroExperiment({ id: 'v-1' }), 'gh-home-hero');

  // Each segment's results: on phones the proposal loses, on computers it wins. The next round
  // learns from each segment's own experiment: nothing better than the section as written for
  // phones; for computers a layout with the video and without the banner.
  await postResults(SEG, mobile.proposal.experiment, [[3000, 150], [3000, 60]], 'segm');
  await postResults(SEG, desktop.proposal.experiment, [[3000, 60], [3000, 150]], 'segd');
  const second = await propose(SEG, { segments: true });
  assert.ok(second.status === 200 || second.status === 201, second.text);
  const [mobile2, desktop2] = second.json.segments;
  assert.deepEqual([mobile2.segment, mobile2.model, mobile2.reason], ['mobile', 'segment', 'nothing_better']);
  assert.deepEqual([desktop2.segment, desktop2.model], ['desktop', 'segment']);
  const kept = desktop2.proposal.proposal.variant;
  assert.ok(kept.includes('hero-video') && !kept.includes('hero-banner'), `computers keep the video: ${kept}`);
  assert.equal(desktop2.proposal.proposal.segment, 'desktop');
});
