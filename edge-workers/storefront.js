// GET /v1/storefront/{slug}/{page}: the page a visitor should see, as the layout JSON the core's
// renderLayout returns. This file does the HTTP part only: it gathers the request's inputs,
// keeps the vendor's config loaded in the engine, caches anonymous answers, and writes ETag,
// Cache-Control and Vary. Which components appear, in which order, with which props is the
// core's decision.
//
// Visitors, consent and experiments
//   A request from a visitor who has not opted out (the vendor's `consent` settings: a consent
//   cookie's value, and `Sec-GPC: 1` unless globalPrivacyControl is false) is personalized: a
//   visitor without a whale_id cookie gets a new id (Set-Cookie) on this first request, the
//   page's experiments are evaluated for it, and the worker records an exposure for each
//   experiment that shaped the page (once per visitor, experiment and variation: the receipt
//   cookie lists what was recorded) and hands it the receipt its browser events need.
//   A visitor kept out gets the control layout (experiments do not run), no id and no exposure;
//   the whale_id, whale_sb and whale_rc cookies it still holds are expired.
//
// Caching
//   - Personalized answers: the core decides the page first (decideLayout: assignments, the
//     behaviour states, which instances visibility and schedules keep), and the layout is looked
//     up under (slug, version, page, the decisions' cacheKey) and rendered only on a miss. The
//     layout holds nothing of one visitor beyond what that key names (the sticky documents go
//     in the whale_sb cookie, not the body), so visitors who get the same page share one entry.
//     They carry `Cache-Control: private, no-cache`: browsers revalidate, shared caches don't
//     store; the edge serves them from its cache all the same.
//   - Answers for visitors kept out are keyed by (slug, version, page, the query's and the CDN
//     headers' attributes) and answered without calling the core on a hit, with
//     `Cache-Control: public, max-age=<min(30, maxAge) minus the entry's age>,
//     stale-while-revalidate=30` and, from the cache, `Age`.
//   - Every entry lives at most min(EDGE_TTL_MS, the layout's maxAge): the core's maxAge is the
//     time until a schedule on the page may change, so no entry outlives a schedule boundary. A
//     new config version makes new keys, and the first request that sees it drops the vendor's
//     older entries. The cache is one LRU bounded in entries and bytes.
//   - ETag: "<version>.<cacheKey>"; If-None-Match is answered with 304.
//   - Vary: Cookie, X-Whale-Behaviour and Sec-GPC always, plus the request headers that
//     supplied an attribute the layout's `vary` names.
//   - With LAYOUT_CACHE_API=1, answers for visitors kept out also go to the Cache API behind
//     the isolate's LRU (caches.default: per colo on Cloudflare, shared by its isolates) under
//     https://layouts.whale.internal/<slug>/<version>/<page>/<SHA-256 of the key>, with the
//     entry's own max-age. A new version is a new key: publishing purges them all. Personalized
//     answers stay in the LRU only: the core must decide the page anyway, and rendering after
//     the decision costs less than a round trip to the Cache API (edge-workers/README.md). It is
//     off by default for the same reason: a lookup took about 1 ms under wrangler dev, a render
//     18-19 us, and a fresh isolate loads the vendor's config anyway (its consent settings).
//     workerd's Cache API needs a cache service configured (cacheApiOutbound); without one the
//     colo tier turns itself off at the first failure.
//   - Warm after a publish (seed plan 4.2): the isolate counts its storefront requests per page,
//     and, per page, the attributes visitors kept out came with. When it installs a new config
//     version (a publish, a pull, a nudge), it renders the anonymous layouts of the vendor's top
//     STOREFRONT_WARM_PAGES pages (default 3; 0: off), each for the attributes most asked for on
//     it (at most 2 sets; none seen yet: no attributes), into its cache, so the first visitor
//     after a publish is a hit. The counts are then halved: recent traffic weighs most.

import { HttpError, isObject, parseCookies, parseJsonBody, readBodyText } from './http.js';
import { ID_COOKIE, expiredCookies, receiptCookie, setCookie, stickyCookies, visitorOf } from './cookies.js';
import { RECEIPT_COOKIE, RateLimiter, unlistedIn } from './events.js';

export const EDGE_TTL_MS = 30_000;
const PUBLIC_MAX_AGE_S = 30;
const STALE_WHILE_REVALIDATE_S = 30;
export const PRIVATE_CACHE_CONTROL = 'private, no-cache';
const CACHE_MAX_ENTRIES = 2048;
const CACHE_MAX_BYTES = 16 * 1024 * 1024; // of layout JSON (UTF-8) and keys (UTF-16)
export const BEHAVIOUR_COOKIE = 'whale_bx';
export const BEHAVIOUR_HEADER = 'X-Whale-Behaviour';
// The core refuses longer summaries (whale::behaviour::max_summary_bytes).
const MAX_BEHAVIOUR_CHARS = 128;
const MAX_QUERY_ATTRIBUTES = 32;
// ?candidates=K: a multi-variant page's candidate layouts (docs/layout.md#candidates).
export const CANDIDATES_PARAM = 'candidates';
const MAX_CANDIDATES = 8;
const MAX_CHOICE_BODY_BYTES = 1024;
// A visitor makes one choice per multi-variant page view: more than this is not a browser.
const CHOICES_PER_MINUTE = 30;
const CHOICE_BURST = 10;
const decoder = new TextDecoder();
export const PAGE_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
// Request headers a CDN adds, and the attribute each supplies. 'XX' is Cloudflare's "unknown".
const HEADER_ATTRIBUTES = [
  ['CF-IPCountry', 'country', (v) => /^[A-Z0-9]{2}$/.test(v) && v !== 'XX'],
  ['CF-Device-Type', 'device', (v) => v === 'mobile' || v === 'tablet' || v === 'desktop'],
];
const ALWAYS_VARY = ['Cookie', BEHAVIOUR_HEADER, 'Sec-GPC'];
// Consent settings before the core has read the vendor's: everyone is in, GPC honoured.
const DEFAULT_CONSENT = { globalPrivacyControl: true, cookie: '', granted: [], denied: [] };
const encoder = new TextEncoder();

