// GET /img/<options>/<source> (and Cloudflare's spelling, /cdn-cgi/image/<options>/<source>),
// answered by image.wasm. This file
// is the HTTP part: which vendor, which source may be fetched and how, the cache, the headers.
// What the options mean and what the pixels become is image.wasm's decision (src/image/).
//
// A request goes through, in order (docs/images.md):
//   1. the path: options and source split at the first '/' after the prefix; the source is the
//      rest of the path plus the query (Cloudflare concatenates, the source is not encoded);
//   2. the options, parsed and normalized by image.wasm: 400 naming the option, before any I/O;
//   3. the vendor (IMAGE_HOSTS by Host, else IMAGE_VENDOR) and its `media` settings, as the core
//      reads them from the vendor's config (whale_config_media);
//   4. the signature when media.signedUrls: s=<keyId>:<HMAC-SHA256> with the vendor's key for
//      one of its active key ids (IMAGE_SIGNING_KEY_IDS), derived from IMAGE_SIGNING_SECRET, over
//      a text naming the vendor: 403 with a code per reason;
//   5. the vendor's policy: the width allowlist, maxWidth/maxHeight, formats: 400 naming the
//      option; its default quality is added when the URL gives none;
//   6. the source: an absolute http(s) URL, or a path on the origin of the first allowed source;
//      it must start with one of media.allowedSources and must not name a loopback, private,
//      link-local or otherwise non-public address (IMAGE_ALLOW_PRIVATE_SOURCES=1 lifts only
//      that rule, for local tests): 403. A host name that resolves to such an address is the
//      network's to refuse: sources are fetched with the global fetch, which gen-config.mjs
//      points at a network allowing public addresses only (so a refused name answers 502), and
//      on Cloudflare cannot reach private ranges at all. Only with IMAGE_ALLOW_PRIVATE_SOURCES
//      do they go through IMAGE_NET, a network that allows private and local addresses;
//   7. the edge cache (caches.default where the runtime has one), keyed by the vendor, the
//      normalized options, the source and, for format=auto, what the client accepts;
//   8. the fetch: redirects followed by hand, at most MAX_REDIRECTS, each Location checked as in
//      6 and fetched through the same network; the body read with a cap of media.maxInputBytes
//      (Content-Length first): 413;
//   9. the ETag (the key plus the source's strong ETag or digest): If-None-Match answers 304
//      before any pixel work;
//  10. the job in image.wasm within IMAGE_MAX_JOB_MB of memory (413 when its estimate is over),
//      then the answer: long-lived and immutable, ETag, Vary: Accept for format=auto.
// Errors are JSON {"error": {"code", "message"}}. With onerror=redirect, a failure after the source
// passed every check (fetch, size, decode, encode) answers 302 to the source instead.

import {
  ACCEPT_AVIF, ACCEPT_WEBP, AUTO_WIDTHS, CLIENT_SLOW, acceptBits, loadImageModule, readAtMost, sizeClass, slowConnection,
} from '../js-glue/image.js';
import { HttpError, objectVar } from './http.js';

// The edge's own route, and Cloudflare's spelling of it. On Cloudflare, /cdn-cgi/ is Cloudflare's:
// where a zone has Image Transformations, /cdn-cgi/image/ is answered by Cloudflare and never
// reaches the worker, so /img/ is the route to use there (js-glue/image-url.js writes it).
export const IMAGE_ROUTES = ['/img/', '/cdn-cgi/image/'];
const CLOUDFLARE_ROUTE = IMAGE_ROUTES[1];

// The image route pathname starts with, or undefined.
export function imageRouteOf(pathname) {
  return IMAGE_ROUTES.find((route) => pathname.startsWith(route));
}
export const MAX_REDIRECTS = 3;
const DEFAULT_FETCH_TIMEOUT_MS = 10000;
const DEFAULT_MAX_MEMORY_MB = 48;
// A job's memory budget: image.wasm refuses (413) a job whose estimate is over it, before decoding.
// An isolate has 128 MB; the JS heap (the fetched source too) and core.wasm need the rest.
const DEFAULT_MAX_JOB_MB = 96;
export const IMMUTABLE = 'public, max-age=31536000, immutable';
const SIGNATURE_KEYS = new Set(['s', 'sig']);
// s=<key id>:<MAC>: the key id is a generation (js-glue/image-url.js IMAGE_KEY_ID).
const SIGNATURE = /^([1-9][0-9]{0,8}):([0-9a-f]{64})$/i;
// The shortest IMAGE_SIGNING_SECRET taken (js-glue/image-url.js MIN_SECRET_BYTES).
const MIN_SECRET_BYTES = 32;
// A vendor has at most two active keys: the current one and, during a rotation, the previous one.
const MAX_ACTIVE_KEYS = 2;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
// image.wasm's error codes, as HTTP statuses.
const PROCESS_STATUS = {
  invalid_value: 400, too_large: 413, unsupported_format: 415, corrupt_input: 422, out_of_memory: 503,
};

