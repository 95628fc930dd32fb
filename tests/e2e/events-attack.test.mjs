// Attacks on the event path, end to end: a real whale-origin and a workerd edge that forwards to
// it. What the bandits learn must be what the edge assigned: forged events (no receipt, a forged
// receipt, variations the visitor was not shown, one visitor's floods) move no count and trip no
// SRM, and every refusal is counted by reason; event ids do not collide (thousands of distinct
// visitors, every one stored).
//
// Env: WHALE_ORIGIN (the whale-origin binary), WHALE_EMSCRIPTEN_DIR (core.wasm).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  EVENTS_KEY, ORIGIN_BIN, addPrincipal, freePort, publish, readConfig, request, signEvents, sleep, startEdge, startOrigin, stop,
} from '../../scripts/stack.mjs';

const SLUG = 'minimal';
const EXPERIMENT = 'hero-banner-copy';
const work = mkdtempSync(join(tmpdir(), 'whale-events-attack-'));
const db = join(work, 'origin.db');
const tokens = {};
let origin = null;
let edge = null;

function banditConfig() {
  const config = readConfig(SLUG);
  const rule = config.features[EXPERIMENT].rules[0];
  rule.weights = [0.5, 0.5];
  rule.bandit = { floor: 0.01, minUnits: 100, topTwo: false, prior: { alpha: 1, beta: 1 } };
  return config;
}

const assign = (id) => request(edge.base, 'GET', `/v1/assign?vendor=${SLUG}&id=${encodeURIComponent(id)}`);
const postEvents = (body, headers = {}) => request(edge.base, 'POST', `/v1/events?vendor=${SLUG}`, { body, headers });
const edgeEvents = async () => (await request(edge.base, 'GET', '/v1/events/stats')).json.events;
const arms = async () => (await request(origin.base, 'GET', `/v1/vendors/${SLUG}/bandits`, { token: tokens.vendor }))
  .json.arms.filter((a) => a.experiment === EXPERIMENT);
const units = (list) => list.reduce((n, a) => n + a.units, 0);

// Waits until the edge holds nothing and the origin stored all it sent.
async function delivered() {
  for (let i = 0; i < 200; i++) {
    const events = await edgeEvents();
    if (events.buffered === 0 && events.inFlight === 0) return events;
    await request(edge.base, 'GET', '/healthz'); // deliveries start on requests
    await sleep(100);
  }
  assert.fail('the edge did not deliver its events');
}

// Runs `count` calls of fn(i), `width` at a time.
async function inParallel(count, width, fn) {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < count) await fn(next++);
  }));
}

before(async () => {
  assert.ok(existsSync(ORIGIN_BIN), `whale-origin not built at ${ORIGIN_BIN}`);
  tokens.edge = addPrincipal('edge', 'edges', db);
  tokens.vendor = addPrincipal('vendor', SLUG, db);
  origin = await startOrigin({ db, args: ['--reweight-every', '0', '--revalidate-rate', '0'] });
  await publish(origin.base, SLUG, tokens.vendor, banditConfig());
  edge = await startEdge({
    port: await freePort(), outDir: join(work, 'edge'), name: 'attack-edge', origin: origin.base,
    keys: { [origin.keyId]: origin.publicKey }, edgeToken: tokens.edge, maxAge: 5, timeoutMs: 1000,
  });
});

after(async () => {
  if (edge) await stop(edge.child);
  if (origin) await stop(origin.child);
  rmSync(work, { recursive: true, force: true });
});