// --- the edge cache ------------------------------------------------------------------------

// Layout answers by key, least recently used first; bounded in entries and in bytes.
export class LayoutCache {
  constructor({ maxEntries = CACHE_MAX_ENTRIES, maxBytes = CACHE_MAX_BYTES, ttlMs = EDGE_TTL_MS } = {}) {
    this.maxEntries = maxEntries;
    this.maxBytes = maxBytes;
    this.ttlMs = ttlMs;
    this.entries = new Map(); // key -> {slug, body, etag, vary, storedAt}
    this.versions = new Map(); // slug -> the newest config version seen
    this.bytes = 0;
    this.counters = { hits: 0, misses: 0, stores: 0, expired: 0, evicted: 0, invalidated: 0 };
  }

  // Answers for visitors kept out of experiments: keyed by what the request says (the
  // attributes, or their canonical JSON).
  static key(slug, version, page, attributes) {
    return `a\n${slug}\n${version}\n${page}\n${typeof attributes === 'string' ? attributes : canonicalJson(attributes)}`;
  }

  // Personalized answers: keyed by the core's decisions.
  static decisionKey(slug, version, page, cacheKey) {
    return `p\n${slug}\n${version}\n${page}\n${cacheKey}`;
  }

  // A newer version than the last one seen drops every entry of the vendor.
  observeVersion(slug, version) {
    const seen = this.versions.get(slug);
    if (seen === version) return;
    this.versions.set(slug, version);
    if (seen === undefined) return;
    for (const [key, entry] of this.entries) {
      if (entry.slug === slug) {
        this.remove(key, entry);
        this.counters.invalidated++;
      }
    }
  }

  get(key, now) {
    const entry = this.entries.get(key);
    if (entry === undefined) {
      this.counters.misses++;
      return null;
    }
    if (now - entry.storedAt >= Math.min(this.ttlMs, entry.ttlMs ?? Infinity)) {
      this.remove(key, entry);
      this.counters.expired++;
      this.counters.misses++;
      return null;
    }
    this.entries.delete(key); // re-insert: the most recently used is last
    this.entries.set(key, entry);
    this.counters.hits++;
    return entry;
  }

  set(key, entry) {
    const old = this.entries.get(key);
    if (old !== undefined) this.remove(key, old);
    const size = entry.body.length + 2 * key.length;
    if (size > this.maxBytes) return;
    this.entries.set(key, { ...entry, size });
    this.bytes += size;
    this.counters.stores++;
    while (this.entries.size > this.maxEntries || this.bytes > this.maxBytes) {
      const [oldestKey, oldest] = this.entries.entries().next().value;
      this.remove(oldestKey, oldest);
      this.counters.evicted++;
    }
  }

  remove(key, entry) {
    this.entries.delete(key);
    this.bytes -= entry.size;
  }

  stats() {
    return { entries: this.entries.size, bytes: this.bytes, ...this.counters };
  }
}

