// Vendor config parse + index in the wasm core against JSON.parse of the same bytes, in one
// Node process; then the warm resolve (a cache hit).
//
//   node bench/config.bench.mjs [--quick]
//
// Module: js-glue/core.wasm (the emscripten build the edge worker loads).
// Inputs:
//   green-harbor     fixtures/vendors/green-harbor/config.json (240 products with 90 days of
//                    sales, 20 experiments, 12 pages) in canonical form: compact, as the origin
//                    signs and serves it
//   green-harbor (pretty)  the same file as committed (indented)
//   ~1 MB            green-harbor grown here to about 1 MB: more products (new SKUs) and more
//                    landing pages, from the same generator (fixtures/vendors/generate.mjs)
// Contenders, per input:
//   whale            engine.parseConfig(bytes): copy the bytes into wasm memory, parse with
//                    simdjson On-Demand, validate every rule, build the indexed config, return a
//                    summary, free it
//   JSON.parse       JSON.parse(text) of the already decoded string (the peer; the ratio uses it)
//   decode+parse     JSON.parse(TextDecoder.decode(bytes)): from the bytes whale starts from
//   the floor        whale_json_check(bytes): the same copy into wasm memory and simdjson's parse
//                    of the same bytes (its fallback kernel: simdjson has no wasm SIMD kernel), no
//                    value built, nothing validated: what no config parse of ours can go under.
//                    whale's time splits into that floor and the rest (reading the document into
//                    the config model, validating every rule, indexing); the copy alone is timed
//                    too (whale_alloc + set + whale_free).
// Warm resolve: engine.resolveConfig(slug, version) of a cached config through the glue (string
// encode, one call, a hash lookup), and natively (bench/config_resolve.cpp, compiled here
// against build/bench's libraries when a C++ compiler is present).
process.env.NODE_ENV ??= 'production';

import { readFileSync, existsSync, mkdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { tmpdir } from 'node:os';
import { createEngine } from '../js-glue/index.js';
import { VENDORS } from '../fixtures/vendors/generate.mjs';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..');
const quick = process.argv.includes('--quick');
const now = () => process.hrtime.bigint();
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const encoder = new TextEncoder();
const decoder = new TextDecoder();

// ---- inputs ----

const prettyText = readFileSync(join(REPO, 'fixtures/vendors/green-harbor/config.json'), 'utf8');
const greenHarbor = JSON.parse(prettyText);

function grow(config, targetBytes) {
  const out = structuredClone(config);
  const products = config.catalog.products;
  const landing = config.pages.filter((p) => p.id.startsWith('shop-'));
  for (let n = 0; n < 60; n++) {
    const page = structuredClone(landing[n % landing.length]);
    page.id = `landing-${n + 1}`;
    page.path = `/l/${n + 1}`;
    page.title = `Landing ${n + 1}`;
    out.pages.push(page);
  }
  for (let copy = 1; JSON.stringify(out).length < targetBytes; copy++) {
    for (const p of products) {
      out.catalog.products.push({ ...p, sku: `${p.sku}-R${copy}`, url: `${p.url}-r${copy}`, dailySales: p.dailySales.map((x, i) => (x + copy + i) % 40) });
      if (out.catalog.products.length % 50 === 0 && JSON.stringify(out).length >= targetBytes) break;
    }
  }
  return out;
}

const inputs = [
  { name: 'green-harbor', text: JSON.stringify(greenHarbor) },
  { name: 'green-harbor (pretty)', text: prettyText },
  { name: '~1 MB', text: JSON.stringify(grow(greenHarbor, 1_000_000)) },
];
for (const input of inputs) input.bytes = encoder.encode(input.text);

// ---- the engine, checked first ----

const engine = await createEngine({ module: readFileSync(join(REPO, 'js-glue/core.wasm')) });
for (const input of inputs) {
  input.summary = engine.parseConfig(input.bytes);
  if (engine.invoke('whale_json_check', input.bytes, []) !== 0) {
    console.error(`config: ${input.name}: whale_json_check refused the document`);
    process.exit(1);
  }
  const js = JSON.parse(input.text);
  if (input.summary.products !== js.catalog.products.length || input.summary.pages !== js.pages.length) {
    console.error(`config: ${input.name}: the core's summary disagrees with the document`, input.summary);
    process.exit(1);
  }
}
if (VENDORS['green-harbor']().catalog.products.length !== greenHarbor.catalog.products.length) {
  console.error('config: fixtures/vendors/green-harbor/config.json is stale: run node fixtures/vendors/generate.mjs');
  process.exit(1);
}

// ---- parse timing: alternating batches, median of the batch means ----

let sink = 0;
function batch(fn, n) {
  const t0 = now();
  for (let i = 0; i < n; i++) fn();
  return Number(now() - t0) / 1e6 / n;
}

function timeParse(input) {
  const contenders = {
    whale: () => { sink += engine.parseConfig(input.bytes).products; },
    floor: () => { sink += engine.invoke('whale_json_check', input.bytes, []); },
    copy: () => {
      const x = engine.exports;
      const ptr = x.whale_alloc(input.bytes.length);
      new Uint8Array(x.memory.buffer, ptr, input.bytes.length).set(input.bytes);
      x.whale_free(ptr);
      sink += ptr & 1;
    },
    'JSON.parse': () => { sink += JSON.parse(input.text).pages.length; },
    'decode+parse': () => { sink += JSON.parse(decoder.decode(input.bytes)).pages.length; },
  };
  const perBatch = Math.max(3, Math.round(2_000_000 / input.bytes.length));
  const rounds = quick ? 5 : 25;
  for (const fn of Object.values(contenders)) batch(fn, perBatch * 3); // warm up (JIT, wasm tiers)
  const samples = Object.fromEntries(Object.keys(contenders).map((k) => [k, []]));
  for (let r = 0; r < rounds; r++) {
    for (const [name, fn] of Object.entries(contenders)) samples[name].push(batch(fn, perBatch));
  }
  return Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, median(v)]));
}

