// The edge's event path (edge-workers/events.js) in Node: ids that are the origin's MACs and do not
// collide, receipts that cannot be rewritten, a buffer bounded in bytes that drops nothing while it
// has room, a forwarder whose promises each belong to one request, and the queue path (what a
// request sends to EVENTS_QUEUE, and how the consumer settles each message).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ClientEvents, EventBuffer, EventForwarder, EventKeys, EventQueue, OriginEvents, QueueConsumer, RateLimiter,
} from '../../edge-workers/events.js';
import { eventIdOf } from '../../scripts/stack.mjs';

const KEY = 'k'.repeat(40);
const fact = (i, extra = {}) => ({ type: 'exposure', slug: 'shop', experiment: 'hero', variation: i % 3, unit: `u-${i}`, ts: 1764000000000, ...extra });

test('event ids are the MAC the origin checks, and 200k distinct facts get 200k distinct ids', async () => {
  const keys = new EventKeys(KEY);
  assert.equal(await keys.eventId(fact(1)), eventIdOf(fact(1), KEY));
  assert.equal(await keys.eventId(fact(1, { slug: 'other' })), eventIdOf(fact(1, { slug: 'other' }), KEY));
  assert.notEqual(await keys.eventId(fact(1)), await keys.eventId(fact(1, { slug: 'other' })));
  // The same fact on another day is another event; later the same day, the same one.
  assert.notEqual(await keys.eventId(fact(1)), await keys.eventId(fact(1, { ts: 1764000000000 + 86400000 })));
  assert.equal(await keys.eventId(fact(1)), await keys.eventId(fact(1, { ts: 1764000000000 + 1000 })));
  const ids = new Set();
  for (let i = 0; i < 200_000; i += 1000) {
    const batch = await Promise.all(Array.from({ length: 1000 }, (_, j) => keys.eventId(fact(i + j))));
    for (const id of batch) ids.add(id);
  }
  assert.equal(ids.size, 200_000);
});

test('receipts: read back as minted; rewritten, expired or foreign ones are not', async () => {
  const keys = new EventKeys(KEY);
  const now = Date.now();
  const receipt = await keys.mintReceipt('shop', 'visitor-1', [['hero', 1, 'visitor-1']], now);
  assert.deepEqual(await keys.readReceipt(receipt, now), {
    slug: 'shop', visitor: 'visitor-1', entries: [['hero', 1, 'visitor-1']], issuedAt: Math.floor(now / 1000),
  });
  const [payload, mac] = receipt.split('.');
  const body = JSON.parse(Buffer.from(payload, 'base64url'));
  const rewritten = `${Buffer.from(JSON.stringify({ ...body, a: [['hero', 0, 'visitor-1']] })).toString('base64url')}.${mac}`;
  assert.equal(await keys.readReceipt(rewritten, now), null);
  assert.equal(await keys.readReceipt(receipt, now + 31 * 86400 * 1000), null);
  assert.equal(await new EventKeys('x'.repeat(40)).readReceipt(receipt, now), null);
  for (const junk of ['', 'a.b', `${payload}.${mac}x`, '.'.repeat(30), 42, null]) assert.equal(await keys.readReceipt(junk, now), null);
});

test('client events count only what the receipt lists, with its variation and unit', async () => {
  const keys = new EventKeys(KEY);
  const buffer = new EventBuffer();
  const client = new ClientEvents(buffer);
  const now = Date.now();
  const receipt = await keys.readReceipt(await keys.mintReceipt('shop', 'v1', [['hero', 2, 'unit-9']], now), now);
  const answer = client.add([
    { type: 'conversion', experiment: 'hero', variation: 2, value: 5 },
    { type: 'exposure', experiment: 'hero', variation: 1 },
    { type: 'exposure', experiment: 'other' },
    { type: 'exposure', experiment: 'hero', slug: 'elsewhere' },
  ], { receipt, ip: '192.0.2.1', now });
  assert.deepEqual(answer, { accepted: 1, refused: 3, duplicates: 0, reasons: { not_assigned: 2, other_vendor: 1 } });
  assert.deepEqual(buffer.drain(), [{ type: 'conversion', slug: 'shop', experiment: 'hero', variation: 2, unit: 'unit-9', ts: now }]);
  assert.deepEqual(buffer.stats().refused, { not_assigned: 2, other_vendor: 1 });
  assert.deepEqual(client.add([{ type: 'exposure', experiment: 'hero' }], { receipt: null, hadReceipt: false, now }),
    { accepted: 0, refused: 1, duplicates: 0, reasons: { no_receipt: 1 } });
});

test('rate limits: a burst, then the rate; old keys forgotten first', () => {
  const limiter = new RateLimiter({ perMinute: 60, burst: 3, maxKeys: 2 });
  assert.deepEqual([1, 2, 3, 4].map(() => limiter.take('a', 0)), [true, true, true, false]);
  assert.equal(limiter.take('a', 1000), true); // one token a second
  assert.equal(limiter.take('a', 1000), false);
  limiter.take('b', 1000);
  limiter.take('c', 1000); // 'a' is forgotten
  assert.equal(limiter.buckets.size, 2);
  assert.ok(!limiter.buckets.has('a'));
});

