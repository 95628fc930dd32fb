// The edge worker: routing, request and cookie I/O, response headers. Every assignment decision
// is made by the whale core (core.wasm) through the JS glue, so the edge answers exactly what the
// native build and the WASI harness answer for the same inputs.
//
// Routes
//   GET  /v1/assign?vendor=<slug>&<attribute>=<value>...  attributes from the query (strings)
//   POST /v1/assign?vendor=<slug>   body {"attributes": {...}, "url"?: "<page URL>"}, merged over
//                                   the query's attributes
//   GET  /v1/storefront/<slug>/<page>  the page's layout for this visitor (storefront.js)
//   POST /v1/events                 exposure and conversion beacons (events.js)
//   GET  /v1/events/stats           the events path (queue, forwarder or buffer) and its counters
//   GET  /demo/<slug>/<page>        a demo storefront page that renders the layout (demo/)
//   GET  /v1/config/<slug>          what this edge holds for the vendor (debugging; no secrets)
//   GET  /img/<options>/<source>    images resized by image.wasm (image.js; the vendor is
//                                   IMAGE_HOSTS[host] or IMAGE_VENDOR); /cdn-cgi/image/ too
//   POST /v1/invalidate             the origin's nudge, body {"slug", "version"} (edge token)
//   POST /v1/publish                a signed snapshot from the origin, written to Workers KV
//                                   (SNAPSHOTS; edge token; sync.js publish)
//   GET  /v1/live/<slug>/<page>     Upgrade: websocket: the page's live updates (live.js)
//   POST /v1/live/<slug>/<page>     a transform for the page's browsers (edge token; live.js)
//   GET  /healthz
//   queue(batch)                    the EVENTS_QUEUE consumer: posts the events to the origin
//
// Vendor configs: with an ORIGIN_URL binding they are signed snapshots pulled from the origin
// (sync.js); without one, the payloads embedded with the worker (fixtures/vendors/<slug>).
//
// Cookies
//   whale_id  the visitor's anonymous id (a random UUID); the attribute `id` unless the request
//             supplies one.
//   whale_bx  the behaviour summary the browser glue writes (read by /v1/storefront only).
//   whale_sb  the sticky-bucket assignment documents: base64url (no padding) of the UTF-8 JSON
//             array [[attributeName, attributeValue, {"<experimentKey>__<bucketVersion>":
//             "<variation meta key>"}], ...], oldest first; capped at STICKY_COOKIE_MAX chars.

import { createEngine } from '../js-glue/index.js';
import coreModule from '../js-glue/core.wasm';
import { ConfigSync, MAX_SNAPSHOT_BYTES } from './sync.js';
import { HttpError, isObject, json, methodNotAllowed, originFetch, parseCookies, readBodyText } from './http.js';
import { ColoCache, PAGE_ID, Storefront } from './storefront.js';
import {
  ClientEvents, EventBuffer, EventForwarder, EventKeys, EventQueue, OriginEvents, QueueConsumer, RECEIPT_COOKIE,
  RECEIPT_MAX_AGE_S, readBatch,
} from './events.js';
import demoPage from './demo/index.html';
import demoScript from './demo/app.js';
import browserGlue from '../js-glue/browser.js';
import imageUrlGlue from '../js-glue/image-url.js';
import { ImageService, imageRouteOf } from './image.js';

import { LIVE_ROUTE, connect as connectLive, post as postLive } from './live.js';

export { LivePage } from './live.js';

const MAX_BODY_BYTES = 64 * 1024;
const STICKY_COOKIE_MAX = 3072; // chars of the value; browsers keep at most ~4 KB per cookie
const COOKIE_MAX_AGE = 31536000; // one year, in seconds
const ID_COOKIE = 'whale_id';
const STICKY_COOKIE = 'whale_sb';
const VENDOR_SLUG = /^[a-z0-9][a-z0-9_-]{0,63}$/;
// The origin's names: [a-z0-9-], 1 to 64 characters, no '-' at either end (docs/origin.md).
const ORIGIN_SLUG = /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/;
const MAX_INVALIDATE_BYTES = 4096;
const VISITOR_ID = /^[A-Za-z0-9-]{8,64}$/;
const BASE64URL = /^[A-Za-z0-9_-]*$/;
// Engine error codes that mean the edge failed, not the request.
const SERVER_FAULTS = new Set(['internal', 'out_of_memory', 'abi_mismatch', 'invalid_handle']);

