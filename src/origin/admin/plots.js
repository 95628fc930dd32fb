// Posterior densities and weights over time as inline SVG. No dependencies beyond format.js.
import { niceTicks, percentLabel } from './format.js';

export const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];
const SVG = 'http://www.w3.org/2000/svg';

// ln Gamma(x) by Lanczos (g = 7, 9 coefficients), with the reflection formula below 0.5.
const LANCZOS = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
  -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
export function lgamma(x) {
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - lgamma(1 - x);
  x -= 1;
  let a = LANCZOS[0];
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += LANCZOS[i] / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

// The Beta(alpha, beta) density at x, computed in log space (large alpha and beta overflow otherwise).
export function betaPdf(x, alpha, beta) {
  if (x <= 0 || x >= 1) return 0;
  const logB = lgamma(alpha) + lgamma(beta) - lgamma(alpha + beta);
  return Math.exp((alpha - 1) * Math.log(x) + (beta - 1) * Math.log1p(-x) - logB);
}

function el(name, attrs = {}, text) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function frame(width, height, pad) {
  const svg = el('svg', { width, height, viewBox: `0 0 ${width} ${height}`, role: 'img' });
  svg.append(el('line', { x1: pad.l, y1: height - pad.b, x2: width - pad.r, y2: height - pad.b, stroke: '#999' }));
  svg.append(el('line', { x1: pad.l, y1: pad.t, x2: pad.l, y2: height - pad.b, stroke: '#999' }));
  return svg;
}

// One density curve per arm over the x range where the posteriors have their mass.
export function densityPlot(arms, { width = 420, height = 200 } = {}) {
  const pad = { l: 36, r: 10, t: 10, b: 22 };
  // The plotted range: from the smallest 0.1% to the largest 99.9% quantile (normal approximation).
  let lo = 1, hi = 0;
  for (const { alpha, beta } of arms) {
    const n = alpha + beta, mean = alpha / n, sd = Math.sqrt((alpha * beta) / (n * n * (n + 1)));
    lo = Math.min(lo, mean - 4 * sd);
    hi = Math.max(hi, mean + 4 * sd);
  }
  lo = Math.max(0, lo);
  hi = Math.min(1, hi);
  if (!(hi > lo)) { lo = 0; hi = 1; }
  const N = 200;
  const curves = arms.map(({ alpha, beta }) => {
    const pts = [];
    for (let i = 0; i <= N; i++) {
      const x = lo + ((hi - lo) * i) / N;
      pts.push([x, betaPdf(Math.min(Math.max(x, 1e-12), 1 - 1e-12), alpha, beta)]);
    }
    return pts;
  });
  let ymax = 0;
  for (const c of curves) for (const [, y] of c) if (Number.isFinite(y)) ymax = Math.max(ymax, y);
  if (!(ymax > 0)) ymax = 1;
  ymax *= 1.05;
  const svg = frame(width, height, pad);
  svg.classList.add('density');
  const sx = (x) => pad.l + ((x - lo) / (hi - lo)) * (width - pad.l - pad.r);
  const sy = (y) => height - pad.b - (Math.min(y, ymax) / ymax) * (height - pad.t - pad.b);
  curves.forEach((pts, i) => {
    const d = pts.map(([x, y], k) => `${k ? 'L' : 'M'}${sx(x).toFixed(1)},${sy(Number.isFinite(y) ? y : 0).toFixed(1)}`).join('');
    svg.append(el('path', { d, fill: 'none', stroke: COLORS[i % COLORS.length], 'stroke-width': 1.8, 'data-arm': i }));
  });
  // x: conversion rates at round values. y has no scale: a density's height means nothing to read,
  // only where each curve sits and how wide it is.
  const { ticks, step } = niceTicks(lo, hi, 4);
  for (const x of ticks) {
    svg.append(el('line', { x1: sx(x), y1: height - pad.b, x2: sx(x), y2: height - pad.b + 3, stroke: '#999' }));
    // A label at the right edge ends there instead of being cut in half.
    const anchor = sx(x) > width - pad.r - 16 ? 'end' : 'middle';
    svg.append(el('text', { x: sx(x), y: height - 6, 'text-anchor': anchor, class: 'tick' }, percentLabel(x, step)));
  }
  svg.append(el('text', { x: pad.l + 4, y: pad.t + 8 }, 'more likely ↑'));
  return svg;
}

// Weights over time: one line per arm, x = publish index (labelled with versions), y = weight in [0, 1].
export function weightsChart(history, arms, { width = 420, height = 200 } = {}) {
  const pad = { l: 36, r: 10, t: 10, b: 22 };
  const svg = frame(width, height, pad);
  svg.classList.add('weights');
  const n = history.length;
  const sx = (i) => pad.l + (n > 1 ? i / (n - 1) : 0.5) * (width - pad.l - pad.r);
  const sy = (w) => height - pad.b - w * (height - pad.t - pad.b);
  for (let a = 0; a < arms; a++) {
    const pts = history.map((h, i) => [sx(i), sy(h.weights[a] ?? 0)]);
    if (pts.length === 1) pts.unshift([pad.l, pts[0][1]]), pts.push([width - pad.r, pts[pts.length - 1][1]]);
    const d = pts.map(([x, y], k) => `${k ? 'L' : 'M'}${x.toFixed(1)},${y.toFixed(1)}`).join('');
    svg.append(el('path', { d, fill: 'none', stroke: COLORS[a % COLORS.length], 'stroke-width': 1.8, 'data-arm': a }));
    for (const [x, y] of pts.slice(n === 1 ? 1 : 0, n === 1 ? 2 : undefined)) {
      svg.append(el('circle', { cx: x.toFixed(1), cy: y.toFixed(1), r: 2.5, fill: COLORS[a % COLORS.length] }));
    }
  }
  for (const w of [0, 0.5, 1]) svg.append(el('text', { x: 4, y: sy(w) + 3 }, `${w * 100}%`));
  if (n > 0) {
    svg.append(el('text', { x: sx(0), y: height - 6, 'text-anchor': n > 1 ? 'start' : 'middle' }, `v${history[0].version}`));
    if (n > 1) svg.append(el('text', { x: sx(n - 1), y: height - 6, 'text-anchor': 'end' }, `v${history[n - 1].version}`));
  }
  return svg;
}
