// Pooling through PgBouncer (docs/origin.md, "PostgreSQL"; issue 13 §4): CLIENTS concurrent HTTP
// clients (kept-alive connections) against two origin processes for SECONDS, snapshot reads
// (half of them revalidating with If-None-Match), ?since= polls and one publish in every 200
// requests. Run twice in one go: the origins' --db on PgBouncer (transaction pooling,
// default_pool_size POOL) and, the peer, on the primary directly. Prints requests/s, errors,
// latency, and the most server connections PostgreSQL had open to the database at once
// (pg_stat_activity, polled every 100 ms): through PgBouncer it must stay <= POOL.
//
//   node bench/pg-pool.mjs [clients] [seconds] [pool]   (defaults 1000 20 20)
//
// Env: WHALE_ORIGIN (default: the Release build/bench origin when built, else build/native's);
// WHALE_DB_POOL (each origin's --db-pool, default 16: 32 client connections to PgBouncer).
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO, addPrincipal, readConfig, request, startOrigin, stop } from '../scripts/stack.mjs';
import { PG_BIN, startPgCluster } from '../scripts/pg.mjs';

const CLIENTS = Number(process.argv[2] ?? 1000);
const SECONDS = Number(process.argv[3] ?? 20);
const POOL = Number(process.argv[4] ?? 20);
const DB_POOL = Number(process.env.WHALE_DB_POOL ?? 16);
const SLUG = 'minimal';  // a small config: the bench measures the database's connections, not bytes

const release = join(REPO, 'build', 'bench', 'src', 'origin', 'whale-origin');
const bin = process.env.WHALE_ORIGIN ?? (existsSync(release) ? release : join(REPO, 'build', 'native', 'src', 'origin', 'whale-origin'));
const flavour = bin === release ? 'Release (build/bench)' : process.env.WHALE_ORIGIN ? bin : 'ASan+UBSan debug (build/native)';


// The most server connections to `database` seen while `running()`, by a poller off the event loop.
function watchConnections(adminUrl, database) {
  let max = 0;
  let stopped = false;
  const sql = `SELECT count(*) FROM pg_stat_activity WHERE datname = '${database}' AND backend_type = 'client backend'`;
  const poll = () => execFile(join(PG_BIN, 'psql'), ['-X', '-q', '-A', '-t', '-d', adminUrl, '-c', sql], (error, stdout) => {
    if (!error) max = Math.max(max, Number(stdout.trim()));
    if (!stopped) setTimeout(poll, 100);
  });
  poll();
  return { stop: () => { stopped = true; return max; } };
}

async function load(origins, tokens) {
  const deadline = performance.now() + SECONDS * 1000;
  const latencies = [];
  let requests = 0;
  let errors = 0;
  const failures = new Map();  // what the errors were: status and code, or the exception's name
  let n = 0;
  const client = async (i) => {
    let etag = '';
    while (performance.now() < deadline) {
      const origin = origins[(i + n) % origins.length];
      const k = n++;
      const t0 = performance.now();
      try {
        let r;
        if (k % 200 === 0) {
          r = await request(origin.base, 'POST', `/v1/vendors/${SLUG}/revalidate`, { token: tokens.vendor, body: '' });
        } else if (k % 10 === 0) {
          r = await request(origin.base, 'GET', '/v1/snapshots?since=0', { token: tokens.edge });
        } else {
          const headers = k % 2 && etag ? { 'if-none-match': etag } : {};
          r = await request(origin.base, 'GET', `/v1/snapshots/${SLUG}`, { token: tokens.edge, headers });
          etag = r.headers.get('etag') ?? etag;
        }
        if (r.status !== 200 && r.status !== 304) {
          errors++;
          failures.set(`${r.status} ${r.json?.error?.code ?? ''}`, (failures.get(`${r.status} ${r.json?.error?.code ?? ''}`) ?? 0) + 1);
        }
      } catch (e) {
        errors++;
        failures.set(e.name, (failures.get(e.name) ?? 0) + 1);
      }
      latencies.push(performance.now() - t0);
      requests++;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: CLIENTS }, (_, i) => client(i)));
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const q = (p) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))].toFixed(1);
  return { rate: requests / seconds, requests, errors, p50: q(0.5), p99: q(0.99), failures: [...failures].map(([k, v]) => `${k}: ${v}`).join(', ') };
}

async function run(name, pg, via, work) {
  const urls = pg.createDatabase();
  const database = new URL(urls.primary).pathname.slice(1);
  const tokens = { edge: addPrincipal('edge', 'bench-edge', urls.primary, bin), vendor: addPrincipal('vendor', SLUG, urls.primary, bin) };
  const args = ['--key', join(work, 'whale.key.pem'), '--reweight-every', '0', '--db-pool', String(DB_POOL),
    '--max-conns-per-ip', String(2 * CLIENTS + 100), '--max-conns', String(2 * CLIENTS + 100)];
  const origins = [];
  try {
    for (let i = 0; i < 2; i++) origins.push(await startOrigin({ db: urls[via], bin, args }));
    const put = await request(origins[0].base, 'PUT', `/v1/vendors/${SLUG}/config`, { token: tokens.vendor, body: readConfig(SLUG) });
    if (put.status !== 200) throw new Error(`PUT config: ${put.status} ${put.text}`);
    const first = await request(origins[0].base, 'POST', `/v1/vendors/${SLUG}/revalidate`, { token: tokens.vendor, body: '' });
    if (first.status !== 200) throw new Error(`revalidate: ${first.status} ${first.text}`);
    const watcher = watchConnections(pg.admin('primary'), database);
    const r = await load(origins, tokens);
    r.maxServerConnections = watcher.stop();
    console.log(`${name.padEnd(22)} ${Math.round(r.rate).toString().padStart(7)} req/s  ${r.requests} requests, ` +
      `${r.errors} errors${r.errors ? ` (${r.failures})` : ''}, p50 ${r.p50} ms, p99 ${r.p99} ms, ` +
      `server connections max ${r.maxServerConnections}`);
    return r;
  } finally {
    await Promise.all(origins.map((o) => stop(o.child)));
  }
}

const work = mkdtempSync(join(tmpdir(), 'whale-pg-pool-'));
const pg = await startPgCluster({ bouncer: true, poolSize: POOL, maxClients: 2000 });
try {
  console.log(`origin: ${flavour}; ${CLIENTS} clients, ${SECONDS} s each, 2 origins with --db-pool ${DB_POOL}, PgBouncer default_pool_size ${POOL}`);
  const bounced = await run('through PgBouncer', pg, 'bouncer', work);
  const direct = await run('direct to the primary', pg, 'primary', work);
  console.log(`PgBouncer / direct: ${(bounced.rate / direct.rate).toFixed(2)} of the requests/s; ` +
    `server connections ${bounced.maxServerConnections} <= ${POOL}: ${bounced.maxServerConnections <= POOL ? 'yes' : 'NO'}`);
  if (bounced.maxServerConnections > POOL) process.exitCode = 1;
} finally {
  await pg.stop();
  rmSync(work, { recursive: true, force: true });
}
