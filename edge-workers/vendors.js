// Where the worker's vendor configs come from: one interface, two sources.
//
//   EmbeddedVendors  the payloads bundled with the worker (no ORIGIN_URL): fixtures/vendors/<slug>/
//                    features.json for assignments, config.json (as version 0) for layouts.
//   SyncedVendors    signed snapshots kept in sync with the origin (ORIGIN_URL): ConfigSync
//                    (sync.js), which reads Workers KV first where SNAPSHOTS is bound.
//
// Both answer:
//   slugPattern                 the vendor names the source can hold
//   checkSlug(slug)             a 404 HttpError for a name outside slugPattern
//   featureSet(slug, ctx)       Promise of what the source holds for assignments; setOf(held) is
//                               its current FeatureSet (read right before the synchronous evalAll:
//                               a refresh frees the set it replaces), headersOf(held) the
//                               answer's Age/Warning
//   layoutConfig(slug, ctx)     Promise of {version, text, headers} for layouts
//   heldLayoutConfig(slug, ctx) the same without waiting when it is held, else undefined
//   describe(slug, ctx)         Promise of {body, headers} for GET /v1/config/<slug>
//   authorize(request, action)  throws unless the request may publish or invalidate: a 404 from
//                               the embedded source (no origin), a 401 without the edge token;
//                               then the synced source's publish(text) and invalidate(...) apply
// The routes over the source (/v1/config, /v1/invalidate, /v1/publish) are at the bottom.

import { ConfigSync, MAX_SNAPSHOT_BYTES } from './sync.js';
import { HttpError, isObject, json, readBodyText } from './http.js';

const VENDOR_SLUG = /^[a-z0-9][a-z0-9_-]{0,63}$/;
// The origin's names: [a-z0-9-], 1 to 64 characters, no '-' at either end (docs/origin.md).
export const ORIGIN_SLUG = /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/;
const MAX_INVALIDATE_BYTES = 4096;

function checkSlug(slug, pattern) {
  if (!pattern.test(slug)) throw new HttpError(404, 'not_found', 'unknown vendor');
}

// One entry per vendor name that loaded; a name that failed is not remembered.
function memoized(map, slug, load) {
  let entry = map.get(slug);
  if (!entry) {
    entry = load();
    map.set(slug, entry);
    entry.catch(() => map.delete(slug));
  }
  return entry;
}

function unknownVendor(slug) {
  return new HttpError(404, 'not_found', `unknown vendor "${slug}"`);
}

// The payloads bundled with the worker, parsed once per isolate on the vendor's first request.
export class EmbeddedVendors {
  // engine: () => Promise<Engine> (js-glue).
  constructor(engine) {
    this.engine = engine;
    this.slugPattern = VENDOR_SLUG;
    this.featureSets = new Map(); // slug -> Promise<FeatureSet>
    this.configTexts = new Map(); // slug -> Promise<string>
    this.configs = new Map(); // slug -> {version: 0, text, headers} once loaded
  }

  checkSlug(slug) {
    checkSlug(slug, VENDOR_SLUG);
  }

  // The FeatureSet lives as long as the isolate.
  featureSet(slug) {
    this.checkSlug(slug);
    return memoized(this.featureSets, slug, () => this.loadFeatures(slug));
  }

  setOf(set) {
    return set;
  }

  headersOf() {
    return {};
  }

  async loadFeatures(slug) {
    let payload;
    try {
      // Only vendors bundled with the worker exist (one module per fixtures/vendors/<slug>).
      payload = (await import(`../fixtures/vendors/${slug}/features.json`)).default;
    } catch {
      throw unknownVendor(slug);
    }
    return (await this.engine()).loadFeatures(payload);
  }

  configText(slug) {
    this.checkSlug(slug);
    // One text module per fixtures/vendors/<slug>/config.json bundled with the worker.
    // (An async function: a bundler's glob import, as wrangler's esbuild writes it, throws for a
    // name it does not hold instead of rejecting.)
    return memoized(this.configTexts, slug, () => (async () => (await import(`../fixtures/vendors/${slug}/config.json`)).default)()
      .catch(() => {
        throw unknownVendor(slug);
      }));
  }

  async layoutConfig(slug) {
    let config = this.configs.get(slug);
    if (!config) {
      config = { version: 0, text: await this.configText(slug), headers: {} };
      this.configs.set(slug, config);
    }
    return config;
  }