// JSON with object keys sorted, so equal attributes make equal keys.
function canonicalJson(value) {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

// --- warm after a publish ------------------------------------------------------------------

export const WARM_PAGES = 3;
const WARM_SETS_PER_PAGE = 2;
const POPULAR_MAX_PAGES = 256;   // per vendor: pages counted (a config has fewer)
const POPULAR_MAX_SETS = 16;     // per page: attribute sets counted

// Recent storefront traffic of one vendor: requests per page, and for visitors kept out, the
// attribute sets (with the headers that supplied them) they came with. Bounded: past the caps,
// new pages and sets are not counted until halving makes room.
export class Popularity {
  constructor() {
    this.pages = new Map(); // page -> {count, sets: Map(canonical attributes -> {attributes, headerSources, count})}
  }

  count(page, inputs = null, canonical = null) {
    let held = this.pages.get(page);
    if (held === undefined) {
      if (this.pages.size >= POPULAR_MAX_PAGES) return;
      held = { count: 0, sets: new Map() };
      this.pages.set(page, held);
    }
    held.count++;
    if (inputs === null) return;
    let set = held.sets.get(canonical);
    if (set === undefined) {
      if (held.sets.size >= POPULAR_MAX_SETS) return;
      set = { attributes: inputs.attributes, headerSources: inputs.headerSources, count: 0 };
      held.sets.set(canonical, set);
    }
    set.count++;
  }

  // The top `pages` pages, each with its most asked attribute sets (or none: {}).
  top(pages) {
    const byCount = (a, b) => b[1].count - a[1].count;
    return [...this.pages].sort(byCount).slice(0, pages).map(([page, held]) => ({
      page,
      sets: held.sets.size === 0
        ? [{ attributes: {}, headerSources: {} }]
        : [...held.sets].sort(byCount).slice(0, WARM_SETS_PER_PAGE).map(([, set]) => set),
    }));
  }

  // Halves every count; what falls to zero is forgotten.
  decay() {
    for (const [page, held] of this.pages) {
      held.count >>= 1;
      for (const [key, set] of held.sets) {
        set.count >>= 1;
        if (set.count === 0) held.sets.delete(key);
      }
      if (held.count === 0 && held.sets.size === 0) this.pages.delete(page);
    }
  }
}

// --- the request's inputs ------------------------------------------------------------------

// The behaviour summary: the header wins over the cookie (which is URI-encoded, as ';' cannot
// appear in a cookie value). Returns undefined when there is none; the core validates the text.
function behaviourOf(headers, cookies) {
  let text = headers.get(BEHAVIOUR_HEADER);
  if (text === null && cookies[BEHAVIOUR_COOKIE] !== undefined) {
    try {
      text = decodeURIComponent(cookies[BEHAVIOUR_COOKIE]);
    } catch {
      text = null;
    }
  }
  text = text?.trim();
  if (!text) return undefined;
  if (text.length > MAX_BEHAVIOUR_CHARS) {
    throw new HttpError(400, 'too_large', `behaviour summary over ${MAX_BEHAVIOUR_CHARS} characters`);
  }
  return text;
}

function queryAttributes(url) {
  const attributes = {};
  if (url.search === '') return attributes;
  const keys = new Set(url.searchParams.keys());
  if (keys.size > MAX_QUERY_ATTRIBUTES) {
    throw new HttpError(400, 'too_large', `more than ${MAX_QUERY_ATTRIBUTES} query parameters`);
  }
  for (const key of keys) {
    if (key === CANDIDATES_PARAM) continue; // the route's own parameter, not an attribute
    const values = url.searchParams.getAll(key);
    attributes[key] = values.length === 1 ? values[0] : values;
  }
  return attributes;
}

// Why this request is kept out of experiments under the vendor's consent settings
// ({globalPrivacyControl, cookie, granted, denied}, docs/config.md): 'gpc', 'not_granted',
// 'denied', or null when it is in.
export function keptOut(consent, headers, cookies) {
  if (consent.globalPrivacyControl && headers.get('Sec-GPC')?.trim() === '1') return 'gpc';
  if (!consent.cookie) return null;
  const value = cookies[consent.cookie];
  if (consent.granted.length > 0 && !consent.granted.includes(value)) return 'not_granted';
  if (consent.denied.length > 0 && value !== undefined && consent.denied.includes(value)) return 'denied';
  return null;
}

// Attributes: the CDN's headers, then the visitor id cookie, then the query (which wins, as in
// /v1/assign). headerSources maps each attribute a header supplied to that header's name.
// visitor: {id: string | null, stickyDocs: object | null} from the worker's cookies.
export function requestInputs(url, headers, cookies, visitor) {
  const attributes = {};
  const headerSources = {};
  for (const [header, attribute, valid] of HEADER_ATTRIBUTES) {
    const value = headers.get(header);
    if (value !== null && valid(value)) {
      attributes[attribute] = value;
      headerSources[attribute] = header;
    }
  }
  if (visitor.id !== null) attributes.id = visitor.id;
  for (const [key, value] of Object.entries(queryAttributes(url))) {
    attributes[key] = value;
    delete headerSources[key];
  }
  const behaviour = behaviourOf(headers, cookies);
  return { attributes, headerSources, behaviour, stickyDocs: visitor.stickyDocs ?? {} };
}

// HTTP Vary for a layout: the fixed ones plus the headers behind the attributes it varies on.
// Entries of the layout's `vary` that are HTTP header names already are kept as they are.
export function httpVary(layoutVary, headerSources) {
  const vary = new Set(ALWAYS_VARY);
  for (const name of Array.isArray(layoutVary) ? layoutVary : []) {
    if (typeof name !== 'string') continue;
    if (headerSources[name] !== undefined) vary.add(headerSources[name]);
    else if (HEADER_ATTRIBUTES.some(([, attribute]) => attribute === name)) {
      vary.add(HEADER_ATTRIBUTES.find(([, attribute]) => attribute === name)[0]);
    } else if (/^[A-Za-z][A-Za-z0-9]*(-[A-Za-z0-9]+)+$/.test(name)) vary.add(name);
  }
  return [...vary].join(', ');
}

// "<version>.<cacheKey>", or the cacheKey's FNV-1a 32 when it holds characters an ETag cannot.
export function etagOf(version, cacheKey) {
  const key = String(cacheKey ?? '');
  if (/^[\x21\x23-\x7e]{0,128}$/.test(key)) return `"${version}.${key}"`;
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193) >>> 0;
  return `"${version}.h${hash.toString(16).padStart(8, '0')}"`;
}

// If-None-Match: "*" or a list of (weak or strong) tags, compared weakly (RFC 9110 13.1.2).
function matches(ifNoneMatch, etag) {
  if (ifNoneMatch === null) return false;
  if (ifNoneMatch.trim() === '*') return true;
  return ifNoneMatch.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag);
}

function publicCacheControl(entry, ageS) {
  return `public, max-age=${Math.max(0, entry.maxAgeS - ageS)}, stale-while-revalidate=${STALE_WHILE_REVALIDATE_S}`;
}

