// Assignment per request, whale core vs GrowthBook's own JS SDK, in one Node process.
//
//   node bench/assign.bench.mjs [vendor]        (vendor defaults to flora-distro)
//
// Two payloads, each timed on its own: the vendor's (fixtures/vendors/<vendor>/features.json with
// its attributes.json) and the generic payload of bench/generic-payload.mjs (20 features, 1000
// users). Each prints whale's and GrowthBook's µs per request, the ratio and its goal.
//
// Peer: @growthbook/growthbook (GrowthBookClient, the server-side client), loaded with the same
// payload through initSync. A request is one attribute set from fixtures/vendors/<vendor>/
// attributes.json and asks for every feature of the payload:
//   whale       engine.evalAll(set, attributes)           (one call, all features + exposures)
//   growthbook  two paths, both timed; the ratio uses the faster one (usually the first):
//               client.evalFeature(key, {attributes}) for each key, or
//               createScopedInstance({attributes}) + scoped.evalFeature(key) for each key
//               (no tracking callback: GrowthBook does not collect exposures here, whale does)
// The answers are compared first (bench/compare-growthbook.mjs); any difference aborts with a
// diff and exit code 1, because a timing of different answers means nothing.
//
// GrowthBook's sources test process.env.NODE_ENV !== "production" around debug logging, as a
// server would run them; the bench sets NODE_ENV=production unless the caller set it.
process.env.NODE_ENV ??= 'production';

import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { createEngine } from '../js-glue/index.js';
import {
  loadVendor, growthbookClient, compareVendor, formatMismatches,
} from './compare-growthbook.mjs';
import { genericPayload } from './generic-payload.mjs';

const vendorName = process.argv[2] ?? 'flora-distro';
const wasmUrl = new URL('../js-glue/core.wasm', import.meta.url);
const now = () => process.hrtime.bigint();
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const fmt = (n) => Math.round(n).toLocaleString('en-US');
const us = (ns) => (ns / 1000).toFixed(2);
const ms = (n) => (n / 1e6).toFixed(2);
// Issue 11: evalAll at most 0.2x GrowthBook's time (0.1x the moonshot).
const GOAL = 0.2;

const vendor = loadVendor(vendorName);
if (vendor.attributes.length === 0) {
  console.error(`assign: fixtures/vendors/${vendorName}/attributes.json has no attribute sets`);
  process.exit(2);
}
const wasmBytes = readFileSync(wasmUrl);
const engine = await createEngine({ module: wasmBytes });
const x = engine.exports;
const encoder = new TextEncoder();
let sink = 0;

const summaries = [];
for (const bench of [vendor, genericPayload()]) benchPayload(bench);

