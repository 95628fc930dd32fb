// HTTP helpers shared by the worker's routes: JSON answers and errors, cookies, bounded bodies.

export class HttpError extends Error {
  constructor(status, code, message, headers = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.headers = headers;
  }
}

// The fetch that reaches the origin (config snapshots, event delivery). Under workerd the
// worker's global fetch goes through a network that allows public addresses only, so image
// sources cannot reach the origin or anything else on a private or local address; the origin,
// which usually is on one, is reached through the ORIGIN_NET binding (a network service that
// allows private and local addresses, written by gen-config.mjs). On Cloudflare the binding is
// absent and the global fetch is used: the origin is public there, and fetch cannot reach
// private ranges anyway.
export function originFetch(env) {
  return (input, init) => (env?.ORIGIN_NET ? env.ORIGIN_NET.fetch(input, init) : fetch(input, init));
}

export function json(status, body, headers = {}) {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json', 'Cache-Control': 'private, no-store', ...headers },
  });
}

export function methodNotAllowed(allow) {
  return new HttpError(405, 'method_not_allowed', `use ${allow}`, { Allow: allow });
}

// The first value of each cookie in a Cookie header.
export function parseCookies(header) {
  const cookies = {};
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    if (name && !(name in cookies)) cookies[name] = part.slice(eq + 1).trim();
  }
  return cookies;
}

// How much more of a refused body is read and dropped so the connection stays usable (a body
// left half read makes the client, or a proxy in between such as wrangler dev's, drop the
// connection and fail the next request on it); past this the body is cancelled. As Go's net/http.
const DRAIN_BYTES = 256 * 1024;

async function drain(reader, limit) {
  let left = limit;
  try {
    while (left > 0) {
      const { done, value } = await reader.read();
      if (done) return;
      left -= value.byteLength;
    }
    await reader.cancel();
  } catch {
    // the client went away: nothing to keep
  }
}

// The body as UTF-8 text, refused with 413 past maxBytes (declared or counted while reading).
export async function readBodyText(request, maxBytes) {
  const tooLarge = new HttpError(413, 'too_large', `request body over ${maxBytes} bytes`);
  if (Number(request.headers.get('Content-Length')) > maxBytes) throw tooLarge;
  if (request.body === null) return '';
  const reader = request.body.getReader();
  const chunks = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await drain(reader, DRAIN_BYTES);
      throw tooLarge;
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new HttpError(400, 'invalid_json', 'request body is not UTF-8');
  }
}

// A request body's JSON; a 400 invalid_json HttpError when it is not JSON.
export function parseJsonBody(text) {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new HttpError(400, 'invalid_json', `request body: ${e.message}`);
  }
}

export function isObject(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

// A binding that holds an object: a JSON object in wrangler.toml or workerd's config arrives as
// one, a --var or a secret as its JSON text. Anything else is an empty object.
export function objectVar(value) {
  if (typeof value === 'string') {
    if (value.trim() === '') return {};
    try {
      value = JSON.parse(value);
    } catch {
      return {};
    }
  }
  return isObject(value) ? value : {};
}

// Workers have crypto.subtle.timingSafeEqual; elsewhere (Node, for the unit tests) a loop that
// looks at every byte. Both inputs are digests of the same length.
function timingSafeEqual(a, b) {
  if (typeof crypto.subtle.timingSafeEqual === 'function') return crypto.subtle.timingSafeEqual(a, b);
  let diff = a.length ^ b.length;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

// Whether an Authorization header is "Bearer <token>" for this token (never for an empty one).
// The SHA-256 digests are compared in constant time, so neither the token's bytes nor its length
// leak through timing.
export async function bearerMatches(authorization, token) {
  if (!token || typeof authorization !== 'string' || !authorization.startsWith('Bearer ')) return false;
  const encoder = new TextEncoder();
  const [a, b] = await Promise.all([
    crypto.subtle.digest('SHA-256', encoder.encode(authorization.slice(7).trim())),
    crypto.subtle.digest('SHA-256', encoder.encode(token)),
  ]);
  return timingSafeEqual(new Uint8Array(a), new Uint8Array(b));
}
