// bench/bandit-sim.mjs on the emscripten core: a small run (5k visitors, 1 seed) where Thompson
// sampling must beat the uniform split on regret and the SVG plot must be well-formed; and the
// origin's batched rule (WHALE_RULE) at or below the Gaussian peer's regret at every cadence of
// the bench on a fixed seed set, still ending on the best arm, no weight under the floor.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { targets, engineFor } from './targets.mjs';
import { simulate, svgPlot, compareCadences, whaleWeights, CADENCES, POLICIES, WHALE_RULE } from '../../bench/bandit-sim.mjs';

// Well-formedness without an XML library: one root <svg>, every tag closed in order, attributes
// quoted, no stray '<' or '&' in text.
function assertWellFormedSvg(text) {
  const body = text.trim();
  assert.match(body, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"[^>]*>/);
  assert.ok(body.endsWith('</svg>'));
  const stack = [];
  const tag = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g;
  let at = 0;
  let m;
  while ((m = tag.exec(body)) !== null) {
    const between = body.slice(at, m.index);
    assert.ok(!/[<>]/.test(between) && !/&(?!(amp|lt|gt|quot|apos);)/.test(between), `stray markup before ${m[0]}`);
    at = tag.lastIndex;
    const [, closing, name, , selfClosing] = m;
    if (closing) assert.equal(stack.pop(), name, `mismatched </${name}>`);
    else if (!selfClosing) stack.push(name);
    if (stack.length === 0) assert.equal(at, body.length, 'content after the root element');
  }
  assert.equal(at, body.length, 'unparsed tail');
  assert.equal(stack.length, 0, `unclosed: ${stack.join(', ')}`);
}

test('bandit simulation: Thompson beats uniform, the plot is well-formed SVG', async () => {
  const engine = await engineFor(targets[0]);
  const policies = POLICIES.slice(0, 3);
  const results = simulate(engine, { visitors: 5000, seeds: 1, period: 1000, policies });
  const by = Object.fromEntries(results.map((r) => [r.policy, r]));
  const ts = by[POLICIES[0]];
  const uniform = by[POLICIES[1]];
  const gaussian = by[POLICIES[2]];
  assert.ok(ts.regret < uniform.regret, `Thompson ${ts.regret} vs uniform ${uniform.regret}`);
  assert.ok(gaussian.regret < uniform.regret, `Gaussian ${gaussian.regret} vs uniform ${uniform.regret}`);
  assert.ok(ts.bestShare > uniform.bestShare);
  for (const r of results) {
    assert.equal(r.curve.at(-1)[0], 5000);
    assert.ok(Math.abs(r.curve.at(-1)[1] - r.regret) < 1e-9);
  }
  // Deterministic: the same seed gives the same run.
  const again = simulate(engine, { visitors: 5000, seeds: 1, period: 1000, policies });
  assert.deepEqual(again.map((r) => r.regret), results.map((r) => r.regret));
  const svg = svgPlot(results, { visitors: 5000, seeds: 1, title: 'test <run> & check' });
  assertWellFormedSvg(svg);
  assert.equal((svg.match(/<polyline /g) ?? []).length, 3);
  assert.throws(() => assertWellFormedSvg('<svg xmlns="http://www.w3.org/2000/svg"><g></svg>'));
});

test('batched bandits: the origin\'s rule is at or below the Gaussian peer at every cadence', async () => {
  const engine = await engineFor(targets[0]);
  // Seeds 1..4 of 100k visitors each (deterministic: seeded draws, common random numbers).
  const rows = compareCadences(engine, { visitors: 100000, seeds: 4, cadences: CADENCES });
  assert.deepEqual(rows.map((r) => r.period), CADENCES);
  for (const r of rows) {
    assert.ok(r.whale <= r.gaussian, `every ${r.period}: whale ${r.whale.toFixed(1)} vs Gaussian ${r.gaussian.toFixed(1)}`);
    assert.equal(r.found, 1, `every ${r.period}: a run did not end on the best arm`);
  }
});

test('batched bandits: sharpening keeps every weight at or above the floor', async () => {
  const engine = await engineFor(targets[0]);
  // One arm far ahead: P(best) of the others is 0, so only the floor keeps them measured.
  const weights = whaleWeights(engine, [10, 500, 20], [10000, 10000, 10000], WHALE_RULE, 'floor');
  assert.ok(weights.every((w) => w >= WHALE_RULE.floor - 1e-12), JSON.stringify(weights));
  assert.ok(Math.abs(weights.reduce((a, b) => a + b, 0) - 1) < 1e-9);
  assert.ok(weights[1] > 0.97);
});