// ?candidates=K: 1..8.
function candidateCount(text) {
  const n = /^[1-9]$/.test(text) ? Number(text) : NaN;
  if (!(n >= 1 && n <= MAX_CANDIDATES)) {
    throw new HttpError(400, 'invalid_value', `${CANDIDATES_PARAM}: expected an integer from 1 to ${MAX_CANDIDATES}`);
  }
  return n;
}

function json200(body, setCookies = []) {
  const headers = [['Content-Type', 'application/json'], ['Cache-Control', 'no-store']];
  for (const cookie of setCookies) headers.push(['Set-Cookie', cookie]);
  return new Response(JSON.stringify(body), { status: 200, headers });
}

// A cache hit, kept short: it is most of the anonymous traffic. Age: seconds in the edge cache.
function respondHit(request, entry, ageMs, extra) {
  const age = Math.floor(ageMs / 1000);
  const headers = {
    'Content-Type': 'application/json',
    'Cache-Control': publicCacheControl(entry, age),
    ETag: entry.etag,
    Vary: entry.vary,
    Age: String(age),
    'X-Whale-Cache': 'hit',
    ...extra,
  };
  if (matches(request.headers.get('If-None-Match'), entry.etag)) {
    delete headers['Content-Type'];
    return new Response(null, { status: 304, headers });
  }
  return new Response(request.method === 'HEAD' ? null : entry.body, { headers });
}

// --- rendering -----------------------------------------------------------------------------

// The Cache API tier for answers to visitors kept out: {lookup, store}, or inert without a cache.
export class ColoCache {
  // cache: caches.default, or null for none.
  constructor(cache = null) {
    this.cache = cache;
    this.broken = false;
    this.counters = { hits: 0, misses: 0, stores: 0 };
  }

  // LAYOUT_CACHE_API=1 in the worker's bindings turns the tier on where the runtime has a cache.
  static fromEnv(env) {
    const on = env?.LAYOUT_CACHE_API === '1' || env?.LAYOUT_CACHE_API === 'true';
    return new ColoCache(on && typeof caches !== 'undefined' ? caches.default ?? null : null);
  }

  get enabled() {
    return this.cache !== null && !this.broken;
  }

  static async url(slug, version, page, key) {
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(key)));
    const hex = Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
    return `https://layouts.whale.internal/${slug}/${version}/${page}/${hex}`;
  }

  // The entry stored under url, or null.
  async lookup(url, slug, now) {
    let res;
    try {
      res = await this.cache.match(url);
    } catch {
      this.broken = true; // workerd without a cache service
      return null;
    }
    if (!res) {
      this.counters.misses++;
      return null;
    }
    this.counters.hits++;
    const storedAt = Number(res.headers.get('X-Whale-Stored-At'));
    const ttlMs = Number(res.headers.get('X-Whale-Ttl-Ms'));
    return {
      slug,
      body: new Uint8Array(await res.arrayBuffer()),
      etag: res.headers.get('ETag'),
      vary: res.headers.get('Vary'),
      maxAgeS: Number(res.headers.get('X-Whale-Max-Age')),
      // What is left of the entry's life counts from when it was first rendered.
      ttlMs: Number.isFinite(ttlMs) ? ttlMs : 0,
      storedAt: Number.isFinite(storedAt) && storedAt <= now ? storedAt : now,
    };
  }

  async store(url, entry) {
    const ttlS = Math.floor(Math.min(EDGE_TTL_MS, entry.ttlMs) / 1000);
    if (ttlS <= 0) return;
    try {
      await this.cache.put(url, new Response(entry.body, {
        headers: {
          'Content-Type': 'application/json',
          'Cache-Control': `public, max-age=${ttlS}`,
          ETag: entry.etag,
          Vary: entry.vary,
          'X-Whale-Max-Age': String(entry.maxAgeS),
          'X-Whale-Ttl-Ms': String(entry.ttlMs),
          'X-Whale-Stored-At': String(entry.storedAt),
        },
      }));
      this.counters.stores++;
    } catch {
      this.broken = true;
    }
  }

  stats() {
    return { enabled: this.enabled, ...this.counters };
  }
}

export class Storefront {
  constructor({ cache = new LayoutCache(), colo = new ColoCache(), warmPages = WARM_PAGES } = {}) {
    this.cache = cache;
    this.colo = colo;
    this.warmPages = warmPages;
    this.popular = new Map(); // slug -> Popularity
    this.warmCounters = { runs: 0, rendered: 0, failed: 0 };
    this.choiceCounters = { first: 0, switched: 0, limited: 0 };
    this.choiceLimiter = new RateLimiter({ perMinute: CHOICES_PER_MINUTE, burst: CHOICE_BURST });
    this.loaded = new Map(); // slug -> the config version last loaded into the engine
    this.consent = new Map(); // slug -> {version, settings}: the core's reading of `consent`
    this.core = null; // the engine once engine() resolved: later requests need not wait for it
  }

