#!/usr/bin/env node
// Writes a workerd config for the edge worker, plus a copy of every file it embeds, into one
// directory (default build/edge). The copies keep the repository's layout, so the module names
// in the config are the repository paths and the worker's relative imports resolve unchanged.
//
//   node edge-workers/gen-config.mjs [--port 8787] [--out build/edge] [--wasm path/to/core.wasm]
//       [--image-wasm path/to/image.wasm] [--image-vendor SLUG] [--image-host HOST=SLUG]...
//       [--image-signing-secret-env VAR] [--image-key-ids SLUG=CURRENT[,PREVIOUS]]...
//       [--allow-private-image-sources]
//       [--name edge-1] [--origin URL [--replica REGION=URL]... [--region REGION]
//        (--key KEYID=BASE64 | --keys FILE)... [--edge-token-env VAR] [--max-age S] [--timeout-ms MS]]
//
// Without --origin, every directory under fixtures/vendors that holds a features.json becomes a
// vendor embedded with the worker (for /v1/assign), and every one that holds a config.json a
// config embedded for /v1/storefront (version 0). With --origin, the worker pulls signed snapshots from the
// origin instead (edge-workers/README.md, "Sync with the origin") and embeds no vendor.
// image.wasm is embedded when one is found (the image route answers 503 without it), and avif.wasm
// beside it (AVIF jobs answer 503 without it); the image
// bindings are described in docs/images.md.

import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
// Must not be newer than the workerd binary; wrangler.toml uses the same date.
export const COMPATIBILITY_DATE = '2025-09-01';
// The worker accepts these as vendor names (edge-workers/vendors.js uses the same pattern).
const VENDOR_SLUG = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const NAME = /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/;
const KEY_ID = /^[0-9a-f]{16}$/;
const ENV_VAR = /^[A-Za-z_][A-Za-z0-9_]*$/;
export const DEFAULT_EDGE_TOKEN_ENV = 'WHALE_EDGE_TOKEN';
export const DEFAULT_EVENTS_KEY_ENV = 'WHALE_EVENTS_KEY';
export const DEFAULT_IMAGE_SIGNING_SECRET_ENV = 'WHALE_IMAGE_SIGNING_SECRET';
// A vendor's image key ids: generations, at most two active (edge-workers/image.js).
const IMAGE_KEY_ID = /^[1-9][0-9]{0,8}$/;
// Defaults of edge-workers/sync.js, repeated in the generated config so that it says them.
export const DEFAULT_MAX_AGE_S = 5;
export const DEFAULT_TIMEOUT_MS = 1500;

function defaultWasm() {
  const candidates = [
    process.env.WHALE_EMSCRIPTEN_DIR && join(process.env.WHALE_EMSCRIPTEN_DIR, 'wasm', 'core.wasm'),
    join(REPO, 'build', 'emscripten', 'wasm', 'core.wasm'),
    join(REPO, 'js-glue', 'core.wasm'),
  ];
  const found = candidates.find((path) => path && existsSync(path));
  if (!found) throw new Error('core.wasm not found: run scripts/build.sh first (or pass --wasm)');
  return found;
}

// image.wasm (or another module: avif.wasm) of the emscripten build, or null when none is built.
export function defaultImageWasm(file = 'image.wasm') {
  const candidates = [
    process.env.WHALE_EMSCRIPTEN_DIR && join(process.env.WHALE_EMSCRIPTEN_DIR, 'wasm', file),
    join(REPO, 'build', 'emscripten', 'wasm', file),
    join(REPO, 'js-glue', file),
  ];
  return candidates.find((path) => path && existsSync(path)) ?? null;
}

// The vendor directories that hold `file` (features.json: payloads for /v1/assign; config.json:
// configs for /v1/storefront).
export function listVendors(vendorsDir = join(REPO, 'fixtures', 'vendors'), file = 'features.json') {
  if (!existsSync(vendorsDir)) return [];
  return readdirSync(vendorsDir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && VENDOR_SLUG.test(entry.name))
    .filter((entry) => existsSync(join(vendorsDir, entry.name, file)))
    .map((entry) => entry.name)
    .sort();
}

// --- checking the sync options --------------------------------------------------------------