// image.wasm error codes that mean the edge failed, not the request.
const SERVER_FAULTS = new Set(['internal', 'out_of_memory', 'abi_mismatch', 'invalid_handle']);

const encoder = new TextEncoder();

// --- requests --------------------------------------------------------------------------------

// /img/<options>/<source>[?query] (or /cdn-cgi/image/...) -> {options (as in the URL, without
// the signature: image.wasm decodes %XX in values itself), signature, signed (the text the
// signature covers: the same on both routes), source}.
export function parseImagePath(url) {
  const route = imageRouteOf(url.pathname) ?? IMAGE_ROUTES[0];
  const rest = url.pathname.slice(route.length);
  const slash = rest.indexOf('/');
  if (slash <= 0 || (slash === rest.length - 1 && url.search === '')) {
    throw new HttpError(400, 'invalid_value', `expected ${route}<options>/<source>`);
  }
  let signature = null;
  const kept = [];
  for (const option of rest.slice(0, slash).split(',')) {
    const eq = option.indexOf('=');
    if (eq > 0 && SIGNATURE_KEYS.has(option.slice(0, eq))) signature = option.slice(eq + 1);
    else kept.push(option);
  }
  const options = kept.join(',');
  const source = rest.slice(slash + 1) + url.search;
  return { options, signature, signed: `${options}/${source}`, source };
}

// Whether the options as written give a quality (quality=, q=, or Cloudinary's q_).
function qualityGiven(options) {
  return options.split(',').some((o) => /^(quality|q)=/.test(o) || o.startsWith('q_'));
}

// The vendor whose image this is: IMAGE_HOSTS ({"host": "slug"}, by host with port, then by
// host name), else IMAGE_VENDOR. The URL form leaves no room for a slug: on Cloudflare the
// vendor is the zone, here the host the request came to.
function hostsOf(env) {
  return objectVar(env?.IMAGE_HOSTS);
}

export function vendorOf(url, env) {
  const hosts = hostsOf(env);
  const slug = hosts[url.host] ?? hosts[url.hostname] ?? env?.IMAGE_VENDOR;
  if (typeof slug !== 'string' || slug === '') {
    throw new HttpError(404, 'not_found', `no vendor serves images on ${url.hostname}`);
  }
  return slug;
}

// The normalized options as a map (name -> value).
function optionMap(normalized) {
  const map = new Map();
  for (const option of normalized.split(',')) {
    const eq = option.indexOf('=');
    if (eq > 0) map.set(option.slice(0, eq), option.slice(eq + 1));
  }
  return map;
}

// --- addresses -------------------------------------------------------------------------------

function ipv4Bytes(text) {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return null;
  return parts.map(Number);
}

// 16 bytes of an IPv6 address as a URL serializes it (no brackets), or null.
function ipv6Bytes(text) {
  let head = text;
  let tail = '';
  const gap = text.indexOf('::');
  if (gap >= 0) {
    head = text.slice(0, gap);
    tail = text.slice(gap + 2);
  }
  const groups = (part) => (part === '' ? [] : part.split(':'));
  const words = [];
  const parse = (list) => {
    const out = [];
    for (const g of list) {
      if (g.includes('.')) {
        const v4 = ipv4Bytes(g);
        if (v4 === null) return null;
        out.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      } else {
        if (!/^[0-9a-f]{1,4}$/i.test(g)) return null;
        out.push(parseInt(g, 16));
      }
    }
    return out;
  };
  const before = parse(groups(head));
  const after = parse(groups(tail));
  if (before === null || after === null) return null;
  const fill = 8 - before.length - after.length;
  if (gap >= 0 ? fill < 1 : fill !== 0) return null;
  words.push(...before, ...new Array(gap >= 0 ? fill : 0).fill(0), ...after);
  return words.flatMap((w) => [w >> 8, w & 0xff]);
}

