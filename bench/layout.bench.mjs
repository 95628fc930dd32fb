// Layout rendering in the wasm core through the glue against building the same layout object
// in JS and JSON.stringify-ing it, in one Node process.
//
//   node bench/layout.bench.mjs [--quick]
//
// Module: js-glue/core.wasm (the emscripten build the edge worker loads).
// Input: flora-distro's home page (40 component instances in 6 sections, 9 product grids over
// 32 products), a logged-in US desktop visitor, a fixed time.
// Contenders:
//   whale     engine.renderLayoutText(slug, version, {page, attributes, now}) -> the layout JSON
//             (what an edge sends on), and engine.renderLayout (the same, then JSON.parse):
//             request JSON encoded into wasm memory, visibility of every instance, schedules in
//             America/Los_Angeles, conflicts, dependencies and order, product selection, sort
//             and forecasts (precomputed per config), the layout JSON written and decoded
//   JS build  the peer: the same layout object assembled in JS from the config already in JS
//             memory (instances' props, products picked from the catalog by the SKUs the core
//             chose, urgency from the core's answer) and JSON.stringify-ed. It makes none of the
//             decisions, so it is a floor for "emit this object from JS", not a re-implementation.
// Also decideLayout: the decisions alone, what the edge computes per personalized request when
// the layout is in its cache. Goal (issue 11 §6): a render at most 20 µs.
process.env.NODE_ENV ??= 'production';

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { createEngine } from '../js-glue/index.js';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..');
const quick = process.argv.includes('--quick');
const batches = quick ? 7 : 31;
const perBatch = quick ? 200 : 1000;
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };

const configText = readFileSync(join(REPO, 'fixtures/vendors/flora-distro/config.json'), 'utf8');
const config = JSON.parse(configText);
const attributes = { id: 'u_10001', country: 'US', device: 'desktop', loggedIn: true, ageVerified: true, segment: 'vip' };
const now = 1751000000;
const version = 1;

const engine = await createEngine();
engine.loadConfig(configText, version);
const options = { page: 'home', attributes, now };
const reference = engine.renderLayout('flora-distro', version, options);
const instances = reference.sections.length === 0 ? 0 : config.pages[0].sections.reduce((n, s) => n + s.components.length, 0);

// The peer's inputs: everything in JS memory, indexed once.
const instanceById = new Map();
for (const s of config.pages[0].sections) for (const i of s.components) instanceById.set(i.id, i);
const productBySku = new Map(config.catalog.products.map((p) => [p.sku, p]));
const plan = reference.sections.map((s) => ({
  id: s.id,
  components: s.components.map((c) => ({
    id: c.id, key: c.key, props: c.props,
    products: c.props.products?.map((p) => ({ sku: p.sku, urgency: p.urgency, sellsOutBy: p.sellsOutBy, soldOut: p.soldOut })),
  })),
}));

function jsBuild() {
  const sections = plan.map((s) => ({
    id: s.id,
    components: s.components.map((c) => {
      const props = { ...c.props };
      if (c.products) {
        props.products = c.products.map((q) => {
          const p = productBySku.get(q.sku);
          const out = { sku: p.sku, name: p.name, price: p.price, image: p.image, url: p.url, urgency: q.urgency, sellsOutBy: q.sellsOutBy };
          if (q.soldOut) out.soldOut = true;
          return out;
        });
      }
      return { id: c.id, key: c.key, props };
    }),
  }));
  return JSON.stringify({ vendor: 'flora-distro', version, page: 'home', assignments: reference.assignments, sections, dropped: reference.dropped,
                          cacheKey: reference.cacheKey, maxAge: reference.maxAge, vary: reference.vary });
}

function time(fn) {
  for (let i = 0; i < perBatch; i++) fn();  // warm-up
  const samples = [];
  for (let b = 0; b < batches; b++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < perBatch; i++) fn();
    samples.push(Number(process.hrtime.bigint() - t0) / 1000 / perBatch);
  }
  return median(samples);
}

let sink = 0;
const whaleText = () => { sink += engine.renderLayoutText('flora-distro', version, options).length; };
const whale = time(() => { sink += engine.renderLayout('flora-distro', version, options).sections.length; });
const whaleRaw = time(whaleText);
const decide = time(() => { sink += engine.decideLayout('flora-distro', version, options).maxAge; });
const js = time(() => { sink += jsBuild().length; });
const bytes = JSON.stringify(reference).length;

console.log(`layout: flora-distro home, ${instances} instances, ${reference.sections.reduce((n, s) => n + s.components.length, 0)} rendered, ${bytes} bytes of JSON`);
console.log(`  whale renderLayout (parsed)   ${whale.toFixed(2)} µs median`);
console.log(`  whale renderLayoutText        ${whaleRaw.toFixed(2)} µs median`);
console.log(`  whale decideLayout            ${decide.toFixed(2)} µs median (the edge's per-request cost on a cache hit)`);
console.log(`  JS build + JSON.stringify     ${js.toFixed(2)} µs median`);
const verdict = (us) => (us <= 20 ? 'met' : 'not met');
console.log(`  ratio whale/JS                ${(whale / js).toFixed(2)}x (text: ${(whaleRaw / js).toFixed(2)}x); ` +
  `goal ≤ 20 µs: text ${verdict(whaleRaw)}, parsed ${verdict(whale)}`);
if (sink === 0) console.log('');