function originUrl(url, what) {
  let parsed;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`${what}: not a URL: ${url}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error(`${what}: expected http(s): ${url}`);
  if (parsed.search || parsed.hash || parsed.username || parsed.password) {
    throw new Error(`${what}: no query, fragment or credentials: ${url}`);
  }
  return parsed.href.replace(/\/+$/, '');
}

// The key id of docs/origin.md: the first 16 hex digits of SHA-256(raw public key).
export function keyIdOf(publicKey) {
  return createHash('sha256').update(Buffer.from(publicKey, 'base64')).digest('hex').slice(0, 16);
}

function checkKey(keyId, publicKey) {
  if (!KEY_ID.test(keyId)) throw new Error(`key id ${keyId}: expected 16 hex digits`);
  if (!/^[A-Za-z0-9+/]{43}=$/.test(publicKey) || Buffer.from(publicKey, 'base64').length !== 32) {
    throw new Error(`key ${keyId}: expected the raw 32-byte Ed25519 public key in base64`);
  }
  if (keyIdOf(publicKey) !== keyId) throw new Error(`key ${keyId}: the id does not match the key (expected ${keyIdOf(publicKey)})`);
}

// A keys file: the JSON /v1/keys answers, {"keys": [{"key_id", "public_key", "alg"}]}.
export function readKeysFile(path) {
  const { keys } = JSON.parse(readFileSync(path, 'utf8'));
  if (!Array.isArray(keys)) throw new Error(`${path}: expected {"keys": [...]}`);
  return Object.fromEntries(keys.map((k) => {
    if (k.alg !== undefined && k.alg !== 'Ed25519') throw new Error(`${path}: key ${k.key_id} is ${k.alg}, not Ed25519`);
    return [k.key_id, k.public_key];
  }));
}

// Checks and normalises the sync options; null when there is no origin.
function syncBindings({
  name, origin, replicas = {}, region, keys = {}, edgeTokenEnv = DEFAULT_EDGE_TOKEN_ENV, eventsKeyEnv = DEFAULT_EVENTS_KEY_ENV,
  maxAge, timeoutMs,
}) {
  if (name !== undefined && !NAME.test(name)) throw new Error(`--name ${name}: expected [a-z0-9-], 1 to 64 characters`);
  if (!origin) {
    if (Object.keys(replicas).length || region || Object.keys(keys).length) {
      throw new Error('--replica, --region and --key need --origin');
    }
    return null;
  }
  const checkedReplicas = {};
  for (const [r, url] of Object.entries(replicas)) {
    if (!NAME.test(r)) throw new Error(`replica region ${r}: expected [a-z0-9-]`);
    checkedReplicas[r] = originUrl(url, `--replica ${r}`);
  }
  if (region !== undefined && !NAME.test(region)) throw new Error(`--region ${region}: expected [a-z0-9-]`);
  if (Object.keys(keys).length === 0) throw new Error('--origin needs at least one pinned key (--key KEYID=BASE64 or --keys FILE)');
  for (const [keyId, publicKey] of Object.entries(keys)) checkKey(keyId, publicKey);
  if (!ENV_VAR.test(edgeTokenEnv)) throw new Error(`--edge-token-env ${edgeTokenEnv}: not a variable name`);
  if (!ENV_VAR.test(eventsKeyEnv)) throw new Error(`events key variable ${eventsKeyEnv}: not a variable name`);
  maxAge ??= DEFAULT_MAX_AGE_S;
  timeoutMs ??= DEFAULT_TIMEOUT_MS;
  if (!(Number.isFinite(maxAge) && maxAge >= 0)) throw new Error(`--max-age ${maxAge}: expected seconds >= 0`);
  if (!(Number.isInteger(timeoutMs) && timeoutMs > 0)) throw new Error(`--timeout-ms ${timeoutMs}: expected a positive integer`);
  return {
    origin: originUrl(origin, '--origin'), replicas: checkedReplicas, region, keys, edgeTokenEnv, eventsKeyEnv, maxAge, timeoutMs,
  };
}

// --- writing the config ---------------------------------------------------------------------

// A Cap'n Proto text literal; every value written is printable ASCII (checked above or a path).
function capnpText(value) {
  if (!/^[\x20-\x7e]*$/.test(value)) throw new Error(`not printable ASCII: ${value}`);
  return JSON.stringify(value);
}

function capnpModule(name, kind) {
  return `    (name = ${capnpText(name)}, ${kind} = embed ${capnpText(name)}),`;
}

function bindingLines(name, sync) {
  const lines = [];
  if (name) lines.push(`    (name = "EDGE_NAME", text = ${capnpText(name)}),`);
  if (!sync) return lines;
  lines.push(
    `    (name = "ORIGIN_URL", text = ${capnpText(sync.origin)}),`,
    `    (name = "ORIGIN_REPLICAS", json = ${capnpText(JSON.stringify(sync.replicas))}),`,
    ...(sync.region ? [`    (name = "EDGE_REGION", text = ${capnpText(sync.region)}),`] : []),
    '    # Pinned Ed25519 public keys (key id -> raw key, base64); keys are never fetched at run time.',
    `    (name = "ORIGIN_KEYS", json = ${capnpText(JSON.stringify(sync.keys))}),`,
    '    # The edge token: reads snapshots and authenticates the origin\'s nudges. Read from the',
    '    # environment workerd runs in, so it is not written here.',
    `    (name = "EDGE_TOKEN", fromEnvironment = ${capnpText(sync.edgeTokenEnv)}),`,
    '    # The events key, shared with the origin: event ids are MACs under keys derived from it',
    '    # (docs/bandits.md). Read from the environment, like the edge token.',
    `    (name = "EVENTS_KEY", fromEnvironment = ${capnpText(sync.eventsKeyEnv)}),`,
    `    (name = "CONFIG_MAX_AGE", text = ${capnpText(String(sync.maxAge))}),   # seconds before a background refresh`,
    `    (name = "ORIGIN_TIMEOUT_MS", text = ${capnpText(String(sync.timeoutMs))}),   # per read, then the next source`,
  );
  return lines;
}

