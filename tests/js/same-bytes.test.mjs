// Native, wasm32-wasi and emscripten builds give the same bytes for the same inputs: every
// request below goes through the native CLI, the WASI harness (whale.wasm under node:wasi)
// and both wasm cores through the glue, and the answers are compared byte for byte.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { targets, engineFor, fixtureJson, nativeCli, root } from './targets.mjs';

const cases = await fixtureJson('growthbook/cases.json');
const golden = await fixtureJson('bandit-golden.json');
const layoutCases = await fixtureJson('layouts/cases.json');
const vendorConfigs = {
  'flora-distro': await fixtureJson('vendors/flora-distro/config.json'),
  'green-harbor': await fixtureJson('vendors/green-harbor/config.json'),
};
const layoutVersion = 7;

const abiNames = {
  hash: 'whale_hash', evalCondition: 'whale_eval_condition', getBucketRanges: 'whale_bucket_ranges',
  chooseVariation: 'whale_choose_variation', getEqualWeights: 'whale_equal_weights',
  inNamespace: 'whale_in_namespace', getQueryStringOverride: 'whale_query_string_override', run: 'whale_run',
  evalFeature: 'whale_eval_feature', sampleBeta: 'whale_sample_beta', thompsonChoose: 'whale_thompson_choose',
  banditWeights: 'whale_bandit_weights', urlRedirect: 'whale_url_redirect',
};

function requests() {
  const out = [];
  for (const [seed, value, version] of cases.hash) out.push({ op: 'hash', request: { seed, value, version } });
  for (const [, [variations, coverage, weights]] of cases.getBucketRange) {
    out.push({ op: 'getBucketRanges', request: { variations, coverage, weights } });
  }
  for (const [, n, ranges] of cases.chooseVariation) out.push({ op: 'chooseVariation', request: { n, ranges } });
  for (const [n] of cases.getEqualWeights) out.push({ op: 'getEqualWeights', request: { n } });
  for (const [, hashValue, namespace] of cases.inNamespace) out.push({ op: 'inNamespace', request: { hashValue, namespace } });
  for (const [, key, url, variations] of cases.getQueryStringOverride) {
    out.push({ op: 'getQueryStringOverride', request: { key, url, variations } });
  }
  for (const [, condition, attributes, , savedGroups] of cases.evalCondition) {
    out.push({ op: 'evalCondition', request: { condition, attributes, savedGroups } });
  }
  for (const [, context, experiment] of cases.run) out.push({ op: 'run', request: { experiment, context } });
  for (const [, context, key] of cases.feature) out.push({ op: 'evalFeature', request: { key, context } });
  for (const [, context] of cases.urlRedirect) out.push({ op: 'urlRedirect', request: { context: { ...context, stickyBucketAssignmentDocs: {} } } });
  for (const c of golden.sample_beta ?? golden.sampleBeta ?? []) {
    out.push({ op: 'sampleBeta', request: { alpha: c.alpha, beta: c.beta, seed: c.seed, count: 8 } });
  }
  const arms = [{ alpha: 12, beta: 40 }, { alpha: 30, beta: 70 }, { alpha: 2.5, beta: 0.5 }];
  out.push({ op: 'thompsonChoose', request: { arms, seed: 'visitor-42' } });
  out.push({ op: 'banditWeights', request: { arms, seed: 'w', draws: 5000, floor: 0.05 } });
  out.push({ op: 'banditWeights', request: { arms, seed: 'w', draws: 5000, topTwo: true } });
  // Bad input answers identically too.
  out.push({ op: 'evalCondition', request: '{"condition": {"a": ' });
  out.push({ op: 'evalCondition', request: '{"condition": {"a": "\xff"}}' });
  out.push({ op: 'banditWeights', request: { arms: [{ alpha: -1, beta: 1 }], seed: 'x' } });
  out.push({ op: 'hash', request: { seed: 'ünïcødé', value: '用户-😀', version: 2 } });
  // Layouts: the golden cases, plus a behaviour summary, sticky documents and bad pages. The CLI
  // gets the config inline; the engines load it once and name it by (slug, version).
  const layout = (vendor, request) => ({ op: 'layout', vendor, request: { config: vendorConfigs[vendor], version: layoutVersion, ...request } });
  for (const { vendor, page, attributes, now } of layoutCases) out.push(layout(vendor, { page, attributes, now }));
  out.push(layout('flora-distro', { page: 'home', attributes: { id: 'u_1' }, now: 1751130000, behaviour: 'v1;rc=5;bo=2;sd=10' }));
  out.push(layout('green-harbor', { page: 'home', attributes: { id: 'u_2', device: 'desktop' }, now: 1751000000, stickyBucketAssignmentDocs: {} }));
  out.push(layout('green-harbor', { page: 'no-such-page', attributes: {}, now: 1751000000 }));
  out.push(layout('flora-distro', { page: 'home', attributes: [], now: 1751000000 }));
  // Multi-variant pages: candidates decided, a forced render, choices by behaviour and kept.
  out.push(layout('flora-distro', { page: 'home', attributes: { id: 'u_3' }, now: 1751000000, candidates: 3 }));
  out.push(layout('green-harbor', { page: 'home', attributes: { id: 'u_4' }, now: 1751000000, candidates: 8, behaviour: 'v1;ca=1' }));
  out.push(layout('green-harbor', { page: 'home', attributes: { id: 'u_4' }, now: 1751000000, forcedVariations: { 'gh-home-hero': 2, 'gh-home-grid-sort': 1 } }));
  out.push(layout('green-harbor', { page: 'home', attributes: { id: 'u_4' }, now: 1751000000, choose: 3, behaviour: 'v1;sd=60;dw=60' }));
  out.push(layout('flora-distro', { page: 'home', attributes: { id: 'u_3' }, now: 1751000000, choose: 2, kept: 1 }));
  out.push(layout('flora-distro', { page: 'home', attributes: { id: 'u_3' }, now: 1751000000, choose: 2, kept: 5 }));
  out.push(layout('flora-distro', { page: 'home', attributes: { id: 'u_3' }, now: 1751000000, candidates: 9 }));
  return out;
}