function benchPayload({ name, payloadText, payload, attributes: requests }) {
  const keys = Object.keys(payload.features);
  const set = engine.loadFeatures(payloadText);
  const client = growthbookClient(payload);

  // 1. Same answers first.
  const { checked, mismatches } = compareVendor(engine, set, client, payload, requests);
  if (mismatches.length) {
    console.error(`assign: ${name}: whale and growthbook differ on ${mismatches.length} of ${checked} attribute sets; not timing.`);
    console.error(formatMismatches(mismatches));
    process.exit(1);
  }
  console.log(`assign: ${name}, ${keys.length} features, ${checked} attribute sets: same answers as growthbook ` +
    `${client.version ?? '?'} (values, on/off, source, ruleId, experiment results)`);

  // 2. Time per request. Each contender keeps what it computed so nothing is dead code.
  const contenders = {
    whale(attrs) {
      const r = engine.evalAll(set, attrs);
      sink += r.experiments.length;
    },
    'growthbook evalFeature'(attrs) {
      const userContext = { attributes: attrs };
      const features = {};
      for (const key of keys) features[key] = client.evalFeature(key, userContext);
      sink += features[keys[0]].on ? 1 : 0;
    },
    'growthbook scoped'(attrs) {
      const gb = client.createScopedInstance({ attributes: attrs });
      const features = {};
      for (const key of keys) features[key] = gb.evalFeature(key);
      sink += features[keys[0]].on ? 1 : 0;
    },
  };
  const pass = (fn, passes) => {
    const t0 = now();
    for (let p = 0; p < passes; p++) for (let i = 0; i < requests.length; i++) fn(requests[i]);
    return Number(now() - t0) / (passes * requests.length);
  };

  // Passes per round sized so one round of one contender takes about 100 ms.
  const names = Object.keys(contenders);
  const passesFor = {};
  for (const contender of names) {
    pass(contenders[contender], 20); // warm-up (tiers up JS and wasm)
    const per = pass(contenders[contender], 20);
    passesFor[contender] = Math.max(5, Math.round(100e6 / (per * requests.length)));
    pass(contenders[contender], passesFor[contender]); // more warm-up at the timed size
  }
  const rounds = 15;
  const samples = Object.fromEntries(names.map((n) => [n, []]));
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 ? [...names].reverse() : names; // alternate who runs first
    for (const contender of order) samples[contender].push(pass(contenders[contender], passesFor[contender]));
  }
  const perRequest = Object.fromEntries(names.map((n) => [n, median(samples[n])]));
  const gbBestName = perRequest['growthbook evalFeature'] <= perRequest['growthbook scoped'] ? 'growthbook evalFeature' : 'growthbook scoped';
  const ours = perRequest.whale;
  const theirs = perRequest[gbBestName];
  // The ratio is the median of each round's own ratio: both ran back to back, so a busy machine
  // slows both sides of a pair alike.
  const ratio = median(samples.whale.map((w, r) => w / samples[gbBestName][r]));
  console.log(`assign: ${name}: whale evalAll ${us(ours)} µs/request; growthbook ${us(theirs)} µs/request ` +
    `(${gbBestName === 'growthbook evalFeature' ? 'client.evalFeature(key, userContext) x ' : 'scoped instance + evalFeature x '}${keys.length}); ` +
    `ratio ${ratio.toFixed(2)}x (goal ${GOAL.toFixed(1)}x)`);
  console.log(`  growthbook paths: client.evalFeature ${us(perRequest['growthbook evalFeature'])} µs/request, ` +
    `createScopedInstance + evalFeature ${us(perRequest['growthbook scoped'])} µs/request ` +
    `(median of ${rounds} rounds, NODE_ENV=${process.env.NODE_ENV})`);
  summaries.push({ name, ours, theirs, ratio });
  splitWhale(set, requests);
  set.free();
}

