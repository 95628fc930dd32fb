// GET /v1/storefront/flora-distro/home end to end through workerd, against the runtime's floor:
// a worker that answers the same JSON, precomputed and held in memory, with the same headers.
// Both run in workerd on loopback, loaded by autocannon (in this process) with the same
// connections and duration; the ratio is storefront requests/s over the floor's.
//
//   node bench/storefront.bench.mjs [seconds] [connections] [rounds]   (defaults: 5 s, 16, 2)
//
// Five targets, all GET /v1/storefront/flora-distro/home:
//   - kept out (Sec-GPC: 1): the control layout, shared by every such request, served from the
//     edge's layout cache without calling the core. Goal (issue 11 §7): >= 0.9x the floor.
//   - returning visitors: VISITORS visitors made by a first request each (whale_id, whale_rc,
//     whale_sb cookies), requests rotating over them. The core decides each request
//     (decideLayout) and the layout comes from the edge cache under the decision's key. Goal:
//     >= 0.8x the floor.
//   - first visits (no cookie): an id minted, the page decided, a receipt signed (HMAC), an
//     exposure recorded. No goal: measured so that the cost of joining is known.
//   - returning visitors asking for a multi-variant page (?candidates=3, docs/layout.md#candidates):
//     three candidates decided, each layout from the cache, one answer about three times as
//     large. No goal: what the route costs.
// Each round runs the targets in turn, so that load from other processes on the machine falls on
// all of them alike; requests/s are averaged over the rounds and p99 is the worst round's.
//
// Env: WHALE_EMSCRIPTEN_DIR (its wasm/core.wasm is served, else js-glue/core.wasm).

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import autocannon from 'autocannon';
import { COMPATIBILITY_DATE } from '../edge-workers/gen-config.mjs';
import { WORKERD, freePort, request, sleep, startEdge, stop } from '../scripts/stack.mjs';

const SECONDS = Number(process.argv[2] ?? 5);
const CONNECTIONS = Number(process.argv[3] ?? 16);
const ROUNDS = Number(process.argv[4] ?? 2);
const WARMUP_S = 1;
const PATH = '/v1/storefront/flora-distro/home';
const GOALS = { kept: 0.9, returning: 0.8 };
const VISITORS = 1000;
const GPC = { 'sec-gpc': '1' };
// The headers the floor repeats from the storefront's answer.
const COPIED = ['content-type', 'cache-control', 'etag', 'vary'];

// The floor: one module worker answering the layout's bytes from memory.
function floorWorker(headers) {
  return `import text from './layout.json';
const body = new TextEncoder().encode(text);
const headers = ${JSON.stringify(headers)};
export default { fetch() { return new Response(body, { headers }); } };
`;
}

function floorConfig(port) {
  return `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "floor", worker = .floorWorker) ],
  sockets = [ ( name = "http", address = "127.0.0.1:${port}", service = "floor" ) ],
);
const floorWorker :Workerd.Worker = (
  modules = [
    (name = "worker.js", esModule = embed "worker.js"),
    (name = "layout.json", text = embed "layout.json"),
  ],
  compatibilityDate = "${COMPATIBILITY_DATE}",
);
`;
}

async function startFloor(dir, body, headers) {
  const port = await freePort();
  writeFileSync(join(dir, 'worker.js'), floorWorker(headers));
  writeFileSync(join(dir, 'layout.json'), body);
  writeFileSync(join(dir, 'floor.capnp'), floorConfig(port));
  const child = spawn(WORKERD, ['serve', join(dir, 'floor.capnp')], { stdio: ['ignore', 'ignore', 'inherit'] });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(base)).ok) return { child, base };
    } catch {
      // not listening yet
    }
    await sleep(50);
  }
  await stop(child);
  throw new Error('the floor worker did not start');
}

// headers: an object, or a function giving each request's headers.
function load(url, { seconds, headers = {} }) {
  const options = { url, connections: CONNECTIONS, duration: seconds };
  if (typeof headers === 'function') {
    options.requests = [{ method: 'GET', setupRequest: (req) => ({ ...req, headers: { ...req.headers, ...headers() } }) }];
  } else {
    options.headers = headers;
  }
  return new Promise((resolve, reject) => {
    autocannon(options, (e, result) => (e ? reject(e) : resolve(result)));
  });
}

