// The dashboard's formatting (src/origin/admin/format.js): round axis ticks inside the plotted
// range, percentages with the decimals their step needs, readable publish times.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { niceTicks, percentLabel, readableTime } from '../../src/origin/admin/format.js';

test('ticks are round values inside the range', () => {
  for (const [lo, hi] of [[0.0412, 0.0913], [0, 1], [0.00051, 0.00072], [0.3, 0.31], [0.123, 0.5]]) {
    const { ticks, step } = niceTicks(lo, hi, 4);
    assert.ok(ticks.length >= 2 && ticks.length <= 9, `${lo}..${hi}: ${ticks}`);
    assert.ok(ticks.every((t) => t >= lo - 1e-12 && t <= hi + 1e-12), `${lo}..${hi}: ${ticks}`);
    const mantissa = step / 10 ** Math.floor(Math.log10(step));
    assert.ok([1, 2, 5].some((m) => Math.abs(mantissa - m) < 1e-9), `step ${step}`);
  }
  assert.deepEqual(niceTicks(0.04, 0.09, 4).ticks, [0.04, 0.05, 0.06, 0.07, 0.08, 0.09]);
  assert.deepEqual(niceTicks(0.0412, 0.0913, 4).ticks, [0.05, 0.06, 0.07, 0.08, 0.09]);
  assert.deepEqual(niceTicks(0.5, 0.5).ticks, [0.5]);
});

test('percent labels carry the decimals the step needs, no more', () => {
  assert.equal(percentLabel(0.05, 0.01), '5%');
  assert.equal(percentLabel(0.045, 0.005), '4.5%');
  assert.equal(percentLabel(0.0006, 0.0001), '0.06%');
  assert.equal(percentLabel(0.5, 0.2), '50%');
});

test('publish times read as dates with how long ago', () => {
  const now = Date.parse('2026-12-05T01:20:00Z');
  assert.match(readableTime('2026-12-05 01:17:00', now), /\(3 min ago\)$/);
  assert.match(readableTime('2026-12-05T01:19:45Z', now), /\(just now\)$/);
  assert.match(readableTime('2026-12-04T23:20:00Z', now), /\(2 h ago\)$/);
  assert.match(readableTime('2026-12-01T01:20:00Z', now), /\(4 days ago\)$/);
  assert.match(readableTime('2026-12-05 01:17:00', now), /2026/);
  assert.equal(readableTime('not a time', now), 'not a time');
});
