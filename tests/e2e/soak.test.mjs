// The 60-second form of bench/soak.mjs: one edge with its origin up, saturated with /v1/assign
// for new visitors. Every exposure the edge generated is stored at the origin, none is dropped,
// no request fails, and the edge's memory does not climb (the landed main before this test grew
// from 578 MB to 3.7 GB in under five minutes: every request context was kept alive).
//
// The origin is the Release build (build/bench, which scripts/test.sh builds) when there is one: the
// soak measures the origin as it is deployed; the debug build's sanitizers make it slower than the
// edge it serves, and its buffer then fills (and drops, counted) after about 45 s.
//
// Env: WHALE_ORIGIN (the whale-origin binary, when there is no Release build), WHALE_EMSCRIPTEN_DIR (core.wasm).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { RELEASE_ORIGIN, soak } from '../../bench/soak.mjs';

test('a minute of saturation: nothing lost, nothing dropped, memory flat', { timeout: 240_000 }, async () => {
  const originBin = existsSync(RELEASE_ORIGIN) ? RELEASE_ORIGIN : undefined;
  const { samples, totals } = await soak({ seconds: 60, every: 15, connections: 16, originBin, log: (line) => console.log(line) });
  assert.equal(totals.errors, 0);
  assert.ok(totals.generated > 1000, `the load generated exposures: ${totals.generated}`);
  assert.equal(totals.dropped, 0);
  assert.equal(totals.deadLettered, 0);
  assert.equal(totals.discarded, 0);
  assert.equal(totals.stored, totals.accepted, 'every exposure accepted at the edge is stored at the origin');
  // Flat: from the second sample on, the RSS stays within a quarter of where it stood (the leak
  // this guards against doubled it every two minutes).
  const base = samples[1].rssMb;
  for (const s of samples.slice(2)) assert.ok(s.rssMb < base * 1.25, `RSS ${s.rssMb.toFixed(1)} MB at ${s.t} s vs ${base.toFixed(1)} MB at ${samples[1].t} s`);
});