// keyIds {slug: [current, previous?]} as IMAGE_SIGNING_KEY_IDS wants them (numbers, 1 or 2 each).
function imageKeyIds(keyIds) {
  const out = {};
  for (const [slug, list] of Object.entries(keyIds)) {
    if (!VENDOR_SLUG.test(slug)) throw new Error(`--image-key-ids ${slug}: not a vendor name`);
    const ids = (Array.isArray(list) ? list : [list]).map(String);
    if (ids.length < 1 || ids.length > 2 || !ids.every((id) => IMAGE_KEY_ID.test(id)) || new Set(ids).size !== ids.length) {
      throw new Error(`--image-key-ids ${slug}=${ids.join(',')}: expected CURRENT[,PREVIOUS], positive integers`);
    }
    out[slug] = ids.map(Number);
  }
  return out;
}

// The image route's bindings (docs/images.md). The signing secret is read from the environment
// workerd runs in, never written here; the key ids each vendor signs with are not secret.
function imageBindingLines({
  vendor, hosts = {}, signingSecretEnv, keyIds = {}, allowPrivateSources = false, maxMemoryMb, maxJobMb, fetchTimeoutMs,
  signingKeyEnv,
} = {}) {
  if (signingKeyEnv !== undefined) {
    throw new Error('image.signingKeyEnv: one key for every vendor is gone; use signingSecretEnv and keyIds (docs/images.md)');
  }
  const lines = [];
  if (vendor !== undefined) {
    if (!VENDOR_SLUG.test(vendor)) throw new Error(`--image-vendor ${vendor}: not a vendor name`);
    lines.push(`    (name = "IMAGE_VENDOR", text = ${capnpText(vendor)}),`);
  }
  if (Object.keys(hosts).length > 0) {
    for (const [host, slug] of Object.entries(hosts)) {
      if (!/^[a-z0-9.:[\]-]+$/i.test(host)) throw new Error(`--image-host ${host}: not a host name`);
      if (!VENDOR_SLUG.test(slug)) throw new Error(`--image-host ${host}=${slug}: not a vendor name`);
    }
    lines.push(`    (name = "IMAGE_HOSTS", json = ${capnpText(JSON.stringify(hosts))}),`);
  }
  if (signingSecretEnv !== undefined) {
    if (!ENV_VAR.test(signingSecretEnv)) throw new Error(`--image-signing-secret-env ${signingSecretEnv}: not a variable name`);
    lines.push(`    (name = "IMAGE_SIGNING_SECRET", fromEnvironment = ${capnpText(signingSecretEnv)}),`);
  }
  if (Object.keys(keyIds).length > 0) {
    lines.push(`    (name = "IMAGE_SIGNING_KEY_IDS", json = ${capnpText(JSON.stringify(imageKeyIds(keyIds)))}),`);
  }
  if (allowPrivateSources) {
    lines.push('    # Local tests only: image sources on loopback and private addresses are allowed.',
      '    (name = "IMAGE_ALLOW_PRIVATE_SOURCES", text = "1"),');
  }
  if (maxMemoryMb !== undefined) lines.push(`    (name = "IMAGE_MAX_MEMORY_MB", text = ${capnpText(String(maxMemoryMb))}),`);
  if (maxJobMb !== undefined) lines.push(`    (name = "IMAGE_MAX_JOB_MB", text = ${capnpText(String(maxJobMb))}),`);
  if (fetchTimeoutMs !== undefined) lines.push(`    (name = "IMAGE_FETCH_TIMEOUT_MS", text = ${capnpText(String(fetchTimeoutMs))}),`);
  return lines;
}

