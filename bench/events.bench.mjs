// Event ingestion at the origin (docs/bandits.md): POST /v1/events batches of BATCH events
// (exposures of distinct units plus 10% conversions, over 3 arms), CONCURRENCY requests in flight,
// into a fresh SQLite database (WAL, synchronous=FULL: one fsync'd transaction per batch).
// Prints events/s and the batch latency. Goal of issue 6: at least 20k events/s.
//
//   node bench/events.bench.mjs [events] [batch] [concurrency]   (defaults 200000 1000 4)
//
// Env: WHALE_ORIGIN (default: the Release build/bench origin when built, else build/native's,
// which has ASan+UBSan).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO, addPrincipal, request, signEvents, startOrigin, stop } from '../scripts/stack.mjs';

const TOTAL = Number(process.argv[2] ?? 200000);
const BATCH = Number(process.argv[3] ?? 1000);
const CONCURRENCY = Number(process.argv[4] ?? 4);
const GOAL = 20000;

const release = join(REPO, 'build', 'bench', 'src', 'origin', 'whale-origin');
const bin = process.env.WHALE_ORIGIN ?? (existsSync(release) ? release : join(REPO, 'build', 'native', 'src', 'origin', 'whale-origin'));
const flavour = bin === release ? 'Release (build/bench)' : process.env.WHALE_ORIGIN ? bin : 'ASan+UBSan debug (build/native)';

const work = mkdtempSync(join(tmpdir(), 'whale-events-bench-'));
const db = join(work, 'origin.db');
const token = addPrincipal('edge', 'bench-edge', db, bin);
const origin = await startOrigin({ db, bin, args: ['--reweight-every', '0'] });

let seq = 0;
function batchBody() {
  const events = [];
  while (events.length < BATCH) {
    const n = seq++;
    const unit = `u-${n}`;
    events.push({ eventId: `x-${n}`, type: 'exposure', slug: 'bench-shop', experiment: 'hero', variation: n % 3, unit, ts: 1764000000000 + n });
    if (n % 10 === 0 && events.length < BATCH) {
      events.push({ eventId: `c-${n}`, type: 'conversion', slug: 'bench-shop', experiment: 'hero', variation: n % 3, unit, ts: 1764000000001 + n });
    }
  }
  return JSON.stringify({ events: signEvents(events) });
}

const bodies = [];
for (let sent = 0; sent < TOTAL; sent += BATCH) bodies.push(batchBody());  // built before the clock starts
const latencies = [];
let accepted = 0;
let next = 0;
const started = performance.now();
async function worker() {
  while (next < bodies.length) {
    const body = bodies[next++];
    const t0 = performance.now();
    const res = await request(origin.base, 'POST', '/v1/events', { token, body, timeoutMs: 30000 });
    latencies.push(performance.now() - t0);
    if (res.status !== 200) throw new Error(`POST /v1/events: ${res.status} ${res.text}`);
    accepted += res.json.accepted;
  }
}
try {
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const q = (p) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))].toFixed(1);
  const rate = accepted / seconds;
  console.log(`origin: ${flavour}`);
  console.log(`${accepted} events in ${bodies.length} batches of ${BATCH}, ${CONCURRENCY} in flight: ${seconds.toFixed(2)} s`);
  console.log(`ingestion: ${Math.round(rate)} events/s (goal >= ${GOAL}: ${rate >= GOAL ? 'met' : 'NOT met'})`);
  console.log(`batch latency ms: p50 ${q(0.5)}, p99 ${q(0.99)}`);
} finally {
  await stop(origin.child);
  rmSync(work, { recursive: true, force: true });
}
