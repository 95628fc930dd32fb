// Queue soak: the worker under `wrangler dev --env local` with events going through its queue
// (EVENTS_QUEUE, consumed by the same worker's queue() handler) to a real whale-origin. POST
// /v1/events is saturated for --seconds (each request a new visitor with a receipt minted as the
// edge would, --events per request: an exposure and a conversion per experiment); the origin is
// killed (SIGKILL) at --kill-at seconds and restarted on the same port and database at
// --restart-at. Every --every seconds it prints requests, answers other than 202, events accepted,
// events stored at the origin (its database, read with the sqlite3 shell) and the RSS of workerd,
// of wrangler's node and of the origin. After the load it waits (at most --drain seconds) for the
// queue to deliver, then compares what the edge accepted (its own count) with what is stored. Loopback only; stops by itself.
//
//   node bench/queue-soak.mjs [--seconds 60] [--every 5] [--connections 16] [--events 10]
//                             [--kill-at <seconds/3>] [--restart-at <seconds/2>] [--drain 120] [--peer]
//
// --peer then runs its peer in the same run: the same load on a wrangler dev without an origin
// (the in-isolate buffer path: events are counted and held, up to its bound, never sent), and
// prints the ratio of workerd's RSS at the end, queue path / buffer path. (--kill-at 0: no kill.)
//
// Env: WHALE_ORIGIN (the whale-origin binary).
import autocannon from 'autocannon';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  EVENTS_KEY, ORIGIN_BIN, addPrincipal, mintReceipt, publish, readConfig, request, sleep, startOrigin, startWrangler,
  stop, stopWrangler, storedEvents,
} from '../scripts/stack.mjs';

const SLUG = 'minimal';
const ORIGIN_ARGS = ['--reweight-every', '0', '--revalidate-rate', '0'];

function rssMb(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

// The pid of the first process named `name` in process group pgid (wrangler runs workerd as a
// child in its group), or null.
function groupMember(pgid, name) {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (comm === name && Number(fields[2]) === pgid) return Number(entry);
    } catch {
      // gone meanwhile
    }
  }
  return null;
}

// POSTs a new visitor's events to the edge for `seconds` over `connections`; onResponse(status,
// body) sees each answer. Resolves to autocannon's result.
function saturate(edge, { seconds, connections, experiments, onResponse }) {
  let n = 0;
  return new Promise((resolveLoad, reject) => {
    autocannon({
      url: `${edge.base}/v1/events?vendor=${SLUG}`, connections, duration: seconds, method: 'POST',
      headers: { 'content-type': 'application/json' },
      requests: [{ setupRequest: (req) => ({ ...req, body: visitorBody(`qs-${process.pid}-${++n}`, experiments) }), onResponse }],
    }, (e, r) => (e ? reject(e) : resolveLoad(r)));
  });
}

// The peer: the same load on a wrangler dev without an origin; resolves to workerd's RSS samples.
export async function bufferPeer({ seconds = 60, every = 5, connections = 16, events = 10, log = console.log } = {}) {
  const work = mkdtempSync(join(tmpdir(), 'whale-queue-peer-'));
  let edge = null;
  try {
    edge = await startWrangler({ persistDir: join(work, 'wrangler'), vars: { EVENTS_PER_IP_PER_MINUTE: '100000000' }, secrets: { EVENTS_KEY } });
    const workerd = groupMember(edge.child.pid, 'workerd');
    const started = Date.now();
    const samples = [];
    const sampler = setInterval(() => samples.push({ t: Math.round((Date.now() - started) / 1000), workerdMb: rssMb(workerd) }), every * 1000);
    const result = await saturate(edge, { seconds, connections, experiments: experimentsFor(events), onResponse: () => {} });
    clearInterval(sampler);
    samples.push({ t: Math.round((Date.now() - started) / 1000), workerdMb: rssMb(workerd) });
    const stats = (await request(edge.base, 'GET', '/v1/events/stats')).json.events;
    log(`peer (buffer path, no origin): ${result.requests.total} requests (${result.requests.average.toFixed(0)}/s, p50 ${result.latency.p50} ms, ` +
      `p99 ${result.latency.p99} ms), ${result.non2xx} not 202; events accepted ${stats.accepted}, dropped (buffer full) ${stats.dropped}; ` +
      `workerd RSS ${samples.map((x) => `${x.t}s ${x.workerdMb.toFixed(0)}`).join(', ')} MB`);
    return { samples, rps: result.requests.average };
  } finally {
    await stopWrangler(edge);
    rmSync(work, { recursive: true, force: true });
  }
}