// Two networks. The worker's global fetch, which image sources and their redirects go through,
// reaches public addresses only: a source whose host name resolves to a loopback, private or
// link-local address is refused by the network, whatever the name (image.js can only check
// address literals). The origin usually runs on a private or loopback address: it is reached
// through ORIGIN_NET, a network that allows those, used only by config sync and event delivery
// (originFetch in http.js). IMAGE_NET hands that network to the image route too, only with
// --allow-private-image-sources (local tests and the local stack serve images from loopback).
// On Cloudflare neither binding exists: fetch cannot reach private ranges there, and the origin
// is public.
function networkBindingLines(sync, allowPrivateSources) {
  const lines = [];
  if (sync) lines.push('    (name = "ORIGIN_NET", service = "private-net"),   # the origin: config snapshots and events');
  if (allowPrivateSources) {
    lines.push('    (name = "IMAGE_NET", service = "private-net"),   # image sources on loopback (local tests only)');
  }
  return lines;
}

// Live updates (edge-workers/live.js): the LivePage namespace, its objects kept in memory for the
// life of the process (they store nothing; their WebSockets are what they hold), and the edge
// token that authenticates posted transforms, read from the environment like sync's (an edge
// with an origin binds it already).
function liveBindingLines(sync, edgeTokenEnv = DEFAULT_EDGE_TOKEN_ENV) {
  if (!ENV_VAR.test(edgeTokenEnv)) throw new Error(`--edge-token-env ${edgeTokenEnv}: not a variable name`);
  const lines = ['    (name = "LIVE", durableObjectNamespace = "LivePage"),   # one object per vendor page'];
  if (!sync) lines.push(`    (name = "EDGE_TOKEN", fromEnvironment = ${capnpText(edgeTokenEnv)}),   # live transforms`);
  return lines;
}

// cache: "host:port" of a service speaking workerd's cache protocol for caches.default, or none.
// Every module of the worker: the .js files of edge-workers/ (gen-config itself is .mjs).
function workerModules() {
  return readdirSync(join(REPO, 'edge-workers')).filter((f) => f.endsWith('.js')).sort().map((f) => `edge-workers/${f}`);
}

