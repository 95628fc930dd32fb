// Event ingestion on both storage backends in one run (docs/origin.md, "PostgreSQL"; issue 13 §5):
// the same signed POST /v1/events batches (exposures of distinct units plus 10% conversions over 3
// arms, a tenth of each batch repeated from the one before: duplicates) sent to an origin on a
// fresh SQLite file (WAL, synchronous=FULL) and to one on a fresh PostgreSQL database
// (scripts/pg.mjs: fsync on, synchronous_commit on). Prints events/s for each, the ratio, and
// checks that both stored the same counts. Goal: PostgreSQL at least SQLite's rate.
//
//   node bench/pg-ingest.mjs [events] [batch] [concurrency]   (defaults 200000 1000 4)
//
// Env: WHALE_ORIGIN (default: the Release build/bench origin when built, else build/native's).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO, addPrincipal, request, signEvents, startOrigin, stop } from '../scripts/stack.mjs';
import { startPgCluster } from '../scripts/pg.mjs';

const TOTAL = Number(process.argv[2] ?? 200000);
const BATCH = Number(process.argv[3] ?? 1000);
const CONCURRENCY = Number(process.argv[4] ?? 4);

const release = join(REPO, 'build', 'bench', 'src', 'origin', 'whale-origin');
const bin = process.env.WHALE_ORIGIN ?? (existsSync(release) ? release : join(REPO, 'build', 'native', 'src', 'origin', 'whale-origin'));
const flavour = bin === release ? 'Release (build/bench)' : process.env.WHALE_ORIGIN ? bin : 'ASan+UBSan debug (build/native)';

// The batches, built once before any clock starts; both backends get the same bytes.
function batches() {
  const bodies = [];
  let n = 0;
  let previous = [];
  while (bodies.length * BATCH < TOTAL) {
    const events = previous.slice(0, BATCH / 10);  // sent again: duplicates
    while (events.length < BATCH) {
      const unit = `u-${n}`;
      events.push({ type: 'exposure', slug: 'bench-shop', experiment: 'hero', variation: n % 3, unit, ts: 1764000000000 + n });
      if (n % 10 === 0 && events.length < BATCH) {
        events.push({ type: 'conversion', slug: 'bench-shop', experiment: 'hero', variation: n % 3, unit, ts: 1764000000001 + n });
      }
      n++;
    }
    previous = events.slice(BATCH / 10);
    bodies.push(JSON.stringify({ events: signEvents(events) }));
  }
  return bodies;
}

async function ingest(origin, token, bodies) {
  let accepted = 0;
  let duplicates = 0;
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < bodies.length) {
      const body = bodies[next++];
      const res = await request(origin.base, 'POST', '/v1/events', { token, body, timeoutMs: 60000 });
      if (res.status !== 200) throw new Error(`POST /v1/events: ${res.status} ${res.text}`);
      accepted += res.json.accepted;
      duplicates += res.json.duplicates;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const seconds = (performance.now() - started) / 1000;
  return { accepted, duplicates, seconds, rate: (accepted + duplicates) / seconds };
}

async function run(name, db, args, bodies) {
  const token = addPrincipal('edge', 'bench-edge', db, bin);
  const origin = await startOrigin({ db, bin, args: ['--reweight-every', '0', ...args] });
  try {
    const r = await ingest(origin, token, bodies);
    console.log(`${name.padEnd(10)} ${Math.round(r.rate).toString().padStart(8)} events/s  ` +
      `(${r.accepted} accepted, ${r.duplicates} duplicates in ${r.seconds.toFixed(2)} s)`);
    return r;
  } finally {
    await stop(origin.child);
  }
}

const work = mkdtempSync(join(tmpdir(), 'whale-pg-ingest-'));
const pg = await startPgCluster();
try {
  const bodies = batches();
  console.log(`origin: ${flavour}; ${bodies.length} batches of ${BATCH}, ${CONCURRENCY} in flight`);
  const sqlite = await run('SQLite', join(work, 'origin.db'), [], bodies);
  const postgres = await run('PostgreSQL', pg.createDatabase().primary, ['--key', join(work, 'pg.key.pem')], bodies);
  const ratio = postgres.rate / sqlite.rate;
  console.log(`PostgreSQL / SQLite: ${ratio.toFixed(2)} (goal >= 1: ${ratio >= 1 ? 'met' : 'NOT met'})`);
  if (sqlite.accepted !== postgres.accepted || sqlite.duplicates !== postgres.duplicates) {
    throw new Error(`the backends disagree: SQLite ${sqlite.accepted}/${sqlite.duplicates}, PostgreSQL ${postgres.accepted}/${postgres.duplicates}`);
  }
} finally {
  await pg.stop();
  rmSync(work, { recursive: true, force: true });
}
