// Events through the Cloudflare Queue, end to end: a real whale-origin and the worker under
// `wrangler dev --env local` (Miniflare's queue: EVENTS_QUEUE, its consumer and dead-letter
// queue, edge-workers/wrangler.toml). What a browser posts and what the edge mints (/v1/assign,
// /v1/storefront) reach the origin through the queue; with the origin killed (SIGKILL) in the
// middle of a stream of events and restarted on the same port and database, every event the edge
// accepted is stored once.
//
// Env: WHALE_ORIGIN (the whale-origin binary).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  EVENTS_KEY, ORIGIN_BIN, addPrincipal, mintReceipt, publish, readConfig, request, sleep, startOrigin, startWrangler,
  stop, stopWrangler, storedEvents,
} from '../../scripts/stack.mjs';

const SLUG = 'minimal';
const STOREFRONT = 'flora-distro'; // a vendor with storefront pages
const EXPERIMENT = 'hero-banner-copy';
const DELIVERY_MS = 60_000; // the bound on "eventually": the queue's retries after the restart
const work = mkdtempSync(join(tmpdir(), 'whale-queue-'));
const db = join(work, 'origin.db');
const tokens = {};
const ORIGIN_ARGS = ['--reweight-every', '0', '--revalidate-rate', '0'];
let origin = null;
let edge = null;

const edgeEvents = async () => (await request(edge.base, 'GET', '/v1/events/stats')).json.events;
const stored = () => storedEvents(db, SLUG);

// Waits until the origin stored `count` events (or DELIVERY_MS passed); the last reading.
async function storedReaches(count) {
  const deadline = Date.now() + DELIVERY_MS;
  let now = stored();
  while (now.stored < count && Date.now() < deadline) {
    await sleep(250);
    now = stored();
  }
  return now;
}

// One visitor's events, with a receipt minted as the edge would: its exposure and its conversion.
function visitorBatch(unit) {
  return {
    events: [{ type: 'exposure', experiment: EXPERIMENT }, { type: 'conversion', experiment: EXPERIMENT }],
    receipt: mintReceipt(SLUG, unit, [[EXPERIMENT, 0, unit]]),
  };
}

// Posts a batch as a browser would, sending it again after a 503 (the queue did not take it);
// resolves to the answer's `accepted`.
async function postUntilTaken(body, answers) {
  for (;;) {
    let res;
    try {
      res = await request(edge.base, 'POST', `/v1/events?vendor=${SLUG}`, { body });
    } catch {
      answers.failed = (answers.failed ?? 0) + 1;
      await sleep(100);
      continue;
    }
    answers[res.status] = (answers[res.status] ?? 0) + 1;
    if (res.status === 202) return res.json.accepted;
    assert.equal(res.status, 503, res.text);
    assert.equal(res.json.error.code, 'events_unavailable');
    await sleep(100);
  }
}

// Restarts the origin on its port (the worker's ORIGIN_URL) and database; the port may take a
// moment to be free again.
async function restartOrigin(port) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await startOrigin({ db, port, args: ORIGIN_ARGS });
    } catch (e) {
      if (attempt >= 20) throw e;
      await sleep(250);
    }
  }
}

before(async () => {
  assert.ok(existsSync(ORIGIN_BIN), `whale-origin not built at ${ORIGIN_BIN}`);
  tokens.edge = addPrincipal('edge', 'edges', db);
  tokens.vendor = addPrincipal('vendor', SLUG, db);
  origin = await startOrigin({ db, args: ORIGIN_ARGS });
  await publish(origin.base, SLUG, tokens.vendor, readConfig(SLUG));
  await publish(origin.base, STOREFRONT, addPrincipal('vendor', STOREFRONT, db), readConfig(STOREFRONT));
  edge = await startWrangler({
    persistDir: join(work, 'wrangler'),
    vars: {
      ORIGIN_URL: origin.base, ORIGIN_KEYS: { [origin.keyId]: origin.publicKey },
      EVENTS_PER_IP_PER_MINUTE: '10000000', // every request comes from 127.0.0.1
    },
    secrets: { EDGE_TOKEN: tokens.edge, EVENTS_KEY },
  });
});

after(async () => {
  await stopWrangler(edge);
  if (origin) await stop(origin.child);
  rmSync(work, { recursive: true, force: true });
});