  // Runs fn(core) on the vendor's config, loading it when its version is new to this isolate or
  // the engine lost it (an LRU eviction, or a trap that replaced the instance): the core answers
  // not_found then. A page the config does not have is a 404.
  withConfig(core, slug, config, page, fn) {
    if (this.loaded.get(slug) !== config.version) this.load(core, slug, config);
    try {
      return fn();
    } catch (e) {
      if (e?.code !== 'not_found') throw e;
      if (core.resolveConfig(slug, config.version)) throw new HttpError(404, 'not_found', `unknown page "${page}" of "${slug}"`);
    }
    this.load(core, slug, config);
    try {
      return fn();
    } catch (e) {
      if (e?.code === 'not_found') throw new HttpError(404, 'not_found', `unknown page "${page}" of "${slug}"`);
      throw e;
    }
  }

  load(core, slug, config) {
    try {
      core.loadConfig(config.text, config.version);
    } catch (e) {
      throw new HttpError(500, 'invalid_config', `config version ${config.version} of "${slug}" does not load: ${e.message}`);
    }
    this.loaded.set(slug, config.version);
    this.consent.set(slug, { version: config.version, settings: core.configConsent(slug, config.version) });
  }

  // The vendor's consent settings for this config version; undefined until the core read them.
  consentOf(slug, version) {
    const held = this.consent.get(slug);
    return held?.version === version ? held.settings : undefined;
  }

  // config: {version, text, headers}: the vendor's config as held (text: the JSON the engine
  // loads) and headers to add to the answer. visitor: {id, stickyDocs} from the worker's cookies.
  // engine: () => Promise<Engine>, awaited only when the core is needed. onVisitor(decision,
  // visitor): the Set-Cookie values of a personalized answer (the id minted, the sticky
  // documents, the receipt), recording the exposures; an array, or a Promise of one when it has
  // to sign or verify. onKeptOut(reason): those of an answer to a visitor kept out (expiring its
  // cookies). What can be answered without waiting is answered synchronously (a Response: an
  // await costs the runtime a turn per request): a hit for a visitor kept out, and a returning
  // visitor whose receipt is already verified. Everything else is a Promise of a Response.
  serve(request, url, { slug, page, config, engine, cookies, visitor, onVisitor, onKeptOut, ctx }) {
    const now = Date.now();
    this.cache.observeVersion(slug, config.version);
    const consent = this.consentOf(slug, config.version);
    if (consent === undefined) {
      return engine().then((core) => {
        this.core = core;
        this.load(core, slug, config);
        return this.serve(request, url, { slug, page, config, engine, cookies, visitor, onVisitor, onKeptOut, ctx });
      });
    }
    const reason = keptOut(consent, request.headers, cookies);
    if (url.search !== '' && url.searchParams.has(CANDIDATES_PARAM)) {
      const count = candidateCount(url.searchParams.get(CANDIDATES_PARAM));
      return engine().then((core) => this.candidates(request, url, core, {
        slug, page, config, cookies, visitor, onVisitor, onKeptOut, reason, now, count,
      }));
    }
    const popularity = this.warmPages > 0 ? this.popularity(slug) : null;
    if (reason === null) {
      popularity?.count(page);
      const args = { slug, page, config, cookies, visitor, onVisitor, now };
      if (this.core !== null) return this.personal(request, url, this.core, args);
      return engine().then((core) => {
        this.core = core;
        return this.personal(request, url, core, args);
      });
    }
    const inputs = requestInputs(url, request.headers, {}, { id: null, stickyDocs: null });
    const canonical = canonicalJson(inputs.attributes);
    const key = LayoutCache.key(slug, config.version, page, canonical);
    popularity?.count(page, inputs, canonical);
    const setCookies = onKeptOut?.(reason, cookies) ?? [];
    const hit = this.cache.get(key, now);
    if (hit !== null && setCookies.length === 0) return respondHit(request, hit, now - hit.storedAt, config.headers);
    return this.control(request, { slug, page, config, engine, inputs, key, hit, now, setCookies, ctx });
  }

  popularity(slug) {
    let held = this.popular.get(slug);
    if (held === undefined) {
      held = new Popularity();
      this.popular.set(slug, held);
    }
    return held;
  }

  // Renders the anonymous layouts of the vendor's most visited pages for `config` (a version just
  // installed) into the cache, then halves the counts. Pages the config no longer has are
  // skipped. Resolves to the number rendered.
  async warm(core, slug, config) {
    const popularity = this.popular.get(slug);
    if (this.warmPages <= 0 || popularity === undefined) return 0;
    this.warmCounters.runs++;
    this.cache.observeVersion(slug, config.version);
    const now = Date.now();
    let rendered = 0;
    for (const { page, sets } of popularity.top(this.warmPages)) {
      for (const { attributes, headerSources } of sets) {
        const key = LayoutCache.key(slug, config.version, page, attributes);
        if (this.cache.entries.has(key)) continue;
        try {
          const text = this.withConfig(core, slug, config, page, () => core.renderLayoutText(slug, config.version, {
            page, attributes, now: Math.floor(now / 1000), experiments: false,
          }));
          const entry = this.entry(slug, config, text, JSON.parse(text), headerSources, now);
          this.cache.set(key, entry);
          if (this.colo.enabled) await this.colo.store(await ColoCache.url(slug, config.version, page, key), entry);
          rendered++;
        } catch {
          this.warmCounters.failed++; // a page the new version dropped, a render that failed: the first visitor renders it
        }
      }
    }
    this.warmCounters.rendered += rendered;
    popularity.decay();
    return rendered;
  }

