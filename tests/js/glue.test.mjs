// The glue's contract: typed errors with .code, bounded bad input, ABI check, trap recovery,
// feature-set handles, and the bandit primitives' golden bits on both wasm builds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { targets, engineFor, fixtureJson } from './targets.mjs';
import { createEngine, WhaleError } from '../../js-glue/index.js';

const golden = await fixtureJson('bandit-golden.json');
const cases = await fixtureJson('growthbook/cases.json');
const floraPayload = await fixtureJson('vendors/flora-distro/features.json');
const floraAttributes = await fixtureJson('vendors/flora-distro/attributes.json');

function nested(depth) {
  let c = { x: 1 };
  for (let i = 0; i < depth; i++) c = { $or: [c] };
  return c;
}

for (const target of targets) {
  test(`${target.name}: bad input is a thrown Error with a code`, async () => {
    const e = await engineFor(target);
    const throwsCode = (fn, code) => assert.throws(fn, (err) => err instanceof WhaleError && err.code === code && err.message.length > 0);
    throwsCode(() => e.call('whale_run', '{"experiment":'), 'invalid_json');
    throwsCode(() => e.run('not an object'), 'wrong_type');
    throwsCode(() => e.evalCondition({}, nested(100)), 'too_deep');
    assert.equal(e.evalCondition({ x: 1 }, nested(60)), true);
    throwsCode(() => e.loadFeatures({ features: { f: { rules: [{ variations: [1, 2], weights: [NaN, 1] }] } } }), 'invalid_value');
    throwsCode(() => e.loadFeatures({ features: { f: { rules: [{ variations: [1, 2], weights: [-0.5, 1.5] }] } } }), 'invalid_value');
    throwsCode(() => e.loadFeatures({ features: { f: { rules: [{ condition: nested(80), force: 1 }] } } }), 'too_deep');
    throwsCode(() => e.loadFeatures({ features: [] }), 'wrong_type');
    throwsCode(() => e.banditWeights([], { seed: 's' }), 'invalid_value');
    throwsCode(() => e.banditWeights([{ alpha: 1, beta: 1 }], { seed: 's', draws: 1e9 }), 'invalid_value');
    throwsCode(() => e.sampleBeta(-1, 1, 's'), 'invalid_value');
    // An invalid regex matches nothing, as in GrowthBook (new RegExp throws, the SDK answers false).
    assert.equal(e.evalCondition({ u: 'abc' }, { u: { $regex: '(unclosed' } }), false);
    // A catastrophic pattern is cut off by the step budget instead of hanging the isolate.
    assert.equal(e.evalCondition({ u: 'a'.repeat(40) + '!' }, { u: { $regex: '^(a+)+$' } }), false);
    // A huge array is refused only past the input limit; 100k items is fine.
    const big = Array.from({ length: 100000 }, (_, i) => i);
    assert.equal(e.evalCondition({ v: 99999 }, { v: { $in: big } }), true);
    // The engine still works after all of that.
    assert.equal(e.hash('a', '1', 2), 0.8633);
  });

  test(`${target.name}: feature sets, evalAll and sticky documents`, async () => {
    const e = await engineFor(target);
    const payload = {
      features: {
        banner: { defaultValue: 'none', rules: [{ key: 'banner-test', variations: ['a', 'b'], meta: [{ key: 'a' }, { key: 'b' }], hashVersion: 2 }] },
        freeShipping: { defaultValue: false, rules: [{ condition: { country: 'US' }, force: true }] },
      },
    };
    const set = e.loadFeatures(payload);
    const plain = e.evalAll(set, { id: 'u1', country: 'US' });
    assert.equal(plain.features.freeShipping.value, true);
    assert.equal(plain.features.freeShipping.source, 'force');
    assert.equal(plain.experiments.length, 1);
    assert.equal(plain.experiments[0].key, plain.features.banner.value);
    assert.deepEqual(plain.stickyBucketAssignmentDocs, {}, 'sticky bucketing is off without documents');
    const sticky = e.evalAll(set, { id: 'u1' }, { stickyBucketAssignmentDocs: {} });
    assert.deepEqual(sticky.stickyBucketAssignmentDocs, {
      'id||u1': { attributeName: 'id', attributeValue: 'u1', assignments: { 'banner-test__0': plain.features.banner.value } },
    });
    // A stored document wins over hashing.
    const other = plain.features.banner.value === 'a' ? 'b' : 'a';
    const forced = e.evalAll(set, { id: 'u1' }, {
      stickyBucketAssignmentDocs: { 'id||u1': { attributeName: 'id', attributeValue: 'u1', assignments: { 'banner-test__0': other } } },
    });
    assert.equal(forced.features.banner.value, other);
    assert.equal(forced.experiments[0].stickyBucketUsed, true);
    set.free();
    assert.throws(() => e.evalAll(set, {}), (err) => err.code === 'invalid_handle');
    assert.throws(() => e.evalAll({}, {}), (err) => err.code === 'invalid_handle');
    // Feature names that are Object.prototype's own are members like any other.
    const odd = e.loadFeatures(JSON.parse('{"features":{"__proto__":{"defaultValue":1},"constructor":{"defaultValue":2}}}'));
    const answer = e.evalAll(odd, {});
    assert.deepEqual(Object.keys(answer.features), ['__proto__', 'constructor']);
    assert.equal(answer.features.__proto__.value, 1); // eslint-disable-line no-proto
    assert.equal(Object.getPrototypeOf(answer.features), Object.prototype);
    assert.equal(answer.features.constructor.value, 2);
    odd.free();
  });

  test(`${target.name}: bandit primitives reproduce the native golden bits`, async () => {
    const e = await engineFor(target);
    for (const c of golden.sample_beta) {
      assert.deepEqual(e.sampleBeta(c.alpha, c.beta, c.seed, c.samples.length).map(String), c.samples, `sampleBeta ${c.seed}`);
    }
    for (const c of golden.bandit_weights) {
      const got = e.banditWeights(c.arms, { seed: c.seed, draws: c.options.draws, floor: c.options.floor, topTwo: c.options.top_two });
      assert.deepEqual(got.map(String), c.weights, `banditWeights ${c.seed}`);
      assert.ok(Math.abs(got.reduce((a, b) => a + b, 0) - 1) < 1e-9);
    }
    const arms = [{ alpha: 1, beta: 1 }, { alpha: 50, beta: 10 }];
    const choice = e.thompsonChoose(arms, 'req-1');
    assert.ok(choice === 0 || choice === 1);
    assert.equal(e.thompsonChoose(arms, 'req-1'), choice, 'the same seed chooses the same arm');
  });
}