// Not a public unicast IPv4 address: this network, private, shared (CGNAT), loopback,
// link-local, IETF protocol assignments, documentation, benchmarking, multicast, reserved.
function nonPublicIPv4([a, b, c]) {
  return a === 0 || a === 10 || a === 127 || a >= 224 ||
    (a === 100 && b >= 64 && b <= 127) || (a === 169 && b === 254) || (a === 172 && b >= 16 && b <= 31) ||
    (a === 192 && b === 168) || (a === 192 && b === 0 && (c === 0 || c === 2)) ||
    (a === 198 && (b === 18 || b === 19)) || (a === 198 && b === 51 && c === 100) || (a === 203 && b === 0 && c === 113);
}

// Not a public unicast IPv6 address; addresses that embed an IPv4 one (mapped, compatible,
// NAT64, 6to4) are judged by it.
function nonPublicIPv6(bytes) {
  const zero = (from, to) => bytes.slice(from, to).every((b) => b === 0);
  if (zero(0, 10) && bytes[10] === 0xff && bytes[11] === 0xff) return nonPublicIPv4(bytes.slice(12));
  if (zero(0, 12)) return zero(12, 15) || nonPublicIPv4(bytes.slice(12)); // ::, ::1, IPv4-compatible
  if (bytes[0] === 0x00 && bytes[1] === 0x64 && bytes[2] === 0xff && bytes[3] === 0x9b) return nonPublicIPv4(bytes.slice(12));
  if (bytes[0] === 0x20 && bytes[1] === 0x02) return nonPublicIPv4(bytes.slice(2, 6));
  return (bytes[0] & 0xfe) === 0xfc || // unique local fc00::/7
    (bytes[0] === 0xfe && (bytes[1] & 0x80) === 0x80) || // link-local fe80::/10, site-local fec0::/10
    bytes[0] === 0xff || // multicast
    (bytes[0] === 0x20 && bytes[1] === 0x01 && bytes[2] === 0x0d && bytes[3] === 0xb8) || // documentation
    (bytes[0] === 0x01 && zero(1, 8)); // discard-only 100::/64
}

// Whether a URL's host is a name for this machine or a non-public address literal. Host names
// that resolve to such addresses are the network's to refuse (the public-only network that
// gen-config.mjs makes the global fetch's, and Cloudflare's); the worker never sees the
// resolved address.
export function isPrivateHost(hostname) {
  const host = hostname.toLowerCase().replace(/\.$/, '');
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (host.startsWith('[') && host.endsWith(']')) {
    const bytes = ipv6Bytes(host.slice(1, -1));
    return bytes === null || nonPublicIPv6(bytes);
  }
  const v4 = ipv4Bytes(host);
  return v4 !== null && nonPublicIPv4(v4);
}

// Whether url starts with one of the prefixes: same scheme, host and port, and the prefix's path
// a prefix of the URL's (both as a URL parser normalizes them, so ../ cannot climb out).
export function allowedBy(url, prefixes) {
  return prefixes.some((text) => {
    const prefix = new URL(text);
    return prefix.protocol === url.protocol && prefix.host === url.host && url.pathname.startsWith(prefix.pathname);
  });
}

// The source as a URL: absolute http(s) (a proxy may have merged its '//'), or a path on the
// origin of the vendor's first allowed source, as Cloudflare takes it from the zone's origin.
export function resolveSource(source, media) {
  let text = source;
  if (/^https?%3A/i.test(text)) {
    try {
      text = decodeURIComponent(text);
    } catch {
      throw new HttpError(400, 'invalid_value', 'source: bad percent-encoding');
    }
  }
  text = text.replace(/^(https?:)\/(?!\/)/i, '$1//');
  if (/^[a-z][a-z0-9+.-]*:/i.test(text) && !/^https?:\/\//i.test(text)) {
    throw new HttpError(403, 'source_not_allowed', 'source: only http and https URLs');
  }
  if (/^https?:\/\//i.test(text)) {
    try {
      return new URL(text);
    } catch {
      throw new HttpError(400, 'invalid_value', 'source: not a URL');
    }
  }
  if (media.allowedSources.length === 0) {
    throw new HttpError(403, 'source_not_allowed', 'the vendor allows no image sources (media.allowedSources)');
  }
  return new URL(`/${text}`, new URL(media.allowedSources[0]).origin);
}

