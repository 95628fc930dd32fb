// The origin's storage backends side by side in one run (issue 13; docs/origin.md, "PostgreSQL"):
//   - SQLite: one origin on a fresh file (WAL, synchronous=FULL);
//   - PostgreSQL, one origin: a fresh database on scripts/pg.mjs's primary (fsync on);
//   - PostgreSQL, two origins sharing that kind of database, the load split between them.
// For each, three throughputs:
//   - revalidate: PUT config + POST revalidate of three fixture vendors, CONCURRENCY at a time;
//   - snapshot reads: GET /v1/snapshots/<slug> with the edge token, autocannon for READ_S seconds;
//   - event ingestion: the same signed POST /v1/events batches (exposures of new units, 10%
//     conversions, a tenth of each batch repeated from the one before), CONCURRENCY in flight;
//     every setup must store the same counts.
// Prints a table with each figure and its ratio to SQLite.
//
//   node bench/storage.bench.mjs [events] [revalidations] [readSeconds]   (defaults 300000 300 5)
//
// Env: WHALE_ORIGIN (default: the Release build/bench origin when built, else build/native's).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { REPO, addPrincipal, readConfig, request, signEvents, startOrigin, stop } from '../scripts/stack.mjs';
import { startPgCluster } from '../scripts/pg.mjs';

const EVENTS = Number(process.argv[2] ?? 300000);
const REVALIDATIONS = Number(process.argv[3] ?? 300);
const READ_S = Number(process.argv[4] ?? 5);
const BATCH = 1000;
const CONCURRENCY = 4;
const READ_CONNECTIONS = 32;
const VENDORS = ['flora-distro', 'green-harbor', 'minimal'];

const release = join(REPO, 'build', 'bench', 'src', 'origin', 'whale-origin');
const bin = process.env.WHALE_ORIGIN ?? (existsSync(release) ? release : join(REPO, 'build', 'native', 'src', 'origin', 'whale-origin'));
const flavour = bin === release ? 'Release (build/bench)' : process.env.WHALE_ORIGIN ? bin : 'ASan+UBSan debug (build/native)';

// The event batches, built once before any clock starts; every setup gets the same bytes.
function batches() {
  const bodies = [];
  let n = 0;
  let previous = [];
  while (bodies.length * BATCH < EVENTS) {
    const events = previous.slice(0, BATCH / 10); // sent again: duplicates
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

// Runs `count` jobs, CONCURRENCY at a time, job(i, origin) spread over the origins; jobs/s.
async function spread(origins, count, job) {
  let next = 0;
  const started = performance.now();
  const worker = async (w) => {
    while (next < count) {
      const i = next++;
      await job(i, origins[(i + w) % origins.length]);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, (_, w) => worker(w)));
  return count / ((performance.now() - started) / 1000);
}

async function revalidations(origins, tokens) {
  const configs = Object.fromEntries(VENDORS.map((slug) => [slug, readConfig(slug)]));
  return spread(origins, REVALIDATIONS, async (i, origin) => {
    const slug = VENDORS[i % VENDORS.length];
    const token = tokens[slug];
    const config = { ...configs[slug], features: { ...configs[slug].features, 'bench-round': { defaultValue: i } } };
    const put = await request(origin.base, 'PUT', `/v1/vendors/${slug}/config`, { token, body: config });
    if (put.status !== 200) throw new Error(`PUT ${slug}: ${put.status} ${put.text}`);
    const rev = await request(origin.base, 'POST', `/v1/vendors/${slug}/revalidate`, { token, body: '' });
    if (rev.status !== 200) throw new Error(`revalidate ${slug}: ${rev.status} ${rev.text}`);
  });
}

async function reads(origins, edgeToken) {
  const runs = origins.map((origin) => autocannon({
    url: `${origin.base}/v1/snapshots/flora-distro`, connections: Math.ceil(READ_CONNECTIONS / origins.length),
    duration: READ_S, headers: { authorization: `Bearer ${edgeToken}` },
  }));
  const results = await Promise.all(runs);
  const bad = results.reduce((n, r) => n + r.non2xx + r.errors, 0);
  if (bad > 0) throw new Error(`snapshot reads: ${bad} failed`);
  return results.reduce((sum, r) => sum + r.requests.average, 0);
}

async function ingestion(origins, edgeToken, bodies) {
  let accepted = 0;
  let duplicates = 0;
  const rate = await spread(origins, bodies.length, async (i, origin) => {
    const res = await request(origin.base, 'POST', '/v1/events', { token: edgeToken, body: bodies[i], timeoutMs: 60000 });
    if (res.status !== 200) throw new Error(`POST /v1/events: ${res.status} ${res.text}`);
    accepted += res.json.accepted;
    duplicates += res.json.duplicates;
  });
  return { rate: rate * BATCH, accepted, duplicates };
}

async function setup(name, db, processes, args, bodies) {
  const tokens = { edge: addPrincipal('edge', 'bench-edge', db, bin) };
  for (const slug of VENDORS) tokens[slug] = addPrincipal('vendor', slug, db, bin);
  const origins = [];
  try {
    for (let p = 0; p < processes; p++) {
      origins.push(await startOrigin({ db, bin, args: ['--reweight-every', '0', '--max-conns-per-ip', '1024', ...args] }));
    }
    const revalidate = await revalidations(origins, tokens);
    const read = await reads(origins, tokens.edge);
    const events = await ingestion(origins, tokens.edge, bodies);
    console.log(`${name.padEnd(24)} revalidate ${revalidate.toFixed(0).padStart(6)}/s   snapshot reads ${read.toFixed(0).padStart(6)}/s   ` +
      `events ${events.rate.toFixed(0).padStart(7)}/s`);
    return { name, revalidate, read, events };
  } finally {
    await Promise.all(origins.map((o) => stop(o.child)));
  }
}

const work = mkdtempSync(join(tmpdir(), 'whale-storage-bench-'));
const pg = await startPgCluster();
try {
  const bodies = batches();
  console.log(`origin: ${flavour}; ${REVALIDATIONS} revalidations, ${READ_S} s of snapshot reads ` +
    `(${READ_CONNECTIONS} connections), ${bodies.length} event batches of ${BATCH}; ${CONCURRENCY} in flight`);
  const key = ['--key', join(work, 'pg.key.pem')];
  const rows = [
    await setup('SQLite, 1 origin', join(work, 'origin.db'), 1, [], bodies),
    await setup('PostgreSQL, 1 origin', pg.createDatabase().primary, 1, key, bodies),
    await setup('PostgreSQL, 2 origins', pg.createDatabase().primary, 2, key, bodies),
  ];
  const [sqlite] = rows;
  for (const row of rows) {
    if (row.events.accepted !== sqlite.events.accepted || row.events.duplicates !== sqlite.events.duplicates) {
      throw new Error(`${row.name} stored ${row.events.accepted}/${row.events.duplicates} events, SQLite ${sqlite.events.accepted}/${sqlite.events.duplicates}`);
    }
  }
  console.log('\nratios to SQLite (events goal: PostgreSQL >= 1.0x)');
  for (const row of rows.slice(1)) {
    console.log(`${row.name.padEnd(24)} revalidate ${(row.revalidate / sqlite.revalidate).toFixed(2)}x   ` +
      `snapshot reads ${(row.read / sqlite.read).toFixed(2)}x   events ${(row.events.rate / sqlite.events.rate).toFixed(2)}x`);
  }
} finally {
  await pg.stop();
  rmSync(work, { recursive: true, force: true });
}