function configText(port, modules, bindings, sync, { privateNet = false, cache } = {}) {
  const services = [
    '(name = "edge", worker = .edgeWorker)',
    '(name = "public-net", network = (allow = ["public"], deny = ["private", "local"], tlsOptions = (trustBrowserCas = true)))',
  ];
  if (sync || privateNet) services.push('(name = "private-net", network = (allow = ["public", "private", "local"]))');
  if (cache) services.push(`(name = "cache", external = (address = ${capnpText(cache)}, http = ()))`);
  return `# Generated by edge-workers/gen-config.mjs; do not edit.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    ${services.join(',\n    ')},
  ],
  sockets = [
    # X-Forwarded-Proto: a TLS-terminating proxy in front tells the worker the request was https.
    ( name = "http", address = "127.0.0.1:${port}", service = "edge",
      http = (forwardedProtoHeader = "X-Forwarded-Proto") ),
  ],
);

const edgeWorker :Workerd.Worker = (
  modules = [
${modules.map(([name, kind]) => capnpModule(name, kind)).join('\n')}
  ],
  bindings = [
${bindings.join('\n')}
  ],
  globalOutbound = "public-net",   # image sources: public addresses only${cache ? '\n  cacheApiOutbound = "cache",' : ''}
  # Live updates (live.js): one object per vendor page, in memory for the life of the process.
  durableObjectNamespaces = [ (className = "LivePage", uniqueKey = "whaletools-edge-LivePage", enableSql = true) ],
  durableObjectStorage = (inMemory = void),
  compatibilityDate = "${COMPATIBILITY_DATE}",
);
`;
}

function copyInto(outDir, relative, source = join(REPO, relative)) {
  const target = join(outDir, relative);
  mkdirSync(dirname(target), { recursive: true });
  copyFileSync(source, target);
}

// Returns { configPath, vendors, layoutVendors, sync, imageWasm }: the vendors whose payloads
// (vendors) and configs (layoutVendors) are embedded, none with an origin; the image.wasm
// embedded (null: none).
// Options: port, outDir, wasm, name, vendorsDir (default fixtures/vendors; embedded under the
// same module names), imageWasm (a path; null: none; default: the built one if any), image
// {vendor, hosts {host: slug}, signingSecretEnv, keyIds {slug: [current, previous?]}, allowPrivateSources,
// maxMemoryMb, maxJobMb, fetchTimeoutMs},
// cache ("host:port" of a cache service for caches.default), and the sync options origin,
// replicas {region: url}, region, keys {keyId: base64}, edgeTokenEnv, maxAge (s), timeoutMs.
export function generateConfig({
  port = 8787, outDir = join(REPO, 'build', 'edge'), wasm = defaultWasm(), name, vendorsDir = join(REPO, 'fixtures', 'vendors'),
  imageWasm = defaultImageWasm(), avifWasm = defaultImageWasm('avif.wasm'), image = {}, cache, ...options
} = {}) {
  const sync = syncBindings({ name, ...options });
  const vendors = sync ? [] : listVendors(vendorsDir);
  const layoutVendors = sync ? [] : listVendors(vendorsDir, 'config.json');
  const sources = new Map([['js-glue/core.wasm', wasm]]);
  if (imageWasm) sources.set('js-glue/image.wasm', imageWasm);
  if (imageWasm && avifWasm) sources.set('js-glue/avif.wasm', avifWasm);
  for (const slug of vendors) sources.set(`fixtures/vendors/${slug}/features.json`, join(vendorsDir, slug, 'features.json'));
  for (const slug of layoutVendors) sources.set(`fixtures/vendors/${slug}/config.json`, join(vendorsDir, slug, 'config.json'));
  const modules = [
    // worker.js first: workerd takes the first module as the main one.
    ['edge-workers/worker.js', 'esModule'],
    ...workerModules().filter((m) => m !== 'edge-workers/worker.js').map((m) => [m, 'esModule']),
    ['js-glue/index.js', 'esModule'],
    ['js-glue/image.js', 'esModule'],
    ['js-glue/core.wasm', 'wasm'],
    ...(imageWasm ? [['js-glue/image.wasm', 'wasm']] : []),
    ...(imageWasm && avifWasm ? [['js-glue/avif.wasm', 'wasm']] : []),
    // Served to browsers as they are (the demo storefront and the browser glue it imports).
    ['edge-workers/demo/index.html', 'text'],
    ['edge-workers/demo/app.js', 'text'],
    ['js-glue/browser.js', 'text'],
    ['js-glue/image-url.js', 'text'],
    // Text modules: the glue hands the payload text to the core without a JS parse.
    ...vendors.map((slug) => [`fixtures/vendors/${slug}/features.json`, 'text']),
    ...layoutVendors.map((slug) => [`fixtures/vendors/${slug}/config.json`, 'text']),
  ];
  outDir = resolve(outDir);
  for (const stale of ['edge-workers', 'js-glue', 'fixtures']) rmSync(join(outDir, stale), { recursive: true, force: true });
  for (const [module] of modules) copyInto(outDir, module, sources.get(module));
  const configPath = join(outDir, 'workerd.capnp');
  const bindings = [
    ...bindingLines(name, sync), ...imageBindingLines(image), ...networkBindingLines(sync, image.allowPrivateSources),
    ...liveBindingLines(sync, options.edgeTokenEnv),
  ];
  writeFileSync(configPath, configText(port, modules, bindings, sync, { privateNet: image.allowPrivateSources, cache }));
  return { configPath, vendors, layoutVendors, sync, imageWasm: imageWasm || null };
}