// Throws a 403 unless the vendor may have url fetched.
// selfHosts: the hosts this worker answers (the request's, IMAGE_HOSTS'): an /img/ URL on one of
// them is this route again. /cdn-cgi/image/ is an image URL on any host.
export function checkSource(url, media, { allowPrivate = false, what = 'source', selfHosts = new Set() } = {}) {
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new HttpError(403, 'source_not_allowed', `${what} ${url.href}: only http and https URLs`);
  }
  if (url.username || url.password) {
    throw new HttpError(403, 'source_not_allowed', `${what}: URLs with credentials are refused`);
  }
  if (!allowPrivate && isPrivateHost(url.hostname)) {
    throw new HttpError(403, 'source_not_allowed', `${what} ${url.href}: loopback and private addresses are refused`);
  }
  if (!allowedBy(url, media.allowedSources)) {
    throw new HttpError(403, 'source_not_allowed', `${what} ${url.href} is not under the vendor's allowed sources`);
  }
  const route = imageRouteOf(url.pathname);
  if (route === CLOUDFLARE_ROUTE || (route !== undefined && (selfHosts.has(url.host) || selfHosts.has(url.hostname)))) {
    throw new HttpError(403, 'source_not_allowed', `${what} ${url.href}: an image URL cannot be a source`);
  }
}

// --- signatures ------------------------------------------------------------------------------
// A vendor's URLs carry s=<keyId>:<MAC> (docs/images.md, "Signed URLs"; the signing side is
// js-glue/image-url.js, kept equal by tests/js/image-signing.test.mjs):
//   vendor key = HMAC-SHA256(IMAGE_SIGNING_SECRET, "whale-image-v1 vendor\n" + slug + "\n" + keyId)
//   MAC        = HMAC-SHA256(vendor key, "whale-image-v1\n" + slug + "\n" + options + "/" + source)
// so a MAC is good for one vendor, and a vendor's key signs for no other vendor.

const hexBytes = (text) => Uint8Array.from(text.match(/../g), (pair) => parseInt(pair, 16));

// IMAGE_SIGNING_KEY_IDS ({"slug": [current, previous?]}, json or its text) as a Map slug ->
// [key ids]; throws a 500 on a malformed value.
export function parseKeyIds(value) {
  let ids = value ?? {};
  const bad = (why) => new HttpError(500, 'invalid_config', `IMAGE_SIGNING_KEY_IDS: ${why}`);
  if (typeof ids === 'string') {
    try {
      ids = JSON.parse(ids);
    } catch {
      throw bad('not JSON');
    }
  }
  if (typeof ids !== 'object' || ids === null || Array.isArray(ids)) throw bad('expected {"<vendor>": [<key id>, ...]}');
  const map = new Map();
  for (const [slug, list] of Object.entries(ids)) {
    const valid = Array.isArray(list) && list.length >= 1 && list.length <= MAX_ACTIVE_KEYS &&
      list.every((id) => Number.isSafeInteger(id) && id >= 1 && id <= 999999999);
    if (!valid) throw bad(`${slug}: expected 1 or ${MAX_ACTIVE_KEYS} key ids (positive integers)`);
    map.set(slug, list);
  }
  return map;
}

