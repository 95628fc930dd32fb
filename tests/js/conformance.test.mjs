// GrowthBook's cross-SDK cases through the JS glue, against both wasm builds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { targets, engineFor, fixtureJson } from './targets.mjs';
import { WhaleError } from '../../js-glue/index.js';
import { decrypt } from '../../js-glue/decrypt.js';

const cases = await fixtureJson('growthbook/cases.json');

// The documents a sticky bucket service hands the SDK: those of the user's sticky attributes.
function stickyDocsFor(context, docs) {
  const attributes = new Set();
  for (const feature of Object.values(context.features ?? {})) {
    for (const rule of feature.rules ?? []) {
      if (!rule.variations && !rule.contextualVariations) continue;
      attributes.add(rule.hashAttribute || 'id');
      if (rule.fallbackAttribute) attributes.add(rule.fallbackAttribute);
    }
  }
  const out = {};
  for (const attr of attributes) {
    const v = context.attributes?.[attr];
    const key = `${attr}||${v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v)}`;
    const doc = docs.find((d) => `${d.attributeName}||${d.attributeValue}` === key);
    if (doc) out[key] = structuredClone(doc);
  }
  return out;
}

const sections = {
  hash: (e, [seed, value, version, want]) => assert.equal(e.hash(seed, value, version), want),
  getBucketRange: (e, [, [n, coverage, weights], want]) => {
    const got = e.getBucketRanges(n, coverage, weights);
    assert.equal(got.length, want.length);
    got.forEach((r, i) => r.forEach((x, k) => assert.ok(Math.abs(x - want[i][k]) < 1e-6, `${x} vs ${want[i][k]}`)));
  },
  chooseVariation: (e, [, n, ranges, want]) => assert.equal(e.chooseVariation(n, ranges), want),
  getEqualWeights: (e, [n, want]) => {
    const got = e.getEqualWeights(n);
    assert.equal(got.length, want.length);
    got.forEach((w, i) => assert.ok(Math.abs(w - want[i]) < 1e-8));
  },
  inNamespace: (e, [, id, ns, want]) => assert.equal(e.inNamespace(id, ns), want),
  getQueryStringOverride: (e, [, key, url, n, want]) => assert.equal(e.getQueryStringOverride(key, url, n), want),
  evalCondition: (e, [, condition, attributes, want, savedGroups]) =>
    assert.equal(e.evalCondition(attributes, condition, savedGroups ?? {}), want),
  run: (e, [, context, experiment, value, inExperiment, hashUsed]) => {
    const r = e.run(experiment, context);
    assert.deepEqual([r.value, r.inExperiment, r.hashUsed], [value, inExperiment, hashUsed]);
  },
  feature: (e, [, context, key, want]) => assert.deepEqual(e.evalFeature(key, context), want),
  // The same shape: features whose rules route through a contextual bandit's leaves.
  contextualBandit: (e, [, context, key, want]) => assert.deepEqual(e.evalFeature(key, context), want),
  // GrowthBook's SDK answers null where decrypting fails; the glue throws a WhaleError with a code.
  decrypt: async (e, [, encrypted, key, want]) => {
    let got = null;
    try {
      got = await decrypt(encrypted, key);
    } catch (err) {
      if (!(err instanceof WhaleError)) throw err;
    }
    assert.equal(got, want);
  },
  urlRedirect: (e, [, context, want]) => {
    const { results } = e.urlRedirect(context);
    assert.deepEqual(results.map(({ inExperiment, urlRedirect, urlWithParams }) => ({ inExperiment, urlRedirect, urlWithParams })), want);
  },
  stickyBucket: (e, [, context, docs, key, wantResult, wantDocs]) => {
    const ctx = { ...context, stickyBucketAssignmentDocs: stickyDocsFor(context, docs) };
    const r = e.evalFeature(key, ctx);
    assert.deepEqual(r.experimentResult ?? null, wantResult);
    assert.deepEqual(ctx.stickyBucketAssignmentDocs, wantDocs);
  },
};

for (const target of targets) {
  test(`growthbook conformance through the glue (${target.name})`, async (t) => {
    const engine = await engineFor(target);
    let passed = 0;
    let total = 0;
    for (const [name, check] of Object.entries(sections)) {
      let sectionPassed = 0;
      for (const c of cases[name]) {
        total++;
        try {
          await check(engine, c);
          sectionPassed++;
        } catch (e) {
          t.diagnostic(`${name} ${JSON.stringify(c).slice(0, 200)}: ${e.message.slice(0, 300)}`);
        }
      }
      passed += sectionPassed;
      console.log(`growthbook conformance (${target.name}): ${name} ${sectionPassed}/${cases[name].length}`);
    }
    console.log(`growthbook conformance (${target.name}): ${passed}/${total}`);
    assert.equal(passed, total);
  });
}