// One engine and one parsed payload per vendor for the life of the isolate.
let enginePromise = null;
const featureSets = new Map(); // slug -> Promise<FeatureSet> (embedded payloads)
let sync; // ConfigSync when the worker has an origin, null without one; set on the first request
const configTexts = new Map(); // slug -> Promise<string> (embedded configs, for layouts)
const embeddedConfigs = new Map(); // slug -> {version: 0, text, headers} once loaded
const storefront = new Storefront();
let events; // EventBuffer, set on the first request (EVENTS_BUFFER_BYTES)
let eventKeys; // EventKeys over EVENTS_KEY (shared with the origin)
let clientEvents; // ClientEvents: what browsers may report, with their receipts
let forwarder; // EventForwarder when the worker has an origin and no queue, else null; set on the first request
let eventQueue; // EventQueue when the worker has an origin and EVENTS_QUEUE (the queue path), else null
let consumer; // QueueConsumer, set on the first queue() batch
let images; // ImageService, set on the first request
const mediaSettings = new Map(); // slug -> {version, media}: the core's reading of the config's `media`

function positive(value, fallback) {
  const n = Number(value ?? 0);
  return Number.isFinite(n) && n > 0 ? n : fallback;
}

function eventsFor(env) {
  if (events === undefined) {
    events = new EventBuffer({ capacityBytes: positive(env?.EVENTS_BUFFER_BYTES, undefined) });
    eventKeys = new EventKeys(env?.EVENTS_KEY);
    clientEvents = new ClientEvents(events, {
      perVisitorPerMinute: positive(env?.EVENTS_PER_VISITOR_PER_MINUTE, undefined),
      perIpPerMinute: positive(env?.EVENTS_PER_IP_PER_MINUTE, undefined),
    });
    // With a queue bound, accepted events go to it (events.js, EventQueue); without one (plain
    // workerd) they wait in the isolate's bounded buffer for the forwarder.
    eventQueue = env?.ORIGIN_URL && env.EVENTS_QUEUE ? new EventQueue(env.EVENTS_QUEUE, eventKeys) : null;
    forwarder = env?.ORIGIN_URL && !eventQueue
      ? new EventForwarder(events, eventKeys, {
        url: env.ORIGIN_URL,
        token: typeof env.EDGE_TOKEN === 'string' ? env.EDGE_TOKEN : '',
        // The origin is reached through its own network binding where there is one (gen-config).
        fetchImpl: env.ORIGIN_NET ? (input, init) => env.ORIGIN_NET.fetch(input, init) : undefined,
        batchSize: positive(env.EVENTS_BATCH, undefined),
        concurrency: positive(env.EVENTS_CONCURRENCY, undefined),
        intervalMs: positive(env.EVENTS_INTERVAL_MS, undefined),
      })
      : null;
  }
  return forwarder;
}

function eventStats() {
  const path = eventQueue ? 'queue' : forwarder ? 'forwarder' : 'buffer';
  const stats = { ...events.stats(), keyed: eventKeys.configured, path };
  if (eventQueue) return { ...stats, queue: eventQueue.stats(), consumer: consumer?.stats() ?? null };
  if (!forwarder) return stats;
  return { ...stats, ...forwarder.stats(), forwarding: true };
}

function consumerFor(env) {
  consumer ??= new QueueConsumer(env?.ORIGIN_URL ? new OriginEvents({
    url: env.ORIGIN_URL, token: typeof env.EDGE_TOKEN === 'string' ? env.EDGE_TOKEN : '', fetchImpl: originFetch(env),
  }) : null, {
    batchRows: positive(env?.EVENTS_BATCH, undefined),
    retryBaseS: positive(env?.EVENTS_RETRY_BASE_S, undefined),
    deadLetterQueue: typeof env?.EVENTS_DEAD_LETTER_QUEUE === 'string' ? env.EVENTS_DEAD_LETTER_QUEUE : '',
  });
  return consumer;
}

// Minted exposures: into the buffer (and the forwarder's next POST), or on the queue path sent
// before the request is answered: then a Promise. The page or assignment is served whether or not
// the queue took them; those it did not take are counted as dropped (the visitor's receipt lists
// them already, so they are not minted again).
function recordMinted(list, ctx, now) {
  if (eventQueue === null) {
    events.addMinted(list);
    forwarder?.pump(ctx, now);
    return undefined;
  }
  const into = [];
  events.addMinted(list, into);
  return eventQueue.send(into).then((sent) => {
    if (!sent) events.unsent(into, { dropped: true });
  });
}

function imagesFor(env) {
  images ??= new ImageService({
    env: env ?? {},
    media: mediaFor,
    // Imported on the first image request: an edge without image.wasm still serves the rest.
    loadModule: () => import('../js-glue/image.wasm').then((m) => m.default),
  });
  return images;
}

function syncFor(env) {
  if (sync === undefined) {
    sync = env?.ORIGIN_URL ? new ConfigSync(env, engine) : null;
    storefront.colo = ColoCache.fromEnv(env);
  }
  return sync;
}

