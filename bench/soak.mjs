// Soak: one workerd edge with its origin up, saturated with /v1/assign for minutes (random visitor
// ids, so every request mints exposures), printing minute by minute (or every --every seconds)
// requests served, errors, p50/p99 latency, the workerd process's RSS, exposures generated at the
// edge, stored at the origin and dropped. At the end it waits for the edge to deliver what it
// holds and compares: generated = stored, dropped = 0. Loopback only; stops by itself.
//
//   node bench/soak.mjs [--seconds 600] [--every 60] [--connections 16] [--no-origin]
//
// --no-origin runs the same load on an edge without an origin (its RSS is the floor the issue
// compares against). As a module, soak(options) returns the samples and the totals (the 60-second
// form in tests/e2e/soak.test.mjs uses it).
//
// Env: WHALE_ORIGIN (the whale-origin binary), WHALE_EMSCRIPTEN_DIR (core.wasm).
import autocannon from 'autocannon';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  addPrincipal, freePort, publish, readConfig, request, sleep, startEdge, startOrigin, stop,
} from '../scripts/stack.mjs';

const SLUG = 'flora-distro';
// The Release origin (build/bench) when it is built and WHALE_ORIGIN does not name one: the debug
// build's sanitizers make it the bottleneck (scripts/build.sh bench builds it).
export const RELEASE_ORIGIN = join(resolve(fileURLToPath(import.meta.url), '..', '..'), 'build', 'bench', 'src', 'origin', 'whale-origin');
const DEFAULT_ORIGIN = process.env.WHALE_ORIGIN ?? (existsSync(RELEASE_ORIGIN) ? RELEASE_ORIGIN : undefined);

