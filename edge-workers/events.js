// POST /v1/events and GET /v1/events/stats: exposure and conversion events from the browser glue
// (js-glue/browser.js, which sends them with navigator.sendBeacon).
//
// A batch is a JSON array of events, or {"events": [...]}, at most MAX_BATCH_EVENTS of them in
// at most MAX_BATCH_BYTES. An event is
//   {type: "exposure" | "conversion", experiment: string, variation: string | integer,
//    id?: string, ts: integer (ms since the epoch), eventId: string, value?: number}
// id defaults to the visitor's whale_id cookie (HttpOnly, so the browser glue cannot read it).
// Events that do not have that shape are counted as rejected and skipped; the rest of the batch
// is kept. An eventId seen recently (the last DEDUP_WINDOW ids) is counted as a duplicate and
// skipped, so a beacon that is retried is not counted twice.
//
// An event may name its vendor (`slug`); POST /v1/events?vendor=<slug> names it for the events of
// the batch that do not. Events without a vendor are kept and counted but cannot be forwarded.
//
// Accepted events wait in a per-isolate ring buffer of BUFFER_CAPACITY events; when it is full
// the oldest is dropped and counted. With an origin (ORIGIN_URL), an EventForwarder posts them
// to the origin primary's POST /v1/events in batches (docs/bandits.md).

import { HttpError, isObject, readBodyText } from './http.js';

export const MAX_BATCH_EVENTS = 100;
export const MAX_BATCH_BYTES = 64 * 1024;
export const BUFFER_CAPACITY = 10_000;
const DEDUP_WINDOW = 4096;
const MAX_TEXT = 128; // characters of experiment, variation, id, eventId
const TYPES = new Set(['exposure', 'conversion']);
const SLUG = /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/;

function shortText(value) {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_TEXT;
}

// The event as stored (only the known members), or null when it is not one.
// defaultId: the visitor id for events that carry none (the whale_id cookie), or undefined.
export function checkEvent(event, defaultId, defaultSlug) {
  if (!isObject(event) || !TYPES.has(event.type)) return null;
  const slug = event.slug ?? defaultSlug;
  if (slug !== undefined && !(typeof slug === 'string' && SLUG.test(slug))) return null;
  const id = event.id ?? defaultId;
  if (!shortText(event.experiment) || !shortText(id) || !shortText(event.eventId)) return null;
  const variation = event.variation;
  if (!(shortText(variation) || (Number.isSafeInteger(variation) && variation >= 0))) return null;
  if (!(Number.isSafeInteger(event.ts) && event.ts > 0)) return null;
  if (event.value !== undefined && !Number.isFinite(event.value)) return null;
  const checked = { type: event.type, experiment: event.experiment, variation, id, ts: event.ts, eventId: event.eventId };
  if (event.value !== undefined) checked.value = event.value;
  if (slug !== undefined) checked.slug = slug;
  return checked;
}

export class EventBuffer {
  constructor({ capacity = BUFFER_CAPACITY, dedupWindow = DEDUP_WINDOW } = {}) {
    this.capacity = capacity;
    this.ring = new Array(capacity);
    this.start = 0; // index of the oldest event
    this.size = 0;
    this.dedupWindow = dedupWindow;
    this.recentIds = new Set(); // insertion order is age order
    this.counters = { batches: 0, received: 0, accepted: 0, rejected: 0, duplicates: 0, dropped: 0 };
  }

  push(event) {
    if (this.size === this.capacity) {
      this.start = (this.start + 1) % this.capacity;
      this.size--;
      this.counters.dropped++;
    }
    this.ring[(this.start + this.size) % this.capacity] = event;
    this.size++;
  }

  seen(eventId) {
    if (this.recentIds.has(eventId)) return true;
    this.recentIds.add(eventId);
    if (this.recentIds.size > this.dedupWindow) this.recentIds.delete(this.recentIds.values().next().value);
    return false;
  }

  // Counts and keeps a batch's events; answers {accepted, rejected, duplicates}.
  add(events, defaultId, defaultSlug) {
    this.counters.batches++;
    const answer = { accepted: 0, rejected: 0, duplicates: 0 };
    for (const raw of events) {
      this.counters.received++;
      const event = checkEvent(raw, defaultId, defaultSlug);
      if (event === null) answer.rejected++;
      else if (this.seen(event.eventId)) answer.duplicates++;
      else {
        this.push(event);
        answer.accepted++;
      }
    }
    this.counters.accepted += answer.accepted;
    this.counters.rejected += answer.rejected;
    this.counters.duplicates += answer.duplicates;
    return answer;
  }

  // Removes and returns up to n of the oldest events.
  drain(n = this.size) {
    const out = [];
    while (out.length < n && this.size > 0) {
      out.push(this.ring[this.start]);
      this.ring[this.start] = undefined;
      this.start = (this.start + 1) % this.capacity;
      this.size--;
    }
    return out;
  }

  stats() {
    return { ...this.counters, buffered: this.size, capacity: this.capacity, forwarding: false };
  }
}