test('events posted to wrangler dev reach the origin through the queue; bad input gets 4xx JSON', async (t) => {
  const before = stored().stored;
  // Minted exposures: /v1/assign sends them to the queue before it answers.
  const receipts = [];
  for (let i = 0; i < 10; i++) {
    const res = await request(edge.base, 'GET', `/v1/assign?vendor=${SLUG}&id=assigned-${i}`);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.experiments.length, 1);
    receipts.push(res.json.receipt);
  }
  // Browser conversions with those receipts.
  for (const receipt of receipts) {
    const res = await request(edge.base, 'POST', `/v1/events?vendor=${SLUG}`, {
      body: { events: [{ type: 'conversion', experiment: EXPERIMENT }], receipt },
    });
    assert.equal(res.status, 202, res.text);
    assert.equal(res.json.accepted, 1);
  }
  const now = await storedReaches(before + 20);
  assert.equal(now.stored, before + 20);
  assert.equal(now.distinct, now.stored);
  // The storefront's exposures: sent to the queue before the page is answered.
  for (let i = 0; i < 5; i++) {
    const res = await request(edge.base, 'GET', `/v1/storefront/${STOREFRONT}/home`);
    assert.equal(res.status, 200, res.text);
  }
  const deadline = Date.now() + DELIVERY_MS;
  while (storedEvents(db, STOREFRONT).stored < 5 && Date.now() < deadline) await sleep(250);
  assert.equal(storedEvents(db, STOREFRONT).stored, 5, 'one exposure per first visit');

  const events = await edgeEvents();
  assert.equal(events.path, 'queue');
  assert.equal(events.buffered, 0, 'nothing waits in the isolate');
  assert.ok(events.queue.sends >= 25, JSON.stringify(events.queue));
  assert.equal(events.generated, 15, 'exposures minted by /v1/assign and /v1/storefront');
  assert.equal(events.queue.sendFailures, 0);
  assert.ok(events.consumer.acked >= 20, JSON.stringify(events.consumer));

  for (const [body, status, code] of [
    ['{not json', 400, 'invalid_json'], ['{"events": 3}', 400, 'wrong_type'],
    [JSON.stringify(Array.from({ length: 101 }, () => ({ type: 'exposure', experiment: EXPERIMENT }))), 413, 'too_large'],
  ]) {
    const res = await request(edge.base, 'POST', `/v1/events?vendor=${SLUG}`, { body });
    assert.equal(res.status, status, res.text);
    assert.equal(res.json.error.code, code);
  }
  const res = await request(edge.base, 'POST', '/v1/events?vendor=Not_A_Vendor', { body: '[]' });
  assert.equal(res.status, 400);
  assert.equal(res.json.error.code, 'invalid_value');
});

test('the origin killed mid-stream and restarted: every accepted event is stored exactly once', { timeout: 180_000 }, async (t) => {
  const before = stored().stored;
  const answers = {};
  let accepted = 0;
  let next = 0;
  let sending = true;
  const senders = Array.from({ length: 8 }, async () => {
    while (sending) {
      const taken = await postUntilTaken(visitorBatch(`kill-${process.pid}-${next++}`), answers);
      accepted += taken;
    }
  });
  await sleep(4000);
  const port = origin.port;
  await stop(origin.child, 'SIGKILL');
  const acceptedAtKill = accepted;
  await sleep(5000); // the stream goes on while the origin is down
  origin = await restartOrigin(port);
  const acceptedAtRestart = accepted;
  await sleep(3000);
  sending = false;
  await Promise.all(senders);

  assert.ok(acceptedAtKill > 100, `events before the kill: ${acceptedAtKill}`);
  assert.ok(acceptedAtRestart - acceptedAtKill > 100, `events while the origin was down: ${acceptedAtRestart - acceptedAtKill}`);
  assert.equal(answers[503] ?? 0, 0, 'the queue took every batch');
  const now = await storedReaches(before + accepted);
  const events = await edgeEvents();
  assert.equal(now.stored - before, accepted, `stored ${now.stored - before} of ${accepted} (${JSON.stringify(events.consumer)})`);
  assert.equal(now.distinct, now.stored, 'no event is stored twice');
  assert.ok(events.consumer.retried > 0, 'the consumer retried while the origin was down');
  assert.equal(events.consumer.poison, 0);
  assert.equal(events.consumer.deadLettered, 0);
  console.log(`queue: ${accepted} events accepted (${acceptedAtKill} before the kill, ${acceptedAtRestart - acceptedAtKill} while ` +
    `the origin was down), all stored once; consumer ${JSON.stringify(events.consumer)}`);
});
