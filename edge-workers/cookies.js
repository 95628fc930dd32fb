// The worker's cookies: names, Set-Cookie values, and the visitor they describe.
//
//   whale_id  the visitor's anonymous id (a random UUID); the attribute `id` unless the request
//             supplies one.
//   whale_sb  the sticky-bucket assignment documents: base64url (no padding) of the UTF-8 JSON
//             array [[attributeName, attributeValue, {"<experimentKey>__<bucketVersion>":
//             "<variation meta key>"}], ...], oldest first; capped at STICKY_COOKIE_MAX chars.
//   whale_rc  the receipt (events.js): what the visitor was assigned, MAC'd.
//   whale_bx  the behaviour summary the browser glue writes (storefront.js reads it).
// All are `Path=/; HttpOnly; SameSite=Lax`, plus `Secure` when the request was https.

import { RECEIPT_COOKIE, RECEIPT_MAX_AGE_S } from './events.js';

export const ID_COOKIE = 'whale_id';
export const STICKY_COOKIE = 'whale_sb';
const STICKY_COOKIE_MAX = 3072; // chars of the value; browsers keep at most ~4 KB per cookie
const COOKIE_MAX_AGE = 31536000; // one year, in seconds
const VISITOR_ID = /^[A-Za-z0-9-]{8,64}$/;
const BASE64URL = /^[A-Za-z0-9_-]*$/;

function cookie(name, value, maxAgeS, secure) {
  return `${name}=${value}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${maxAgeS}${secure ? '; Secure' : ''}`;
}

// A whale_id or whale_sb cookie, kept for a year.
export function setCookie(name, value, secure) {
  return cookie(name, value, COOKIE_MAX_AGE, secure);
}

export function receiptCookie(receipt, secure) {
  return cookie(RECEIPT_COOKIE, receipt, RECEIPT_MAX_AGE_S, secure);
}

// The Set-Cookie values that expire those of our cookies the visitor holds (a visitor kept out
// keeps no id, documents or receipt of ours).
export function expiredCookies(cookies, secure) {
  return [ID_COOKIE, STICKY_COOKIE, RECEIPT_COOKIE].filter((name) => cookies[name] !== undefined)
    .map((name) => `${name}=; Path=/; Max-Age=0; SameSite=Lax${secure ? '; Secure' : ''}`);
}

// --- base64url -----------------------------------------------------------------------------

const utf8 = new TextEncoder();

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

// --- sticky-bucket documents (whale_sb) ----------------------------------------------------

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
// several requests. A cache of a pure function, so one per isolate whatever the bindings.
const STICKY_DECODED_MAX_CHARS = 256 * 1024;

class DecodedStickyDocs {
  constructor() {
    this.byValue = new Map();
    this.chars = 0;
  }

  get(value) {
    let docs = this.byValue.get(value);
    if (docs === undefined) {
      docs = readStickyDocs(value);
      if (this.chars + value.length > STICKY_DECODED_MAX_CHARS) {
        this.byValue.clear();
        this.chars = 0;
      }
      this.byValue.set(value, docs);
      this.chars += value.length;
    }
    return docs;
  }
}

const decoded = new DecodedStickyDocs();

// whale_sb -> GrowthBook's { "<name>||<value>": { attributeName, attributeValue, assignments } },
// in cookie order. Returns null when the cookie is not one this worker wrote.
function decodeStickyDocs(value) {
  return value === undefined ? {} : decoded.get(value);
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

// The whale_sb cookie to set after the core wrote `changed` documents over `held` (null: the
// cookie was unreadable, and is replaced even when nothing was assigned); [] when unchanged.
export function stickyCookies(changed = {}, held, secure) {
  if (Object.keys(changed).length === 0 && held !== null) return [];
  const value = encodeStickyDocs(mergeStickyDocs(held ?? {}, changed));
  return [setCookie(STICKY_COOKIE, value, secure)];
}

// The visitor's id (null when the cookie is missing or malformed), sticky documents (null when
// the cookie is not one this worker wrote) and receipt, from the request's cookies.
export function visitorOf(cookies) {
  const id = VISITOR_ID.test(cookies[ID_COOKIE] ?? '') ? cookies[ID_COOKIE] : null;
  return { id, stickyDocs: decodeStickyDocs(cookies[STICKY_COOKIE]), receipt: cookies[RECEIPT_COOKIE] };
}