// The edge's side of signed URLs: the secret, every vendor's active key ids, and the vendor keys
// derived from them (imported once; at most MAX_ACTIVE_KEYS per vendor of IMAGE_SIGNING_KEY_IDS).
export class UrlVerifier {
  constructor(secret, keyIds) {
    this.secret = crypto.subtle.importKey('raw', encoder.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
    this.keyIds = keyIds;
    this.vendorKeys = new Map();
  }

  // From the worker's bindings; throws a 500 when the secret or the key ids are missing or bad.
  static fromEnv(env) {
    const secret = env?.IMAGE_SIGNING_SECRET;
    if (typeof secret !== 'string' || encoder.encode(secret).byteLength < MIN_SECRET_BYTES) {
      throw new HttpError(500, 'signing_key_missing',
        `a vendor requires signed image URLs and this edge has no IMAGE_SIGNING_SECRET of ${MIN_SECRET_BYTES} bytes or more`);
    }
    return new UrlVerifier(secret, parseKeyIds(env.IMAGE_SIGNING_KEY_IDS));
  }

  vendorKey(slug, keyId) {
    const name = `${slug}\n${keyId}`;
    let key = this.vendorKeys.get(name);
    if (!key) {
      key = this.secret
        .then((secret) => crypto.subtle.sign('HMAC', secret, encoder.encode(`whale-image-v1 vendor\n${slug}\n${keyId}`)))
        .then((raw) => crypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']));
      this.vendorKeys.set(name, key);
    }
    return key;
  }

  // Whether mac (32 bytes) is slug's MAC of message with its key keyId; crypto.subtle.verify
  // compares in constant time.
  async verify(slug, keyId, message, mac) {
    const text = encoder.encode(`whale-image-v1\n${slug}\n${message}`);
    return crypto.subtle.verify('HMAC', await this.vendorKey(slug, keyId), mac, text);
  }

  // Throws a 403 unless signature (the s= value, or null) signs message for slug with one of the
  // vendor's active keys. The codes say why: no signature, a malformed one (the one-key form
  // s=<hex> among them), a MAC made for another vendor of this edge, a retired or an unknown key
  // id, a MAC that does not match.
  async check(slug, message, signature) {
    const active = this.keyIds.get(slug);
    if (!active) throw new HttpError(500, 'signing_key_missing', `no key ids for ${slug} in IMAGE_SIGNING_KEY_IDS`);
    if (signature === null) {
      throw new HttpError(403, 'signature_required', 'this vendor requires signed image URLs (s=<key id>:<hex HMAC-SHA256>)');
    }
    const parts = SIGNATURE.exec(signature);
    if (!parts) throw new HttpError(403, 'malformed_signature', 'expected s=<key id>:<64 hex digits> (URLs signed without a key id are no longer accepted)');
    const keyId = Number(parts[1]);
    const mac = hexBytes(parts[2]);
    if (active.includes(keyId) && (await this.verify(slug, keyId, message, mac))) return;
    if (await this.signedForAnother(slug, keyId, message, mac)) {
      throw new HttpError(403, 'wrong_vendor', 'the image URL is signed for another vendor');
    }
    if (keyId < Math.min(...active)) throw new HttpError(403, 'key_retired', `key ${keyId} of this vendor is retired`);
    if (!active.includes(keyId)) throw new HttpError(403, 'unknown_key', `key ${keyId} is not one of this vendor's keys`);
    throw new HttpError(403, 'invalid_signature', 'the image URL\'s signature does not match');
  }

  // Whether another vendor of this edge with keyId active made mac: at most one MAC per vendor,
  // computed only for a URL that failed.
  async signedForAnother(slug, keyId, message, mac) {
    for (const [other, ids] of this.keyIds) {
      if (other !== slug && ids.includes(keyId) && (await this.verify(other, keyId, message, mac))) return true;
    }
    return false;
  }
}

// --- the fetch -------------------------------------------------------------------------------

// The source's body, at most maxBytes (413 past it, by Content-Length or while reading).
function readCapped(res, maxBytes) {
  return readAtMost(res, maxBytes, () => new HttpError(413, 'too_large', `source over the vendor's limit of ${maxBytes} bytes`));
}

// A failure to get the source: the status to answer and whether onerror=redirect applies.
class SourceFailure extends HttpError {}

// The fetch for image sources and every redirect hop: the global one (public addresses only),
// or IMAGE_NET's when IMAGE_ALLOW_PRIVATE_SOURCES lets sources be private (local tests).
export function sourceFetch(env, allowPrivate) {
  const network = allowPrivate ? env?.IMAGE_NET : undefined;
  return (input, init) => (network ? network.fetch(input, init) : fetch(input, init));
}

// Fetches the source with fetchImpl, following redirects by hand so that each hop is checked
// and goes through the same network.
export async function fetchSource(start, media, { allowPrivate, timeoutMs, fetchImpl, selfHosts }) {
  const signal = AbortSignal.timeout(timeoutMs);
  let url = start;
  try {
    for (let hop = 0; ; hop++) {
      const res = await fetchImpl(url.href, { redirect: 'manual', headers: { Accept: 'image/*' }, signal });
      if (!REDIRECTS.has(res.status)) {
        if (res.status === 404 || res.status === 410) {
          await res.body?.cancel();
          throw new SourceFailure(404, 'source_not_found', `source ${url.href}: HTTP ${res.status}`);
        }
        if (res.status < 200 || res.status > 299) {
          await res.body?.cancel();
          throw new SourceFailure(502, 'source_error', `source ${url.href}: HTTP ${res.status}`);
        }
        const bytes = await readCapped(res, media.maxInputBytes);
        return { url, bytes, etag: res.headers.get('ETag') };
      }
      await res.body?.cancel();
      const location = res.headers.get('Location');
      if (location === null) throw new SourceFailure(502, 'source_error', `source ${url.href}: HTTP ${res.status} without Location`);
      if (hop >= MAX_REDIRECTS) throw new SourceFailure(502, 'source_error', `source ${start.href}: more than ${MAX_REDIRECTS} redirects`);
      const next = new URL(location, url);
      checkSource(next, media, { allowPrivate, what: `redirect from ${url.href} to`, selfHosts });
      url = next;
    }
  } catch (e) {
    if (e instanceof HttpError) throw e;
    if (e?.name === 'TimeoutError' || signal.aborted) {
      throw new SourceFailure(504, 'source_timeout', `source ${url.href}: no answer within ${timeoutMs} ms`);
    }
    throw new SourceFailure(502, 'source_unreachable', `source ${url.href}: ${e?.message ?? e}`);
  }
}

// --- caching ---------------------------------------------------------------------------------

const hex = (buffer) => Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, '0')).join('');

