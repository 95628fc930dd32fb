// Bandit simulation (issue 6, §6): three arms with true conversion rates 4%, 5%, 6%, and
// cumulative (pseudo-)regret plus the share of traffic on the best arm for
//   - whale TS:      our Thompson sampling through the glue's wasm: engine.thompsonChoose per
//                    visitor over Beta(1 + conversions, 1 + misses) posteriors, updated after
//                    EVERY visitor (immediate feedback; the seed of each draw is "<run>:<visitor>");
//   - uniform:       a fixed 1/3 split (classic A/B/C test);
//   - Gaussian TS:   a sampler like GrowthBook's bandits, written from its description: every
//                    `period` visitors the weights become P(arm is best) estimated by Monte Carlo
//                    from a normal approximation of each arm's rate, N(p̂, p̂(1 − p̂)/n); equal weights
//                    until the first update (the exploratory stage); weights floored at 1% (our
//                    reading of its minimum); visitors are split by the current weights;
//   - whale TS, batched: our Beta posteriors at the same cadence as the Gaussian sampler
//                    (engine.banditWeights with the same floor), so the update cadence is not
//                    confounded with the model.
// Conversions and weighted picks use a seeded mulberry32 PRNG, so a run is reproducible.
// Regret is expected regret: sum over visitors of (best rate − rate of the arm shown).
//
//   node bench/bandit-sim.mjs [--visitors 100000] [--seeds 10] [--period 5000] [--out build/bandit-sim.svg]
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { createEngine } from '../js-glue/index.js';

export const RATES = [0.04, 0.05, 0.06];
const BEST = Math.max(...RATES);
const BEST_ARM = RATES.indexOf(BEST);

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

// One run of one policy; returns { regret, bestShare, curve: [[visitor, cumulative regret]...] }.
export function runPolicy(engine, policy, { visitors, seed, period = 5000, floor = 0.01, draws = 1000, every = 1000 }) {
  const rand = mulberry32(seed * 2654435761 + POLICIES.indexOf(policy));
  const k = RATES.length;
  const conversions = new Array(k).fill(0);
  const units = new Array(k).fill(0);
  let weights = new Array(k).fill(1 / k);
  let regret = 0;
  let onBest = 0;
  const curve = [[0, 0]];
  for (let v = 0; v < visitors; v++) {
    if ((policy === POLICIES[2] || policy === POLICIES[3]) && v > 0 && v % period === 0) {
      if (policy === POLICIES[2]) {
        weights = floored(gaussianWeights(conversions, units, rand, draws), floor);
      } else {
        const arms = conversions.map((c, i) => ({ alpha: 1 + c, beta: 1 + units[i] - c }));
        weights = engine.banditWeights(arms, { seed: `sim:${seed}:${v}`, draws, floor });
      }
    }
    let arm;
    if (policy === POLICIES[0]) {
      const arms = conversions.map((c, i) => ({ alpha: 1 + c, beta: 1 + units[i] - c }));
      arm = engine.thompsonChoose(arms, `sim:${seed}:${v}`);
    } else {
      arm = pick(weights, rand);
    }
    units[arm]++;
    if (rand() < RATES[arm]) conversions[arm]++;
    regret += BEST - RATES[arm];
    if (arm === BEST_ARM) onBest++;
    if ((v + 1) % every === 0 || v + 1 === visitors) curve.push([v + 1, regret]);
  }
  return { regret, bestShare: onBest / visitors, curve, units };
}

// Averages each policy over seeds 1..seeds.
export function simulate(engine, { visitors = 100000, seeds = 3, period = 5000, policies = POLICIES } = {}) {
  const out = [];
  for (const policy of policies) {
    const runs = [];
    for (let s = 1; s <= seeds; s++) runs.push(runPolicy(engine, policy, { visitors, seed: s, period }));
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
}