function rssMb(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

async function storedAtOrigin(origin) {
  const metrics = (await request(origin.base, 'GET', '/metrics')).text;
  const m = /whale_origin_events_total\{result="accepted"\} (\d+)/.exec(metrics);
  return m ? Number(m[1]) : NaN;
}

async function edgeEvents(edge) {
  return (await request(edge.base, 'GET', '/v1/events/stats')).json.events;
}

// One slice of load: resolves to autocannon's result.
function load(url, connections, seconds) {
  let n = 0;
  return new Promise((resolveLoad, reject) => {
    autocannon({
      url, connections, duration: seconds,
      // A new visitor per request: every assignment is a new exposure.
      requests: [{ setupRequest: (req) => ({ ...req, path: `/v1/assign?vendor=${SLUG}&id=soak-${process.pid}-${++n}-${Math.random().toString(36).slice(2)}` }) }],
    }, (e, result) => (e ? reject(e) : resolveLoad(result)));
  });
}

export async function soak({
  seconds = 600, every = 60, connections = 16, withOrigin = true, originBin = DEFAULT_ORIGIN, log = console.log,
} = {}) {
  const work = mkdtempSync(join(tmpdir(), 'whale-soak-'));
  let origin = null;
  let edge = null;
  try {
    let sync = {};
    const db = join(work, 'origin.db');
    if (withOrigin) {
      const tokens = { edge: addPrincipal('edge', 'soak-edge', db, originBin), vendor: addPrincipal('vendor', SLUG, db, originBin) };
      origin = await startOrigin({ db, bin: originBin, args: ['--reweight-every', '0'] });
      await publish(origin.base, SLUG, tokens.vendor, readConfig(SLUG));
      sync = { origin: origin.base, keys: { [origin.keyId]: origin.publicKey }, edgeToken: tokens.edge, name: 'soak-edge' };
    }
    edge = await startEdge({ port: await freePort(), outDir: join(work, 'edge'), ...sync });
    const url = edge.base;
    log(`soak: ${withOrigin ? `edge + origin (${originBin ?? 'build/native'})` : 'edge without an origin'}, ${connections} connections, ${seconds} s, ` +
      `GET /v1/assign?vendor=${SLUG}&id=<new visitor>`);
    log('   t(s)  requests   errors  p50(ms)  p99(ms)  edge RSS(MB)  generated     stored  dropped');
    const samples = [];
    let requests = 0;
    let errors = 0;
    for (let t = 0; t < seconds; t += every) {
      const slice = Math.min(every, seconds - t);
      const r = await load(url, connections, slice);
      requests += r.requests.total;
      errors += r.errors + r.non2xx + r.timeouts;
      const events = await edgeEvents(edge);
      const stored = origin ? await storedAtOrigin(origin) : 0;
      const sample = {
        t: t + slice, requests: r.requests.total, errors: r.errors + r.non2xx + r.timeouts, p50: r.latency.p50,
        p99: r.latency.p99, rssMb: rssMb(edge.child.pid), generated: events.generated, stored, dropped: events.dropped,
      };
      samples.push(sample);
      log(`${String(sample.t).padStart(7)} ${String(sample.requests).padStart(9)} ${String(sample.errors).padStart(8)} ` +
        `${String(sample.p50).padStart(8)} ${String(sample.p99).padStart(8)} ${sample.rssMb.toFixed(1).padStart(13)} ` +
        `${String(sample.generated).padStart(10)} ${String(sample.stored).padStart(10)} ${String(sample.dropped).padStart(8)}`);
    }
    // Delivery of what is still buffered needs requests (no isolate timer outlives a request):
    // a trickle of /healthz until the edge holds nothing, for at most 30 s.
    let events = await edgeEvents(edge);
    let stored = origin ? await storedAtOrigin(origin) : 0;
    for (let i = 0; origin && i < 300 && (events.buffered > 0 || events.inFlight > 0 || stored < events.sent); i++) {
      await request(edge.base, 'GET', '/healthz');
      await sleep(100);
      events = await edgeEvents(edge);
      stored = await storedAtOrigin(origin);
    }
    const totals = {
      requests, errors, generated: events.generated, accepted: events.accepted, duplicates: events.duplicates,
      stored, dropped: events.dropped, deadLettered: events.deadLettered ?? 0, discarded: events.discarded ?? 0,
      rssFirstMb: samples[0].rssMb, rssLastMb: samples.at(-1).rssMb, rssMaxMb: Math.max(...samples.map((s) => s.rssMb)),
    };
    // The origin's database on disk (the raw events table is most of it): bytes per stored event.
    totals.dbBytes = ['', '-wal'].reduce((n, suffix) => n + (existsSync(db + suffix) ? statSync(db + suffix).size : 0), 0);
    if (origin) log(`soak: origin database ${(totals.dbBytes / 1048576).toFixed(1)} MB (with its WAL), ${(totals.dbBytes / Math.max(1, stored)).toFixed(0)} bytes per stored event`);
    log(`soak: ${requests} requests, ${errors} errors; exposures generated ${totals.generated} (accepted ${totals.accepted}, ` +
      `duplicates ${totals.duplicates}), stored at the origin ${stored}, dropped ${totals.dropped}, dead-lettered ${totals.deadLettered}`);
    return { samples, totals };
  } finally {
    if (edge) await stop(edge.child);
    if (origin) await stop(origin.child);
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '600' }, every: { type: 'string', default: '60' },
      connections: { type: 'string', default: '16' }, 'no-origin': { type: 'boolean', default: false },
      compare: { type: 'boolean', default: false },
    },
  });
  const options = { seconds: Number(values.seconds), every: Number(values.every), connections: Number(values.connections) };
  const { samples, totals } = await soak({ ...options, withOrigin: !values['no-origin'] });
  // Goals (issue 10): RSS grows < 10% between the second sample (minute 2) and the end; nothing lost.
  const base = samples.length > 1 ? samples[1].rssMb : samples[0].rssMb;
  const growth = (totals.rssLastMb - base) / base;
  console.log(`goal: RSS growth from the 2nd sample to the end < 10%: ${(growth * 100).toFixed(1)}% ` +
    `(${base.toFixed(1)} -> ${totals.rssLastMb.toFixed(1)} MB, max ${totals.rssMaxMb.toFixed(1)} MB)`);
  if (!values['no-origin']) {
    console.log(`goal: stored = generated - duplicates, dropped = 0: ${totals.stored} vs ${totals.accepted}, dropped ${totals.dropped}`);
  }
  if (values.compare) {
    const floor = await soak({ ...options, withOrigin: false });
    console.log(`goal: within 32 MB of the same load without an origin: ${totals.rssLastMb.toFixed(1)} MB vs ` +
      `${floor.totals.rssLastMb.toFixed(1)} MB (${(totals.rssLastMb - floor.totals.rssLastMb).toFixed(1)} MB)`);
  }
}