  heldLayoutConfig(slug) {
    return this.configs.get(slug);
  }

  async describe(slug) {
    await this.featureSet(slug);
    return { body: { slug, version: null, source: 'embedded' }, headers: {} };
  }

  async authorize(request, action) {
    throw new HttpError(404, 'not_found', `this edge has no origin: nothing to ${action}`);
  }
}

// The configs pulled from the origin (or read from Workers KV) and kept in sync (sync.js).
export class SyncedVendors {
  constructor(sync) {
    this.sync = sync;
    this.slugPattern = ORIGIN_SLUG;
  }

  checkSlug(slug) {
    checkSlug(slug, ORIGIN_SLUG);
  }

  // The vendor's synced state, or an HttpError when nothing can be served.
  async ready(slug, ctx) {
    this.checkSlug(slug);
    try {
      return await this.sync.ready(slug, ctx);
    } catch (e) {
      throw e.status ? new HttpError(e.status, e.code, e.message, e.status === 503 ? { 'Retry-After': '1' } : {}) : e;
    }
  }

  // The vendor's state: its FeatureSet is replaced (and freed) by refreshes.
  featureSet(slug, ctx) {
    return this.ready(slug, ctx);
  }

  setOf(vendor) {
    return vendor.held.set;
  }

  headersOf(vendor) {
    return this.sync.headers(vendor);
  }

  async layoutConfig(slug, ctx) {
    return this.configOf(await this.ready(slug, ctx));
  }

  heldLayoutConfig(slug, ctx) {
    const vendor = this.sync.heldNow(slug, ctx);
    return vendor === null ? undefined : this.configOf(vendor);
  }

  // Warning only: Age on a cacheable answer would count against its freshness.
  configOf(vendor) {
    const { Warning } = this.sync.headers(vendor);
    return { version: vendor.held.version, text: vendor.held.configText, headers: Warning ? { Warning } : {} };
  }

  async describe(slug, ctx) {
    const vendor = await this.ready(slug, ctx);
    return { body: this.sync.describe(vendor), headers: this.sync.headers(vendor) };
  }

  async authorize(request) {
    if (!(await this.sync.authorized(request.headers.get('Authorization')))) {
      throw new HttpError(401, 'unauthorized', 'missing or wrong edge token', { 'WWW-Authenticate': 'Bearer' });
    }
  }

  publish(text) {
    return this.sync.publish(text, ORIGIN_SLUG);
  }

  // fn(slug, version) runs after each new version of a vendor is installed (not the first).
  onNewVersion(fn) {
    this.sync.onInstall = fn;
  }

  invalidate(slug, version, ctx) {
    return this.sync.invalidate(slug, version, ctx);
  }
}

// The worker's source: synced with an origin (ORIGIN_URL), else the embedded payloads.
export function vendorSource(env, engine) {
  return env.ORIGIN_URL ? new SyncedVendors(new ConfigSync(env, engine)) : new EmbeddedVendors(engine);
}

// --- routes ------------------------------------------------------------------------------------

export const CONFIG_ROUTE = '/v1/config/';

// GET /v1/config/<slug>: the version held, its age and where it came from, and the counters.
export async function configRoute(edge, request, url, ctx) {
  const slug = url.pathname.slice(CONFIG_ROUTE.length);
  edge.vendors.checkSlug(slug);
  const { body, headers } = await edge.vendors.describe(slug, ctx);
  return json(200, body, headers);
}

// POST /v1/publish with the edge token: the origin's signed snapshot, verified and written to KV.
export async function publishRoute(edge, request) {
  await edge.vendors.authorize(request, 'publish');
  const text = await readBodyText(request, MAX_SNAPSHOT_BYTES);
  const { status, body } = await edge.vendors.publish(text);
  return json(status, body);
}

// POST /v1/invalidate with the edge token: pull the vendor now. 200 with the version held once
// it is at least the one named; 202 when the pull failed or is still running (the old is kept).
export async function invalidateRoute(edge, request, url, ctx) {
  await edge.vendors.authorize(request, 'invalidate');
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
  const { status, body: answer } = await edge.vendors.invalidate(body.slug, version, ctx);
  return json(status, answer);
}