export const FORWARD_BATCH = 100; // events per POST to the origin
export const FORWARD_INTERVAL_MS = 1000; // the oldest buffered event waits at most this long (while the isolate lives)
const BACKOFF_BASE_MS = 250;
const BACKOFF_MAX_MS = 30_000;
// A delivery loop sleeps through backoffs up to this long; longer ones wait for the next request.
const MAX_INLINE_WAIT_MS = 8000;
const FORWARD_TIMEOUT_MS = 5000;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Delivers a buffer's events to the origin: batches of `batchSize`, or fewer once the oldest has
// waited `intervalMs`; a failed POST (network, timeout, 5xx, 408, 429) is retried with
// exponential backoff (250 ms doubling to 30 s); a batch the origin refuses (other 4xx) is
// discarded and counted. One delivery loop per isolate, run in ctx.waitUntil: requests never
// wait for it. The batch in flight leaves the ring, so the ring keeps taking new events (and
// dropping its oldest) meanwhile.
export class EventForwarder {
  constructor(buffer, { url, token, batchSize = FORWARD_BATCH, intervalMs = FORWARD_INTERVAL_MS, fetchImpl } = {}) {
    this.buffer = buffer;
    this.url = `${url.replace(/\/+$/, '')}/v1/events`;
    this.token = token;
    this.batchSize = batchSize;
    this.intervalMs = intervalMs;
    this.fetch = fetchImpl ?? ((...args) => fetch(...args));
    this.pending = null; // the batch being delivered (origin-shaped events)
    this.attempts = 0; // failed attempts of the pending batch
    this.retryAt = 0;
    this.oldestAt = 0; // when the oldest buffered event arrived (0: none)
    this.loop = null;
    this.counters = { sent: 0, batchesSent: 0, failed: 0, retries: 0, discarded: 0, unattributed: 0, duplicatesAtOrigin: 0 };
  }

  // Called after events were buffered (and on any request): starts the delivery loop if needed.
  kick(ctx) {
    if (this.buffer.size > 0 && this.oldestAt === 0) this.oldestAt = Date.now();
    if (this.loop === null && (this.pending !== null || this.buffer.size > 0)) {
      this.loop = this.run().finally(() => {
        this.loop = null;
      });
    }
    if (this.loop !== null) ctx?.waitUntil?.(this.loop);
  }

  async run() {
    for (;;) {
      const now = Date.now();
      if (this.pending === null) {
        if (this.buffer.size === 0) {
          this.oldestAt = 0;
          return;
        }
        const age = now - (this.oldestAt || now);
        if (this.buffer.size < this.batchSize && age < this.intervalMs) {
          await sleep(this.intervalMs - age);
          continue;
        }
        this.pending = this.take();
        this.oldestAt = this.buffer.size > 0 ? now : 0;
        if (this.pending.length === 0) {
          this.pending = null;
          continue;
        }
      } else if (this.retryAt > now) {
        const wait = this.retryAt - now;
        if (wait > MAX_INLINE_WAIT_MS) return; // the next request's kick() carries on
        await sleep(wait);
        continue;
      }
      if (this.attempts > 0) this.counters.retries++;
      const outcome = await this.send(this.pending);
      if (outcome === 'retry') {
        this.counters.failed++;
        this.attempts++;
        this.retryAt = Date.now() + Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (this.attempts - 1));
        continue;
      }
      if (outcome === 'refused') this.counters.discarded += this.pending.length;
      this.pending = null;
      this.attempts = 0;
      this.retryAt = 0;
    }
  }

  // Up to batchSize events from the ring, in the origin's shape; those without a vendor are counted and left out.
  take() {
    const out = [];
    for (const e of this.buffer.drain(this.batchSize)) {
      if (e.slug === undefined) {
        this.counters.unattributed++;
        continue;
      }
      out.push({
        eventId: e.eventId, type: e.type, slug: e.slug, experiment: e.experiment, variation: e.variation, unit: e.id, ts: e.ts,
      });
    }
    return out;
  }

  // 'ok', 'retry' or 'refused'.
  async send(events) {
    let res;
    try {
      res = await this.fetch(this.url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${this.token}` },
        body: JSON.stringify({ events }),
        signal: AbortSignal.timeout(FORWARD_TIMEOUT_MS),
      });
    } catch {
      return 'retry';
    }
    if (res.ok) {
      try {
        const answer = await res.json();
        this.counters.duplicatesAtOrigin += answer.duplicates ?? 0;
        this.counters.discarded += answer.rejected ?? 0;
        this.counters.sent += answer.accepted ?? 0;
      } catch {
        this.counters.sent += events.length;
      }
      this.counters.batchesSent++;
      return 'ok';
    }
    await res.body?.cancel();
    if (res.status >= 500 || res.status === 408 || res.status === 429) return 'retry';
    return 'refused';
  }

  stats() {
    return { ...this.counters, inFlight: this.pending?.length ?? 0, attempts: this.attempts };
  }
}

// The events of a POST /v1/events body. sendBeacon sends text/plain (no CORS preflight), so the
// body is parsed as JSON whatever its Content-Type.
export async function readBatch(request) {
  const text = await readBodyText(request, MAX_BATCH_BYTES);
  let body;
  try {
    body = JSON.parse(text);
  } catch (e) {
    throw new HttpError(400, 'invalid_json', `request body: ${e.message}`);
  }
  const events = Array.isArray(body) ? body : body?.events;
  if (!Array.isArray(events)) throw new HttpError(400, 'wrong_type', 'request body: expected [event, ...] or {"events": [...]}');
  if (events.length > MAX_BATCH_EVENTS) throw new HttpError(413, 'too_large', `more than ${MAX_BATCH_EVENTS} events in a batch`);
  return events;
}