function engine() {
  enginePromise ??= createEngine({ module: coreModule }).catch((e) => {
    enginePromise = null;
    throw e;
  });
  return enginePromise;
}

async function loadVendor(slug) {
  let payload;
  try {
    // Only vendors bundled with the worker exist (one module per fixtures/vendors/<slug>).
    payload = (await import(`../fixtures/vendors/${slug}/features.json`)).default;
  } catch {
    throw new HttpError(404, 'not_found', `unknown vendor "${slug}"`);
  }
  return (await engine()).loadFeatures(payload);
}

function featureSetFor(slug) {
  if (!slug) throw new HttpError(404, 'not_found', 'missing ?vendor=<slug>');
  if (!VENDOR_SLUG.test(slug)) throw new HttpError(404, 'not_found', 'unknown vendor');
  let set = featureSets.get(slug);
  if (!set) {
    set = loadVendor(slug);
    featureSets.set(slug, set);
    set.catch(() => featureSets.delete(slug)); // unknown names are not remembered
  }
  return set;
}

function errorResponse(e) {
  if (e instanceof HttpError) return json(e.status, { error: { code: e.code, message: e.message } }, e.headers);
  if (typeof e?.code === 'string') {
    const status = SERVER_FAULTS.has(e.code) ? 500 : 400;
    return json(status, { error: { code: e.code, message: e.message } });
  }
  return json(500, { error: { code: 'internal', message: 'internal error' } });
}

// --- cookies -------------------------------------------------------------------------------

const utf8 = new TextEncoder();

function setCookie(name, value, secure) {
  return `${name}=${value}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${COOKIE_MAX_AGE}${secure ? '; Secure' : ''}`;
}