test('forged and skewed events move no count and trip no SRM; refusals are counted by reason', async () => {
  // Honest traffic: 240 visitors assigned by the edge, every third converting with its receipt.
  const receipts = [];
  await inParallel(240, 8, async (i) => {
    const res = await assign(`honest-${i}`);
    assert.equal(res.status, 200, res.text);
    receipts[i] = res.json.receipt;
  });
  for (let i = 0; i < 240; i += 3) {
    const res = await postEvents({ events: [{ type: 'conversion', experiment: EXPERIMENT }], receipt: receipts[i] });
    assert.equal(res.json.accepted, 1, res.text);
  }
  // The attacker is a visitor too: it is assigned and converts once, legitimately.
  const mine = await assign('attacker');
  const myVariation = mine.json.experiments.find((e) => e.featureId === EXPERIMENT).variationId;
  let res = await postEvents({ events: [{ type: 'conversion', experiment: EXPERIMENT }], receipt: mine.json.receipt });
  assert.equal(res.json.accepted, 1);
  await delivered();
  const honest = await arms();
  assert.equal(units(honest), 241);
  const before = await edgeEvents();

  // 1200 forged events without a receipt: exposures and conversions of arm 1 for made-up units.
  for (let b = 0; b < 12; b++) {
    const events = Array.from({ length: 100 }, (_, i) => ({
      type: i % 2 ? 'conversion' : 'exposure', experiment: EXPERIMENT, variation: 1, id: `forged-${b}-${i}`,
      ts: Date.now(), eventId: `f-${b}-${i}`,
    }));
    res = await postEvents(events);
    assert.equal(res.status, 202);
    assert.deepEqual(res.json, { accepted: 0, rejected: 100, duplicates: 0, reasons: { no_receipt: 100 } });
  }
  // 2000 skewed exposures: 1000 with a receipt whose payload was rewritten to list arm 1 for other
  // units (its MAC no longer matches), 1000 with the attacker's own receipt but the other arm.
  const [payload, mac] = mine.json.receipt.split('.');
  const claims = JSON.parse(Buffer.from(payload, 'base64url'));
  for (let b = 0; b < 10; b++) {
    claims.a = [[EXPERIMENT, 1, `skewed-${b}`]];
    const forged = `${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${mac}`;
    const events = Array.from({ length: 100 }, () => ({ type: 'exposure', experiment: EXPERIMENT, variation: 1 }));
    res = await postEvents({ events, receipt: forged });
    assert.deepEqual(res.json, { accepted: 0, rejected: 100, duplicates: 0, reasons: { bad_receipt: 100 } });
    const other = Array.from({ length: 100 }, () => ({ type: 'exposure', experiment: EXPERIMENT, variation: 1 - myVariation }));
    res = await postEvents({ events: other, receipt: mine.json.receipt });
    assert.deepEqual(res.json, { accepted: 0, rejected: 100, duplicates: 0, reasons: { not_assigned: 100 } });
  }
  // One visitor's flood of genuine conversions: the same fact (a duplicate), then rate limited.
  for (let b = 0; b < 3; b++) {
    const events = Array.from({ length: 100 }, () => ({ type: 'conversion', experiment: EXPERIMENT }));
    res = await postEvents({ events, receipt: mine.json.receipt });
    assert.equal(res.json.accepted, 0);
  }
  const after = await delivered();
  assert.deepEqual(await arms(), honest, 'the attack changed no count');
  const refused = (reason) => (after.refused[reason] ?? 0) - (before.refused[reason] ?? 0);
  assert.equal(refused('no_receipt'), 1200);
  assert.equal(refused('bad_receipt'), 1000);
  assert.equal(refused('not_assigned'), 1000);
  assert.ok(refused('rate_limited_visitor') > 0, JSON.stringify(after.refused));
  assert.ok(after.duplicates > before.duplicates);

  // Reweighting sees only the honest counts: no SRM flag.
  res = await request(origin.base, 'POST', `/v1/vendors/${SLUG}/reweight`, { token: tokens.vendor, body: '' });
  assert.equal(res.status, 200, res.text);
  const bandit = (await request(origin.base, 'GET', `/v1/vendors/${SLUG}/bandits`, { token: tokens.vendor })).json;
  assert.deepEqual(bandit.flags, []);
  assert.ok(!res.json.experiments.some((e) => e.status === 'srm'), res.text);
});

test('event ids do not collide: every distinct visitor the edge assigned is stored', async () => {
  const start = units(await arms());
  const before = await edgeEvents();
  const visitors = 3000;
  await inParallel(visitors, 16, async (i) => {
    const res = await assign(`collide-${i}`);
    assert.equal(res.status, 200);
  });
  const after = await delivered();
  assert.equal(after.dropped, before.dropped);
  assert.equal(after.deadLettered, before.deadLettered);
  assert.equal(units(await arms()) - start, visitors);
});

test('events key rotation: an origin with the new and the previous key takes both; one without the previous refuses its events', async () => {
  const NEW = 'n'.repeat(43);
  const fact = (unit, key) => signEvents([{ type: 'exposure', slug: SLUG, experiment: EXPERIMENT, variation: 0, unit, ts: Date.now() }], key)[0];
  for (const [keys, expected] of [[`${NEW},${EVENTS_KEY}`, [1, 1]], [NEW, [1, 0]]]) {
    const dir = mkdtempSync(join(work, 'rotation-'));
    const rotDb = join(dir, 'origin.db');
    const edgeToken = addPrincipal('edge', 'edges', rotDb);
    const rotated = await startOrigin({ db: rotDb, eventsKey: keys, args: ['--reweight-every', '0'] });
    try {
      const post = async (event) => (await request(rotated.base, 'POST', '/v1/events', { token: edgeToken, body: { events: [event] } })).json.accepted;
      assert.deepEqual([await post(fact('with-new', NEW)), await post(fact('with-previous', EVENTS_KEY))], expected, keys);
    } finally {
      await stop(rotated.child);
    }
  }
  // The edge: receipts made with the previous key are still read while it is listed second.
  const { EventKeys } = await import('../../edge-workers/events.js');
  const before = new EventKeys(EVENTS_KEY);
  const receipt = await before.mintReceipt(SLUG, 'v', [[EXPERIMENT, 0, 'v']], Date.now());
  assert.ok(await new EventKeys(`${NEW},${EVENTS_KEY}`).readReceipt(receipt, Date.now()));
  assert.equal(await new EventKeys(NEW).readReceipt(receipt, Date.now()), null);
});
