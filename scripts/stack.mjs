#!/usr/bin/env node
// The local stack: one whale-origin and three workerd edges on loopback, synced by signed
// snapshots. As a program (scripts/start.sh runs it) it starts everything, publishes every fixture
// vendor's config.json, prints what to open and stops everything on SIGINT/SIGTERM. As a module it
// gives the e2e test and the propagation benchmark the same pieces.
//
//   node scripts/stack.mjs [--dir build/origin] [--origin-port 8788] [--edge-ports 8787,8797,8807]
//                          [--media-port 8790] [--runtime workerd|wrangler] [--storage sqlite|postgres]
//   node scripts/stack.mjs publish <slug> [config.json]    (PUT + revalidate on the running stack)
//
// Env: WHALE_ORIGIN (the whale-origin binary), WHALE_EMSCRIPTEN_DIR (its wasm/core.wasm is served).

import { spawn, spawnSync } from 'node:child_process';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, isDeepStrictEqual } from 'node:util';
import { generateConfig } from '../edge-workers/gen-config.mjs';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const ORIGIN_BIN = process.env.WHALE_ORIGIN ?? join(REPO, 'build', 'native', 'src', 'origin', 'whale-origin');
export const WORKERD = join(REPO, 'node_modules', '.bin', 'workerd');
const STARTUP_MS = 20000;
const REQUEST_MS = 10000;

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The events key the origin and the edges of this process share (docs/bandits.md): from
// WHALE_EVENTS_KEY, or a new random one per process.
export const EVENTS_KEY = process.env.WHALE_EVENTS_KEY ?? randomBytes(32).toString('base64url');

// The image signing secret the edges of this process share (docs/images.md, "Signed URLs"): from
// WHALE_IMAGE_SIGNING_SECRET, or a new random one per process. Handed to workerd in the
// environment, never written to a config.
export const IMAGE_SIGNING_SECRET = process.env.WHALE_IMAGE_SIGNING_SECRET ?? randomBytes(32).toString('base64url');
export const IMAGE_SIGNING_SECRET_ENV = 'WHALE_IMAGE_SIGNING_SECRET';

// The id an edge holding `key` gives an event (its MAC; edge-workers/events.js, src/origin/events.cpp).
export function eventIdOf({ type, slug, experiment, variation, unit, ts }, key = EVENTS_KEY) {
  const vendorKey = createHmac('sha256', key).update(`whale-events-v1 vendor\n${slug}`).digest();
  const message = `whale-event-v1\n${type}\n${slug}\n${experiment}\n${variation}\n${unit}\n${Math.floor(ts / 86400000)}`;
  return createHmac('sha256', vendorKey).update(message).digest().subarray(0, 16).toString('hex');
}

// Events as an edge with `key` forwards them: each with its MAC as eventId.
export function signEvents(events, key = EVENTS_KEY) {
  return events.map((e) => ({ ...e, eventId: eventIdOf(e, key) }));
}

// A receipt as an edge holding `key` mints it for a visitor assigned entries
// ([[experiment, variation, unit], ...]; EventKeys.mintReceipt in edge-workers/events.js).
export function mintReceipt(slug, visitor, entries, { key = EVENTS_KEY, nowMs = Date.now() } = {}) {
  const payload = Buffer.from(JSON.stringify({ s: slug, v: visitor, t: Math.floor(nowMs / 1000), a: entries.slice(-24) })).toString('base64url');
  const vendorKey = createHmac('sha256', key).update(`whale-receipt-v1 vendor\n${slug}`).digest();
  return `${payload}.${createHmac('sha256', vendorKey).update(payload).digest().subarray(0, 16).toString('base64url')}`;
}

export function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

// A free port held until release(): for servers whose port others must know before they start
// (an origin told its edges' addresses). Meanwhile nothing else can take it (an outgoing
// connection's ephemeral port, another test's server), and a connection to it is reset at once,
// as a closed port would refuse it.
export function reservePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer((socket) => socket.destroy());
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      resolvePort({ port: server.address().port, release: () => new Promise((r) => server.close(() => r())) });
    });
  });
}

// Whether nothing listens on 127.0.0.1:port.
export function portIsFree(port) {
  return new Promise((resolveFree) => {
    const server = createServer();
    server.once('error', () => resolveFree(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolveFree(true)));
  });
}

