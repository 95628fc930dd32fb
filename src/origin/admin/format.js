// Formatting for the dashboard, without the DOM (tests/js/dashboard-format.test.mjs runs it in Node).

// Round tick values over [lo, hi]: steps of 1, 2 or 5 times a power of ten, about `count` of them,
// all inside the range (a tick at the very edge would be clipped).
export function niceTicks(lo, hi, count = 5) {
  const span = hi - lo;
  if (!(span > 0)) return { ticks: [lo], step: 1 };
  const raw = span / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  // The candidate nearest the raw step (in ratio), so that there are about `count` ticks.
  const step = [1, 2, 5, 10].map((m) => Number((m * power).toPrecision(12)))
    .reduce((best, s) => (Math.abs(Math.log(s / raw)) < Math.abs(Math.log(best / raw)) ? s : best));
  const ticks = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  return { ticks, step };
}

// A rate as a percentage with as many decimals as the tick step needs ("4%", "4.5%", "0.25%").
export function percentLabel(x, step) {
  const decimals = Math.max(0, Math.min(4, -Math.floor(Math.log10(step * 100) + 1e-9)));
  return `${(x * 100).toFixed(decimals)}%`;
}

// "5 Dec 2026, 01:14 (3 min ago)" from the origin's UTC timestamp.
export function readableTime(text, now = Date.now()) {
  const t = Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(text) ? text : `${text.replace(' ', 'T')}Z`);
  if (!Number.isFinite(t)) return text;
  const local = new Date(t).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
  const s = Math.max(0, Math.round((now - t) / 1000));
  const ago = s < 60 ? 'just now' : s < 3600 ? `${Math.round(s / 60)} min ago` : s < 86400 ? `${Math.round(s / 3600)} h ago`
    : `${Math.round(s / 86400)} days ago`;
  return `${local} (${ago})`;
}