// 3. Where whale's time goes, piece by piece, with the same requests. evalAll writes the
// attributes the payload reads into wasm memory (engine.encodeAttributes), calls
// whale_eval_all_encoded, and resolves its compact answer against the payload parsed once
// (js-glue/index.js, decodeEvalAll); the old request, JSON text, is timed beside it.
function splitWhale(set, requests) {
  // Each request encoded once, copied to a buffer of its own, for the core's piece alone.
  const inputs = requests.map((attributes) => {
    const len = engine.encodeAttributes(set, attributes);
    const ptr = x.whale_alloc(len);
    new Uint8Array(x.memory.buffer).copyWithin(ptr, engine.input.ptr, engine.input.ptr + len);
    return { ptr, len };
  });
  const outputs = inputs.map(({ ptr, len }) => {
    x.whale_eval_all_encoded(set.id, ptr, len);
    return x.whale_last_len();
  });
  const pieces = {
    'evalAll (whole)': (i) => { sink += engine.evalAll(set, requests[i]).experiments.length; },
    'encode attributes': (i) => { sink += engine.encodeAttributes(set, requests[i]); },
    'wasm eval_all_encoded': (i) => { sink += x.whale_eval_all_encoded(set.id, inputs[i].ptr, inputs[i].len); },
    'JSON request instead': (i) => {
      sink += engine.invoke('whale_eval_all_compact', JSON.stringify({ attributes: requests[i] }), [set.id]);
    },
  };
  function piecePass(fn, passes) {
    const t0 = now();
    for (let p = 0; p < passes; p++) for (let i = 0; i < requests.length; i++) fn(i);
    return Number(now() - t0) / (passes * requests.length);
  }
  // Round-robin over the pieces, so that each round measures all of them under the same load.
  const piecePasses = {};
  for (const [piece, fn] of Object.entries(pieces)) {
    piecePass(fn, 20);
    piecePasses[piece] = Math.max(5, Math.round(40e6 / (piecePass(fn, 20) * requests.length)));
  }
  const pieceSamples = Object.fromEntries(Object.keys(pieces).map((n) => [n, []]));
  for (let r = 0; r < 9; r++) {
    for (const [piece, fn] of Object.entries(pieces)) pieceSamples[piece].push(piecePass(fn, piecePasses[piece]));
  }
  const split = Object.fromEntries(Object.keys(pieces).map((n) => [n, median(pieceSamples[n])]));
  for (const { ptr } of inputs) x.whale_free(ptr);
  const whole = split['evalAll (whole)'];
  split['decode (the rest)'] = whole - split['encode attributes'] - split['wasm eval_all_encoded'];
  console.log(`  whale split (ns/request; encoded attributes ~${fmt(median(inputs.map((r) => r.len)))} B, ` +
    `compact answer ~${fmt(median(outputs))} B):`);
  for (const [piece, v] of Object.entries(split)) {
    console.log(`    ${piece.padEnd(24)} ${fmt(v).padStart(8)}  ${((100 * v) / whole).toFixed(0).padStart(3)}%`);
  }
}

// 4. The module: size and start-up.
const gz = gzipSync(wasmBytes, { level: 9 });
// V8 caches compiled modules by their bytes; a unique custom section per compile defeats that.
function uniqueBytes(n) {
  const name = encoder.encode(`bench-${n}-${Date.now()}`);
  const section = new Uint8Array(wasmBytes.length + 2 + name.length + 1);
  section.set(wasmBytes);
  let o = wasmBytes.length;
  section[o++] = 0; // custom section id
  section[o++] = name.length + 1; // payload size (< 128: one LEB byte)
  section[o++] = name.length;
  section.set(name, o);
  return section;
}
const compileTimes = [];
const instantiateTimes = [];
const coldTimes = [];
let compiled;
for (let i = 0; i < 9; i++) {
  const bytes = uniqueBytes(i);
  let t0 = now();
  compiled = await WebAssembly.compile(bytes);
  compileTimes.push(Number(now() - t0));
  t0 = now();
  const fresh = await createEngine({ module: compiled });
  instantiateTimes.push(Number(now() - t0));
  t0 = now();
  const s = fresh.loadFeatures(vendor.payloadText);
  fresh.evalAll(s, vendor.attributes[0]);
  coldTimes.push(Number(now() - t0));
}
for (let i = 0; i < 20; i++) {
  const t0 = now();
  await createEngine({ module: compiled });
  instantiateTimes.push(Number(now() - t0));
}
console.log(`core.wasm: ${fmt(wasmBytes.length)} B raw, ${fmt(gz.length)} B gzip -9; ` +
  `compile ${ms(median(compileTimes))} ms, createEngine({module}) instantiate ${ms(median(instantiateTimes))} ms, ` +
  `first loadFeatures + evalAll on a fresh instance ${ms(median(coldTimes))} ms (medians)`);
console.log('assign: summary (µs per request, median of 15 rounds; ratio = median of per-round ratios)');
for (const s of summaries) {
  console.log(`  ${s.name.padEnd(14)} whale ${us(s.ours).padStart(6)}  growthbook ${us(s.theirs).padStart(6)}  ` +
    `ratio ${s.ratio.toFixed(2)}x  goal ${GOAL.toFixed(1)}x ${s.ratio <= GOAL ? '(met)' : '(not met)'}`);
}
if (sink === -1) console.log(''); // keeps sink observable