  // The control layout, for a visitor kept out: shared by every request with the same attributes.
  async control(request, { slug, page, config, engine, inputs, key, hit, now, setCookies, ctx }) {
    let entry = hit;
    let wasmMs = 0;
    let status = hit === null ? 'miss' : 'hit';
    let coloUrl = null;
    let coloMs;
    if (entry === null && this.colo.enabled) {
      const started = performance.now();
      coloUrl = await ColoCache.url(slug, config.version, page, key);
      entry = await this.colo.lookup(coloUrl, slug, now);
      coloMs = performance.now() - started;
      if (entry !== null) {
        this.cache.set(key, entry);
        status = 'hit-colo';
      }
    }
    if (entry === null) {
      const core = await engine();
      const started = performance.now();
      const text = this.withConfig(core, slug, config, page, () => core.renderLayoutText(slug, config.version, {
        page, attributes: inputs.attributes, now: Math.floor(now / 1000), experiments: false,
      }));
      wasmMs = performance.now() - started;
      entry = this.entry(slug, config, text, JSON.parse(text), inputs.headerSources, now);
      this.cache.set(key, entry);
      if (coloUrl !== null) {
        const put = this.colo.store(coloUrl, entry);
        if (ctx) ctx.waitUntil(put);
        else await put;
      }
    }
    return this.respond(request, entry, {
      status, personal: setCookies.length > 0, wasmMs, coloMs, extra: config.headers, setCookies,
    });
  }

  // A visitor in the experiments: decide, then the layout from the cache or rendered.
  personal(request, url, core, { slug, page, config, cookies, visitor, onVisitor, now }) {
    const minted = visitor.id === null;
    const who = minted ? { ...visitor, id: crypto.randomUUID(), stickyDocs: visitor.stickyDocs ?? {}, minted } : visitor;
    const inputs = requestInputs(url, request.headers, cookies, who);
    const started = performance.now();
    const options = {
      page, attributes: inputs.attributes, now: Math.floor(now / 1000), behaviour: inputs.behaviour,
      stickyBucketAssignmentDocs: inputs.stickyDocs,
    };
    const decision = this.withConfig(core, slug, config, page, () => core.decideLayout(slug, config.version, options));
    const key = LayoutCache.decisionKey(slug, config.version, page, decision.cacheKey);
    let entry = this.cache.get(key, now);
    const status = entry === null ? 'miss' : 'hit';
    if (entry === null) {
      const text = this.withConfig(core, slug, config, page, () => core.renderLayoutText(slug, config.version, { ...options, writeStickyDocs: false }));
      entry = this.entry(slug, config, text, decision, inputs.headerSources, now);
      this.cache.set(key, entry);
    }
    const wasmMs = performance.now() - started;
    const answer = (setCookies) => this.respond(request, entry, { status, personal: true, wasmMs, extra: config.headers, setCookies });
    const setCookies = onVisitor?.(decision, who) ?? [];
    return Array.isArray(setCookies) ? answer(setCookies) : setCookies.then(answer);
  }

  // ?candidates=K (docs/layout.md#candidates): the page's candidate layouts, each from the cache
  // or rendered with its forced variations, as one JSON answer. The experiments the candidates
  // force are not exposures yet: the browser keeps one and POSTs the choice (choose below); the
  // page's other experiments are recorded now, as for a single layout. A visitor kept out gets
  // one candidate, the control.
  async candidates(request, url, core, { slug, page, config, cookies, visitor, onVisitor, onKeptOut, reason, now, count }) {
    const personal = reason === null;
    const who = personal && visitor.id === null
      ? { ...visitor, id: crypto.randomUUID(), stickyDocs: visitor.stickyDocs ?? {}, minted: true }
      : visitor;
    const inputs = requestInputs(url, request.headers, personal ? cookies : {}, personal ? who : { id: null, stickyDocs: null });
    const started = performance.now();
    const options = {
      page, attributes: inputs.attributes, now: Math.floor(now / 1000), behaviour: inputs.behaviour,
      ...(personal ? { stickyBucketAssignmentDocs: inputs.stickyDocs } : { experiments: false }),
    };
    const doc = this.withConfig(core, slug, config, page, () => core.decideCandidates(slug, config.version, { ...options, count }));
    const parts = [];
    const vary = new Set();
    let hits = 0;
    for (const candidate of doc.candidates) {
      const key = LayoutCache.decisionKey(slug, config.version, page, candidate.decision.cacheKey);
      let entry = this.cache.get(key, now);
      if (entry === null) {
        const text = this.withConfig(core, slug, config, page, () => core.renderLayoutText(slug, config.version, {
          ...options, forcedVariations: candidate.forcedVariations, writeStickyDocs: false,
        }));
        entry = this.entry(slug, config, text, candidate.decision, inputs.headerSources, now);
        this.cache.set(key, entry);
      } else {
        hits++;
      }
      for (const name of entry.vary.split(', ')) vary.add(name);
      parts.push(`{"name":${JSON.stringify(candidate.name)},"states":${JSON.stringify(candidate.states)},"forcedVariations":${JSON.stringify(candidate.forcedVariations)},"layout":${decoder.decode(entry.body)}}`);
    }
    const wasmMs = performance.now() - started;
    const body = `{"watchMs":${doc.watchMs},"choice":${JSON.stringify(`/v1/choice/${slug}/${page}${url.search}`)},"candidates":[${parts.join(',')}]}`;
    let setCookies;
    if (personal) {
      setCookies = onVisitor?.(doc.candidates[0].decision, who) ?? [];
      if (!Array.isArray(setCookies)) setCookies = await setCookies;
    } else {
      setCookies = onKeptOut?.(reason, cookies) ?? [];
    }
    const headers = [
      ['Content-Type', 'application/json'],
      ['Cache-Control', PRIVATE_CACHE_CONTROL],
      ['Vary', [...vary].join(', ')],
      ['X-Whale-Cache', hits === doc.candidates.length ? 'hit' : 'miss'],
      ['Server-Timing', `wasm;dur=${wasmMs.toFixed(3)}`],
    ];
    for (const name in config.headers) headers.push([name, config.headers[name]]);
    for (const cookie of setCookies) headers.push(['Set-Cookie', cookie]);
    return new Response(request.method === 'HEAD' ? null : body, { status: 200, headers });
  }

