// @whaletools/edge/image-url: URLs of the edge's image route, /img/<options>/<source>
// (docs/images.md; the edge answers Cloudflare's /cdn-cgi/image/ spelling too), for frontend and server code alike. Pure functions, no wasm, no imports: the
// browser entry re-exports them, and a Next.js `loaderFile` can re-export `imageLoader`.
//
//   imageUrl(src, {width: 400, fit: 'cover', format: 'auto'})
//     -> '/img/width=400,fit=cover,format=auto/<src>'
//   imageUrl(src, {width: 400, route: CLOUDFLARE_IMAGE_PATH}) -> '/cdn-cgi/image/width=400/<src>'
//   srcset(src, [400, 800], {quality: 80}) -> '<url> 400w, <url> 800w'
//   signImageUrl(url, {vendor, keyId, key})   appends ,s=<keyId>:<hex HMAC-SHA256> (server side:
//                                             the key is the vendor's secret)
//   deriveImageKey(secret, vendor, keyId)     the vendor's key, from the edge's secret (operators)

// The edge's own image route. On Cloudflare, /cdn-cgi/ belongs to Cloudflare: on a zone with
// Image Transformations its /cdn-cgi/image/ never reaches the worker, so /img/ is the one to use.
export const IMAGE_PATH = '/img/';
// Cloudflare's spelling, which the edge answers the same way (same options, same signatures).
export const CLOUDFLARE_IMAGE_PATH = '/cdn-cgi/image/';
export const IMAGE_PATHS = [IMAGE_PATH, CLOUDFLARE_IMAGE_PATH];

// Cloudflare's option names in the order imageUrl writes them; other keys follow, sorted.
const ORDER = ['width', 'height', 'dpr', 'fit', 'gravity', 'quality', 'format', 'background', 'rotate', 'flip', 'brightness', 'contrast', 'gamma', 'saturation', 'compression', 'blur', 'sharpen', 'metadata', 'anim', 'onerror'];
// Short names and Cloudinary-like spellings a caller may use for the same options.
const ALIASES = { w: 'width', h: 'height', q: 'quality', f: 'format', g: 'gravity' };
// Keys that are not options of the URL.
const NOT_OPTIONS = new Set(['base', 'route']);
const SIGNATURE_KEYS = new Set(['s', 'sig']);