// Experiments a request's receipt lists for `events` events a request (an exposure and a
// conversion each; a receipt lists at most 24).
function experimentsFor(events) {
  return Math.max(1, Math.min(24, Math.floor(events / 2)));
}

// A request body: one new visitor, its receipt listing `experiments` experiments, and an
// exposure and a conversion for each.
function visitorBody(unit, experiments) {
  const names = Array.from({ length: experiments }, (_, k) => `queue-soak-${k}`);
  return JSON.stringify({
    events: names.flatMap((experiment) => [{ type: 'exposure', experiment }, { type: 'conversion', experiment }]),
    receipt: mintReceipt(SLUG, unit, names.map((experiment) => [experiment, 0, unit])),
  });
}

export async function queueSoak({
  seconds = 60, every = 5, connections = 16, events = 10, killAt = Math.round(seconds / 3),
  restartAt = Math.round(seconds / 2), drain = 120, originBin = ORIGIN_BIN, log = console.log,
} = {}) {
  const work = mkdtempSync(join(tmpdir(), 'whale-queue-soak-'));
  const db = join(work, 'origin.db');
  let origin = null;
  let edge = null;
  try {
    const tokens = { edge: addPrincipal('edge', 'edges', db, originBin), vendor: addPrincipal('vendor', SLUG, db, originBin) };
    origin = await startOrigin({ db, bin: originBin, args: ORIGIN_ARGS });
    if (storedEvents(db, SLUG) === null) throw new Error('the sqlite3 shell is needed to count what the origin stored');
    await publish(origin.base, SLUG, tokens.vendor, readConfig(SLUG));
    edge = await startWrangler({
      persistDir: join(work, 'wrangler'),
      vars: { ORIGIN_URL: origin.base, ORIGIN_KEYS: { [origin.keyId]: origin.publicKey }, EVENTS_PER_IP_PER_MINUTE: '100000000' },
      secrets: { EDGE_TOKEN: tokens.edge, EVENTS_KEY },
    });
    const workerd = groupMember(edge.child.pid, 'workerd');
    const port = origin.port;
    log(`queue soak: wrangler dev ${edge.base} (workerd pid ${workerd}), origin ${origin.base}, ${connections} connections, ` +
      `${seconds} s of POST /v1/events with ${events} events each; origin killed at ${killAt} s, restarted at ${restartAt} s`);
    log('   t(s)  requests  non-202  accepted    stored  workerd RSS(MB)  wrangler RSS(MB)  origin RSS(MB)');

    const totals = { requests: 0, non202: 0, accepted: 0 };
    const samples = [];
    const started = Date.now();
    const sample = () => {
      const s = {
        t: Math.round((Date.now() - started) / 1000), requests: totals.requests, non202: totals.non202, accepted: totals.accepted,
        stored: storedEvents(db, SLUG).stored, workerdMb: rssMb(workerd), wranglerMb: rssMb(edge.child.pid),
        originMb: origin ? rssMb(origin.child.pid) : NaN,
      };
      samples.push(s);
      log(`${String(s.t).padStart(7)} ${String(s.requests).padStart(9)} ${String(s.non202).padStart(8)} ${String(s.accepted).padStart(9)} ` +
        `${String(s.stored).padStart(9)} ${s.workerdMb.toFixed(1).padStart(16)} ${s.wranglerMb.toFixed(1).padStart(17)} ` +
        `${(origin ? s.originMb.toFixed(1) : 'down').padStart(15)}`);
    };
    const sampler = setInterval(sample, every * 1000);
    const timers = [];
    if (killAt > 0) {
      timers.push(setTimeout(async () => {
        const down = origin;
        origin = null;
        await stop(down.child, 'SIGKILL');
        log(`        origin killed (SIGKILL) at ${((Date.now() - started) / 1000).toFixed(1)} s`);
      }, killAt * 1000));
      timers.push(setTimeout(async () => {
        for (let attempt = 0; !origin; attempt++) {
          try {
            origin = await startOrigin({ db, port, bin: originBin, args: ORIGIN_ARGS });
          } catch (e) {
            if (attempt >= 40) throw e;
            await sleep(250);
          }
        }
        log(`        origin restarted at ${((Date.now() - started) / 1000).toFixed(1)} s`);
      }, Math.max(restartAt, killAt + 1) * 1000));
    }
    const result = await saturate(edge, {
      seconds, connections, experiments: experimentsFor(events),
      onResponse: (status, body) => {
        totals.requests++;
        if (status !== 202) {
          totals.non202++;
          return;
        }
        try {
          totals.accepted += JSON.parse(body).accepted;
        } catch {
          totals.non202++;
        }
      },
    });
    for (const timer of timers) clearTimeout(timer);
    while (!origin) await sleep(100); // a restart still under way
    const loadEnded = Date.now();
    // What the edge accepted, by its own count: the client misses the answers to the requests
    // autocannon still had in flight when it stopped.
    const accepted = (await request(edge.base, 'GET', '/v1/events/stats')).json.events.accepted;
    let stored = storedEvents(db, SLUG);
    while (stored.stored < accepted && Date.now() - loadEnded < drain * 1000) {
      await sleep(500);
      stored = storedEvents(db, SLUG);
    }
    clearInterval(sampler);
    const drainS = (Date.now() - loadEnded) / 1000;
    sample();
    const stats = (await request(edge.base, 'GET', '/v1/events/stats')).json.events;
    const out = {
      samples, requests: totals.requests, non202: totals.non202, acceptedSeen: totals.accepted, accepted, stored: stored.stored,
      distinct: stored.distinct, drainS, rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99,
      edge: { queue: stats.queue, consumer: stats.consumer, refused: stats.refused },
    };
    log(`queue soak: ${out.requests} requests (${out.rps.toFixed(0)}/s, p50 ${out.p50} ms, p99 ${out.p99} ms), ${out.non202} not 202; ` +
      `events accepted ${out.accepted} (answers seen for ${out.acceptedSeen}), stored at the origin ${out.stored} (${out.distinct} distinct) ${drainS.toFixed(1)} s after the load`);
    log(`queue soak: edge queue ${JSON.stringify(stats.queue)}; consumer ${JSON.stringify(stats.consumer)}`);
    return out;
  } finally {
    await stopWrangler(edge);
    if (origin) await stop(origin.child);
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '60' }, every: { type: 'string', default: '5' },
      connections: { type: 'string', default: '16' }, events: { type: 'string', default: '10' },
      'kill-at': { type: 'string' }, 'restart-at': { type: 'string' }, drain: { type: 'string', default: '120' },
      peer: { type: 'boolean', default: false },
    },
  });
  const seconds = Number(values.seconds);
  const load = { seconds, every: Number(values.every), connections: Number(values.connections), events: Number(values.events) };
  const out = await queueSoak({
    ...load,
    killAt: values['kill-at'] === undefined ? Math.round(seconds / 3) : Number(values['kill-at']),
    restartAt: values['restart-at'] === undefined ? Math.round(seconds / 2) : Number(values['restart-at']),
    drain: Number(values.drain),
  });
  console.log(`goal: every accepted event stored once: ${out.stored} stored of ${out.accepted} accepted, ${out.distinct} distinct ` +
    `(${out.stored === out.accepted && out.distinct === out.stored ? 'met' : 'NOT met'})`);
  if (values.peer) {
    const peer = await bufferPeer(load);
    const queueMb = out.samples.at(-1).workerdMb;
    const bufferMb = peer.samples.at(-1).workerdMb;
    console.log(`peer: workerd RSS at the end, queue path / buffer path: ${queueMb.toFixed(1)} / ${bufferMb.toFixed(1)} MB = ` +
      `${(queueMb / bufferMb).toFixed(2)} (requests/s ${out.rps.toFixed(0)} / ${peer.rps.toFixed(0)} = ${(out.rps / peer.rps).toFixed(2)})`);
  }
  process.exit(out.stored === out.accepted && out.distinct === out.stored ? 0 : 1);
}
