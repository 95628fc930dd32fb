// The origin under attack (issue 10, item 3; docs/origin.md, "HTTP server"): a fresh client's
// GET /healthz latency and the origin's RSS, first alone, then with 1000 slow-loris connections
// (one header byte a second, reopened when the head deadline cuts them, at most 50 per loopback
// source address) and four 256 MB chunked uploads in flight (two to an unknown path, two to
// PUT .../config with a valid token; each restarts once refused). The attackers run in a worker
// thread so that the measuring client's event loop is not theirs. Prints p50/p99 and RSS beside
// the goals (p99 < 100 ms, RSS growth < 64 MB) and the ratio to the quiet run (the peer).
// Loopback only; about 40 s.
//
//   node bench/origin-attack.mjs [--slow 1000] [--uploads 4] [--requests 500] [--every-ms 40]
//
// Env: WHALE_ORIGIN (the whale-origin binary; default build/bench's release build when present,
// else build/native's).
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { get } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { REPO, addPrincipal, sleep, startOrigin, stop } from '../scripts/stack.mjs';

const UPLOAD_BYTES = 256 * 1024 * 1024;
const PIECE = 64 * 1024;
const PER_ADDRESS = 50;  // under the origin's default --max-conns-per-ip (64)
const GOAL_P99_MS = 100;
const GOAL_RSS_GROWTH_MB = 64;

function rssMb(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m[1]) / 1024;
}

// --- the attackers (worker thread) ----------------------------------------------------------------

function attack({ port, slow, uploads, token }) {
  let stopping = false;
  const counts = { slowOpen: 0, slowCut: 0, uploads: 0, uploadBytes: 0, answers: {} };
  const head = 'GET /healthz HTTP/1.1\r\nHost: origin\r\nX-Slow: ' + 'x'.repeat(200);

  // One slow-loris connection from `from`: a byte a second; reopened when cut.
  function loris(from) {
    if (stopping) return;
    const s = connect({ host: '127.0.0.1', port, localAddress: from });
    let at = 0;
    let timer = null;
    s.on('error', () => {});
    s.once('connect', () => {
      counts.slowOpen++;
      const send = () => s.write(head[at++ % head.length]);
      send();
      timer = setInterval(send, 1000);
    });
    s.once('close', () => {
      clearInterval(timer);
      if (at > 0) {
        counts.slowOpen--;
        counts.slowCut++;
      }
      setTimeout(() => loris(from), 100);
    });
  }

  // One chunked upload of UPLOAD_BYTES, over and over; each ends when the origin answers.
  async function uploader(from, method, path, auth) {
    const piece = Buffer.concat([Buffer.from(`${PIECE.toString(16)}\r\n`), Buffer.alloc(PIECE, 0x20), Buffer.from('\r\n')]);
    while (!stopping) {
      const s = connect({ host: '127.0.0.1', port, localAddress: from });
      s.on('error', () => {});
      let answer = '';
      s.on('data', (d) => { answer += d.toString('latin1'); });
      const gone = new Promise((r) => s.once('close', r));
      await Promise.race([new Promise((r) => s.once('connect', r)), gone]);
      s.write(`${method} ${path} HTTP/1.1\r\nHost: origin\r\n${auth ? `Authorization: Bearer ${auth}\r\n` : ''}` +
        'Transfer-Encoding: chunked\r\n\r\n');
      while (s.bytesWritten < UPLOAD_BYTES && s.writable && !s.destroyed && !answer && !stopping) {
        if (!s.write(piece)) await Promise.race([new Promise((r) => s.once('drain', r)), gone, sleep(1000)]);
      }
      await Promise.race([gone, sleep(2000)]);
      const status = `${path} ${/^HTTP\/1\.1 (\d+)/.exec(answer)?.[1] ?? 'reset unread'}`;
      counts.answers[status] = (counts.answers[status] ?? 0) + 1;
      counts.uploads++;
      counts.uploadBytes += s.bytesWritten;
      s.destroy();
      await sleep(50);
    }
  }

  for (let i = 0; i < slow; i++) setTimeout(() => loris(`127.0.0.${2 + Math.floor(i / PER_ADDRESS)}`), i);
  const targets = [['POST', '/upload', undefined], ['PUT', '/v1/vendors/acme/config', token]];
  for (let i = 0; i < uploads; i++) uploader(`127.0.0.${200 + i}`, ...targets[i % 2]);
  const report = setInterval(() => parentPort.postMessage(counts), 250);
  parentPort.on('message', (m) => {
    if (m !== 'stop') return;
    stopping = true;
    clearInterval(report);
    parentPort.postMessage(counts);
    setTimeout(() => process.exit(0), 200);
  });
}

if (!isMainThread) attack(workerData);

// --- the measuring client (main thread) -----------------------------------------------------------