// Characters that would end the options segment, start a query or fragment, or split an option.
function encodeValue(value) {
  return String(value).replace(/[%#?/\s,]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

function optionValue(key, value) {
  if (key === 'gravity' && typeof value === 'object') return `${value.x}x${value.y}`;
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`imageUrl: option ${key} must be a finite number`);
    return String(value);
  }
  return encodeValue(value);
}

const given = (v) => v !== undefined && v !== null && v !== '';

// cf.image's object forms, as the URL spells them: trim {top, right, bottom, left, width, height}
// as trim=top;right;bottom;left (with trim.width, trim.height), border {color, width} or
// {color, top, right, bottom, left} as border.color and border.width or border.<side>.
function setObjectOption(options, key, value) {
  const number = (name, v) => optionValue(`${key}.${name}`, v);
  if (key === 'trim' && typeof value.border === 'object') {
    options.set('trim', 'border');
    for (const part of ['color', 'tolerance', 'keep']) {
      if (given(value.border[part])) options.set(`trim.border.${part}`, optionValue(`trim.border.${part}`, value.border[part]));
    }
    return;
  }
  if (key === 'trim') {
    const sides = ['top', 'right', 'bottom', 'left'];
    if (sides.some((side) => given(value[side]))) options.set('trim', sides.map((side) => number(side, value[side] ?? 0)).join(';'));
    for (const size of ['width', 'height']) if (given(value[size])) options.set(`trim.${size}`, number(size, value[size]));
    return;
  }
  if (given(value.color)) options.set('border.color', encodeValue(value.color));
  for (const side of ['width', 'top', 'right', 'bottom', 'left']) {
    if (given(value[side])) options.set(`border.${side}`, number(side, value[side]));
  }
}

// The options segment: "width=400,fit=cover", Cloudflare's names in a stable order.
export function imageOptions(opts = {}) {
  const options = new Map();
  for (const [rawKey, value] of Object.entries(opts)) {
    if (!given(value) || NOT_OPTIONS.has(rawKey)) continue;
    const key = ALIASES[rawKey] ?? rawKey;
    if (!/^[a-z][a-z0-9-]*$/i.test(key)) throw new TypeError(`imageUrl: bad option name ${JSON.stringify(rawKey)}`);
    if ((key === 'trim' || key === 'border') && typeof value === 'object') setObjectOption(options, key, value);
    else options.set(key, optionValue(key, value));
  }
  const known = ORDER.filter((k) => options.has(k));
  const extra = [...options.keys()].filter((k) => !ORDER.includes(k)).sort();
  return [...known, ...extra].map((k) => `${k}=${options.get(k)}`).join(',');
}

function sourcePart(src) {
  const text = String(src);
  if (/^https?:\/\//i.test(text)) return text;
  return text.startsWith('/') ? text.slice(1) : text;
}

// The edge URL of `src` (an absolute http(s) URL, or a path on the vendor's media origin)
// transformed by `opts` ({width, height, fit, gravity, quality, format, dpr, background, rotate,
// flip, brightness, contrast, gamma, saturation, compression, blur, sharpen, metadata, anim,
// onerror, ...}; w/h/q/f/g are accepted for the long names). `opts.base` (e.g.
// "https://shop.example") prefixes the URL; `opts.route` is IMAGE_PATH (the default) or
// CLOUDFLARE_IMAGE_PATH. Without any option the source is returned as it is.
export function imageUrl(src, opts = {}) {
  const options = imageOptions(opts);
  if (options === '') return String(src);
  const route = opts.route ?? IMAGE_PATH;
  if (!IMAGE_PATHS.includes(route)) throw new TypeError(`imageUrl: route must be one of ${IMAGE_PATHS.join(', ')}`);
  const base = String(opts.base ?? '').replace(/\/+$/, '');
  return `${base}${route}${options}/${sourcePart(src)}`;
}

// The image route `pathname` starts with, or undefined.
export function imageRouteOf(pathname) {
  return IMAGE_PATHS.find((path) => pathname.startsWith(path));
}

// A srcset of `src` at each width: "url 400w, url 800w" (widths deduplicated, ascending; dpr
// is dropped, as the w descriptors let the browser pick for its density).
export function srcset(src, widths, opts = {}) {
  const sorted = [...new Set(widths.map(Number))].filter((w) => Number.isInteger(w) && w > 0).sort((a, b) => a - b);
  const { dpr, ...rest } = opts;
  return sorted.map((w) => `${imageUrl(src, { ...rest, width: w })} ${w}w`).join(', ');
}

// A Next.js image loader (next.config.js images: {loader: 'custom', loaderFile}) with these
// defaults; quality comes from <Image quality>, else defaults.quality.
export function createImageLoader(defaults = {}) {
  return function imageLoader({ src, width, quality }) {
    return imageUrl(src, { format: 'auto', ...defaults, width, quality: quality ?? defaults.quality });
  };
}

export const imageLoader = createImageLoader();

// --- signed URLs ------------------------------------------------------------------------
// A vendor signs with a key of its own, one per key id (docs/images.md, "Signed URLs"):
//   vendor key = HMAC-SHA256(edge secret, "whale-image-v1 vendor\n" + vendor + "\n" + keyId)
//   MAC        = HMAC-SHA256(vendor key, "whale-image-v1\n" + vendor + "\n" + signedMessage(url))
//   the URL    carries s=<keyId>:<MAC, 64 hex digits> among its options.
// edge-workers/image.js verifies the same text; tests/js/image-signing.test.mjs keeps the two equal.

// Key ids are generations: a new key's id is greater than every earlier one of the vendor.
export const IMAGE_KEY_ID = /^[1-9][0-9]{0,8}$/;
// The edge's vendor names (edge-workers/worker.js uses the same pattern).
const VENDOR_SLUG = /^[a-z0-9][a-z0-9_-]{0,63}$/;
// The edge refuses a shorter secret: 32 bytes is HMAC-SHA256's own strength.
export const MIN_SECRET_BYTES = 32;

const encoder = new TextEncoder();

// What is signed: the path after the image route (/img/ or /cdn-cgi/image/, as a URL parser
// serializes it) plus the query, with the s=/sig= option taken out; a signature is good on
// either route. Returns null when the URL is not an image URL.
export function signedMessage(url) {
  const parsed = new URL(url, 'http://image.invalid');
  const route = imageRouteOf(parsed.pathname);
  if (route === undefined) return null;
  const rest = parsed.pathname.slice(route.length);
  const slash = rest.indexOf('/');
  if (slash < 0) return null;
  const options = rest.slice(0, slash).split(',').filter((o) => !SIGNATURE_KEYS.has(o.slice(0, o.indexOf('='))));
  return `${options.join(',')}${rest.slice(slash)}${parsed.search}`;
}

// The text a vendor's MAC covers: the vendor is part of it, so a MAC is good for one vendor only.
export function signingText(vendor, message) {
  return `whale-image-v1\n${vendor}\n${message}`;
}

const hex = (bytes) => Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, '0')).join('');

