// Vendor payloads (fixtures/vendors/) through evalAll give GrowthBook 1.8.0's own answers, on
// both wasm builds: every feature's value/on/off/source/ruleId and every experiment result.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { targets, engineFor } from './targets.mjs';
import {
  loadVendor, growthbookClient, growthbookEvalAll, projectWhale, diffAnswers, formatMismatches,
} from '../../bench/compare-growthbook.mjs';

const growthbookVersion = createRequire(import.meta.url)('@growthbook/growthbook/package.json').version;

// The minimal vendor ships no attribute file: a bucketed user, an anonymous one, and nobody.
const vendors = [
  { name: 'flora-distro' },
  { name: 'minimal', attributes: [{ id: 'u_1' }, { id: 'u_2', country: 'US' }, { deviceId: 'd_1' }, {}] },
];

test('the peer is GrowthBook 1.8.0', () => {
  assert.equal(growthbookVersion, '1.8.0');
});

for (const target of targets) {
  for (const spec of vendors) {
    test(`${spec.name}: evalAll equals GrowthBook ${growthbookVersion} (${target.name})`, async () => {
      const vendor = loadVendor(spec.name);
      const attributeSets = spec.attributes ?? vendor.attributes;
      const keys = Object.keys(vendor.payload.features);
      if (spec.name === 'flora-distro') {
        assert.equal(keys.length, 20, 'flora-distro has 20 features');
        assert.ok(attributeSets.length >= 50, `flora-distro has ${attributeSets.length} attribute sets, expected ~50`);
      }
      const engine = await engineFor(target);
      const set = engine.loadFeatures(vendor.payloadText);
      const client = growthbookClient(vendor.payload);
      let checked = 0;
      let exposures = 0;
      for (const [index, attributes] of attributeSets.entries()) {
        const ours = engine.evalAll(set, attributes);
        const theirs = growthbookEvalAll(client, keys, attributes);
        const where = `${spec.name} attribute set #${index}`;
        assert.deepStrictEqual(Object.keys(ours.features).sort(), [...keys].sort(), `${where}: feature keys`);
        assert.deepStrictEqual(ours.stickyBucketAssignmentDocs, {}, `${where}: sticky bucketing is off without documents`);
        assert.deepStrictEqual(
          projectWhale(ours, keys), theirs,
          `${where} differs from GrowthBook:\n${formatMismatches([{ index, attributes, diffs: diffAnswers(ours, theirs, keys) }])}`,
        );
        checked++;
        exposures += theirs.experiments.length;
      }
      assert.ok(checked > 0, 'no attribute sets were checked');
      assert.equal(checked, attributeSets.length);
      assert.ok(exposures > 0, `${spec.name}: no attribute set was bucketed into an experiment`);
      set.free();
    });
  }
}

test('flora-distro exercises every kind of rule', () => {
  // The fixture stays worth comparing against: some users hit each rule and some miss it.
  const vendor = loadVendor('flora-distro');
  const client = growthbookClient(vendor.payload);
  const keys = Object.keys(vendor.payload.features);
  const hits = new Map();
  const sources = new Set();
  for (const attributes of vendor.attributes) {
    const { features } = growthbookEvalAll(client, keys, attributes);
    for (const [key, f] of Object.entries(features)) {
      sources.add(f.source);
      if (f.ruleId) hits.set(f.ruleId, (hits.get(f.ruleId) ?? 0) + 1);
    }
  }
  assert.deepStrictEqual([...sources].sort(), ['defaultValue', 'experiment', 'force']);
  for (const feature of Object.values(vendor.payload.features)) {
    for (const rule of feature.rules ?? []) {
      const n = hits.get(rule.id) ?? 0;
      assert.ok(n > 0 && n < vendor.attributes.length, `rule ${rule.id} decides ${n} of ${vendor.attributes.length} users`);
    }
  }
});