async function sha256Hex(data) {
  return hex(await crypto.subtle.digest('SHA-256', typeof data === 'string' ? encoder.encode(data) : data));
}

// RFC 9110 If-None-Match: weak comparison, a list, or *.
function etagMatches(header, etag) {
  if (!header) return false;
  const bare = (tag) => tag.trim().replace(/^W\//, '');
  return header.split(',').some((tag) => tag.trim() === '*' || bare(tag) === bare(etag));
}

function defaultCache() {
  try {
    return typeof caches === 'undefined' ? null : caches.default ?? null;
  } catch {
    return null;
  }
}

// --- the service -----------------------------------------------------------------------------

// env: the worker's bindings; media(slug, ctx) -> Promise<MediaSettings> of the vendor's config;
// loadModule() -> Promise<WebAssembly.Module> of image.wasm; loadAvifModule: the same of avif.wasm,
// or false where the worker has no AVIF encoder (AVIF jobs then come out as WebP, as Cloudflare's
// best effort does); fetchImpl: the network sources are fetched through (default sourceFetch's).
export class ImageService {
  constructor({ env = {}, media, loadModule, loadAvifModule = false, cache = defaultCache(), fetchImpl }) {
    this.env = env;
    this.media = media;
    this.loadModule = loadModule;
    this.loadAvifModule = loadAvifModule;
    this.cache = cache;
    this.allowPrivate = env.IMAGE_ALLOW_PRIVATE_SOURCES === '1' || env.IMAGE_ALLOW_PRIVATE_SOURCES === 'true';
    this.fetch = fetchImpl ?? sourceFetch(env, this.allowPrivate);
    const timeout = Number(env.IMAGE_FETCH_TIMEOUT_MS ?? DEFAULT_FETCH_TIMEOUT_MS);
    this.timeoutMs = Number.isFinite(timeout) && timeout > 0 ? timeout : DEFAULT_FETCH_TIMEOUT_MS;
    const megabytes = (name, fallback) => {
      const mb = Number(env[name] ?? fallback);
      return (Number.isFinite(mb) && mb > 0 ? mb : fallback) * 1024 * 1024;
    };
    this.maxMemoryBytes = megabytes('IMAGE_MAX_MEMORY_MB', DEFAULT_MAX_MEMORY_MB);
    this.maxJobMemoryBytes = Math.round(megabytes('IMAGE_MAX_JOB_MB', DEFAULT_MAX_JOB_MB));
    this.modulePromise = null;
    this.verifier = null; // UrlVerifier, made on the first signed vendor's request
    this.cacheBroken = false; // the runtime has a Cache API but no cache behind it (workerd's default)
    this.counters = {
      requests: 0, hits: 0, misses: 0, notModified: 0, transforms: 0, sourceFetches: 0, redirects: 0, errors: 0,
    };
  }

  image() {
    this.modulePromise ??= this.loadModule()
      .then((module) => loadImageModule(module, { maxMemoryBytes: this.maxMemoryBytes, avif: this.loadAvifModule }))
      .catch((e) => {
        this.modulePromise = null;
        throw new HttpError(503, 'image_unavailable', `image module: ${e.message}`);
      });
    return this.modulePromise;
  }

  async stats() {
    const module = this.modulePromise ? (await this.modulePromise.catch(() => null))?.stats() ?? null : null;
    return { ...this.counters, cache: this.cache !== null && !this.cacheBroken, module };
  }

  // A Response for GET/HEAD /img/... or /cdn-cgi/image/...; errors are thrown as HttpError (worker.js
  // turns them into JSON).
  async serve(request, url, ctx) {
    this.counters.requests++;
    try {
      return await this.answer(request, url, ctx);
    } catch (e) {
      this.counters.errors++;
      throw e;
    }
  }

  async answer(request, url, ctx) {
    const path = parseImagePath(url);
    const image = await this.image();
    const normalized = this.normalize(image, path.options);
    const slug = vendorOf(url, this.env);
    const media = await this.media(slug, ctx);
    if (media.signedUrls) await this.checkSignature(slug, path);
    const job = this.policy(image, normalized, qualityGiven(path.options), media, request);
    const source = resolveSource(path.source, media);
    const selfHosts = new Set([url.host, url.hostname, ...Object.keys(hostsOf(this.env))]);
    checkSource(source, media, { allowPrivate: this.allowPrivate, selfHosts });

    const key = [slug, job.options, source.href, job.autoAccept, job.maxOutputSide].join('\n');
    const cacheKey = new Request(`${url.origin}/cdn-cgi/image-cache/${await sha256Hex(key)}`);
    const cached = await this.lookup(cacheKey);
    if (cached) return this.fromCache(request, cached);
    this.counters.misses++;

    let fetched;
    try {
      this.counters.sourceFetches++;
      fetched = await fetchSource(source, media, {
        allowPrivate: this.allowPrivate, timeoutMs: this.timeoutMs, fetchImpl: this.fetch, selfHosts,
      });
    } catch (e) {
      return this.failed(e, job, source);
    }
    const identity = fetched.etag && !fetched.etag.startsWith('W/') ? `etag ${fetched.etag}` : `sha256 ${await sha256Hex(fetched.bytes)}`;
    const etag = `"${(await sha256Hex(`${key}\n${identity}`)).slice(0, 32)}"`;
    const headers = { 'Cache-Control': IMMUTABLE, ETag: etag, ...(job.vary.length > 0 ? { Vary: job.vary.join(', ') } : {}) };
    if (etagMatches(request.headers.get('If-None-Match'), etag)) {
      this.counters.notModified++;
      return new Response(null, { status: 304, headers: { ...headers, 'X-Whale-Cache': 'miss' } });
    }

    let out;
    try {
      if (image.wantsAvif(job.options, job.autoAccept)) await image.loadAvif();
      out = image.process(fetched.bytes, job.options, {
        accept: job.autoAccept, maxPixels: media.maxInputPixels, maxInputBytes: media.maxInputBytes,
        maxOutputSide: job.maxOutputSide, maxJobMemoryBytes: this.maxJobMemoryBytes,
      });
    } catch (e) {
      const status = PROCESS_STATUS[e.code] ?? 500;
      return this.failed(new HttpError(status, e.code ?? 'internal', e.message), job, source);
    }
    this.counters.transforms++;
    headers['Content-Type'] = out.contentType;
    if (this.cache !== null && !this.cacheBroken) {
      ctx?.waitUntil(this.store(cacheKey, new Response(out.bytes, { headers })));
    }
    return new Response(request.method === 'HEAD' ? null : out.bytes, { headers: { ...headers, 'X-Whale-Cache': 'miss' } });
  }

  normalize(image, text) {
    try {
      return image.options(text);
    } catch (e) {
      if (typeof e.code === 'string' && !SERVER_FAULTS.has(e.code)) throw new HttpError(400, e.code, e.message);
      throw e;
    }
  }

  async checkSignature(slug, path) {
    this.verifier ??= UrlVerifier.fromEnv(this.env);
    await this.verifier.check(slug, path.signed, path.signature);
  }

  // The vendor's rules over the normalized options: {options (what image.wasm gets, normalized
  // again with the vendor's default quality), autoAccept (the client bits: Accept for
  // format=auto, a slow connection for slow-connection-quality, else 0), vary (the request
  // headers the answer depends on), maxOutputSide, redirect (onerror=redirect)}.
  policy(image, given, hasQuality, media, request) {
    const vary = [];
    let normalized = given;
    let options = optionMap(normalized);
    // width=auto becomes the client's width here, so the vendor's widths and bounds apply to it
    // and the cache keeps one entry per width: the nearest of the vendor's widths at or above it
    // (else the largest), and never past maxWidth.
    if (options.get('width') === 'auto') {
      let width = AUTO_WIDTHS[sizeClass(request.headers)];
      if (media.widths.length > 0) width = [...media.widths].sort((a, b) => a - b).find((w) => w >= width) ?? Math.max(...media.widths);
      width = Math.min(width, media.maxWidth);
      normalized = this.normalize(image, normalized.split(',').map((o) => (o === 'width=auto' ? `width=${width}` : o)).join(','));
      options = optionMap(normalized);
      vary.push('Sec-CH-Viewport-Width', 'Viewport-Width', 'Sec-CH-UA-Mobile', 'User-Agent');
    }
    // width and height as asked (CSS pixels); dpr may take the output past them, up to the
    // larger of maxWidth and maxHeight, where image.wasm shrinks the box to fit.
    const bound = (name, max) => {
      if (!options.has(name)) return;
      const value = Number(options.get(name));
      if (name === 'width' && media.widths.length > 0 && !media.widths.includes(value)) {
        throw new HttpError(400, 'invalid_value', `option 'width': ${value} is not one of this vendor's widths (${media.widths.join(', ')})`);
      }
      if (value > max) throw new HttpError(400, 'invalid_value', `option '${name}': ${value} is over this vendor's limit of ${max}`);
    };
    bound('width', media.maxWidth);
    bound('height', media.maxHeight);
    const format = options.get('format') === 'baseline-jpeg' ? 'jpeg' : options.get('format');
    if (format !== undefined && format !== 'auto' && format !== 'json' && !media.formats.includes(format)) {
      throw new HttpError(400, 'invalid_value', `option 'format': this vendor serves only ${media.formats.join(', ')}`);
    }
    // A worker built without avif.wasm answers format=avif with WebP (Cloudflare's best effort).
    const avif = media.formats.includes('avif') && this.loadAvifModule !== false;
    if (format === 'avif' && !avif) {
      normalized = normalized.split(',').map((o) => (o === 'format=avif' ? 'format=webp' : o)).join(',');
    }
    const auto = format === 'auto';
    if (auto) vary.unshift('Accept');
    const slow = options.has('slow-connection-quality') && slowConnection(request.headers);
    if (options.has('slow-connection-quality')) vary.push('RTT', 'ECT', 'Downlink', 'Save-Data');
    const text = hasQuality ? normalized : `${normalized},quality=${media.quality}`;
    return {
      options: this.normalize(image, text),
      autoAccept: (auto ? acceptBits(request.headers.get('Accept')) & ((media.formats.includes('webp') ? ACCEPT_WEBP : 0) |
        (avif ? ACCEPT_AVIF : 0)) : 0) |
        (slow ? CLIENT_SLOW : 0),
      vary,
      maxOutputSide: Math.max(media.maxWidth, media.maxHeight),
      redirect: options.get('onerror') === 'redirect',
    };
  }

  // A failure after the source passed every check: 302 to it with onerror=redirect, else JSON.
  // Refusals (400 options, 403 a redirect off the list) never redirect.
  failed(e, job, source) {
    if (!(e instanceof HttpError)) throw e;
    const redirectable = e.status === 404 || e.status === 413 || e.status === 415 || e.status === 422 || e.status >= 500;
    if (!job.redirect || !redirectable) throw e;
    this.counters.redirects++;
    return new Response(null, {
      status: 302,
      headers: { Location: source.href, 'Cache-Control': 'private, no-store', 'X-Whale-Error': e.code },
    });
  }

  async lookup(cacheKey) {
    if (this.cache === null || this.cacheBroken) return null;
    try {
      return (await this.cache.match(cacheKey)) ?? null;
    } catch {
      this.cacheBroken = true; // workerd without a cache service throws "No Cache was configured"
      return null;
    }
  }

  async store(cacheKey, response) {
    try {
      await this.cache.put(cacheKey, response);
    } catch {
      this.cacheBroken = true;
    }
  }

  fromCache(request, cached) {
    this.counters.hits++;
    const headers = new Headers(cached.headers);
    headers.set('X-Whale-Cache', 'hit');
    for (const name of ['Cf-Cache-Status', 'Age']) headers.delete(name);
    if (etagMatches(request.headers.get('If-None-Match'), cached.headers.get('ETag') ?? '')) {
      this.counters.notModified++;
      cached.body?.cancel();
      headers.delete('Content-Length');
      headers.delete('Content-Type');
      return new Response(null, { status: 304, headers });
    }
    return new Response(request.method === 'HEAD' ? null : cached.body, { status: 200, headers });
  }
}
