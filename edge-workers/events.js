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
// Accepted events wait in a per-isolate ring buffer of BUFFER_CAPACITY events; when it is full
// the oldest is dropped and counted. The origin has no events endpoint yet, so nothing drains
// the buffer: drain(n) is what a forwarder will call once it has one.

import { HttpError, isObject, readBodyText } from './http.js';

export const MAX_BATCH_EVENTS = 100;
export const MAX_BATCH_BYTES = 64 * 1024;
export const BUFFER_CAPACITY = 10_000;
const DEDUP_WINDOW = 4096;
const MAX_TEXT = 128; // characters of experiment, variation, id, eventId
const TYPES = new Set(['exposure', 'conversion']);

function shortText(value) {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_TEXT;
}

// The event as stored (only the known members), or null when it is not one.
// defaultId: the visitor id for events that carry none (the whale_id cookie), or undefined.
export function checkEvent(event, defaultId) {
  if (!isObject(event) || !TYPES.has(event.type)) return null;
  const id = event.id ?? defaultId;
  if (!shortText(event.experiment) || !shortText(id) || !shortText(event.eventId)) return null;
  const variation = event.variation;
  if (!(shortText(variation) || (Number.isSafeInteger(variation) && variation >= 0))) return null;
  if (!(Number.isSafeInteger(event.ts) && event.ts > 0)) return null;
  if (event.value !== undefined && !Number.isFinite(event.value)) return null;
  const checked = { type: event.type, experiment: event.experiment, variation, id, ts: event.ts, eventId: event.eventId };
  if (event.value !== undefined) checked.value = event.value;
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
  add(events, defaultId) {
    this.counters.batches++;
    const answer = { accepted: 0, rejected: 0, duplicates: 0 };
    for (const raw of events) {
      this.counters.received++;
      const event = checkEvent(raw, defaultId);
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