  // POST /v1/choice/<slug>/<page><the candidates request's query>, body {count, behaviour?, kept?}:
  // the core chooses among the same candidates by the visit's behaviour (or takes `kept`), and
  // the chosen candidate's forced variations become the visitor's exposures (onExpose(entries)
  // -> the Set-Cookie values, a Promise). Resolves to the Response.
  async choose(request, url, core, { slug, page, config, cookies, visitor, reason, body, onExpose }) {
    if (reason !== null) return json200({ chosen: 0, recorded: 0, keptOut: reason });
    if (visitor.id === null) throw new HttpError(400, 'no_visitor', 'a choice needs the whale_id cookie its candidates set');
    if (!this.choiceLimiter.take(visitor.id, Date.now())) {
      this.choiceCounters.limited++;
      throw new HttpError(429, 'rate_limited', `more than ${CHOICES_PER_MINUTE} choices a minute from one visitor`);
    }
    const inputs = requestInputs(url, request.headers, cookies, visitor);
    const options = {
      page, attributes: inputs.attributes, now: Math.floor(Date.now() / 1000),
      behaviour: body.behaviour ?? inputs.behaviour, stickyBucketAssignmentDocs: inputs.stickyDocs, count: body.count,
    };
    if (body.kept !== undefined) options.kept = body.kept;
    let choice;
    try {
      choice = this.withConfig(core, slug, config, page, () => core.chooseCandidate(slug, config.version, options));
    } catch (e) {
      if (e instanceof HttpError) throw e;
      throw new HttpError(400, e?.code ?? 'invalid_value', e.message);
    }
    const entries = Object.entries(choice.candidate.forcedVariations).map(([experiment, variation]) => [experiment, variation, visitor.id]);
    const setCookies = entries.length === 0 ? [] : await onExpose(entries);
    this.choiceCounters[choice.chosen === 0 ? 'first' : 'switched']++;
    return json200({ chosen: choice.chosen, name: choice.candidate.name, visit: choice.visit, recorded: entries.length }, setCookies);
  }

  // A cache entry for a rendered layout; `decided` carries its cacheKey, maxAge and vary.
  entry(slug, config, text, decided, headerSources, now) {
    const maxAgeS = Number.isFinite(decided.maxAge) ? Math.max(0, Math.floor(decided.maxAge)) : PUBLIC_MAX_AGE_S;
    return {
      slug,
      body: encoder.encode(text), // UTF-8 once: a hit hands the runtime bytes to copy
      etag: etagOf(config.version, decided.cacheKey),
      vary: httpVary(decided.vary, headerSources),
      maxAgeS: Math.min(PUBLIC_MAX_AGE_S, maxAgeS),
      ttlMs: maxAgeS * 1000,
      storedAt: now,
    };
  }

  // Headers as [name, value] pairs: Set-Cookie repeats, and the runtime builds its own Headers
  // from a list without a JS Headers object in between.
  respond(request, entry, { status, personal, wasmMs, coloMs, extra = {}, setCookies = [] }) {
    const notModified = matches(request.headers.get('If-None-Match'), entry.etag);
    const headers = [
      ['Cache-Control', personal ? PRIVATE_CACHE_CONTROL : publicCacheControl(entry, Math.floor((Date.now() - entry.storedAt) / 1000))],
      ['ETag', entry.etag],
      ['Vary', entry.vary],
      ['X-Whale-Cache', status],
      ['Server-Timing', `wasm;dur=${wasmMs.toFixed(3)}${coloMs === undefined ? '' : `, colo;dur=${coloMs.toFixed(3)}`}`],
    ];
    if (!notModified) headers.push(['Content-Type', 'application/json']);
    for (const name in extra) headers.push([name, extra[name]]);
    for (const cookie of setCookies) headers.push(['Set-Cookie', cookie]);
    if (notModified) return new Response(null, { status: 304, headers });
    return new Response(request.method === 'HEAD' ? null : entry.body, { status: 200, headers });
  }
}

// --- the route -----------------------------------------------------------------------------

export const STOREFRONT_ROUTE = '/v1/storefront/';

// /<prefix><slug>/<page> -> [slug, page], or a 404. slugPattern: the vendor source's names.
export function slugAndPage(pathname, prefix, slugPattern) {
  const parts = pathname.slice(prefix.length).split('/');
  if (parts.length !== 2) throw new HttpError(404, 'not_found', `no route for ${pathname}: expected ${prefix}<slug>/<page>`);
  if (!slugPattern.test(parts[0])) throw new HttpError(404, 'not_found', 'unknown vendor');
  if (!PAGE_ID.test(parts[1])) throw new HttpError(404, 'not_found', 'unknown page');
  return parts;
}