// One HTTP request; resolves to {status, headers, text, json}. Never keeps the body unread.
export async function request(base, method, path, { token, body, headers = {}, timeoutMs = REQUEST_MS } = {}) {
  const h = { ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  const payload = body === undefined || typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body);
  if (payload !== undefined && !h['content-type']) h['content-type'] = 'application/json';
  const res = await fetch(base + path, { method, headers: h, body: payload, signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, headers: res.headers, text, json };
}

// Stops a child: SIGTERM, then SIGKILL after 3 s. Resolves once it has exited.
export async function stop(child, signal = 'SIGTERM') {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill(signal);
  if (await Promise.race([exited.then(() => true), sleep(3000).then(() => false)])) return;
  child.kill('SIGKILL');
  await Promise.race([exited, sleep(3000)]);
}

// Polls predicate every everyMs until it returns something truthy, which it resolves to; rejects
// after timeoutMs naming `what`.
export async function until(what, predicate, timeoutMs = 10000, everyMs = 20) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await predicate();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

// --- the origin ---------------------------------------------------------------------------------

// `whale-origin <kind> add <name> --db <db>`: the new token.
export function addPrincipal(kind, name, db, bin = ORIGIN_BIN) {
  const r = spawnSync(bin, [kind, 'add', name, '--db', db], { encoding: 'utf8', timeout: REQUEST_MS });
  if (r.status !== 0) throw new Error(`whale-origin ${kind} add ${name}: ${r.error?.message ?? r.stderr.trim()}`);
  return r.stdout.trim();
}

// `whale-origin serve`; resolves once it prints where it listens, with its public key.
// Options: db, port (0: a free one), edges (invalidate URLs to nudge), edgeToken (sent with them),
// bin (the whale-origin binary), revalidateRate (publishes per vendor a minute; default 0, no
// limit, for suites that publish in bursts; null: the origin's own default).
export function startOrigin({ db, port = 0, edges = [], edgeToken, eventsKey = EVENTS_KEY, revalidateRate = 0, args = [],
  bin = ORIGIN_BIN }) {
  const edgeArgs = edges.flatMap((url) => ['--edge', url]);
  if (revalidateRate !== null) edgeArgs.push('--revalidate-rate', String(revalidateRate));
  const env = { ...process.env };
  if (edgeToken) env.WHALE_EDGE_TOKEN = edgeToken;
  if (eventsKey) env.WHALE_EVENTS_KEY = eventsKey;
  else delete env.WHALE_EVENTS_KEY;
  // A PostgreSQL database (tests/e2e/test-db.mjs) has no key beside it: --key names one.
  const keyArgs = /^postgres(ql)?:\/\//.test(db) && !args.includes('--key')
    ? ['--key', join(tmpdir(), `whale-${createHash('sha256').update(db).digest('hex').slice(0, 12)}.key.pem`)] : [];
  const child = spawn(bin, ['serve', '--db', db, ...keyArgs, '--port', String(port), ...edgeArgs, ...args],
    { stdio: ['ignore', 'pipe', 'pipe'], env });
  const origin = { child, base: '', port: 0, publicKey: '', keyId: '', stdout: '', stderr: '' };
  child.stderr.on('data', (chunk) => { origin.stderr = (origin.stderr + chunk).slice(-65536); });
  return new Promise((resolveStart, reject) => {
    const timer = setTimeout(() => reject(new Error(`whale-origin did not start\n${origin.stderr}`)), STARTUP_MS);
    child.stdout.on('data', (chunk) => {
      origin.stdout += chunk;
      const listening = /listening on (http:\/\/[\d.]+:(\d+))/.exec(origin.stdout);
      const key = /public key \(Ed25519, raw, base64\): (\S+)/.exec(origin.stdout);
      const keyId = /key id: ([0-9a-f]{16})/.exec(origin.stdout);
      if (listening && key && keyId) {
        clearTimeout(timer);
        Object.assign(origin, { base: listening[1], port: Number(listening[2]), publicKey: key[1], keyId: keyId[1] });
        resolveStart(origin);
      }
    });
    child.once('error', (e) => { clearTimeout(timer); reject(e); });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`whale-origin exited (${signal ?? code})\n${origin.stderr}`));
    });
  });
}

// Exposures and conversions per variation of `experiment` (results: [[units, converted], ...],
// units `<prefix>-<slug>-<variation>-<i>`), signed as an edge signs them and posted to the origin
// at `base` in batches of 1000; throws unless every batch is taken whole.
let resultSeq = 0;
export async function postResults(base, edgeToken, slug, experiment, results, prefix = 'u') {
  const events = [];
  results.forEach(([units, converted], variation) => {
    for (let i = 0; i < units; i++) {
      const unit = `${prefix}-${slug}-${variation}-${i}`;
      events.push({ type: 'exposure', slug, experiment, variation, unit, ts: 1764000000000 + ++resultSeq });
      if (i < converted) events.push({ type: 'conversion', slug, experiment, variation, unit, ts: 1764000000000 + ++resultSeq });
    }
  });
  for (let i = 0; i < events.length; i += 1000) {
    const res = await request(base, 'POST', '/v1/events', { token: edgeToken, body: { events: signEvents(events.slice(i, i + 1000)) } });
    if (res.status !== 200 || res.json.rejected !== 0) throw new Error(`POST /v1/events: ${res.status} ${res.text}`);
  }
}

// The raw events the origin stored for a vendor, read from its database with the sqlite3 shell
// (read-only; the origin may be running or stopped): {stored, distinct} (distinct facts).
// scripts/setup.sh installs the shell (Debian's sqlite3).
export function storedEvents(db, slug) {
  const sql = `SELECT count(*), count(DISTINCT type || char(10) || experiment || char(10) || unit) FROM events WHERE slug = '${slug.replace(/'/g, "''")}';`;
  const r = spawnSync('sqlite3', ['-readonly', db, sql], { encoding: 'utf8', timeout: REQUEST_MS });
  if (r.error?.code === 'ENOENT') throw new Error('the sqlite3 shell is not installed: run scripts/setup.sh');
  if (r.status !== 0) throw new Error(`sqlite3 ${db}: ${r.error?.message ?? r.stderr.trim()}`);
  const [stored, distinct] = r.stdout.trim().split('|').map(Number);
  return { stored, distinct };
}