function base64urlEncode(text) {
  let binary = '';
  for (const byte of utf8.encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

const BASE64URL_DIGITS = new Int8Array(128).fill(-1);
for (const [i, c] of [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'].entries()) BASE64URL_DIGITS[c.charCodeAt(0)] = i;
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

// base64url (no padding) -> text; throws on a character outside the alphabet, a length no
// encoder writes, or bytes that are not UTF-8. Table-driven: it runs on every request that
// carries sticky documents, and atob plus a per-character callback cost more than the rest of
// the cookie's handling.
function base64urlDecode(value) {
  if (value.length % 4 === 1) throw new TypeError('base64url: impossible length');
  const bytes = new Uint8Array(Math.floor((value.length * 3) / 4));
  let bits = 0;
  let count = 0;
  let at = 0;
  let ascii = true;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    const digit = c < 128 ? BASE64URL_DIGITS[c] : -1;
    if (digit < 0) throw new TypeError('base64url: not in the alphabet');
    bits = (bits << 6) | digit;
    count += 6;
    if (count >= 8) {
      count -= 8;
      const byte = (bits >> count) & 0xff;
      ascii &&= byte < 0x80;
      bytes[at++] = byte;
    }
  }
  if (ascii && at <= 4096) return String.fromCharCode.apply(null, bytes.subarray(0, at));
  return strictUtf8.decode(bytes.subarray(0, at));
}

function isStringMap(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value) &&
    Object.values(value).every((v) => typeof v === 'string');
}

function docKey(attributeName, attributeValue) {
  return `${attributeName}||${attributeValue}`;
}

// Cookies decoded before, by value: a returning visitor sends the same whale_sb on every page
// view. Bounded in characters held (about 1 MB with the decoded documents): cleared when full.
// The documents are never modified in place (mergeStickyDocs copies), so one object may serve
// several requests.
const STICKY_DECODED_MAX_CHARS = 256 * 1024;
const stickyDecoded = new Map();
let stickyDecodedChars = 0;

// whale_sb -> GrowthBook's { "<name>||<value>": { attributeName, attributeValue, assignments } },
// in cookie order. Returns null when the cookie is not one this worker wrote.
function decodeStickyDocs(value) {
  if (value === undefined) return {};
  let docs = stickyDecoded.get(value);
  if (docs === undefined) {
    docs = readStickyDocs(value);
    if (stickyDecodedChars + value.length > STICKY_DECODED_MAX_CHARS) {
      stickyDecoded.clear();
      stickyDecodedChars = 0;
    }
    stickyDecoded.set(value, docs);
    stickyDecodedChars += value.length;
  }
  return docs;
}

function readStickyDocs(value) {
  if (value.length > 2 * STICKY_COOKIE_MAX || !BASE64URL.test(value)) return null;
  let entries;
  try {
    entries = JSON.parse(base64urlDecode(value));
  } catch {
    return null;
  }
  if (!Array.isArray(entries)) return null;
  const docs = {};
  for (const entry of entries) {
    if (!Array.isArray(entry) || entry.length !== 3) return null;
    const [attributeName, attributeValue, assignments] = entry;
    if (typeof attributeName !== 'string' || typeof attributeValue !== 'string' || !isStringMap(assignments)) return null;
    docs[docKey(attributeName, attributeValue)] = { attributeName, attributeValue, assignments };
  }
  return docs;
}

function encodeStickyDocs(docs) {
  const entries = Object.values(docs).map((d) => [d.attributeName, d.attributeValue, d.assignments]);
  // Drop the oldest documents until the cookie fits.
  for (;;) {
    const encoded = base64urlEncode(JSON.stringify(entries));
    if (encoded.length <= STICKY_COOKIE_MAX || entries.length === 0) return encoded;
    entries.shift();
  }
}

// The documents the core wrote replace (and become newer than) the ones the cookie held.
function mergeStickyDocs(docs, changed) {
  const merged = { ...docs };
  for (const doc of Object.values(changed)) {
    const key = docKey(doc.attributeName, doc.attributeValue);
    const assignments = { ...merged[key]?.assignments, ...doc.assignments };
    delete merged[key];
    merged[key] = { attributeName: doc.attributeName, attributeValue: doc.attributeValue, assignments };
  }
  return merged;
}

// --- requests ------------------------------------------------------------------------------

// POST body: {"attributes"?: object, "url"?: string}; an empty body means no attributes.
async function readAssignBody(request) {
  const text = await readBodyText(request, MAX_BODY_BYTES);
  if (text.trim() === '') return {};
  let body;
  try {
    body = JSON.parse(text);
  } catch (e) {
    throw new HttpError(400, 'invalid_json', `request body: ${e.message}`);
  }
  if (!isObject(body)) throw new HttpError(400, 'wrong_type', 'request body: expected a JSON object');
  if (body.attributes !== undefined && !isObject(body.attributes)) {
    throw new HttpError(400, 'wrong_type', 'request body: "attributes" must be an object');
  }
  if (body.url !== undefined && typeof body.url !== 'string') {
    throw new HttpError(400, 'wrong_type', 'request body: "url" must be a string');
  }
  return body;
}

// Every query parameter but vendor; a repeated parameter becomes an array.
function queryAttributes(url) {
  const attributes = {};
  for (const key of new Set(url.searchParams.keys())) {
    if (key === 'vendor') continue;
    const values = url.searchParams.getAll(key);
    attributes[key] = values.length === 1 ? values[0] : values;
  }
  return attributes;
}

function checkOriginSlug(slug) {
  if (!slug) throw new HttpError(404, 'not_found', 'missing ?vendor=<slug>');
  if (!ORIGIN_SLUG.test(slug)) throw new HttpError(404, 'not_found', 'unknown vendor');
}

// The vendor's synced state, or an HttpError when nothing can be served.
async function syncedVendor(slug, ctx) {
  checkOriginSlug(slug);
  try {
    return await sync.ready(slug, ctx);
  } catch (e) {
    throw e.status ? new HttpError(e.status, e.code, e.message, e.status === 503 ? { 'Retry-After': '1' } : {}) : e;
  }
}

// The whale_sb cookie to set after the core wrote `changed` documents over `held` (null: the
// cookie was unreadable, and is replaced even when nothing was assigned); [] when unchanged.
function stickyCookies(changed = {}, held, url) {
  if (Object.keys(changed).length === 0 && held !== null) return [];
  const value = encodeStickyDocs(mergeStickyDocs(held ?? {}, changed));
  return [setCookie(STICKY_COOKIE, value, url.protocol === 'https:')];
}

// The visitor's id (null when the cookie is missing or malformed) and sticky documents (null
// when the cookie is not one this worker wrote).
function visitorOf(cookies) {
  const id = VISITOR_ID.test(cookies[ID_COOKIE] ?? '') ? cookies[ID_COOKIE] : null;
  return { id, stickyDocs: decodeStickyDocs(cookies[STICKY_COOKIE]), receipt: cookies[RECEIPT_COOKIE] };
}

async function assign(request, url, ctx) {
  const slug = url.searchParams.get('vendor');
  // Embedded payloads: the feature set lives as long as the isolate. Synced ones are replaced
  // (and freed) by refreshes, so the current set is read right before the synchronous evalAll.
  const vendor = sync ? await syncedVendor(slug, ctx) : null;
  const embedded = sync ? null : await featureSetFor(slug);
  const body = request.method === 'POST' ? await readAssignBody(request) : {};

  const cookies = parseCookies(request.headers.get('Cookie'));
  const { id: knownId, stickyDocs } = visitorOf(cookies);
  const visitorId = knownId ?? crypto.randomUUID();

  const attributes = { id: visitorId, ...queryAttributes(url), ...body.attributes };
  const options = { stickyBucketAssignmentDocs: stickyDocs ?? {}, url: body.url };
  const core = await engine();
  const started = performance.now();
  const result = core.evalAll(vendor ? vendor.held.set : embedded, attributes, options);
  const wasmMs = performance.now() - started;

  const headers = new Headers({
    'Content-Type': 'application/json',
    'Cache-Control': 'private, no-store',
    'Server-Timing': `wasm;dur=${wasmMs.toFixed(3)}`,
    ...(vendor ? sync.headers(vendor) : {}),
  });
  if (knownId === null) headers.append('Set-Cookie', setCookie(ID_COOKIE, visitorId, url.protocol === 'https:'));
  for (const cookie of stickyCookies(result.stickyBucketAssignmentDocs, stickyDocs, url)) headers.append('Set-Cookie', cookie);
  const recorded = recordExposures(slug, result.experiments, ctx);
  const answer = { vendor: slug, features: result.features, experiments: result.experiments };
  if (result.experiments.length > 0) {
    const entries = result.experiments.map((r) => [r.experimentKey, r.variationId, String(r.hashValue)]);
    const { receipt, changed } = await receiptFor(slug, visitorId, entries, cookies[RECEIPT_COOKIE]);
    answer.receipt = receipt;
    if (changed) headers.append('Set-Cookie', receiptCookie(receipt, url));
  }
  if (recorded !== undefined) await recorded;
  return new Response(JSON.stringify(answer), { status: 200, headers });
}

// The visitor's receipt after being assigned `entries` ([experiment, variation, unit]): the
// entries of the receipt it holds for the same vendor and visitor, updated, plus the new ones.
// {receipt, changed, unlisted}: the held receipt itself (changed false) when it already lists
// them all and was issued less than a day ago, so that a returning visitor gets no new cookie;
// unlisted: the entries the held receipt did not list (all of them when it is a day old: a new
// day's exposure).
async function receiptFor(slug, visitorId, entries, heldText) {
  const now = Date.now();
  const held = heldText ? await eventKeys.readReceipt(heldText, now) : null;
  const unlisted = unlistedIn(held, slug, visitorId, entries, now) ?? entries;
  if (unlisted.length === 0) return { receipt: heldText, changed: false, unlisted };
  const merged = new Map();
  if (held && held.slug === slug && held.visitor === visitorId) {
    for (const e of held.entries) if (Array.isArray(e) && typeof e[0] === 'string') merged.set(e[0], e);
  }
  for (const e of entries) {
    merged.delete(e[0]);
    merged.set(e[0], e);
  }
  return { receipt: await eventKeys.mintReceipt(slug, visitorId, [...merged.values()], now), changed: true, unlisted };
}

// The entries a held receipt (as readReceipt reads it) does not list with the same variation and
// unit; all of them when it was issued a day ago or more; undefined when it is not this vendor's
// receipt for this visitor (or none).
function unlistedIn(held, slug, visitorId, entries, now = Date.now()) {
  if (!held || held.slug !== slug || held.visitor !== visitorId) return undefined;
  if (now / 1000 - held.issuedAt >= 86400) return entries;
  return entries.filter((e) => {
    const h = held.entries.find((x) => Array.isArray(x) && x[0] === e[0]);
    return h === undefined || String(h[1]) !== String(e[1]) || h[2] !== e[2];
  });
}

function receiptCookie(receipt, url) {
  return `${RECEIPT_COOKIE}=${receipt}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${RECEIPT_MAX_AGE_S}${url.protocol === 'https:' ? '; Secure' : ''}`;
}

// One exposure event per experiment the visitor was bucketed into, for the origin's bandits. Its
// id is a MAC over (vendor, experiment, variation, unit, day) made when it is forwarded, so a
// returning visitor's repeated exposures deduplicate here and at the origin. A Promise on the
// queue path (recordMinted).
function recordExposures(slug, experiments, ctx) {
  if (experiments.length === 0) return undefined;
  const now = Date.now();
  return recordMinted(experiments.map((r) => ({
    type: 'exposure', slug, experiment: r.experimentKey, variation: r.variationId, unit: String(r.hashValue), ts: now,
  })), ctx, now);
}

// GET /v1/config/<slug>: the version held, its age and where it came from, and the counters.
async function describeConfig(slug, ctx) {
  if (!sync) {
    await featureSetFor(slug);
    return json(200, { slug, version: null, source: 'embedded' });
  }
  const vendor = await syncedVendor(slug, ctx);
  return json(200, sync.describe(vendor), sync.headers(vendor));
}

// POST /v1/publish with the edge token: the origin's signed snapshot, verified and written to KV.
async function publishSnapshot(request) {
  if (!sync) throw new HttpError(404, 'not_found', 'this edge has no origin: nothing to publish');
  if (!(await sync.authorized(request.headers.get('Authorization')))) {
    throw new HttpError(401, 'unauthorized', 'missing or wrong edge token', { 'WWW-Authenticate': 'Bearer' });
  }
  const text = await readBodyText(request, MAX_SNAPSHOT_BYTES);
  const { status, body } = await sync.publish(text, ORIGIN_SLUG);
  return json(status, body);
}

// POST /v1/invalidate with the edge token: pull the vendor now. 200 with the version held once
// it is at least the one named; 202 when the pull failed or is still running (the old is kept).
async function invalidate(request, ctx) {
  if (!sync) throw new HttpError(404, 'not_found', 'this edge has no origin: nothing to invalidate');
  if (!(await sync.authorized(request.headers.get('Authorization')))) {
    throw new HttpError(401, 'unauthorized', 'missing or wrong edge token', { 'WWW-Authenticate': 'Bearer' });
  }
  if (Number(request.headers.get('Content-Length')) > MAX_INVALIDATE_BYTES) {
    throw new HttpError(413, 'too_large', `request body over ${MAX_INVALIDATE_BYTES} bytes`);
  }
  let body;
  try {
    body = JSON.parse(await readBodyText(request, MAX_INVALIDATE_BYTES));
  } catch (e) {
    if (e instanceof HttpError) throw e;
    throw new HttpError(400, 'invalid_json', `request body: ${e.message}`);
  }
  if (!isObject(body) || typeof body.slug !== 'string') {
    throw new HttpError(400, 'wrong_type', 'request body: expected {"slug": string, "version"?: integer}');
  }
  if (!ORIGIN_SLUG.test(body.slug)) throw new HttpError(400, 'invalid_value', 'slug: not a vendor name');
  const version = body.version;
  if (version !== undefined && !(Number.isSafeInteger(version) && version >= 1)) {
    throw new HttpError(400, 'invalid_value', 'version: expected a positive integer');
  }
  const { status, body: answer } = await sync.invalidate(body.slug, version, ctx);
  return json(status, answer);
}

// --- layouts, events, the demo --------------------------------------------------------------

async function embeddedConfigText(slug) {
  if (!VENDOR_SLUG.test(slug)) throw new HttpError(404, 'not_found', 'unknown vendor');
  let text = configTexts.get(slug);
  if (!text) {
    // One text module per fixtures/vendors/<slug>/config.json bundled with the worker.
    // (An async function: a bundler's glob import, as wrangler's esbuild writes it, throws for a
    // name it does not hold instead of rejecting.)
    text = (async () => (await import(`../fixtures/vendors/${slug}/config.json`)).default)().catch(() => {
      throw new HttpError(404, 'not_found', `unknown vendor "${slug}"`);
    });
    configTexts.set(slug, text);
    text.catch(() => configTexts.delete(slug));
  }
  return text;
}

// {version, text, headers} of the vendor's config: the synced snapshot's (Warning only: Age on
// a cacheable answer would count against its freshness), or the embedded one as version 0.
async function layoutConfig(slug, ctx) {
  if (!sync) {
    let config = embeddedConfigs.get(slug);
    if (!config) {
      config = { version: 0, text: await embeddedConfigText(slug), headers: {} };
      embeddedConfigs.set(slug, config);
    }
    return config;
  }
  return syncedLayoutConfig(await syncedVendor(slug, ctx));
}

// The same without waiting when the vendor's config is held; undefined otherwise.
function heldLayoutConfig(slug, ctx) {
  const vendor = sync.heldNow(slug, ctx);
  return vendor === null ? undefined : syncedLayoutConfig(vendor);
}

function syncedLayoutConfig(vendor) {
  const { Warning } = sync.headers(vendor);
  return { version: vendor.held.version, text: vendor.held.configText, headers: Warning ? { Warning } : {} };
}

// /<prefix><slug>/<page> -> [slug, page], or a 404.
function slugAndPage(pathname, prefix) {
  const parts = pathname.slice(prefix.length).split('/');
  if (parts.length !== 2) throw new HttpError(404, 'not_found', `no route for ${pathname}: expected ${prefix}<slug>/<page>`);
  if (!(sync ? ORIGIN_SLUG : VENDOR_SLUG).test(parts[0])) throw new HttpError(404, 'not_found', 'unknown vendor');
  if (!PAGE_ID.test(parts[1])) throw new HttpError(404, 'not_found', 'unknown page');
  return parts;
}

// The vendor's media settings (docs/config.md) as the core reads them from the config held, read
// once per config version.
async function mediaFor(slug, ctx) {
  if (!(sync ? ORIGIN_SLUG : VENDOR_SLUG).test(slug)) throw new HttpError(404, 'not_found', 'unknown vendor');
  const config = await layoutConfig(slug, ctx);
  const held = mediaSettings.get(slug);
  if (held !== undefined && held.version === config.version) return held.media;
  const core = await engine();
  if (!core.resolveConfig(slug, config.version)) {
    try {
      core.loadConfig(config.text, config.version);
    } catch (e) {
      throw new HttpError(500, 'invalid_config', `config of "${slug}" v${config.version}: ${e.message}`);
    }
  }
  const media = core.configMedia(slug, config.version);
  mediaSettings.set(slug, { version: config.version, media });
  return media;
}

// A Response when the layout is in the edge cache and the config held, else a Promise of one.
function layout(request, url, ctx) {
  const [slug, page] = slugAndPage(url.pathname, STOREFRONT_ROUTE);
  const config = sync ? heldLayoutConfig(slug, ctx) : embeddedConfigs.get(slug);
  if (config === undefined) return layoutConfig(slug, ctx).then((c) => serveLayout(request, url, slug, page, c, ctx));
  return serveLayout(request, url, slug, page, config, ctx);
}

function serveLayout(request, url, slug, page, config, ctx) {
  const cookies = parseCookies(request.headers.get('Cookie'));
  const secure = url.protocol === 'https:';
  return storefront.serve(request, url, {
    slug, page, config, engine, cookies, visitor: visitorOf(cookies), ctx,
    onVisitor: (decision, visitor) => {
      const set = visitor.minted ? [setCookie(ID_COOKIE, visitor.id, secure)] : [];
      set.push(...stickyCookies(decision.stickyBucketAssignmentDocs, visitor.stickyDocs, url));
      // The experiments that shaped the page (unit: the visitor id). Those the visitor's receipt
      // lists were recorded before: only the others are exposures now.
      const entries = decision.assignments.filter((a) => a.inExperiment).map((a) => [a.experiment, a.variation, visitor.id]);
      if (entries.length === 0) return set;
      // A returning visitor's receipt, verified before, that lists them all: nothing to wait for.
      const held = cookies[RECEIPT_COOKIE];
      if (held !== undefined && unlistedIn(eventKeys.knownReceipt(held, Date.now()), slug, visitor.id, entries)?.length === 0) return set;
      return receiptFor(slug, visitor.id, entries, held).then(async ({ receipt, changed, unlisted }) => {
        if (changed) set.push(receiptCookie(receipt, url));
        await recordLayoutExposures(slug, unlisted, ctx);
        return set;
      });
    },
    // A visitor kept out of experiments keeps no id, documents or receipt of ours.
    onKeptOut: () => [ID_COOKIE, STICKY_COOKIE, RECEIPT_COOKIE].filter((name) => cookies[name] !== undefined)
      .map((name) => `${name}=; Path=/; Max-Age=0; SameSite=Lax${secure ? '; Secure' : ''}`),
  });
}

// One exposure per [experiment, variation, unit] of a page the storefront served; a Promise on
// the queue path (recordMinted).
function recordLayoutExposures(slug, entries, ctx) {
  if (entries.length === 0) return undefined;
  const now = Date.now();
  return recordMinted(entries.map(([experiment, variation, unit]) => ({ type: 'exposure', slug, experiment, variation, unit, ts: now })), ctx, now);
}

// POST /v1/events from browsers: only what the visitor's receipt (the whale_rc cookie, or
// `receipt` in the body) says it was assigned counts (events.js).
async function acceptEvents(request, url, ctx) {
  const batch = await readBatch(request);
  const vendor = url.searchParams.get('vendor') ?? undefined;
  if (vendor !== undefined && !ORIGIN_SLUG.test(vendor)) throw new HttpError(400, 'invalid_value', 'vendor: not a vendor name');
  const text = batch.receipt ?? parseCookies(request.headers.get('Cookie'))[RECEIPT_COOKIE];
  const now = Date.now();
  const receipt = text === undefined ? null : await eventKeys.readReceipt(text, now);
  const list = vendor === undefined ? batch.events : batch.events.map((e) => (isObject(e) && e.slug === undefined ? { ...e, slug: vendor } : e));
  const into = eventQueue === null ? undefined : [];
  const answer = clientEvents.add(list, {
    receipt, hadReceipt: text !== undefined, ip: request.headers.get('CF-Connecting-IP') ?? undefined, now, into,
  });
  if (into !== undefined && !(await eventQueue.send(into))) {
    // Nothing of this batch is kept: the client sends it again (its events are not duplicates).
    events.unsent(into);
    events.refuse('queue_unavailable', into.length);
    throw new HttpError(503, 'events_unavailable', `the events queue did not take ${into.length} events: send them again`, { 'Retry-After': '1' });
  }
  forwarder?.pump(ctx, now); // delivery runs in ctx.waitUntil, never before this answer
  return json(202, { accepted: answer.accepted, rejected: answer.refused, duplicates: answer.duplicates, reasons: answer.reasons });
}

function asset(request, type, text) {
  return new Response(request.method === 'HEAD' ? null : text, {
    headers: { 'Content-Type': type, 'Cache-Control': 'public, max-age=60' },
  });
}

const CONFIG_ROUTE = '/v1/config/';
const STOREFRONT_ROUTE = '/v1/storefront/';
const DEMO_ROUTE = '/demo/';
const READ = 'GET, HEAD';

function readOnly(request) {
  if (request.method !== 'GET' && request.method !== 'HEAD') throw methodNotAllowed(READ);
}

// /v1/live/<slug>/<page>: a browser's socket (for a vendor this edge serves), or a transform
// posted with the edge token (checked before anything else is read).
async function live(request, env, url, ctx) {
  const [slug, page] = slugAndPage(url.pathname, LIVE_ROUTE);
  if (request.method === 'POST') return postLive(request, env, slug, page);
  if (request.method !== 'GET') throw methodNotAllowed('GET, POST');
  await layoutConfig(slug, ctx); // an unknown vendor is a 404, not an object
  return connectLive(request, env, slug, page);
}

// A Response, or a Promise of one: the layout cache's hits are answered without an await.
function route(request, env, ctx) {
  const url = new URL(request.url);
  // A TLS-terminating proxy in front (wrangler dev's, a load balancer) says the visitor used
  // https; workerd's config does the same with forwardedProtoHeader (gen-config.mjs).
  if (url.protocol === 'http:' && request.headers.get('X-Forwarded-Proto') === 'https') url.protocol = 'https:';
  syncFor(env);
  eventsFor(env)?.pump(ctx); // starts deliveries that are due (a backoff that ran out)
  if (imageRouteOf(url.pathname) !== undefined) {
    readOnly(request);
    return imagesFor(env).serve(request, url, ctx);
  }
  if (url.pathname.startsWith(CONFIG_ROUTE)) {
    if (request.method !== 'GET') throw methodNotAllowed('GET');
    const slug = url.pathname.slice(CONFIG_ROUTE.length);
    if (!(sync ? ORIGIN_SLUG : VENDOR_SLUG).test(slug)) throw new HttpError(404, 'not_found', 'unknown vendor');
    return describeConfig(slug, ctx);
  }
  if (url.pathname.startsWith(STOREFRONT_ROUTE)) {
    readOnly(request);
    return layout(request, url, ctx);
  }
  if (url.pathname.startsWith(LIVE_ROUTE)) return live(request, env, url, ctx);
  switch (url.pathname) {
    case '/v1/events':
      if (request.method !== 'POST') throw methodNotAllowed('POST');
      return acceptEvents(request, url, ctx);
    case '/v1/events/stats':
      readOnly(request);
      return imagesFor(env).stats().then((imageStats) => json(200, {
        events: eventStats(), layouts: { ...storefront.cache.stats(), colo: storefront.colo.stats() }, images: imageStats,
      }));
    case '/demo/app.js':
      readOnly(request);
      return asset(request, 'text/javascript; charset=utf-8', demoScript);
    case '/js-glue/browser.js':
      readOnly(request);
      return asset(request, 'text/javascript; charset=utf-8', browserGlue);
    case '/js-glue/image-url.js': // imported by browser.js
      readOnly(request);
      return asset(request, 'text/javascript; charset=utf-8', imageUrlGlue);
    default:
      break;
  }
  if (url.pathname.startsWith(DEMO_ROUTE)) {
    readOnly(request);
    slugAndPage(url.pathname, DEMO_ROUTE);
    return asset(request, 'text/html; charset=utf-8', demoPage);
  }
  switch (url.pathname) {
    case '/healthz':
      if (request.method !== 'GET' && request.method !== 'HEAD') throw methodNotAllowed('GET, HEAD');
      return json(200, { ok: true });
    case '/v1/assign':
      if (request.method !== 'GET' && request.method !== 'POST') throw methodNotAllowed('GET, POST');
      return assign(request, url, ctx);
    case '/v1/invalidate':
      if (request.method !== 'POST') throw methodNotAllowed('POST');
      return invalidate(request, ctx);
    case '/v1/publish':
      if (request.method !== 'POST') throw methodNotAllowed('POST');
      return publishSnapshot(request);
    default:
      throw new HttpError(404, 'not_found', `no route for ${url.pathname}`);
  }
}

export default {
  fetch(request, env, ctx) {
    try {
      const answer = route(request, env, ctx);
      return answer instanceof Response ? answer : answer.catch(errorResponse);
    } catch (e) {
      return errorResponse(e);
    }
  },

  // EVENTS_QUEUE's consumer, and its dead-letter queue's (events.js, QueueConsumer).
  queue(batch, env) {
    return consumerFor(env).consume(batch);
  },
};