console.log(`config: parse + index in wasm (js-glue/core.wasm, emscripten) vs JSON.parse, node ${process.version}`);
console.log('input                     bytes      whale ms   JSON.parse ms   decode+parse ms   ratio (whale / JSON.parse; goal <= 1.0x)');
for (const input of inputs) {
  const t = timeParse(input);
  const s = input.summary;
  const ratio = t.whale / t['JSON.parse'];
  console.log(`${input.name.padEnd(22)} ${String(input.bytes.length).padStart(9)}   ${t.whale.toFixed(3).padStart(8)}   ${t['JSON.parse'].toFixed(3).padStart(13)}   ${t['decode+parse'].toFixed(3).padStart(15)}   ${ratio.toFixed(2)}x (${ratio <= 1 ? 'met' : 'not met'})`);
  const pct = (x) => `${((x / t.whale) * 100).toFixed(0)}%`;
  console.log(`${''.padEnd(22)} floor (copy + simdjson parse alone) ${t.floor.toFixed(3)} ms = ${(t.floor / t['JSON.parse']).toFixed(2)}x JSON.parse; ` +
    `whale's time: copy ${pct(t.copy)}, simdjson ${pct(t.floor - t.copy)}, model + validation + index ${pct(t.whale - t.floor)}`);
  console.log(`${''.padEnd(22)} (${s.products} products, ${s.pages} pages, ${s.instances} instances, ${s.features} features / ${s.experiments} experiments; parsed config ${(s.memoryBytes / 1024).toFixed(0)} KB in wasm memory)`);
}

// ---- warm resolve ----

const slug = inputs[0].summary.vendor;
for (let v = 1; v <= 8; v++) engine.loadConfig(inputs[0].bytes, v);
const resolves = quick ? 200_000 : 1_000_000;
for (let i = 0; i < 50_000; i++) sink += engine.resolveConfig(slug, 1 + (i & 7)) ? 1 : 0;
const glueNs = Math.min(...[0, 1, 2].map(() => {
  const t0 = now();
  for (let i = 0; i < resolves; i++) sink += engine.resolveConfig(slug, 1 + (i & 7)) ? 1 : 0;
  return Number(now() - t0) / resolves;
}));
if (!engine.resolveConfig(slug, 3) || engine.resolveConfig(slug, 99)) {
  console.error('config: resolveConfig answered wrongly');
  process.exit(1);
}
const stats = engine.configCacheStats();
console.log(`warm resolve through the glue (resolveConfig, a cache hit): ${glueNs.toFixed(0)} ns/call ` +
  `(cache: ${stats.entries} entries, ${(stats.bytes / 1024).toFixed(0)} KB of ${(stats.budget / 1048576).toFixed(0)} MB, ${stats.hits} hits)`);

// Native: a real program against build/bench's Release libraries (configured by `cmake --preset bench`).
const benchDir = join(REPO, 'build/bench');
try {
  if (!existsSync(join(benchDir, 'CMakeCache.txt'))) throw new Error('build/bench is not configured (cmake --preset bench)');
  execFileSync('cmake', ['--build', benchDir, '--target', 'whale_core', 'whale_simdjson', '-j', '2'], { stdio: 'ignore' });
  const out = join(tmpdir(), 'whale-bench');
  mkdirSync(out, { recursive: true });
  const exe = join(out, 'config_resolve');
  execFileSync('c++', ['-O2', '-std=c++17', '-fno-exceptions', '-DSIMDJSON_EXCEPTIONS=0',
    `-I${join(REPO, 'include')}`, `-I${join(REPO, 'node_modules/@nozbe/simdjson/src')}`,
    join(REPO, 'bench/config_resolve.cpp'), join(benchDir, 'libwhale_core.a'), join(benchDir, 'libwhale_simdjson.a'),
    '-o', exe], { stdio: 'inherit' });
  const native = JSON.parse(execFileSync(exe, [join(REPO, 'fixtures/vendors/green-harbor/config.json')], { encoding: 'utf8' }));
  console.log(`warm resolve natively (config::cache::get, a hit): ${native.hitNs.toFixed(1)} ns; a miss ${native.missNs.toFixed(1)} ns; ` +
    `native parse of green-harbor (pretty) ${(native.parseNs / 1e6).toFixed(3)} ms`);
} catch (e) {
  console.log(`warm resolve natively: skipped (${e.message.split('\n')[0]})`);
}
if (sink === 42) console.log('');
