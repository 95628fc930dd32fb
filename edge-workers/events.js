// Events: what the bandits learn from, and so what an attacker would forge (docs/bandits.md).
//
// Only the edge mints events. /v1/assign records an exposure for each experiment it assigned;
// both /v1/assign and /v1/storefront hand the visitor a receipt (the whale_rc cookie, and
// `receipt` in /v1/assign's answer) that lists what it was assigned, MAC'd with a per-vendor key.
// POST /v1/events from a browser counts only for experiments its receipt lists, with the
// variation and unit the receipt names: a client reports only what it was shown. Every event
// forwarded to the origin carries an id that is an HMAC over (type, vendor, experiment,
// variation, unit, day) with a per-vendor key derived from EVENTS_KEY, which the origin shares and
// verifies: the same fact gets the same id at every edge, and nobody without the key mints one.
//
// A client batch is a JSON array of events, or {"events": [...], "receipt"?: string}, at most
// MAX_BATCH_EVENTS of them in at most MAX_BATCH_BYTES. An event is
//   {type: "exposure" | "conversion", experiment: string, variation?: string | integer,
//    slug?: string, value?: number}
// Events that are refused are counted by reason (`refused` in /v1/events/stats).
//
// With an origin and a Cloudflare Queue (EVENTS_QUEUE) accepted events are sent to the queue
// before the request is answered (EventQueue) and the worker's queue() handler posts them to the
// origin (QueueConsumer). Without a queue they wait in a per-isolate buffer bounded in bytes
// (EVENTS_BUFFER_BYTES); when it is full new events are dropped and counted. With an origin
// (ORIGIN_URL) an EventForwarder posts them in batches; every promise it makes belongs to the
// request that made it (ctx.waitUntil of that request only), so no request context outlives its
// request.

import { HttpError, isObject, json, parseCookies, parseJsonBody, readBodyText } from './http.js';

export const MAX_BATCH_EVENTS = 100;
export const MAX_BATCH_BYTES = 64 * 1024;
export const BUFFER_BYTES = 4 * 1024 * 1024;
const DEDUP_WINDOW = 4096;
const MAX_TEXT = 128; // characters of experiment, variation, unit
const TYPES = new Set(['exposure', 'conversion']);
const SLUG = /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/;
const DAY_MS = 86_400_000;
// Receipts: at most this many assignments (the newest kept), valid this long.
export const RECEIPT_MAX_ENTRIES = 24;
export const RECEIPT_MAX_AGE_S = 30 * 86400;
export const RECEIPT_COOKIE = 'whale_rc';
const RECEIPT_TEXT = /^[A-Za-z0-9_-]{1,4096}\.[A-Za-z0-9_-]{22}$/;

const encoder = new TextEncoder();

function shortText(value) {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_TEXT;
}

