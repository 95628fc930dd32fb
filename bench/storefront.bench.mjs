// GET /v1/storefront/flora-distro/home end to end through workerd, against the runtime's floor:
// a worker that answers the same JSON, precomputed and held in memory, with the same headers.
// Both run in workerd on loopback, loaded by autocannon (in this process) with the same
// connections and duration; the ratio is storefront requests/s over the floor's.
//
//   node bench/storefront.bench.mjs [seconds] [connections] [rounds]   (defaults: 5 s, 16, 2)
//
// Three targets: the floor, anonymous requests (one context: served from the edge's layout cache
// after the first), and personalized requests (a whale_id cookie: rendered by the core on every
// request, never cached). Each round runs the three in turn, so that load from other processes
// on the machine falls on all of them alike; requests/s are averaged over the rounds and p99 is
// the worst round's. Goal of issue 4 §7: anonymous at least 0.8x the floor.
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
const VISITOR = '5b0e4c1e-7d2a-4f7e-9a51-0c3d2b9e8f10';
const GOAL = 0.8;
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

function load(url, { seconds, headers = {} }) {
  return new Promise((resolve, reject) => {
    autocannon({ url, connections: CONNECTIONS, duration: seconds, headers }, (e, result) => (e ? reject(e) : resolve(result)));
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
  const first = await request(edge.base, 'GET', PATH);
  if (first.status !== 200) throw new Error(`storefront: ${first.status} ${first.text}`);
  const headers = Object.fromEntries(COPIED.map((h) => [h, first.headers.get(h)]).filter(([, v]) => v !== null));
  floor = await startFloor(work, first.text, headers);
  const floorCheck = await request(floor.base, 'GET', '/');
  if (floorCheck.text !== first.text) throw new Error('the floor does not answer the same bytes');

  console.log(`GET ${PATH}: ${first.text.length} bytes; autocannon, ${CONNECTIONS} connections, ${SECONDS} s each ` +
    `(after ${WARMUP_S} s of warm-up), ${ROUNDS} rounds, workerd on loopback`);
  const targets = [
    ['floor (precomputed JSON from memory)', `${floor.base}/`, {}],
    ['storefront, anonymous (edge cache)', `${edge.base}${PATH}`, {}],
    ['storefront, personalized (rendered)', `${edge.base}${PATH}`, { cookie: `whale_id=${VISITOR}` }],
  ];
  const runs = targets.map(() => []);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, [name, url, headers]] of targets.entries()) runs[i].push(await measure(name, url, headers));
  }
  const results = targets.map(([name], i) => summarize(name, runs[i]));
  const floorRps = results[0].rps;
  for (const r of results) {
    console.log(`${r.name.padEnd(38)} ${r.rps.toFixed(0).padStart(6)} req/s (rounds: ${r.rounds})  p50 ${r.p50} ms  ` +
      `p99 ${r.p99} ms  ratio ${(r.rps / floorRps).toFixed(2)}x`);
  }
  const ratio = results[1].rps / floorRps;
  console.log(`anonymous / floor: ${ratio.toFixed(2)}x (goal >= ${GOAL}x: ${ratio >= GOAL ? 'met' : 'not met'})`);
} finally {
  await stop(edge?.child);
  await stop(floor?.child);
  rmSync(work, { recursive: true, force: true });
}
