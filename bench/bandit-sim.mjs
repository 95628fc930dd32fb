// Bandit simulation (issue 6, §6; issue 14, §3): three arms with true conversion rates 4%, 5%,
// 6%, and cumulative (pseudo-)regret plus the share of traffic on the best arm for
//   - whale TS:      our Thompson sampling through the glue's wasm: engine.thompsonChoose per
//                    visitor over Beta(1 + conversions, 1 + misses) posteriors, updated after
//                    EVERY visitor (immediate feedback; the seed of each draw is "<run>:<visitor>");
//   - uniform:       a fixed 1/3 split (classic A/B/C test);
//   - Gaussian TS:   the peer, a sampler like GrowthBook's bandits (gbstats): every `period`
//                    visitors the weights become P(arm is best) estimated from 10 000 Monte-Carlo
//                    draws of a normal approximation of each arm's rate, N(p̂, p̂(1 − p̂)/n); equal
//                    weights until the first update (the exploratory stage); floored at 1% (the
//                    same additive floor as ours); visitors are split by the current weights.
//                    gbstats defaults to top-two, which explores more and regrets far more here:
//                    the peer is the stronger, plain P(best);
//   - whale TS, batched: the origin's reweighting rule (WHALE_RULE) at the same cadence as the
//                    peer, so the update cadence is not confounded with the model.
// Every policy of one seed sees the same visitors and the same outcome per arm (common random
// numbers, see streams), so the paired difference of two policies is measured with little noise.
// Regret is expected regret: sum over visitors of (best rate − rate of the arm shown).
//
// Then the cadence table: per cadence (visitors per reweight), the batched whale rule beside the
// Gaussian peer on the same seeds, their ratio, and the paired difference with its standard error.
//
//   node bench/bandit-sim.mjs [--visitors 100000] [--seeds 10] [--period 5000] [--cadence-seeds 40]
//                             [--cadences 1000,5000,10000,20000] [--out build/bandit-sim.svg]
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { createEngine } from '../js-glue/index.js';

export const RATES = [0.04, 0.05, 0.06];