function parseKeyValue(text, what) {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new Error(`${what} ${text}: expected NAME=VALUE`);
  return [text.slice(0, eq), text.slice(eq + 1)];
}

export function parseCommandLine(args) {
  const { values } = parseArgs({
    args,
    options: {
      port: { type: 'string', default: '8787' }, out: { type: 'string' }, wasm: { type: 'string' },
      name: { type: 'string' }, origin: { type: 'string' }, replica: { type: 'string', multiple: true },
      region: { type: 'string' }, key: { type: 'string', multiple: true }, keys: { type: 'string', multiple: true },
      'edge-token-env': { type: 'string' }, 'max-age': { type: 'string' }, 'timeout-ms': { type: 'string' },
      'image-wasm': { type: 'string' }, 'image-vendor': { type: 'string' }, 'image-host': { type: 'string', multiple: true },
      'image-signing-secret-env': { type: 'string' }, 'image-key-ids': { type: 'string', multiple: true },
      'allow-private-image-sources': { type: 'boolean' },
    },
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`bad --port ${values.port}`);
  const keys = {};
  for (const file of values.keys ?? []) Object.assign(keys, readKeysFile(file));
  for (const pair of values.key ?? []) {
    const [keyId, publicKey] = parseKeyValue(pair, '--key');
    keys[keyId] = publicKey;
  }
  return {
    port, outDir: values.out, wasm: values.wasm, name: values.name, origin: values.origin,
    replicas: Object.fromEntries((values.replica ?? []).map((pair) => parseKeyValue(pair, '--replica'))),
    region: values.region, keys, edgeTokenEnv: values['edge-token-env'],
    maxAge: values['max-age'] === undefined ? undefined : Number(values['max-age']),
    timeoutMs: values['timeout-ms'] === undefined ? undefined : Number(values['timeout-ms']),
    ...(values['image-wasm'] === undefined ? {} : { imageWasm: values['image-wasm'] }),
    image: {
      vendor: values['image-vendor'],
      hosts: Object.fromEntries((values['image-host'] ?? []).map((pair) => parseKeyValue(pair, '--image-host'))),
      signingSecretEnv: values['image-signing-secret-env'],
      keyIds: Object.fromEntries((values['image-key-ids'] ?? []).map((pair) => {
        const [slug, ids] = parseKeyValue(pair, '--image-key-ids');
        return [slug, ids.split(',')];
      })),
      allowPrivateSources: values['allow-private-image-sources'] ?? false,
    },
  };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  let options;
  try {
    options = parseCommandLine(process.argv.slice(2));
  } catch (e) {
    console.error(`gen-config: ${e.message}`);
    process.exit(2);
  }
  try {
    const { configPath, vendors, sync, imageWasm } = generateConfig(options);
    if (!imageWasm) console.error('gen-config: no image.wasm built: /img/ will answer 503 (run scripts/build.sh)');
    if (sync) {
      const reads = sync.region && sync.replicas[sync.region] ? `${sync.replicas[sync.region]}, then ${sync.origin}` : sync.origin;
      console.log(`${configPath} (origin: reads from ${reads}; keys: ${Object.keys(sync.keys).join(', ')}; ` +
        `edge token from $${sync.edgeTokenEnv})`);
    } else {
      console.log(`${configPath} (vendors: ${vendors.join(', ') || 'none'})`);
    }
  } catch (e) {
    console.error(`gen-config: ${e.message}`);
    process.exit(1);
  }
}