test('the glue refuses a module of another ABI major', async () => {
  // A minimal module that exports whale_abi_version() = 2.0 and a memory.
  const bytes = new Uint8Array([
    0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 127, 3, 2, 1, 0, 5, 3, 1, 0, 1,
    7, 30, 2, 17, 119, 104, 97, 108, 101, 95, 97, 98, 105, 95, 118, 101, 114, 115, 105, 111, 110, 0, 0,
    6, 109, 101, 109, 111, 114, 121, 2, 0, 10, 8, 1, 6, 0, 65, 128, 128, 8, 11,
  ]);
  await assert.rejects(createEngine({ module: bytes }), (err) => err.code === 'abi_mismatch');
});

// evalAll sends plain attributes encoded (only those the payload reads) and the rest as JSON:
// both must answer as whale_eval_all does from JSON.stringify(attributes).
function jsonAnswer(e, set, attributes) {
  return JSON.parse(e.call('whale_eval_all', JSON.stringify({ attributes }), set.id));
}

class Visitor {
  constructor() { this.id = 'u-class'; this.country = 'US'; }
}

const awkward = [
  {},
  { id: 'ü-1', country: 'ÜS', browser: 'firefox 🦊', plan: 'pro' },
  { id: 0, country: -0, plan: null, browser: true },
  { id: NaN, country: Infinity, plan: undefined, browser: () => 1 },
  { id: 'u-big', appVersion: 2 ** 64, loggedIn: 1 },
  { id: 'u-lone\ud800', country: 'US' },
  { id: 'u-date', url: new Date(0), cart: [{ sku: 'PRE-1', qty: 2 }, null] },
  { id: 'u-nested', cart: { 0: { sku: 'FLW-ROSE' } }, segment: ['wholesale'], loggedIn: 'yes' },
  Object.assign(Object.create(null), { id: 'u-null-proto', country: 'CA', device: 'mobile' }),
  new Visitor(),
  { id: 'x'.repeat(5000), url: 'https://floradistro.com/sale/edibles?x=' + 'é'.repeat(3000) },
  // Arrays and objects: what JSON.stringify leaves out or writes as null, boxed primitives,
  // toJSON inside, typed arrays, maps, sparse arrays, and nesting past the encoder's depth.
  { id: 'u-arrays', cart: [{ sku: 'PRE-9', qty: 2, gone: undefined, fn() {} }, undefined, () => 1, Symbol('s'), NaN, -0] },
  { id: 'u-boxed', cart: [{ sku: new String('PRE-1'), qty: new Number(3) }], segment: [new Boolean(false)] },
  { id: 'u-inner-date', cart: [{ sku: 'FLW-ROSE-1', at: new Date(0) }] },
  { id: 'u-typed', cart: new Uint8Array([1, 2]), segment: new Map([['a', 1]]), loggedIn: [, , 'x'] },
  { id: 'u-deep-210', cart: nestedArray(210) },
  { id: 'u-deep-300', cart: nestedArray(300) },
];