function base64url(bytes) {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function fromBase64url(text) {
  const binary = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

function hex(bytes) {
  let out = '';
  for (const byte of bytes) out += byte.toString(16).padStart(2, '0');
  return out;
}

// The message an event id is the MAC of; the origin computes the same (src/origin/events.cpp).
export function eventMessage({ type, slug, experiment, variation, unit, ts }) {
  return `whale-event-v1\n${type}\n${slug}\n${experiment}\n${variation}\n${unit}\n${Math.floor(ts / DAY_MS)}`;
}

// The per-vendor keys derived from the events key (EVENTS_KEY, shared with the origin): event ids
// are HMAC-SHA256(HMAC-SHA256(secret, "whale-events-v1 vendor\n" + slug), message), receipts use a
// key derived the same way with "whale-receipt-v1 vendor\n". EVENTS_KEY may list two secrets,
// "current,previous", while a key is rotated: ids and receipts are made with the current one,
// receipts made with either are read.
export class EventKeys {
  constructor(secret) {
    const secrets = typeof secret === 'string' ? secret.split(/[\s,]+/).filter((k) => k.length > 0) : [];
    this.secrets = secrets.length > 0 && secrets.every((k) => k.length >= 32) ? secrets.slice(0, 2) : [];
    this.masters = [];
    this.keys = new Map(); // `${index}\n${purpose}\n${slug}` -> Promise<CryptoKey>
    // Receipts already verified, by their text (a returning visitor sends the same one on every
    // request): their MAC is not computed again. Bounded: cleared when full.
    this.verified = new Map();
  }

  get configured() { return this.secrets.length > 0; }

  masterKey(index) {
    // Without a secret (an edge with no origin) receipts still work within the isolate.
    const raw = this.secrets.length === 0 ? crypto.getRandomValues(new Uint8Array(32)) : encoder.encode(this.secrets[index]);
    this.masters[index] ??= crypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
    return this.masters[index];
  }

  key(purpose, slug, index = 0) {
    const name = `${index}\n${purpose}\n${slug}`;
    let key = this.keys.get(name);
    if (!key) {
      key = this.masterKey(index)
        .then((master) => crypto.subtle.sign('HMAC', master, encoder.encode(`whale-${purpose}-v1 vendor\n${slug}`)))
        .then((raw) => crypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']));
      if (this.keys.size >= 4096) this.keys.clear(); // vendors are few; a flood of names is not kept
      this.keys.set(name, key);
    }
    return key;
  }

  async mac(purpose, slug, text, index = 0) {
    return new Uint8Array(await crypto.subtle.sign('HMAC', await this.key(purpose, slug, index), encoder.encode(text)));
  }

  // 32 hex digits (128 bits): the event's id and its proof of origin.
  async eventId(event) {
    return hex((await this.mac('events', event.slug, eventMessage(event))).subarray(0, 16));
  }

  // entries: [[experiment, variation, unit], ...]; visitor: the whale_id the receipt belongs to.
  async mintReceipt(slug, visitor, entries, nowMs) {
    const payload = base64url(encoder.encode(JSON.stringify({
      s: slug, v: visitor, t: Math.floor(nowMs / 1000), a: entries.slice(-RECEIPT_MAX_ENTRIES),
    })));
    return `${payload}.${base64url((await this.mac('receipt', slug, payload)).subarray(0, 16))}`;
  }

  // {slug, visitor, entries, issuedAt} of a receipt made with one of the events keys that has not
  // expired, else null.
  async readReceipt(text, nowMs) {
    const known = this.verified.get(text);
    if (known !== undefined) return fresh(known, nowMs) ? known : null;
    const read = await this.verifyReceipt(text);
    if (read === null) return null;
    if (this.verified.size >= VERIFIED_RECEIPTS) this.verified.clear();
    this.verified.set(text, read);
    return fresh(read, nowMs) ? read : null;
  }

  // The receipt when it was verified before (no MAC computed): {slug, visitor, entries, issuedAt},
  // null when that receipt has expired, undefined when it is not known.
  knownReceipt(text, nowMs) {
    const known = this.verified.get(text);
    if (known === undefined) return undefined;
    return fresh(known, nowMs) ? known : null;
  }

  // The visitor's receipt after being assigned `entries` ([experiment, variation, unit]): the
  // entries of the receipt it holds for the same vendor and visitor, updated, plus the new ones.
  // {receipt, changed, unlisted}: the held receipt itself (changed false) when it already lists
  // them all and was issued less than a day ago, so that a returning visitor gets no new cookie;
  // unlisted: the entries the held receipt did not list (all of them when it is a day old: a new
  // day's exposure).
  async receiptFor(slug, visitorId, entries, heldText) {
    const now = Date.now();
    const held = heldText ? await this.readReceipt(heldText, now) : null;
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
    return { receipt: await this.mintReceipt(slug, visitorId, [...merged.values()], now), changed: true, unlisted };
  }

  async verifyReceipt(text) {
    if (typeof text !== 'string' || !RECEIPT_TEXT.test(text)) return null;
    const [payload, mac] = text.split('.');
    let body;
    try {
      body = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(fromBase64url(payload)));
    } catch {
      return null;
    }
    if (!isObject(body) || typeof body.s !== 'string' || !SLUG.test(body.s) || !Array.isArray(body.a)) return null;
    let signed = false;
    for (let index = 0; index < Math.max(1, this.secrets.length) && !signed; index++) {
      signed = timingSafeEqual(base64url((await this.mac('receipt', body.s, payload, index)).subarray(0, 16)), mac);
    }
    if (!signed || !Number.isSafeInteger(body.t)) return null;
    return { slug: body.s, visitor: typeof body.v === 'string' ? body.v : '', entries: body.a, issuedAt: body.t };
  }
}

const VERIFIED_RECEIPTS = 4096;

// The entries a held receipt (as readReceipt reads it) does not list with the same variation and
// unit; all of them when it was issued a day ago or more; undefined when it is not this vendor's
// receipt for this visitor (or none).
export function unlistedIn(held, slug, visitorId, entries, now = Date.now()) {
  if (!held || held.slug !== slug || held.visitor !== visitorId) return undefined;
  if (now / 1000 - held.issuedAt >= 86400) return entries;
  return entries.filter((e) => {
    const h = held.entries.find((x) => Array.isArray(x) && x[0] === e[0]);
    return h === undefined || String(h[1]) !== String(e[1]) || h[2] !== e[2];
  });
}

// Issued no later than a minute from now, and not expired.
function fresh(receipt, nowMs) {
  return receipt.issuedAt * 1000 <= nowMs + 60_000 && nowMs / 1000 - receipt.issuedAt <= RECEIPT_MAX_AGE_S;
}

function timingSafeEqual(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

// Token buckets by key (a visitor, an address), at most maxKeys of them: the least recently used
// bucket is forgotten first (a forgotten key starts full again, so a flood of fresh keys buys
// each only the burst).
export class RateLimiter {
  constructor({ perMinute, burst, maxKeys = 10_000 }) {
    this.rate = perMinute / 60_000; // tokens per ms
    this.burst = burst;
    this.maxKeys = maxKeys;
    this.buckets = new Map(); // key -> {tokens, at}
  }

  take(key, now, n = 1) {
    let bucket = this.buckets.get(key);
    if (bucket) {
      this.buckets.delete(key);
      bucket.tokens = Math.min(this.burst, bucket.tokens + (now - bucket.at) * this.rate);
      bucket.at = now;
    } else {
      if (this.buckets.size >= this.maxKeys) this.buckets.delete(this.buckets.keys().next().value);
      bucket = { tokens: this.burst, at: now };
    }
    this.buckets.set(key, bucket);
    if (bucket.tokens < n) return false;
    bucket.tokens -= n;
    return true;
  }
}

// What the duplicate window remembers of an event: the fact, without its time.
function factOf(e) {
  return `${e.type}\n${e.slug}\n${e.experiment}\n${e.variation}\n${e.unit}`;
}

// Bytes an event takes in the buffer and on the wire, near enough.
function eventBytes(e) {
  return 48 + e.slug.length + e.experiment.length + String(e.variation).length + e.unit.length;
}

// Accepted events ({type, slug, experiment, variation, unit, ts}) waiting for the origin, bounded
// in bytes. Nothing is dropped while there is room; what does not fit is dropped and counted.
export class EventBuffer {
  constructor({ capacityBytes = BUFFER_BYTES, dedupWindow = DEDUP_WINDOW } = {}) {
    this.capacityBytes = capacityBytes;
    this.queue = [];
    this.head = 0; // index of the oldest event in queue
    this.bytes = 0;
    this.dedupWindow = dedupWindow;
    this.recent = new Set(); // facts seen lately (insertion order is age order)
    this.counters = { generated: 0, accepted: 0, duplicates: 0, dropped: 0, droppedBytes: 0 };
    this.refused = {}; // reason -> count
  }

  get size() { return this.queue.length - this.head; }

  refuse(reason, n = 1) { this.refused[reason] = (this.refused[reason] ?? 0) + n; }

  seen(e) {
    const fact = factOf(e);
    if (this.recent.has(fact)) return true;
    this.recent.add(fact);
    if (this.recent.size > this.dedupWindow) this.recent.delete(this.recent.values().next().value);
    return false;
  }

  // Keeps one event; 'accepted', 'duplicate' or 'dropped'. With `into` (the queue path: the
  // request sends its events itself) an accepted event is appended to that list instead.
  add(e, into) {
    if (this.seen(e)) {
      this.counters.duplicates++;
      return 'duplicate';
    }
    if (into !== undefined) {
      into.push(e);
      this.counters.accepted++;
      return 'accepted';
    }
    const bytes = eventBytes(e);
    if (this.bytes + bytes > this.capacityBytes) {
      this.counters.dropped++;
      this.counters.droppedBytes += bytes;
      this.recent.delete(factOf(e));
      return 'dropped';
    }
    this.queue.push(e);
    this.bytes += bytes;
    this.counters.accepted++;
    return 'accepted';
  }

  // Events the edge minted itself (exposures of /v1/assign and /v1/storefront); `into` as add's.
  addMinted(list, into) {
    for (const e of list) {
      this.counters.generated++;
      this.add(e, into);
    }
  }

  // Accepted events the queue path could not send: no longer counted accepted (counted dropped
  // with `dropped`), and forgotten by the duplicate window, so that the same fact sent again is
  // not taken for a duplicate.
  unsent(list, { dropped = false } = {}) {
    this.counters.accepted -= list.length;
    if (dropped) this.counters.dropped += list.length;
    for (const e of list) this.recent.delete(factOf(e));
  }

  // Removes and returns up to n of the oldest events.
  drain(n = this.size) {
    const end = Math.min(this.queue.length, this.head + n);
    const out = this.queue.slice(this.head, end);
    this.head = end;
    for (const e of out) this.bytes -= eventBytes(e);
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    return out;
  }

  // Puts a batch back at the front (a delivery that will be retried); what no longer fits is
  // dropped and counted.
  requeue(list) {
    const kept = [];
    for (const e of list) {
      const bytes = eventBytes(e);
      if (this.bytes + bytes > this.capacityBytes) {
        this.counters.dropped++;
        this.counters.droppedBytes += bytes;
        continue;
      }
      this.bytes += bytes;
      kept.push(e);
    }
    this.queue = kept.concat(this.queue.slice(this.head));
    this.head = 0;
  }

  stats() {
    return {
      ...this.counters, refused: { ...this.refused }, buffered: this.size, bufferedBytes: this.bytes,
      capacityBytes: this.capacityBytes, forwarding: false,
    };
  }
}

// What a client may report. `receipt`: the visitor's receipt as EventKeys.readReceipt reads it
// (null: none or not valid); `ip`: the client address (CF-Connecting-IP), for the per-address
// limit. Returns {accepted, refused, duplicates}; each refusal is counted by reason.
export class ClientEvents {
  constructor(buffer, { perVisitorPerMinute = 120, perVisitorBurst = 60, perIpPerMinute = 1200, perIpBurst = 600 } = {}) {
    this.buffer = buffer;
    this.perVisitor = new RateLimiter({ perMinute: perVisitorPerMinute, burst: perVisitorBurst });
    this.perIp = new RateLimiter({ perMinute: perIpPerMinute, burst: perIpBurst });
  }

  // into: as EventBuffer.add's (the queue path).
  add(events, { receipt, hadReceipt, ip, now = Date.now(), into }) {
    const answer = { accepted: 0, refused: 0, duplicates: 0, reasons: {} };
    const refuse = (reason) => {
      answer.refused++;
      answer.reasons[reason] = (answer.reasons[reason] ?? 0) + 1;
      this.buffer.refuse(reason);
    };
    for (const raw of events) {
      if (!isObject(raw) || !TYPES.has(raw.type) || !shortText(raw.experiment)) { refuse('malformed'); continue; }
      if (raw.value !== undefined && !Number.isFinite(raw.value)) { refuse('malformed'); continue; }
      if (raw.slug !== undefined && !(typeof raw.slug === 'string' && SLUG.test(raw.slug))) { refuse('malformed'); continue; }
      if (receipt === null) { refuse(hadReceipt ? 'bad_receipt' : 'no_receipt'); continue; }
      if (raw.slug !== undefined && raw.slug !== receipt.slug) { refuse('other_vendor'); continue; }
      const entry = receipt.entries.find((a) => Array.isArray(a) && a[0] === raw.experiment);
      if (!entry || !shortText(String(entry[1])) || !shortText(entry[2])) { refuse('not_assigned'); continue; }
      if (raw.variation !== undefined && String(raw.variation) !== String(entry[1])) { refuse('not_assigned'); continue; }
      if (!this.perIp.take(ip ?? 'unknown', now)) { refuse('rate_limited_ip'); continue; }
      if (!this.perVisitor.take(`${receipt.slug}\n${receipt.visitor}`, now)) { refuse('rate_limited_visitor'); continue; }
      const outcome = this.buffer.add({
        type: raw.type, slug: receipt.slug, experiment: entry[0], variation: entry[1], unit: entry[2], ts: now,
      }, into);
      if (outcome === 'accepted') answer.accepted++;
      else if (outcome === 'duplicate') answer.duplicates++;
      else refuse('buffer_full');
    }
    return answer;
  }
}

export const FORWARD_BATCH = 1000; // events per POST to the origin (its limit: fewer commits, each dirtying fewer pages per event)
export const FORWARD_CONCURRENCY = 4; // POSTs in flight per isolate
export const FORWARD_INTERVAL_MS = 1000; // a partial batch waits at most this long (while requests come)
export const FORWARD_MAX_ATTEMPTS = 8; // then the batch is dead-lettered (counted, dropped)
const BACKOFF_BASE_MS = 250;
const BACKOFF_MAX_MS = 30_000;
const FORWARD_TIMEOUT_MS = 10_000;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// The compact wire form of events, one row [type, slug, experiment, variation, unit, ts, id] each;
// the id is the event's MAC under the events key.
export function encodeRows(batch, keys) {
  return Promise.all(batch.map(async (e) => [e.type, e.slug, e.experiment, e.variation, e.unit, e.ts, await keys.eventId(e)]));
}

// A failed POST worth sending again: the origin not reached (status 0), busy, or failing.
function retryable(status) {
  return status === 0 || status >= 500 || status === 408 || status === 429;
}

// The origin's POST /v1/events with the edge token. post(rows) resolves to {status, answer}:
// status 0 when the origin was not reached (network, timeout); answer: a 2xx answer's JSON
// ({accepted, duplicates, rejected}), null otherwise or when it is not JSON.
export class OriginEvents {
  constructor({ url, token, fetchImpl }) {
    this.url = `${url.replace(/\/+$/, '')}/v1/events`;
    this.token = token;
    this.fetch = fetchImpl ?? ((...args) => fetch(...args));
  }

  async post(rows) {
    let res;
    try {
      res = await this.fetch(this.url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${this.token}` },
        body: JSON.stringify({ rows }),
        signal: AbortSignal.timeout(FORWARD_TIMEOUT_MS),
      });
    } catch {
      return { status: 0, answer: null };
    }
    if (!res.ok) {
      await res.body?.cancel();
      return { status: res.status, answer: null };
    }
    try {
      return { status: res.status, answer: await res.json() };
    } catch {
      return { status: res.status, answer: null };
    }
  }
}

// Delivers a buffer's events to the origin's POST /v1/events in the compact form
// {"rows": [[type, slug, experiment, variation, unit, ts, id], ...]}.
//
// pump(ctx) runs on every request: it starts as many batch POSTs as are due (a full batch, or a
// partial one whose oldest event waited intervalMs, or a retry whose backoff ran out), at most
// `concurrency` in flight, each handed to that request's ctx.waitUntil. When events are left
// waiting and no timer is set, the request also carries one timer of intervalMs that pumps again.
// A failed POST (network, timeout, 5xx, 408, 429) puts its events back at the front of the buffer
// with exponential backoff; after maxAttempts failures the batch is dead-lettered and counted. A
// batch the origin refuses (other 4xx) is discarded and counted. The delivery state is bounded
// (the buffer's bytes and `concurrency` batches) and owned by the isolate.
export class EventForwarder {
  constructor(buffer, keys, {
    url, token, fetchImpl, batchSize = FORWARD_BATCH, concurrency = FORWARD_CONCURRENCY,
    intervalMs = FORWARD_INTERVAL_MS, maxAttempts = FORWARD_MAX_ATTEMPTS,
  } = {}) {
    this.buffer = buffer;
    this.keys = keys;
    this.origin = new OriginEvents({ url, token, fetchImpl });
    this.batchSize = batchSize;
    this.concurrency = concurrency;
    this.intervalMs = intervalMs;
    this.maxAttempts = maxAttempts;
    this.inFlight = 0;
    this.inFlightEvents = 0;
    this.oldestAt = 0; // when the oldest waiting event arrived (0: none waiting)
    this.timerSet = false;
    this.attempts = 0; // consecutive failures (the backoff's exponent)
    this.retryAt = 0;
    this.counters = {
      sent: 0, batchesSent: 0, failed: 0, retries: 0, discarded: 0, deadLettered: 0, duplicatesAtOrigin: 0,
    };
  }

  pump(ctx, now = Date.now()) {
    for (const delivery of this.startDue(now)) ctx?.waitUntil?.(delivery);
    if (ctx?.waitUntil) {
      const timer = this.timer(now);
      if (timer) ctx.waitUntil(timer);
    }
  }

  // Starts the POSTs that are due; returns their promises.
  startDue(now) {
    if (this.buffer.size > 0 && this.oldestAt === 0) this.oldestAt = now;
    const started = [];
    while (this.inFlight < this.concurrency && this.buffer.size > 0 && now >= this.retryAt &&
      (this.buffer.size >= this.batchSize || now - this.oldestAt >= this.intervalMs)) {
      const batch = this.buffer.drain(this.batchSize);
      this.oldestAt = this.buffer.size > 0 ? now : 0;
      started.push(this.deliver(batch, batch.reduce((n, e) => Math.max(n, e.tries ?? 0), 0)));
    }
    return started;
  }

  // When events wait and no timer is set: a promise that sleeps until the next batch is due,
  // starts it and resolves when the POSTs it started (and at most a few timers after it) end.
  // It belongs to the request that set it; null when no timer is needed.
  timer(now, chained = 0) {
    if (this.buffer.size === 0 || this.timerSet || chained >= 8) return null;
    this.timerSet = true;
    const wait = Math.max(this.retryAt - now, this.intervalMs - (now - (this.oldestAt || now)), 10);
    return sleep(wait).then(() => {
      this.timerSet = false;
      const at = Date.now();
      const started = this.startDue(at);
      const next = this.timer(at, chained + 1);
      return Promise.all(next ? [...started, next] : started);
    });
  }

  async deliver(batch, attempt) {
    this.inFlight++;
    this.inFlightEvents += batch.length;
    if (attempt > 0) this.counters.retries++;
    let outcome;
    try {
      outcome = await this.send(batch);
    } finally {
      this.inFlight--;
      this.inFlightEvents -= batch.length;
    }
    if (outcome === 'retry') {
      this.counters.failed++;
      this.attempts++;
      this.retryAt = Date.now() + Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (this.attempts - 1));
      const tries = attempt + 1;
      if (tries >= this.maxAttempts) {
        this.counters.deadLettered += batch.length;
        return;
      }
      for (const e of batch) e.tries = tries;
      this.buffer.requeue(batch);
      if (this.oldestAt === 0) this.oldestAt = Date.now() - this.intervalMs; // due once the backoff ends
      return;
    }
    this.attempts = 0;
    this.retryAt = 0;
    if (outcome === 'refused') this.counters.discarded += batch.length;
  }

  // 'ok', 'retry' or 'refused'.
  async send(batch) {
    const { status, answer } = await this.origin.post(await encodeRows(batch, this.keys));
    if (status >= 200 && status < 300) {
      if (answer) {
        this.counters.duplicatesAtOrigin += answer.duplicates ?? 0;
        this.counters.discarded += answer.rejected ?? 0;
        this.counters.sent += answer.accepted ?? 0;
      } else {
        this.counters.sent += batch.length;
      }
      this.counters.batchesSent++;
      return 'ok';
    }
    return retryable(status) ? 'retry' : 'refused';
  }

  stats() {
    return { ...this.counters, inFlight: this.inFlightEvents, batchesInFlight: this.inFlight, attempts: this.attempts };
  }
}

// The queue path, with a Cloudflare Queue bound as EVENTS_QUEUE: a request's accepted events are
// sent to the queue before the request is answered, as messages {"rows": [...]} in the
// forwarder's wire form (ids included, so the origin stores a message delivered twice once), at
// most MAX_BATCH_EVENTS rows a message. Nothing waits in the isolate: an evicted isolate loses
// nothing. send(list) resolves to true once the queue holds them, false when the send failed
// (counted; the caller decides what its request answers).
export class EventQueue {
  constructor(queue, keys) {
    this.queue = queue;
    this.keys = keys;
    this.counters = { sends: 0, sendFailures: 0, queued: 0, unsent: 0 };
  }

  async send(list) {
    if (list.length === 0) return true;
    const messages = [];
    try {
      const rows = await encodeRows(list, this.keys);
      for (let at = 0; at < rows.length; at += MAX_BATCH_EVENTS) {
        messages.push({ body: { rows: rows.slice(at, at + MAX_BATCH_EVENTS) }, contentType: 'json' });
      }
      await this.queue.sendBatch(messages);
    } catch {
      this.counters.sendFailures++;
      this.counters.unsent += list.length;
      return false;
    }
    this.counters.sends++;
    this.counters.queued += list.length;
    return true;
  }

  stats() {
    return { ...this.counters };
  }
}

export const QUEUE_RETRY_BASE_S = 5; // a message's first retry waits this long, doubling after each
export const QUEUE_RETRY_MAX_S = 300; // up to this (the queue's max_retries bound the attempts)
// The origin's answers that say the batch itself is bad (invalid_json, wrong_type, too_large);
// every other failure is the origin's or the link's, and is retried.
const BAD_BATCH = new Set([400, 413]);

// The rows of a message the queue path sent, or null for any other body.
function rowsOf(body, maxRows) {
  return isObject(body) && Array.isArray(body.rows) && body.rows.length <= maxRows ? body.rows : null;
}

// The queue's consumer (the worker's queue() handler). consume(batch) posts the rows of the
// batch's messages to the origin, whole messages per POST and at most batchRows rows in each, and
// settles every message: ack() when its POST was stored (2xx); retry() with exponential backoff
// (retryBaseS doubling to QUEUE_RETRY_MAX_S, by the message's attempts) when the origin was not
// reached or failed; a POST the origin refuses as a bad batch (400, 413) is split into its
// messages, and a message refused alone, or whose body is not {"rows": [...]}, is poison: it is
// retried at once, so the queue's max_retries moves it to the dead-letter queue instead of
// holding it forever. Without an origin every message is retried (the dead-letter queue keeps
// them). Messages of the dead-letter queue itself (deadLetterQueue: its name) are counted, logged
// and acknowledged: they are never posted again by this handler.
export class QueueConsumer {
  constructor(origin, { batchRows = FORWARD_BATCH, retryBaseS = QUEUE_RETRY_BASE_S, deadLetterQueue = '', log = console.error } = {}) {
    this.origin = origin;
    this.batchRows = batchRows;
    this.retryBaseS = retryBaseS;
    this.deadLetterQueue = deadLetterQueue;
    this.log = log;
    this.counters = {
      batches: 0, messages: 0, acked: 0, retried: 0, poison: 0, posts: 0, postFailures: 0,
      stored: 0, duplicatesAtOrigin: 0, rejectedAtOrigin: 0, deadLettered: 0,
    };
  }

  // Seconds before a message's next attempt; attempts counts this one (1 on the first delivery).
  delay(attempts) {
    return Math.min(QUEUE_RETRY_MAX_S, Math.round(this.retryBaseS * 2 ** Math.max(0, attempts - 1)));
  }

  async consume(batch) {
    this.counters.batches++;
    this.counters.messages += batch.messages.length;
    if (this.deadLetterQueue !== '' && batch.queue === this.deadLetterQueue) return this.bury(batch);
    const chunks = [];
    let rows = 0;
    for (const message of batch.messages) {
      const list = rowsOf(message.body, this.batchRows);
      if (list === null || this.origin === null) {
        if (list === null) this.poison(message);
        else this.retry(message);
        continue;
      }
      if (chunks.length === 0 || rows + list.length > this.batchRows) {
        chunks.push([]);
        rows = 0;
      }
      chunks.at(-1).push(message);
      rows += list.length;
    }
    await Promise.all(chunks.map((chunk) => this.deliver(chunk)));
  }

  // Posts the rows of these messages and settles each of them.
  async deliver(messages) {
    this.counters.posts++;
    const { status, answer } = await this.origin.post(messages.flatMap((m) => m.body.rows));
    if (status >= 200 && status < 300) {
      this.counters.stored += answer?.accepted ?? 0;
      this.counters.duplicatesAtOrigin += answer?.duplicates ?? 0;
      this.counters.rejectedAtOrigin += answer?.rejected ?? 0;
      for (const m of messages) m.ack();
      this.counters.acked += messages.length;
      return;
    }
    this.counters.postFailures++;
    if (!BAD_BATCH.has(status)) {
      for (const m of messages) this.retry(m);
      return;
    }
    if (messages.length === 1) {
      this.poison(messages[0]);
      return;
    }
    await Promise.all(messages.map((m) => this.deliver([m])));
  }

  retry(message) {
    message.retry({ delaySeconds: this.delay(message.attempts ?? 1) });
    this.counters.retried++;
  }

  poison(message) {
    message.retry({ delaySeconds: 0 });
    this.counters.poison++;
  }

  // A batch of the dead-letter queue: what could not be stored, logged (one line a message: its
  // id, attempts, rows and vendor; not the units) and acknowledged.
  bury(batch) {
    for (const m of batch.messages) {
      const rows = rowsOf(m.body, Infinity);
      this.counters.deadLettered += rows?.length ?? 0;
      this.log(JSON.stringify({
        event: 'events_dead_letter', queue: batch.queue, id: m.id, attempts: m.attempts,
        rows: rows?.length ?? null, slug: Array.isArray(rows?.[0]) ? rows[0][1] : null,
      }));
    }
    batch.ackAll();
  }

  stats() {
    return { ...this.counters };
  }
}

// The events and receipt of a POST /v1/events body. sendBeacon sends text/plain (no CORS
// preflight), so the body is parsed as JSON whatever its Content-Type.
export async function readBatch(request) {
  const text = await readBodyText(request, MAX_BATCH_BYTES);
  const body = parseJsonBody(text);
  const events = Array.isArray(body) ? body : body?.events;
  if (!Array.isArray(events)) throw new HttpError(400, 'wrong_type', 'request body: expected [event, ...] or {"events": [...]}');
  if (events.length > MAX_BATCH_EVENTS) throw new HttpError(413, 'too_large', `more than ${MAX_BATCH_EVENTS} events in a batch`);
  const receipt = isObject(body) && typeof body.receipt === 'string' ? body.receipt : undefined;
  return { events, receipt };
}

// POST /v1/events from browsers: only what the visitor's receipt (the whale_rc cookie, or
// `receipt` in the body) says it was assigned counts. edge: the worker's Edge (its events path).
export async function eventsRoute(edge, request, url, ctx) {
  const batch = await readBatch(request);
  const vendor = url.searchParams.get('vendor') ?? undefined;
  if (vendor !== undefined && !SLUG.test(vendor)) throw new HttpError(400, 'invalid_value', 'vendor: not a vendor name');
  const text = batch.receipt ?? parseCookies(request.headers.get('Cookie'))[RECEIPT_COOKIE];
  const now = Date.now();
  const receipt = text === undefined ? null : await edge.eventKeys.readReceipt(text, now);
  const list = vendor === undefined ? batch.events : batch.events.map((e) => (isObject(e) && e.slug === undefined ? { ...e, slug: vendor } : e));
  const into = edge.eventQueue === null ? undefined : [];
  const answer = edge.clientEvents.add(list, {
    receipt, hadReceipt: text !== undefined, ip: request.headers.get('CF-Connecting-IP') ?? undefined, now, into,
  });
  if (into !== undefined && !(await edge.eventQueue.send(into))) {
    // Nothing of this batch is kept: the client sends it again (its events are not duplicates).
    edge.events.unsent(into);
    edge.events.refuse('queue_unavailable', into.length);
    throw new HttpError(503, 'events_unavailable', `the events queue did not take ${into.length} events: send them again`, { 'Retry-After': '1' });
  }
  edge.forwarder?.pump(ctx, now); // delivery runs in ctx.waitUntil, never before this answer
  return json(202, { accepted: answer.accepted, rejected: answer.refused, duplicates: answer.duplicates, reasons: answer.reasons });
}