async function measure(name, url, headers) {
  await load(url, { seconds: WARMUP_S, headers });
  const r = await load(url, { seconds: SECONDS, headers });
  const bad = r.non2xx + r.errors + r.timeouts;
  if (bad > 0) throw new Error(`${name}: ${bad} failed requests (non-2xx ${r.non2xx}, errors ${r.errors}, timeouts ${r.timeouts})`);
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99 };
}

// Per target: requests/s averaged over the rounds, the worst p50 and p99.
function summarize(name, runs) {
  return {
    name,
    rps: runs.reduce((sum, r) => sum + r.rps, 0) / runs.length,
    p50: Math.max(...runs.map((r) => r.p50)),
    p99: Math.max(...runs.map((r) => r.p99)),
    rounds: runs.map((r) => r.rps.toFixed(0)).join(', '),
  };
}

const work = mkdtempSync(join(tmpdir(), 'whale-storefront-bench-'));
let edge;
let floor;
try {
  edge = await startEdge({ port: await freePort(), outDir: join(work, 'edge') });
  const first = await request(edge.base, 'GET', PATH, { headers: GPC });
  if (first.status !== 200) throw new Error(`storefront: ${first.status} ${first.text}`);
  const headers = Object.fromEntries(COPIED.map((h) => [h, first.headers.get(h)]).filter(([, v]) => v !== null));
  floor = await startFloor(work, first.text, headers);
  const floorCheck = await request(floor.base, 'GET', '/');
  if (floorCheck.text !== first.text) throw new Error('the floor does not answer the same bytes');

  // The returning visitors: each one's cookies from its first visit.
  const jars = [];
  for (let i = 0; i < VISITORS; i++) {
    const res = await request(edge.base, 'GET', PATH);
    if (res.status !== 200) throw new Error(`first visit: ${res.status} ${res.text}`);
    jars.push(res.headers.getSetCookie().map((c) => c.split(';')[0]).join('; '));
  }
  let next = 0;
  const returning = () => ({ cookie: jars[next++ % jars.length] });
  const check = await request(edge.base, 'GET', PATH, { headers: returning() });
  if (check.headers.getSetCookie().length > 0) throw new Error(`a returning visitor got new cookies: ${check.headers.getSetCookie()}`);

  console.log(`GET ${PATH}: ${first.text.length} bytes; autocannon, ${CONNECTIONS} connections, ${SECONDS} s each ` +
    `(after ${WARMUP_S} s of warm-up), ${ROUNDS} rounds, workerd on loopback`);
  const targets = [
    ['floor (precomputed JSON from memory)', `${floor.base}/`, {}],
    ['kept out (Sec-GPC: 1, edge cache)', `${edge.base}${PATH}`, GPC, GOALS.kept],
    [`returning visitors (${VISITORS}, decided + cache)`, `${edge.base}${PATH}`, returning, GOALS.returning],
    ['first visits (id, decision, receipt)', `${edge.base}${PATH}`, {}],
    ['returning, ?candidates=3 (3 layouts, ~3x bytes)', `${edge.base}${PATH}?candidates=3`, returning],
  ];
  const runs = targets.map(() => []);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, [name, url, h]] of targets.entries()) runs[i].push(await measure(name, url, h));
  }
  const results = targets.map(([name], i) => summarize(name, runs[i]));
  const floorRps = results[0].rps;
  for (const [i, r] of results.entries()) {
    const goal = targets[i][3];
    const ratio = r.rps / floorRps;
    const verdict = goal === undefined ? '' : `  (goal >= ${goal}x: ${ratio >= goal ? 'met' : 'not met'})`;
    console.log(`${r.name.padEnd(50)} ${r.rps.toFixed(0).padStart(6)} req/s (rounds: ${r.rounds})  p50 ${r.p50} ms  ` +
      `p99 ${r.p99} ms  ratio ${ratio.toFixed(2)}x${verdict}`);
  }
  const stats = (await request(edge.base, 'GET', '/v1/events/stats')).json;
  console.log(`edge: layouts ${JSON.stringify(stats.layouts)}; exposures generated ${stats.events.generated}`);
} finally {
  await stop(edge?.child);
  await stop(floor?.child);
  rmSync(work, { recursive: true, force: true });
}