function engineAnswer(engine, { op, request }) {
  let text = typeof request === 'string' ? request : JSON.stringify(request);
  if (op === 'layout') {
    const { config, ...rest } = request;
    if (!engine.resolveConfig(config.vendor.slug, rest.version)) engine.loadConfig(config, rest.version);
    text = JSON.stringify({ slug: config.vendor.slug, ...rest });
  }
  try {
    return `{"ok":${engine.call(op === 'layout' ? 'whale_render_layout' : abiNames[op], text)}}`;
  } catch (e) {
    if (!e.code) throw e;
    return `{"error":{"code":${JSON.stringify(e.code)},"message":${JSON.stringify(e.message)}}}`;
  }
}

function cliAnswers(command, args, file) {
  const r = spawnSync(command, [...args, 'batch', file], { encoding: 'utf8', maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, `${command} batch failed: ${r.stderr}`);
  return r.stdout.split('\n').filter(Boolean);
}

test('native, wasi and emscripten builds answer with the same bytes', async (t) => {
  const reqs = requests();
  const dir = mkdtempSync(join(tmpdir(), 'whale-bytes-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'requests.jsonl');
  writeFileSync(file, reqs.map(({ op, request }) => JSON.stringify({ op, request })).join('\n') + '\n');

  assert.ok(existsSync(nativeCli), `native CLI missing at ${nativeCli}`);
  const native = cliAnswers(nativeCli, [], file);
  assert.equal(native.length, reqs.length);
  const wasiCli = cliAnswers(process.execPath, [join(root, 'js-glue/bin/whale.js')], file);
  assert.deepEqual(wasiCli, native, 'the WASI harness differs from native');
  for (const target of targets) {
    const engine = await engineFor(target);
    const answers = reqs.map((r) => engineAnswer(engine, r));
    for (let i = 0; i < reqs.length; i++) {
      assert.equal(answers[i], native[i], `${target.name} differs on ${JSON.stringify(reqs[i]).slice(0, 300)}`);
    }
  }
  assert.ok(native.some((l) => l.startsWith('{"error"')), 'the bad inputs should fail');
  assert.ok(native.filter((l, i) => reqs[i].op === 'layout' && l.startsWith('{"ok":{"vendor"')).length >= layoutCases.length,
    'the layouts should render');
  console.log(`same bytes: ${reqs.length} requests x 4 builds (native, wasi harness, wasi core, emscripten core)`);
});