// PUT a config as the vendor's draft and publish it; resolves to the revalidate answer.
export async function publish(base, slug, token, config, { idempotencyKey } = {}) {
  const put = await request(base, 'PUT', `/v1/vendors/${slug}/config`, { token, body: config });
  if (put.status !== 200) throw new Error(`PUT ${slug}: ${put.status} ${put.text}`);
  const headers = idempotencyKey ? { 'idempotency-key': idempotencyKey } : {};
  const rev = await request(base, 'POST', `/v1/vendors/${slug}/revalidate`, { token, body: '', headers });
  if (rev.status !== 200) throw new Error(`revalidate ${slug}: ${rev.status} ${rev.text}`);
  return rev.json;
}

// --- the edges ----------------------------------------------------------------------------------

// Generates an edge's workerd config in outDir and starts it on port; resolves once /healthz
// answers. Options are gen-config's (origin, replicas, region, keys, maxAge, timeoutMs, name)
// plus edgeToken, eventsKey and imageSecret, handed to workerd in the environment (never written
// to the config; imageSecret as $WHALE_IMAGE_SIGNING_SECRET, which image.signingSecretEnv names).
export async function startEdge({
  port, outDir, edgeToken, eventsKey = EVENTS_KEY, imageSecret = IMAGE_SIGNING_SECRET, ...options
}) {
  const { configPath } = generateConfig({ port, outDir, ...options });
  const env = { ...process.env };
  if (edgeToken) env.WHALE_EDGE_TOKEN = edgeToken;
  if (eventsKey) env.WHALE_EVENTS_KEY = eventsKey;
  if (imageSecret) env[IMAGE_SIGNING_SECRET_ENV] = imageSecret;
  const child = spawn(WORKERD, ['serve', configPath], { stdio: ['ignore', 'ignore', 'pipe'], env });
  const edge = { child, port, base: `http://127.0.0.1:${port}`, name: options.name, stderr: '' };
  let exited = null;
  child.stderr.on('data', (chunk) => { edge.stderr = (edge.stderr + chunk).slice(-65536); });
  child.on('exit', (code, signal) => { exited = signal ?? code; });
  child.on('error', (e) => { exited = e.message; });
  const deadline = Date.now() + STARTUP_MS;
  while (Date.now() < deadline && exited === null) {
    try {
      const res = await fetch(`${edge.base}/healthz`, { signal: AbortSignal.timeout(1000) });
      if (res.ok && (await res.json()).ok === true) return edge;
    } catch {
      // not listening yet
    }
    await sleep(50);
  }
  await stop(child);
  throw new Error(`workerd did not start on port ${port} (${exited === null ? 'timed out' : `exited: ${exited}`})\n${edge.stderr}`);
}

// startEdge on a free port: a port probed free can be taken before workerd binds it, so a fresh
// one is tried a few times.
export async function startOnFreePort(options) {
  let lastError;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startEdge({ port: await freePort(), ...options });
    } catch (e) {
      if (!/address already in use/i.test(e.message)) throw e;
      lastError = e;
    }
  }
  throw lastError;
}

// --- wrangler dev --------------------------------------------------------------------------------

export const WRANGLER = join(REPO, 'node_modules', '.bin', 'wrangler');
export const WRANGLER_CONFIG = join(REPO, 'edge-workers', 'wrangler.toml');
const WRANGLER_STARTUP_MS = 60000;