function hexBytes(text) {
  return Uint8Array.from(text.match(/../g), (pair) => parseInt(pair, 16));
}

function checkVendor(fn, vendor) {
  if (typeof vendor !== 'string' || !VENDOR_SLUG.test(vendor)) throw new TypeError(`${fn}: bad vendor ${JSON.stringify(vendor)}`);
}

function keyIdText(fn, keyId) {
  const text = String(keyId);
  if (!IMAGE_KEY_ID.test(text)) throw new TypeError(`${fn}: bad key id ${JSON.stringify(keyId)} (a positive integer)`);
  return text;
}

async function hmac(rawKey, text) {
  const key = await crypto.subtle.importKey('raw', rawKey, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return new Uint8Array(await crypto.subtle.sign('HMAC', key, encoder.encode(text)));
}

// The vendor's signing key for keyId (64 hex digits), from the edge's IMAGE_SIGNING_SECRET (a
// string, taken as UTF-8, or bytes; at least 32 bytes). For operators: hand the result to the
// vendor, never the secret.
export async function deriveImageKey(secret, vendor, keyId) {
  checkVendor('deriveImageKey', vendor);
  const id = keyIdText('deriveImageKey', keyId);
  const raw = typeof secret === 'string' ? encoder.encode(secret) : secret;
  if (!raw || raw.byteLength < MIN_SECRET_BYTES) throw new TypeError(`deriveImageKey: the secret must have at least ${MIN_SECRET_BYTES} bytes`);
  return hex(await hmac(raw, `whale-image-v1 vendor\n${vendor}\n${id}`));
}

function vendorKeyBytes(key) {
  if (typeof key === 'string') {
    if (!/^[0-9a-f]{64}$/i.test(key)) throw new TypeError('signImageUrl: key must be 64 hex digits (deriveImageKey\'s result) or 32 bytes');
    return hexBytes(key);
  }
  if (key?.byteLength !== 32) throw new TypeError('signImageUrl: key must be 64 hex digits (deriveImageKey\'s result) or 32 bytes');
  return key;
}

// Puts s=<keyId>:<MAC> in the options of an image URL for `vendor` (any s=/sig= already there is
// replaced). key: the vendor's key for keyId (deriveImageKey's hex, or its 32 bytes), a secret:
// for servers.
export async function signImageUrl(url, signer) {
  if (typeof signer !== 'object' || signer === null || ArrayBuffer.isView(signer) || signer instanceof ArrayBuffer) {
    throw new TypeError('signImageUrl(url, {vendor, keyId, key}): URLs are signed per vendor; the one-key form (url, key) is gone');
  }
  const { vendor, keyId, key } = signer;
  checkVendor('signImageUrl', vendor);
  const id = keyIdText('signImageUrl', keyId);
  const message = signedMessage(url);
  if (message === null) throw new TypeError(`signImageUrl: not an image URL (${IMAGE_PATHS.join(' or ')}): ${url}`);
  const mac = hex(await hmac(vendorKeyBytes(key), signingText(vendor, message)));
  const route = imageRouteOf(new URL(url, 'http://image.invalid').pathname);
  const at = url.indexOf(route) + route.length;
  const slash = url.indexOf('/', at);
  const options = url.slice(at, slash).split(',').filter((o) => o !== '' && !SIGNATURE_KEYS.has(o.slice(0, o.indexOf('='))));
  return `${url.slice(0, at)}${[...options, `s=${id}:${mac}`].join(',')}${url.slice(slash)}`;
}