// mulberry32: a small seeded 32-bit PRNG, uniform in [0, 1).
export function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gaussian(rand) {
  let u = 0;
  while (u === 0) u = rand();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

function pick(weights, rand) {
  let u = rand();
  for (let i = 0; i < weights.length - 1; i++) {
    u -= weights[i];
    if (u < 0) return i;
  }
  return weights.length - 1;
}

function floored(weights, floor) {
  const n = weights.length;
  return weights.map((w) => floor + (1 - n * floor) * w);
}

// GrowthBook-style Gaussian Thompson weights: P(best) under N(p̂, p̂(1 − p̂)/n) per arm.
function gaussianWeights(conversions, units, rand, draws) {
  const k = conversions.length;
  const wins = new Array(k).fill(0);
  const mean = conversions.map((c, i) => (units[i] > 0 ? c / units[i] : 0));
  const sd = mean.map((p, i) => (units[i] > 0 ? Math.sqrt((p * (1 - p)) / units[i]) : 1));
  for (let d = 0; d < draws; d++) {
    let best = 0;
    let bestValue = -Infinity;
    for (let i = 0; i < k; i++) {
      const x = mean[i] + sd[i] * gaussian(rand);
      if (x > bestValue) { bestValue = x; best = i; }
    }
    wins[best]++;
  }
  return wins.map((w) => w / draws);
}

export const POLICIES = ['whale TS', 'uniform', 'Gaussian TS (GrowthBook-like)', 'whale TS, batched'];

// How the batched whale policy turns Beta posteriors into traffic weights (docs/bandits.md,
// "Reweighting"): P(best) (or top-two) from `draws` Monte-Carlo draws of
// Beta(prior.alpha + conversions, prior.beta + misses), raised to `power` and renormalized
// (power 1: plain P(best)), then the additive floor. The origin's default.
export const WHALE_RULE = Object.freeze({ draws: 10000, floor: 0.01, topTwo: false, power: 1.5, prior: [1, 1] });
// The Gaussian peer's draws and floor (GrowthBook's gbstats: 1e4 samples, 1% minimum weight).
export const GAUSSIAN_RULE = Object.freeze({ draws: 10000, floor: 0.01 });

// P(best)^power, renormalized: power > 1 moves traffic from arms that are unlikely to be best to
// the likely best one (power 1 is the identity).
export function sharpened(p, power) {
  if (power === 1) return p;
  const raised = p.map((x) => x ** power);
  const sum = raised.reduce((a, b) => a + b, 0);
  return raised.map((x) => x / sum);
}

export function whaleWeights(engine, conversions, units, rule, seed) {
  const [a0, b0] = rule.prior;
  const arms = conversions.map((c, i) => ({ alpha: a0 + c, beta: b0 + units[i] - c }));
  const p = engine.banditWeights(arms, { seed, draws: rule.draws, floor: 0, topTwo: rule.topTwo });
  return floored(sharpened(p, rule.power), rule.floor);
}

// Independent streams of one seed. Every policy sees the same visitor stream (the uniforms that
// pick an arm) and the same outcome stream per arm (the j-th unit shown arm a converts or not
// whatever the policy), so two policies run on one seed differ only by their decisions: common
// random numbers, which make the paired difference of their regrets far less noisy.
function streams(seed, policy, rates) {
  const base = Math.imul(seed, 2654435761) >>> 0;
  return {
    visitor: mulberry32(base ^ 0x9e3779b9),
    outcome: rates.map((_, a) => mulberry32(base + 0x632be5ab * (a + 1))),
    model: mulberry32(base + 0x85ebca6b * (POLICIES.indexOf(policy) + 1)),
  };
}

// One run of one policy; returns { regret, bestShare, curve: [[visitor, cumulative regret]...],
// units, found } (found: the arm the policy favours at the end, the largest weight or the most
// units, is the best one).
export function runPolicy(engine, policy, { visitors, seed, period = 5000, rule = WHALE_RULE, peer = GAUSSIAN_RULE, rates = RATES, every = 1000 }) {
  const rand = streams(seed, policy, rates);
  const best = Math.max(...rates);
  const k = rates.length;
  const conversions = new Array(k).fill(0);
  const units = new Array(k).fill(0);
  let weights = new Array(k).fill(1 / k);
  let regret = 0;
  let onBest = 0;
  const curve = [[0, 0]];
  for (let v = 0; v < visitors; v++) {
    if ((policy === POLICIES[2] || policy === POLICIES[3]) && v > 0 && v % period === 0) {
      weights = policy === POLICIES[2]
        ? floored(gaussianWeights(conversions, units, rand.model, peer.draws), peer.floor)
        : whaleWeights(engine, conversions, units, rule, `sim:${seed}:${v}`);
    }
    let arm;
    if (policy === POLICIES[0]) {
      const arms = conversions.map((c, i) => ({ alpha: 1 + c, beta: 1 + units[i] - c }));
      arm = engine.thompsonChoose(arms, `sim:${seed}:${v}`);
    } else {
      arm = pick(weights, rand.visitor);
    }
    units[arm]++;
    if (rand.outcome[arm]() < rates[arm]) conversions[arm]++;
    regret += best - rates[arm];
    if (rates[arm] === best) onBest++;
    if ((v + 1) % every === 0 || v + 1 === visitors) curve.push([v + 1, regret]);
  }
  const favoured = policy === POLICIES[2] || policy === POLICIES[3] ? weights : units;
  const found = rates[favoured.indexOf(Math.max(...favoured))] === best;
  return { regret, bestShare: onBest / visitors, curve, units, found };
}

// Averages each policy over seeds 1..seeds.
export function simulate(engine, { visitors = 100000, seeds = 3, period = 5000, policies = POLICIES, rule = WHALE_RULE } = {}) {
  const out = [];
  for (const policy of policies) {
    const runs = [];
    for (let s = 1; s <= seeds; s++) runs.push(runPolicy(engine, policy, { visitors, seed: s, period, rule }));
    const curve = runs[0].curve.map(([x], j) => [x, runs.reduce((sum, r) => sum + r.curve[j][1], 0) / seeds]);
    out.push({
      policy,
      regret: runs.reduce((sum, r) => sum + r.regret, 0) / seeds,
      regretMin: Math.min(...runs.map((r) => r.regret)),
      regretMax: Math.max(...runs.map((r) => r.regret)),
      bestShare: runs.reduce((sum, r) => sum + r.bestShare, 0) / seeds,
      curve,
    });
  }
  return out;
}

export const CADENCES = [1000, 5000, 10000, 20000];

const average = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
// Standard error of the mean (sample standard deviation / sqrt(n)).
const stderr = (xs) => Math.sqrt(xs.reduce((a, x) => a + (x - average(xs)) ** 2, 0) / (xs.length - 1) / xs.length);

// Per cadence, the batched whale rule against the Gaussian sampler on the same seeds (common
// random numbers): mean regrets, their ratio, and the paired difference (whale - Gaussian) with
// its standard error; found, foundPeer: the share of runs that end favouring the best arm.
export function compareCadences(engine, { visitors = 100000, seeds = 20, cadences = CADENCES, rule = WHALE_RULE, peer = GAUSSIAN_RULE, rates = RATES } = {}) {
  return cadences.map((period) => {
    const ours = [];
    const theirs = [];
    let found = 0;
    let foundPeer = 0;
    for (let s = 1; s <= seeds; s++) {
      const w = runPolicy(engine, POLICIES[3], { visitors, seed: s, period, rule, rates, every: visitors });
      ours.push(w.regret);
      const g = runPolicy(engine, POLICIES[2], { visitors, seed: s, period, peer, rates, every: visitors });
      theirs.push(g.regret);
      if (w.found) found++;
      if (g.found) foundPeer++;
    }
    const diff = ours.map((x, i) => x - theirs[i]);
    return {
      period, whale: average(ours), gaussian: average(theirs), ratio: average(ours) / average(theirs),
      diff: average(diff), diffSe: seeds > 1 ? stderr(diff) : 0, found: found / seeds, foundPeer: foundPeer / seeds,
    };
  });
}

export function cadenceTable(rows) {
  const lines = ['visitors/reweight   whale batched   Gaussian TS   ratio   whale - Gaussian (± s.e.)   best arm found (whale, Gaussian)'];
  for (const r of rows) {
    const diff = `${r.diff >= 0 ? '+' : ''}${r.diff.toFixed(1)} ± ${r.diffSe.toFixed(1)}`;
    lines.push(`${String(r.period).padStart(17)}${r.whale.toFixed(1).padStart(16)}${r.gaussian.toFixed(1).padStart(14)}` +
      `${r.ratio.toFixed(3).padStart(8)}${diff.padStart(28)}${`${(100 * r.found).toFixed(0)}%, ${(100 * r.foundPeer).toFixed(0)}%`.padStart(20)}`);
  }
  return lines.join('\n');
}

const escapeXml = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

// Cumulative regret over visitors, one polyline per policy.
export function svgPlot(results, { visitors, seeds, title } = {}) {
  const W = 760, H = 440, L = 70, R = 250, T = 40, B = 50;
  const colors = ['#1f77b4', '#7f7f7f', '#d62728', '#2ca02c', '#9467bd'];
  const xMax = Math.max(...results.map((r) => r.curve[r.curve.length - 1][0]));
  const yMax = Math.max(...results.flatMap((r) => r.curve.map(([, y]) => y))) * 1.05 || 1;
  const sx = (x) => L + ((W - L - R) * x) / xMax;
  const sy = (y) => H - B - ((H - T - B) * y) / yMax;
  const parts = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="white"/>`);
  parts.push(`<text x="${L}" y="24" font-size="14">${escapeXml(title ?? `Cumulative regret, rates 4% / 5% / 6%, ${visitors} visitors, mean of ${seeds} seeds`)}</text>`);
  parts.push(`<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="black"/>`);
  parts.push(`<line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="black"/>`);
  for (let i = 0; i <= 5; i++) {
    const x = (xMax * i) / 5;
    const y = (yMax * i) / 5;
    parts.push(`<line x1="${sx(x).toFixed(1)}" y1="${H - B}" x2="${sx(x).toFixed(1)}" y2="${H - B + 5}" stroke="black"/>`);
    parts.push(`<text x="${sx(x).toFixed(1)}" y="${H - B + 18}" text-anchor="middle">${Math.round(x)}</text>`);
    parts.push(`<line x1="${L - 5}" y1="${sy(y).toFixed(1)}" x2="${L}" y2="${sy(y).toFixed(1)}" stroke="black"/>`);
    parts.push(`<text x="${L - 8}" y="${(sy(y) + 4).toFixed(1)}" text-anchor="end">${y.toFixed(0)}</text>`);
  }
  parts.push(`<text x="${(L + W - R) / 2}" y="${H - 12}" text-anchor="middle">visitors</text>`);
  parts.push(`<text x="16" y="${(T + H - B) / 2}" text-anchor="middle" transform="rotate(-90 16 ${(T + H - B) / 2})">cumulative regret (conversions)</text>`);
  results.forEach((r, i) => {
    const color = colors[i % colors.length];
    const points = r.curve.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ');
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${points}"/>`);
    const ly = T + 10 + i * 20;
    parts.push(`<line x1="${W - R + 15}" y1="${ly}" x2="${W - R + 40}" y2="${ly}" stroke="${color}" stroke-width="2"/>`);
    parts.push(`<text x="${W - R + 46}" y="${ly + 4}">${escapeXml(r.policy)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

export function table(results) {
  const lines = ['policy                          mean regret   (min..max)         best-arm share'];
  for (const r of results) {
    lines.push(`${r.policy.padEnd(32)}${r.regret.toFixed(1).padStart(11)}   (${r.regretMin.toFixed(1)}..${r.regretMax.toFixed(1)})`.padEnd(65) + `${(100 * r.bestShare).toFixed(1)}%`);
  }
  return lines.join('\n');
}

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const visitors = Number(arg('visitors', 100000));
  const seeds = Number(arg('seeds', 10));
  const period = Number(arg('period', 5000));
  const out = resolve(arg('out', new URL('../build/bandit-sim.svg', import.meta.url).pathname));
  const engine = await createEngine();
  const started = performance.now();
  const results = simulate(engine, { visitors, seeds, period });
  const seconds = (performance.now() - started) / 1000;
  console.log(`bandit-sim: rates ${RATES.map((r) => `${r * 100}%`).join(' / ')}, ${visitors} visitors, ${seeds} seeds, ` +
    `batched policies update every ${period} visitors (${seconds.toFixed(1)} s)`);
  console.log(table(results));
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, svgPlot(results, { visitors, seeds }));
  console.log(`plot: ${out}`);
  const cadenceSeeds = Number(arg('cadence-seeds', 40));
  const cadences = arg('cadences', CADENCES.join(',')).split(',').map(Number);
  const rows = compareCadences(engine, { visitors, seeds: cadenceSeeds, cadences });
  console.log(`\nper cadence, ${visitors} visitors, seeds 1..${cadenceSeeds}, whale rule ${JSON.stringify(WHALE_RULE)}`);
  console.log(cadenceTable(rows));
}