// `wrangler dev --env local` with edge-workers/wrangler.toml: the worker under Miniflare with a
// local KV namespace, queues and Durable Objects kept in persistDir. vars are strings handed as
// --var (objects as JSON); secrets go in an .env file in persistDir (never on the command line).
// Resolves once /healthz answers; {child, port, base, persistDir, log()}. Stop it with
// stopWrangler (the whole process group: wrangler runs workerd as a child).
export async function startWrangler({ persistDir, port, vars = {}, secrets = {}, env = 'local' } = {}) {
  mkdirSync(persistDir, { recursive: true });
  port ??= await freePort();
  const envFile = join(persistDir, 'secrets.env');
  writeFileSync(envFile, Object.entries(secrets).map(([k, v]) => `${k}=${v}\n`).join(''), { mode: 0o600 });
  const args = ['dev', '--config', WRANGLER_CONFIG, '--env', env, '--ip', '127.0.0.1', '--port', String(port),
    '--inspector-port', String(await freePort()), '--persist-to', join(persistDir, 'state'), '--env-file', envFile,
    '--show-interactive-dev-session=false', '--log-level', 'warn'];
  for (const [k, v] of Object.entries(vars)) args.push('--var', `${k}:${typeof v === 'string' ? v : JSON.stringify(v)}`);
  const child = spawn(WRANGLER, args, {
    cwd: join(REPO, 'edge-workers'), detached: true, stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: 'true', NO_COLOR: '1' },
  });
  let output = '';
  const keep = (chunk) => { output = (output + chunk).slice(-65536); };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exited = null;
  child.on('exit', (code, signal) => { exited = signal ?? code; });
  const edge = { child, port, base: `http://127.0.0.1:${port}`, persistDir, name: `wrangler:${port}`, log: () => output };
  const deadline = Date.now() + WRANGLER_STARTUP_MS;
  while (Date.now() < deadline && exited === null) {
    try {
      const res = await fetch(`${edge.base}/healthz`, { signal: AbortSignal.timeout(2000) });
      if (res.ok && (await res.json()).ok === true) return edge;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  await stopWrangler(edge);
  throw new Error(`wrangler dev did not start on port ${port} (${exited === null ? 'timed out' : `exited: ${exited}`})\n${output}`);
}

// Stops a wrangler dev and its workerd: SIGTERM to the process group, SIGKILL after 5 s.
export async function stopWrangler(edge) {
  const child = edge?.child;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  const signal = (name) => {
    try {
      process.kill(-child.pid, name);
    } catch {
      // already gone
    }
  };
  signal('SIGTERM');
  if (await Promise.race([exited.then(() => true), sleep(5000).then(() => false)])) {
    signal('SIGKILL'); // workerd, should it outlive wrangler
    return;
  }
  signal('SIGKILL');
  await Promise.race([exited, sleep(3000)]);
}

// The e2e suites that run on both runtimes start their edge with this: plain workerd with
// gen-config's config (startOnFreePort), or, with WHALE_EDGE_RUNTIME=wrangler, `wrangler dev
// --env local` with the real wrangler.toml (fixture vendors embedded, like gen-config without an
// origin). Stop it with stopEdge.
export const EDGE_RUNTIME = process.env.WHALE_EDGE_RUNTIME === 'wrangler' ? 'wrangler' : 'workerd';

export async function startTestEdge({ outDir, ...options } = {}) {
  if (EDGE_RUNTIME === 'wrangler') {
    const edge = await startWrangler({ persistDir: outDir });
    edge.runtime = 'wrangler';
    return edge;
  }
  const edge = await startOnFreePort({ outDir, ...options });
  edge.runtime = 'workerd';
  return edge;
}

export async function stopEdge(edge) {
  if (edge?.runtime === 'wrangler') await stopWrangler(edge);
  else await stop(edge?.child);
}

// The version an edge holds for slug (GET /v1/config/<slug>), or null.
export async function edgeVersion(edge, slug, timeoutMs = 2000) {
  try {
    const res = await request(edge.base, 'GET', `/v1/config/${slug}`, { timeoutMs });
    return res.status === 200 ? res.json.version : null;
  } catch {
    return null;
  }
}

// Polls every edge every `everyMs` until each holds at least `version`; resolves to the ms
// waited, or rejects after timeoutMs naming the edges behind.
export async function waitForVersion(edges, slug, version, { timeoutMs = 10000, everyMs = 2 } = {}) {
  const started = performance.now();
  const pending = new Set(edges);
  while (pending.size > 0) {
    await Promise.all([...pending].map(async (edge) => {
      if ((await edgeVersion(edge, slug)) >= version) pending.delete(edge);
    }));
    if (pending.size === 0) break;
    if (performance.now() - started > timeoutMs) {
      throw new Error(`${[...pending].map((e) => e.name ?? e.base).join(', ')} did not reach ${slug} v${version} in ${timeoutMs} ms`);
    }
    await sleep(everyMs);
  }
  return performance.now() - started;
}

// --- the local media origin -------------------------------------------------------------------

const MEDIA_TYPES = { '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.png': 'image/png', '.gif': 'image/gif' };

// Serves fixtures/images on 127.0.0.1:port (GET/HEAD, no directory listing): the local stand-in
// for a vendor's image host, so /img/ works on the local stack without any network.
export function startMediaServer(port) {
  const dir = join(REPO, 'fixtures', 'images');
  const server = createHttpServer((req, res) => {
    const name = decodeURIComponent(new URL(req.url, 'http://x').pathname.slice(1));
    const type = MEDIA_TYPES[name.slice(name.lastIndexOf('.')).toLowerCase()];
    if ((req.method !== 'GET' && req.method !== 'HEAD') || !/^[\w.-]+$/.test(name) || !type || !existsSync(join(dir, name))) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    const body = readFileSync(join(dir, name));
    res.writeHead(200, { 'content-type': type, 'content-length': body.length, 'cache-control': 'public, max-age=3600' });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  return new Promise((resolveServer, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolveServer({ server, base: `http://127.0.0.1:${server.address().port}` }));
  });
}

// --- the whole stack ----------------------------------------------------------------------------

// Vendors under fixtures/vendors with a config.json.
export function configVendors(vendorsDir = join(REPO, 'fixtures', 'vendors')) {
  return readdirSync(vendorsDir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(join(vendorsDir, e.name, 'config.json')))
    .map((e) => e.name)
    .sort();
}

// A config's text with `media` (the local media origin's base URL) in its media.allowedSources,
// as the local stack publishes configs; the text as it is when it is not a JSON object or already
// allows it.
export function withLocalMedia(text, media) {
  let config;
  try {
    config = JSON.parse(text);
  } catch {
    return text;
  }
  if (!media || config === null || typeof config !== 'object' || Array.isArray(config)) return text;
  const allowed = config.media?.allowedSources ?? [];
  if (!Array.isArray(allowed) || allowed.includes(`${media}/`)) return text;
  config.media = { ...config.media, allowedSources: [...allowed, `${media}/`] };
  return JSON.stringify(config);
}

// A fixture vendor's config; with media (the local media origin's base URL) added to its
// media.allowedSources, as the local stack publishes it.
export function readConfig(slug, media) {
  const config = JSON.parse(readFileSync(join(REPO, 'fixtures', 'vendors', slug, 'config.json'), 'utf8'));
  if (media) {
    config.media ??= {};
    config.media.allowedSources = [...(config.media.allowedSources ?? []), `${media}/`];
  }
  return config;
}

// green-harbor's config, as vendor `slug`, with its hero section an experiment (gh-home-hero) over
// four layouts: as written (hero-banner + promo-strip), hero-video, hero-video + promo-strip,
// promo-strip (the optimizer's and the migration's tests).
export function heroExperimentConfig(slug = 'green-harbor') {
  const config = readConfig('green-harbor');
  config.vendor.slug = slug;
  const home = config.pages.find((p) => p.id === 'home');
  const promo = home.sections.find((s) => s.id === 'hero').components.find((c) => c.key === 'promo-strip');
  const video = { id: 'hero-video', key: 'hero-video', props: { src: 'https://images.greenharbor.example/hero/market.mp4', poster: 'https://images.greenharbor.example/hero/market.jpg', title: 'Inside the market' } };
  const rule = config.features['gh-home-hero'].rules[0];
  rule.variations = [null, { components: [video] }, { components: [video, promo] }, { components: [promo] }];
  rule.weights = [0.25, 0.25, 0.25, 0.25];
  rule.meta = [{ key: 'control' }, { key: 'video' }, { key: 'video-promo' }, { key: 'promo' }];
  return config;
}

// The three edges: one reading the primary only, two in regions whose replica is the origin too
// (one machine has one origin; the mapping and the fallback are what is exercised).
export const EDGE_LAYOUT = [
  { name: 'edge-1', region: 'us-east', replica: false },
  { name: 'edge-2', region: 'eu-west', replica: true },
  { name: 'edge-3', region: 'ap-south', replica: true },
];

// Starts the origin on dir/local.db and the edges (their configs under edgeDir/<name>), with
// tokens kept in dir/local-tokens.json (mode 0600) so that a second run reuses the database;
// publishes every fixture vendor whose config differs from what the origin serves.
// media: a port for the local media origin (fixtures/images; 0 = any free port) whose URL every
// vendor's media.allowedSources gets, with the edges' image route allowed to fetch from loopback
// and answering for the first vendor; absent = no media origin.
// Returns {origin, edges, tokens, vendors, media, stop()}.
// runtime 'workerd' (default): three workerd edges nudged by the origin (POST /v1/invalidate).
// runtime 'wrangler': three `wrangler dev --env local` instances sharing one local KV namespace
// and cache (as a colo's isolates do); the origin publishes to the first one's /v1/publish (the
// Cloudflare way) and the others learn of new versions from KV.
// storage 'sqlite' (default): one origin on dir/local.db, kept between runs.
// storage 'postgres': a throwaway PostgreSQL primary, streaming replica and PgBouncer
// (scripts/pg.mjs) and two origin processes on it (writes through PgBouncer, reads from the
// replica, one signing key), the second on originPort + 1; edges read the first, and edge-2 and
// edge-3 read through the second as their region's replica. A fresh database each run.
export async function startStack({
  dir, edgeDir = join(dir, 'edge'), originPort = 0, edgePorts = [0, 0, 0], maxAge, originBin = ORIGIN_BIN, log = () => {},
  media, runtime = 'workerd', storage = 'sqlite',
}) {
  mkdirSync(dir, { recursive: true });
  let pg = null;
  let db = join(dir, 'local.db');
  let replicaDb = null;
  if (storage === 'postgres') {
    const { startPgCluster } = await import('./pg.mjs');
    pg = await startPgCluster({ replica: true, bouncer: true });
    const urls = pg.createDatabase('whale_local');
    db = urls.bouncer;
    replicaDb = urls.replica;
    log(`PostgreSQL primary ${pg.primary.url}, replica ${pg.replica.url}, PgBouncer ${pg.bouncer.url}`);
  }
  const tokensPath = join(dir, 'local-tokens.json');
  const vendors = configVendors();
  let tokens = !pg && existsSync(tokensPath) && existsSync(db) ? JSON.parse(readFileSync(tokensPath, 'utf8')) : null;
  const addMissing = () => {
    tokens.edge ??= addPrincipal('edge', 'local-edges', db, originBin);
    for (const slug of vendors) tokens.vendors[slug] ??= addPrincipal('vendor', slug, db, originBin);
    tokens.operator ??= addPrincipal('operator', 'local-operator', db, originBin);
  };
  try {
    if (!tokens?.edge || !tokens.vendors) throw new Error('no tokens');
    addMissing();  // a fixture vendor added since the last run
  } catch {
    // whale-origin shows a token once: without all of them, start from a fresh database.
    if (!pg) for (const suffix of ['', '-wal', '-shm']) rmSync(db + suffix, { force: true });
    tokens = { vendors: {} };
    addMissing();
  }
  writeFileSync(tokensPath, JSON.stringify(tokens, null, 2) + '\n', { mode: 0o600 });
  chmodSync(tokensPath, 0o600);

  const ports = [];
  for (const wanted of edgePorts) ports.push(wanted && await portIsFree(wanted) ? wanted : await freePort());
  const running = { origin: null, origins: [], edges: [], media: null, pg };
  const stopAll = async () => {
    await Promise.all(running.edges.map((e) => (e.runtime === 'wrangler' ? stopWrangler(e) : stop(e.child))));
    await Promise.all(running.origins.map((o) => stop(o.child)));
    running.media?.server.close();
    await pg?.stop();
  };
  try {
    if (media !== undefined) {
      running.media = await startMediaServer(media && await portIsFree(media) ? media : 0);
      log(`media ${running.media.base} (fixtures/images)`);
    }
    // Every vendor signs with key id 1 (scripts/image-key.mjs prints its key) once its config
    // turns media.signedUrls on.
    const image = running.media ? {
      vendor: vendors[0], allowPrivateSources: true, signingSecretEnv: IMAGE_SIGNING_SECRET_ENV,
      keyIds: Object.fromEntries(vendors.map((slug) => [slug, [1]])),
    } : {};
    const wrangler = runtime === 'wrangler';
    const invalidateUrls = wrangler ? [] : ports.map((p) => `http://127.0.0.1:${p}/v1/invalidate`);
    const port = originPort && await portIsFree(originPort) ? originPort : 0;
    // The media origin is on 127.0.0.1, which whale-origin refuses in allowedSources without the flag.
    const args = running.media ? ['--allow-private-media-sources'] : [];
    if (wrangler) args.push('--publish', `http://127.0.0.1:${ports[0]}/v1/publish`);
    if (pg) args.push('--db-replica', replicaDb, '--key', join(dir, 'local-pg.key.pem'));
    running.origin = await startOrigin({ db, port, edges: invalidateUrls, edgeToken: tokens.edge, args, bin: originBin });
    running.origins.push(running.origin);
    const { base, keyId, publicKey } = running.origin;
    log(`origin ${base} (key ${keyId})`);
    if (pg) {
      const second = running.origin.port + 1;
      const other = await startOrigin({
        db, port: await portIsFree(second) ? second : 0, edges: invalidateUrls, edgeToken: tokens.edge, args, bin: originBin,
      });
      running.origins.push(other);
      log(`origin ${other.base} (the second process on the same database)`);
    }
    const replicaBase = running.origins[1]?.base ?? base;
    for (const slug of vendors) {
      const config = readConfig(slug, running.media?.base);
      const held = await request(base, 'GET', `/v1/snapshots/${slug}`, { token: tokens.edge });
      if (held.status === 200 && isDeepStrictEqual(held.json.config, config)) continue;
      const { version } = await publish(base, slug, tokens.vendors[slug], config);
      log(`published ${slug} v${version}`);
    }
    for (const [i, layout] of EDGE_LAYOUT.entries()) {
      if (wrangler) {
        const edge = await startWrangler({
          persistDir: join(edgeDir, 'cloudflare'), port: ports[i],
          vars: {
            ORIGIN_URL: base, ORIGIN_KEYS: { [keyId]: publicKey }, EDGE_NAME: layout.name,
            ...(maxAge === undefined ? {} : { CONFIG_MAX_AGE: String(maxAge) }),
            ...(image.vendor ? {
              IMAGE_VENDOR: image.vendor, IMAGE_ALLOW_PRIVATE_SOURCES: '1', IMAGE_SIGNING_KEY_IDS: image.keyIds,
            } : {}),
          },
          secrets: { EDGE_TOKEN: tokens.edge, EVENTS_KEY, IMAGE_SIGNING_SECRET },
        });
        Object.assign(edge, { runtime: 'wrangler', name: layout.name, region: layout.region });
        running.edges.push(edge);
        log(`${layout.name} ${edge.base} (wrangler dev)`);
        continue;
      }
      const edge = await startEdge({
        port: ports[i], outDir: join(edgeDir, layout.name), name: layout.name,
        origin: base, region: layout.region, replicas: layout.replica ? { [layout.region]: replicaBase } : {},
        keys: { [keyId]: publicKey }, edgeToken: tokens.edge, maxAge, image,
      });
      edge.region = layout.region;
      running.edges.push(edge);
      log(`${layout.name} ${edge.base}`);
    }
  } catch (e) {
    await stopAll();
    throw e;
  }
  return { ...running, tokens, vendors, stop: stopAll };
}

// --- as a program -------------------------------------------------------------------------------

const RUNNING_FILE = 'local-stack.json'; // where a running stack tells `publish` its origin

// `node scripts/stack.mjs publish <slug> [config.json]`: PUT the config (default the fixture's)
// and revalidate it on the running local stack, with the vendor's token from local-tokens.json.
async function publishCommand(dir, [slug, file]) {
  if (!slug) throw new Error('usage: node scripts/stack.mjs publish <slug> [config.json]');
  const { origin, media } = JSON.parse(readFileSync(join(dir, RUNNING_FILE), 'utf8'));
  const token = JSON.parse(readFileSync(join(dir, 'local-tokens.json'), 'utf8')).vendors[slug];
  if (!token) throw new Error(`no token for ${slug} in ${join(dir, 'local-tokens.json')}`);
  // The fixture as the stack published it, or the file, with the local media origin allowed (else
  // the banner's image URLs would answer 403 source_not_allowed for this vendor).
  const body = Buffer.from(file ? withLocalMedia(readFileSync(file, 'utf8'), media) : JSON.stringify(readConfig(slug, media)));
  const put = await request(origin, 'PUT', `/v1/vendors/${slug}/config`, { token, body: new Uint8Array(body) });
  console.log(`PUT ${origin}/v1/vendors/${slug}/config -> ${put.status} ${put.text}`);
  if (put.status !== 200) process.exit(1);
  const rev = await request(origin, 'POST', `/v1/vendors/${slug}/revalidate`, { token, body: '' });
  console.log(`POST ${origin}/v1/vendors/${slug}/revalidate -> ${rev.status} ${rev.text}`);
  if (rev.status !== 200) process.exit(1);
}

// Simulated shoppers through the running stack's edges, then a reweight (scripts/traffic.mjs).
async function trafficCommand(dir, [slug = 'flora-distro', count = '1000']) {
  const visitors = Number(count);
  if (!Number.isSafeInteger(visitors) || visitors < 1) throw new Error('usage: node scripts/stack.mjs traffic [slug] [visitors]');
  const running = join(dir, RUNNING_FILE);
  if (!existsSync(running)) throw new Error(`no running stack in ${dir}: start one with scripts/start.sh`);
  const { origin, edges } = JSON.parse(readFileSync(running, 'utf8'));
  const token = JSON.parse(readFileSync(join(dir, 'local-tokens.json'), 'utf8')).vendors[slug];
  if (!token) throw new Error(`no token for ${slug} in ${join(dir, 'local-tokens.json')}`);
  const { simulateTraffic } = await import('./traffic.mjs');
  const result = await simulateTraffic({ edges, origin, slug, token, visitors, log: (line) => console.log(`traffic: ${line}`) });
  for (const [experiment, byVariation] of Object.entries(result.shown)) {
    const converted = result.conversions[experiment] ?? {};
    const arms = Object.entries(byVariation).map(([v, n]) => `variation ${v}: ${converted[v] ?? 0}/${n} converted`);
    console.log(`traffic: ${experiment}: ${arms.join(', ')}`);
  }
  for (const e of result.reweight.experiments ?? []) {
    console.log(`reweight: ${e.experiment}: ${e.status}${e.weights ? `, weights ${e.weights.map((w) => w.toFixed(3)).join(' / ')}` : ''}`);
  }
  console.log(`The dashboard shows the posteriors and the weights: ${origin}/admin`);
}

export function banner(stack) {
  const origin = stack.origin.base;
  const [first] = stack.vendors;
  const out = [
    '',
    `WhaleTools Edge is running: origin ${(stack.origins ?? [stack.origin]).map((o) => o.base).join(' and ')}, edges ${stack.edges.map((e) => `${e.name} ${e.base}`).join(', ')}.`,
    ...(stack.pg ? [`Storage: PostgreSQL (primary ${stack.pg.primary.url}, replica ${stack.pg.replica.url}, PgBouncer ${stack.pg.bouncer.url}); the two origins share it.`] : []),
    '',
    stack.edges[0]?.runtime === 'wrangler'
      ? 'Assignments, answered by each wrangler dev edge from the signed snapshot the origin published to KV:'
      : 'Assignments, answered by each edge from the signed snapshot it pulled:',
  ];
  for (const slug of stack.vendors) {
    for (const edge of stack.edges) out.push(`  ${edge.base}/v1/assign?vendor=${slug}&country=US&device=mobile`);
  }
  if (stack.media) {
    const [edge] = stack.edges;
    out.push('', `Images (${first}'s media: fixtures/images served by ${stack.media.base}), resized at the edge:`);
    for (const [opts, file] of [['width=480,format=auto', 'flowers.jpeg'], ['width=320,height=320,fit=cover,gravity=auto', 'embedgravitybird.png'],
      ['w_320,h_240,c_fill,q_auto,f_auto', 'Portrait_6.jpg'], ['width=640,format=avif', 'Landscape_2.jpg'],
      ['format=json', '2569067123_aca715a2ee_o.jpg']]) {
      out.push(`  ${edge.base}/img/${opts}/${stack.media.base}/${file}`);
    }
    out.push('', 'Signed image URLs (for a vendor whose config sets media.signedUrls; key id 1, local only):',
      `  WHALE_IMAGE_SIGNING_SECRET=${IMAGE_SIGNING_SECRET} node scripts/image-key.mjs ${first} 1`,
      '  prints the vendor\'s key, for signImageUrl(url, {vendor, keyId: 1, key}) (docs/images.md).');
  }
  const [edge] = stack.edges;
  out.push('', 'Storefronts: the layout JSON each page gets, and a demo page that renders it:');
  for (const slug of stack.vendors) {
    out.push(`  ${edge.base}/v1/storefront/${slug}/home`, `  ${edge.base}/demo/${slug}/home`);
  }
  out.push('A multi-variant page: three candidate layouts, one kept after watching the visit (docs/layout.md#candidates):',
    `  ${edge.base}/demo/${first}/home?candidates=3`);
  out.push('', 'What each edge holds (version, age, source, rejections):');
  for (const slug of stack.vendors) for (const edge of stack.edges) out.push(`  ${edge.base}/v1/config/${slug}`);
  out.push('', 'Origin:', `  ${origin}/admin             the vendor dashboard (sign in with a vendor token below)`,
    `  ${origin}/healthz`, `  ${origin}/metrics`, `  ${origin}/v1/keys`, '', 'Vendor tokens (local only):');
  for (const slug of stack.vendors) out.push(`  ${slug}: ${stack.tokens.vendors[slug]}`);
  if (stack.tokens.operator) {
    out.push('', `The operator view, every vendor together (docs/platform.md): ${origin}/admin/operator`,
      `  operator token (local only): ${stack.tokens.operator}`);
  }
  out.push(
    '',
    'Change a config and publish it (the edges are nudged and serve it within milliseconds):',
    `  node scripts/stack.mjs publish ${first} [path/to/config.json]`,
    `which sends, with Authorization: Bearer <the vendor's token>:`,
    `  PUT  ${origin}/v1/vendors/${first}/config        (body: the config JSON)`,
    `  POST ${origin}/v1/vendors/${first}/revalidate    (empty body)`,
    'or with curl:',
    `  curl -X PUT -H "Authorization: Bearer ${stack.tokens.vendors[first]}" --data-binary @fixtures/vendors/${first}/config.json \\`,
    `       ${origin}/v1/vendors/${first}/config`,
    `  curl -X POST -d '' -H "Authorization: Bearer ${stack.tokens.vendors[first]}" ${origin}/v1/vendors/${first}/revalidate`,
    ...(stack.media ? [`(curl sends the file as it is: add "${stack.media.base}/" to its media.allowedSources, or the image`,
      'URLs above answer 403 source_not_allowed for that vendor; stack.mjs publish adds it for you.)'] : []),
    '',
    `Simulated shoppers for the bandits (first visits, conversions, then a reweight; watch ${origin}/admin):`,
    `  node scripts/stack.mjs traffic ${first} 1000`,
    '',
    'Tests: scripts/test.sh    Stop: Ctrl-C',
  );
  return out.join('\n');
}

async function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      dir: { type: 'string', default: join(REPO, 'build', 'origin') },
      'origin-port': { type: 'string', default: '8788' },
      'edge-ports': { type: 'string', default: '8787,8797,8807' },
      'media-port': { type: 'string', default: '8790' },
      runtime: { type: 'string', default: process.env.WHALE_EDGE_RUNTIME || 'workerd' },
      storage: { type: 'string', default: process.env.WHALE_ORIGIN_STORAGE || 'sqlite' },
    },
  });
  if (values.runtime !== 'workerd' && values.runtime !== 'wrangler') throw new Error('--runtime: workerd or wrangler');
  if (values.storage !== 'sqlite' && values.storage !== 'postgres') throw new Error('--storage: sqlite or postgres');
  const dir = resolve(values.dir);
  if (positionals[0] === 'publish') return publishCommand(dir, positionals.slice(1));
  if (positionals[0] === 'traffic') return trafficCommand(dir, positionals.slice(1));
  if (positionals.length > 0) throw new Error(`unknown command ${positionals[0]}`);
  const edgePorts = values['edge-ports'].split(',').map(Number);
  if (edgePorts.length !== EDGE_LAYOUT.length || !edgePorts.every((p) => Number.isInteger(p) && p >= 0 && p < 65536)) {
    throw new Error(`--edge-ports: expected ${EDGE_LAYOUT.length} ports`);
  }
  const stack = await startStack({
    dir, originPort: Number(values['origin-port']), edgePorts, media: Number(values['media-port']), runtime: values.runtime,
    storage: values.storage,
    log: (line) => console.log(`start: ${line}`),
  });
  const children = [...stack.origins.map((o) => o.child), ...stack.edges.map((e) => e.child)];
  const runningFile = join(dir, RUNNING_FILE);
  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    console.log('\nstopping the edges and the origin');
    await stack.stop();
    process.exit(0);
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
  process.on('exit', () => {
    rmSync(runningFile, { force: true });
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    for (const edge of stack.edges) {
      if (edge.runtime !== 'wrangler') continue;
      try {
        process.kill(-edge.child.pid, 'SIGKILL'); // wrangler's workerd too
      } catch {
        // already gone
      }
    }
  });
  for (const child of children) {
    child.once('exit', (code, signal) => {
      if (stopping) return;
      console.error(`start: ${stack.origins.some((o) => o.child === child) ? 'whale-origin' : values.runtime} exited (${signal ?? code}); stopping`);
      shutdown();
    });
  }
  writeFileSync(runningFile, JSON.stringify({ origin: stack.origin.base, edges: stack.edges.map((e) => e.base), media: stack.media?.base }) + '\n');
  console.log(banner(stack));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    console.error(`stack: ${e.message}`);
    process.exit(1);
  });
}