function nestedArray(depth) {
  let v = [{ sku: 'PRE-1', qty: 5 }];
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

for (const target of targets) {
  test(`${target.name}: evalAll answers from encoded attributes as from JSON ones`, async () => {
    const e = await engineFor(target);
    const flora = e.loadFeatures(floraPayload);
    const answer = (fn) => {
      try {
        const { features, experiments } = fn();
        return { features, experiments: experiments.map((r) => ({ ...r })) };
      } catch (err) {
        return { code: err.code, message: err.message };
      }
    };
    for (const attributes of [...floraAttributes, ...awkward]) {
      assert.deepStrictEqual(answer(() => e.evalAll(flora, attributes)), answer(() => jsonAnswer(e, flora, attributes)),
        JSON.stringify(attributes));
    }
    // Every GrowthBook condition vector, as a force rule: the attributes it reads reach the core.
    let checked = 0;
    for (const [name, condition, attributes, expected, savedGroups] of cases.evalCondition) {
      let set;
      try {
        set = e.loadFeatures({ features: { f: { defaultValue: false, rules: [{ condition, force: true }] } }, savedGroups });
      } catch {
        continue; // a condition loadFeatures refuses (not an object, a bad pattern)
      }
      assert.equal(e.evalAll(set, attributes).features.f.value, expected, name);
      set.free();
      checked++;
    }
    assert.ok(checked > 200, `${checked} condition vectors checked`);
  });

  test(`${target.name}: evalAll survives attribute getters that call the engine`, async () => {
    const e = await engineFor(target);
    const flora = e.loadFeatures(floraPayload);
    const expected = (attributes) => jsonAnswer(e, flora, attributes).features;
    const plain = { id: 'u-getter', country: 'US', device: 'mobile', cart: [{ sku: 'PRE-1', qty: 3 }] };
    // A getter that runs evalAll itself: the inner call must not write over the outer's buffer.
    const reentrant = { ...plain, get device() { e.evalAll(flora, { id: 'other', country: 'CA', device: 'desktop' }); return 'mobile'; } };
    assert.deepStrictEqual(e.evalAll(flora, reentrant).features, expected(plain));
    // A getter inside an array that grows the module's memory between two writes.
    const growing = { ...plain, cart: [{ sku: 'PRE-1', get qty() { e.hash('s', 'x'.repeat(8 << 20)); return 3; } }] };
    assert.deepStrictEqual(e.evalAll(flora, growing).features, expected(plain));
    // An attribute larger than the kept buffer, then ordinary ones.
    const large = { ...plain, url: `https://floradistro.com/sale/${'a'.repeat(100000)}` };
    assert.deepStrictEqual(e.evalAll(flora, large).features, expected(large));
    assert.deepStrictEqual(e.evalAll(flora, plain).features, expected(plain));
  });
}

test('a trap poisons the instance and the next call gets a fresh one', async () => {
  const e = await engineFor(targets[0]);
  const set = e.loadFeatures({ features: { f: { defaultValue: 7 } } });
  const realExports = e.exports;
  // Simulate a trap inside the module (e.g. an out-of-bounds access).
  e.exports = { ...realExports, whale_hash: () => { throw new WebAssembly.RuntimeError('unreachable'); } };
  assert.throws(() => e.hash('a', 'b'), (err) => err.code === 'internal' && /trapped/.test(err.message));
  assert.equal(e.exports, null);
  assert.equal(e.hash('a', '1', 2), 0.8633);
  // Handles are re-bound to the new instance from the payload the glue kept.
  assert.equal(e.evalAll(set, {}).features.f.value, 7);
});