// GET /v1/storefront/<slug>/<page>. edge: the worker's Edge (engine, vendor source, storefront,
// events). A Response when the layout is in the edge cache and the config held, else a Promise
// of one.
export function storefrontRoute(edge, request, url, ctx) {
  const [slug, page] = slugAndPage(url.pathname, STOREFRONT_ROUTE, edge.vendors.slugPattern);
  const config = edge.vendors.heldLayoutConfig(slug, ctx);
  if (config === undefined) {
    return edge.vendors.layoutConfig(slug, ctx).then((c) => serveLayout(edge, request, url, slug, page, c, ctx));
  }
  return serveLayout(edge, request, url, slug, page, config, ctx);
}

function serveLayout(edge, request, url, slug, page, config, ctx) {
  const cookies = parseCookies(request.headers.get('Cookie'));
  const secure = url.protocol === 'https:';
  return edge.storefront.serve(request, url, {
    slug, page, config, engine: edge.engine, cookies, visitor: visitorOf(cookies), ctx,
    onVisitor: (decision, visitor) => {
      const set = visitor.minted ? [setCookie(ID_COOKIE, visitor.id, secure)] : [];
      set.push(...stickyCookies(decision.stickyBucketAssignmentDocs, visitor.stickyDocs, secure));
      // The experiments that shaped the page (unit: the visitor id).
      const entries = decision.assignments.filter((a) => a.inExperiment).map((a) => [a.experiment, a.variation, visitor.id]);
      return expose(edge, slug, visitor.id, cookies, entries, set, secure, ctx);
    },
    onKeptOut: () => expiredCookies(cookies, secure),
  });
}

// Records [experiment, variation, unit] entries as exposures, but those the visitor's receipt
// lists (recorded before), and adds the receipt cookie to `set` when it changed. `set` itself when
// nothing is to wait for (a returning visitor whose verified receipt lists them all), else a
// Promise of it.
function expose(edge, slug, visitorId, cookies, entries, set, secure, ctx) {
  if (entries.length === 0) return set;
  const held = cookies[RECEIPT_COOKIE];
  if (held !== undefined && unlistedIn(edge.eventKeys.knownReceipt(held, Date.now()), slug, visitorId, entries)?.length === 0) return set;
  return edge.eventKeys.receiptFor(slug, visitorId, entries, held).then(async ({ receipt, changed, unlisted }) => {
    if (changed) set.push(receiptCookie(receipt, secure));
    await recordLayoutExposures(edge, slug, unlisted, ctx);
    return set;
  });
}

export const CHOICE_ROUTE = '/v1/choice/';

// POST /v1/choice/<slug>/<page>?<the candidates request's query>: which candidate the visit
// keeps, recorded as its exposures (Storefront.choose).
export async function choiceRoute(edge, request, url, ctx) {
  const [slug, page] = slugAndPage(url.pathname, CHOICE_ROUTE, edge.vendors.slugPattern);
  const body = parseJsonBody(await readBodyText(request, MAX_CHOICE_BODY_BYTES));
  if (!isObject(body)) throw new HttpError(400, 'wrong_type', 'request body: expected an object {count, behaviour?, kept?}');
  for (const name of Object.keys(body)) {
    if (name !== 'count' && name !== 'behaviour' && name !== 'kept') throw new HttpError(400, 'invalid_value', `request body: unknown member "${name}"`);
  }
  if (!Number.isInteger(body.count) || body.count < 1 || body.count > MAX_CANDIDATES) {
    throw new HttpError(400, 'invalid_value', `count: expected an integer from 1 to ${MAX_CANDIDATES}`);
  }
  if (body.kept !== undefined && (!Number.isInteger(body.kept) || body.kept < 0 || body.kept >= body.count)) {
    throw new HttpError(400, 'invalid_value', 'kept: expected a candidate index below count');
  }
  if (body.behaviour !== undefined && (typeof body.behaviour !== 'string' || body.behaviour.length > MAX_BEHAVIOUR_CHARS)) {
    throw new HttpError(400, 'invalid_value', `behaviour: expected a summary of at most ${MAX_BEHAVIOUR_CHARS} characters`);
  }
  const config = await edge.vendors.layoutConfig(slug, ctx);
  const core = await edge.engine();
  const storefront = edge.storefront;
  if (storefront.consentOf(slug, config.version) === undefined) storefront.load(core, slug, config);
  const cookies = parseCookies(request.headers.get('Cookie'));
  const secure = url.protocol === 'https:';
  const visitor = visitorOf(cookies);
  return storefront.choose(request, url, core, {
    slug, page, config, cookies, visitor, body,
    reason: keptOut(storefront.consentOf(slug, config.version), request.headers, cookies),
    onExpose: async (entries) => expose(edge, slug, visitor.id, cookies, entries, [], secure, ctx),
  });
}

// One exposure per [experiment, variation, unit] of a page the storefront served; a Promise on
// the queue path (Edge.recordMinted).
function recordLayoutExposures(edge, slug, entries, ctx) {
  if (entries.length === 0) return undefined;
  const now = Date.now();
  return edge.recordMinted(entries.map(([experiment, variation, unit]) => ({ type: 'exposure', slug, experiment, variation, unit, ts: now })), ctx, now);
}