// One GET /healthz on a new connection; its latency in ms (Infinity when it failed).
function healthz(port) {
  const start = process.hrtime.bigint();
  return new Promise((resolveMs) => {
    const req = get({ host: '127.0.0.1', port, path: '/healthz', agent: false, timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => resolveMs(res.statusCode === 200 ? Number(process.hrtime.bigint() - start) / 1e6 : Infinity));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolveMs(Infinity));
  });
}

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];

// `n` requests, one every `everyMs`; the latencies sorted, with the RSS sampled meanwhile.
async function measure(port, pid, n, everyMs) {
  const latencies = [];
  let rssMax = rssMb(pid);
  for (let i = 0; i < n; i++) {
    const started = Date.now();
    latencies.push(await healthz(port));
    rssMax = Math.max(rssMax, rssMb(pid));
    await sleep(Math.max(0, everyMs - (Date.now() - started)));
  }
  latencies.sort((a, b) => a - b);
  return { p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99), failed: latencies.filter((l) => l === Infinity).length, rssMax };
}

async function main() {
  const { values } = parseArgs({
    options: {
      slow: { type: 'string', default: '1000' },
      uploads: { type: 'string', default: '4' },
      requests: { type: 'string', default: '500' },
      'every-ms': { type: 'string', default: '40' },
    },
  });
  const release = join(REPO, 'build', 'bench', 'src', 'origin', 'whale-origin');
  const bin = process.env.WHALE_ORIGIN ?? (existsSync(release) ? release : undefined);
  const work = mkdtempSync(join(tmpdir(), 'whale-origin-attack-'));
  const db = join(work, 'bench.db');
  const token = addPrincipal('vendor', 'acme', db, bin);
  const origin = await startOrigin({ db, bin, args: ['--revalidate-rate', '0'] });
  const pid = origin.child.pid;
  const n = Number(values.requests);
  const everyMs = Number(values['every-ms']);
  let worker;
  try {
    console.log(`origin-attack: ${bin ?? 'build/native whale-origin'} (pid ${pid}), ${values.slow} slow connections, ` +
      `${values.uploads} chunked uploads of ${UPLOAD_BYTES >> 20} MB, ${n} GET /healthz one every ${everyMs} ms`);
    const quiet = await measure(origin.port, pid, n, everyMs);
    const rssBefore = rssMb(pid);

    let counts = {};
    worker = new Worker(new URL(import.meta.url), {
      workerData: { port: origin.port, slow: Number(values.slow), uploads: Number(values.uploads), token },
    });
    worker.on('message', (c) => { counts = c; });
    const settleUntil = Date.now() + 15000;
    while ((counts.slowOpen ?? 0) < Number(values.slow) * 0.95 && Date.now() < settleUntil) await sleep(100);
    const openAtStart = counts.slowOpen;
    const attacked = await measure(origin.port, pid, n, everyMs);
    const rssDuring = attacked.rssMax;
    const openAtEnd = counts.slowOpen;
    worker.postMessage('stop');
    await sleep(300);

    const growth = rssDuring - rssBefore;
    const verdict = (ok) => (ok ? 'ok' : 'MISSED');
    const ms = (x) => (x === Infinity ? 'failed' : `${x.toFixed(2)} ms`);
    console.log(`\n                      quiet        under attack   ratio   goal`);
    console.log(`healthz p50           ${ms(quiet.p50).padEnd(12)} ${ms(attacked.p50).padEnd(14)} ${(attacked.p50 / quiet.p50).toFixed(2).padEnd(7)}`);
    console.log(`healthz p99           ${ms(quiet.p99).padEnd(12)} ${ms(attacked.p99).padEnd(14)} ${(attacked.p99 / quiet.p99).toFixed(2).padEnd(7)} < ${GOAL_P99_MS} ms: ${verdict(attacked.p99 < GOAL_P99_MS)}`);
    console.log(`healthz failed        ${String(quiet.failed).padEnd(12)} ${String(attacked.failed).padEnd(14)}`);
    console.log(`origin RSS            ${rssBefore.toFixed(1).padEnd(12)} ${rssDuring.toFixed(1).padEnd(14)} +${growth.toFixed(1)} MB  < +${GOAL_RSS_GROWTH_MB} MB: ${verdict(growth < GOAL_RSS_GROWTH_MB)}`);
    console.log(`\nattack: slow connections open ${openAtStart} at the start, ${openAtEnd} at the end, ${counts.slowCut} cut by the head deadline and reopened;`);
    console.log(`        ${counts.uploads} chunked uploads answered ${JSON.stringify(counts.answers)}, ` +
      `${(counts.uploadBytes / 2 ** 20).toFixed(0)} MB sent in all (${(counts.uploadBytes / Math.max(1, counts.uploads) / 2 ** 20).toFixed(2)} MB each on average)`);
  } finally {
    await worker?.terminate();
    await stop(origin.child);
    rmSync(work, { recursive: true, force: true });
  }
}

if (isMainThread) await main();