test('the buffer is bounded in bytes: nothing dropped while there is room, the rest counted', () => {
  const buffer = new EventBuffer({ capacityBytes: 10_000 });
  let accepted = 0;
  for (let i = 0; i < 1000; i++) if (buffer.add(fact(i)) === 'accepted') accepted++;
  const stats = buffer.stats();
  assert.equal(stats.accepted, accepted);
  assert.equal(stats.dropped, 1000 - accepted);
  assert.ok(stats.bufferedBytes <= 10_000 && stats.bufferedBytes > 10_000 - 100);
  assert.equal(buffer.drain().length, accepted);
  assert.equal(buffer.stats().bufferedBytes, 0);
});

// A request context: what it was handed through waitUntil.
function context() {
  const handed = [];
  return { handed, waitUntil: (p) => handed.push(p) };
}

test('the forwarder: each promise belongs to the one request that made it; batches, retries, dead letters', async () => {
  const buffer = new EventBuffer();
  const posted = [];
  let failing = 0;
  const fetchImpl = async (url, init) => {
    const { rows } = JSON.parse(init.body);
    if (failing > 0) {
      failing--;
      return new Response('{}', { status: 503 });
    }
    posted.push(...rows);
    return new Response(JSON.stringify({ accepted: rows.length, duplicates: 0, rejected: 0 }), { status: 200 });
  };
  const forwarder = new EventForwarder(buffer, new EventKeys(KEY), {
    url: 'http://origin.test', token: 't', fetchImpl, batchSize: 50, concurrency: 2, intervalMs: 20, maxAttempts: 3,
  });
  const contexts = [];
  for (let i = 0; i < 400; i++) {
    buffer.addMinted([fact(i)]);
    const ctx = context();
    contexts.push(ctx);
    forwarder.pump(ctx);
  }
  await Promise.all(contexts.flatMap((c) => c.handed));
  // Whatever is left waits for the next request (no timer outlives the requests that set it).
  for (let i = 0; i < 50 && (buffer.size > 0 || forwarder.inFlight > 0); i++) {
    const ctx = context();
    forwarder.pump(ctx);
    contexts.push(ctx);
    await Promise.all(ctx.handed);
  }
  const handed = contexts.flatMap((c) => c.handed);
  assert.equal(new Set(handed).size, handed.length, 'no promise was handed to two requests');
  assert.equal(posted.length, 400);
  assert.equal(new Set(posted.map((r) => r[6])).size, 400);
  assert.equal(forwarder.stats().sent, 400);

  // The origin fails: the events go back to the buffer and are sent once it answers again.
  failing = 1;
  for (let i = 400; i < 450; i++) buffer.addMinted([fact(i)]);
  for (let i = 0; i < 100 && (buffer.size > 0 || forwarder.inFlight > 0); i++) {
    const ctx = context();
    forwarder.pump(ctx);
    await Promise.all(ctx.handed);
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(posted.length, 450);
  assert.equal(forwarder.stats().failed, 1);
  assert.equal(forwarder.stats().retries, 1);

  // An origin that never answers: after maxAttempts the batch is dead-lettered and counted.
  failing = Infinity;
  for (let i = 450; i < 460; i++) buffer.addMinted([fact(i)]);
  for (let i = 0; i < 400 && (buffer.size > 0 || forwarder.inFlight > 0); i++) {
    forwarder.retryAt = 0; // skip the backoff's wait
    const ctx = context();
    forwarder.pump(ctx);
    await Promise.all(ctx.handed);
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.equal(forwarder.stats().deadLettered, 10);
  assert.equal(buffer.size, 0);
});

// A queue batch as the runtime hands it to queue(): messages that record how they were settled.
function queueBatch(queue, bodies, attempts = 1) {
  const messages = bodies.map((body, i) => ({
    id: `m${i}`, body, attempts, settled: null,
    ack() { this.settled = 'ack'; },
    retry(options) { this.settled = { retry: options?.delaySeconds }; },
  }));
  return { queue, messages, ackAll() { for (const m of messages) m.ack(); }, retryAll(o) { for (const m of messages) m.retry(o); } };
}

test('the queue path: a request\'s events are one message of rows with ids; a failed send is counted and forgotten', async () => {
  const keys = new EventKeys(KEY);
  const sent = [];
  let failing = false;
  const queue = new EventQueue({ async sendBatch(messages) { if (failing) throw new Error('queue down'); sent.push(...messages); } }, keys);
  const buffer = new EventBuffer();
  const into = [];
  buffer.addMinted([fact(1), fact(2), fact(1)], into);
  assert.equal(buffer.size, 0, 'nothing waits in the isolate');
  assert.equal(into.length, 2);
  assert.equal(await queue.send(into), true);
  assert.equal(sent.length, 1);
  assert.equal(sent[0].contentType, 'json');
  assert.deepEqual(sent[0].body.rows.map((r) => r[6]), [eventIdOf(fact(1), KEY), eventIdOf(fact(2), KEY)]);
  // 250 events are three messages of at most 100 rows.
  const many = Array.from({ length: 250 }, (_, i) => fact(100 + i));
  assert.equal(await queue.send(many), true);
  assert.deepEqual(sent.slice(1).map((m) => m.body.rows.length), [100, 100, 50]);

  failing = true;
  const lost = [];
  buffer.addMinted([fact(3)], lost);
  assert.equal(await queue.send(lost), false);
  buffer.unsent(lost, { dropped: true });
  assert.deepEqual(queue.stats(), { sends: 2, sendFailures: 1, queued: 252, unsent: 1 });
  assert.equal(buffer.stats().accepted, 2);
  assert.equal(buffer.stats().dropped, 1);
  assert.equal(buffer.add(fact(3), []), 'accepted', 'an unsent fact is not a duplicate when sent again');
});

test('the queue consumer: ack on 2xx, backoff on failures, poison split out for the dead-letter queue', async () => {
  let answer = () => new Response('{}', { status: 503 });
  const posts = [];
  const origin = new OriginEvents({
    url: 'http://origin.test/', token: 't',
    fetchImpl: async (url, init) => {
      assert.equal(url, 'http://origin.test/v1/events');
      assert.equal(init.headers.Authorization, 'Bearer t');
      const { rows } = JSON.parse(init.body);
      posts.push(rows.length);
      return answer(rows);
    },
  });
  const logged = [];
  const consumer = new QueueConsumer(origin, { batchRows: 5, retryBaseS: 2, deadLetterQueue: 'dlq', log: (line) => logged.push(JSON.parse(line)) });
  const rows = (n, tag = 'ok') => ({ rows: Array.from({ length: n }, (_, i) => ['exposure', 'shop', 'hero', 0, `${tag}-${i}`, 1, 'id']) });

  // Stored: whole messages per POST, at most 5 rows in each.
  answer = (r) => new Response(JSON.stringify({ accepted: r.length, duplicates: 0, rejected: 0 }), { status: 200 });
  let batch = queueBatch('events', [rows(3), rows(2), rows(4)]);
  await consumer.consume(batch);
  assert.deepEqual(posts, [5, 4]);
  assert.deepEqual(batch.messages.map((m) => m.settled), ['ack', 'ack', 'ack']);

  // The origin is down (503) or unreachable: retried, waiting longer on each attempt, capped.
  answer = () => new Response('{}', { status: 503 });
  batch = queueBatch('events', [rows(1)], 3);
  await consumer.consume(batch);
  assert.deepEqual(batch.messages[0].settled, { retry: 8 });
  answer = () => { throw new TypeError('connection refused'); };
  batch = queueBatch('events', [rows(1)], 20);
  await consumer.consume(batch);
  assert.deepEqual(batch.messages[0].settled, { retry: 300 });

  // A bad batch (400): each message alone; the one still refused is retried at once (poison:
  // max_retries moves it to the dead-letter queue), the others are stored. A body that is not
  // {"rows": [...]} is poison without a POST.
  answer = (r) => (r.some((x) => x[4].startsWith('bad')) ? new Response('{}', { status: 400 })
    : new Response(JSON.stringify({ accepted: r.length }), { status: 200 }));
  posts.length = 0;
  batch = queueBatch('events', [rows(2), rows(1, 'bad'), rows(2), 'not rows', { rows: 'x' }]);
  await consumer.consume(batch);
  assert.deepEqual(batch.messages.map((m) => m.settled), ['ack', { retry: 0 }, 'ack', { retry: 0 }, { retry: 0 }]);
  assert.deepEqual(posts, [5, 2, 1, 2]);
  // 401 (a wrong edge token) is not the batch's fault: retried with backoff.
  answer = () => new Response('{}', { status: 401 });
  batch = queueBatch('events', [rows(1), rows(1)]);
  await consumer.consume(batch);
  assert.deepEqual(batch.messages.map((m) => m.settled), [{ retry: 2 }, { retry: 2 }]);

  // The dead-letter queue's messages are counted, logged (no units) and acknowledged, never posted.
  posts.length = 0;
  batch = queueBatch('dlq', [rows(3), 'junk'], 1);
  await consumer.consume(batch);
  assert.deepEqual(posts, []);
  assert.deepEqual(batch.messages.map((m) => m.settled), ['ack', 'ack']);
  assert.deepEqual(logged.map((l) => [l.event, l.rows, l.slug]), [['events_dead_letter', 3, 'shop'], ['events_dead_letter', null, null]]);
  const stats = consumer.stats();
  assert.equal(stats.deadLettered, 3);
  assert.equal(stats.poison, 3);

  // Without an origin every message waits for one.
  const orphan = new QueueConsumer(null, { retryBaseS: 1 });
  batch = queueBatch('events', [rows(1)]);
  await orphan.consume(batch);
  assert.deepEqual(batch.messages[0].settled, { retry: 1 });
});
