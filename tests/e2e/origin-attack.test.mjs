// The origin under slow and hostile clients (docs/origin.md, "HTTP server"): slow-loris heads are
// cut by the head deadline while others are served; chunked bodies are capped like Content-Length
// ones (413 before reading past the cap); a body to an unknown route or from a caller the route
// refuses is answered before it is read; connections are capped per client address. Different
// "clients" are different loopback source addresses (Linux lets a socket bind any of 127.0.0.0/8).
//
// Each attack case fails on the thread-pool server this replaced (cpp-httplib 0.11): 8 slow
// connections took all its threads, it had no head deadline, it read a chunked body whole before
// routing, waited for a body it would refuse, and accepted every connection. The last case checks
// keep-alive, pipelining and HTTP/1.0 on the new transport.
//
// Env: WHALE_ORIGIN (the whale-origin binary).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tcpConnect } from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO, addPrincipal, publish, request, sleep, startOrigin, stop } from '../../scripts/stack.mjs';

const HEAD_TIMEOUT_MS = 2000;
const PER_IP = 64;                 // the default --max-conns-per-ip
const CONFIG_CAP = 4 * 1024 * 1024 + 64 * 1024;  // PUT .../config: max_config_bytes + slack
const EVENTS_CAP = 1024 * 1024;    // POST /v1/events
const ANSWER_MS = 10000;           // an answer not there by then is not coming

const work = mkdtempSync(join(tmpdir(), 'whale-attack-'));
const running = [];
const sockets = new Set();
let origin;
let port;
let tokens;

before(async () => {
  const db = join(work, 'attack.db');
  tokens = { acme: addPrincipal('vendor', 'acme', db), edge: addPrincipal('edge', 'edge-1', db) };
  origin = await startOrigin({ db, args: ['--head-timeout-ms', String(HEAD_TIMEOUT_MS), '--revalidate-rate', '0'] });
  running.push(origin);
  port = origin.port;
});

after(async () => {
  for (const s of sockets) s.destroy();
  for (const o of running) await stop(o.child);
  rmSync(work, { recursive: true, force: true });
});

function configFor(slug) {
  const config = JSON.parse(readFileSync(join(REPO, 'fixtures/vendors/minimal/config.json'), 'utf8'));
  config.vendor.slug = slug;
  return config;
}

// A TCP connection to 127.0.0.1:p from `from`; resolves once connected. It records what it
// receives (`received`) and settles `gone` when it closes, whoever closed it.
function connect(p, from = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ host: '127.0.0.1', port: p, localAddress: from });
    sockets.add(socket);
    socket.received = '';
    socket.on('data', (chunk) => { socket.received += chunk.toString('latin1'); });
    socket.on('error', () => {});  // resets are expected here; `gone` tells
    socket.gone = new Promise((r) => socket.once('close', r)).then(() => sockets.delete(socket));
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

// The first answer on `socket`: {status, headers, json}; rejects if it does not come in time.
async function answer(socket, ms = ANSWER_MS) {
  const deadline = Date.now() + ms;
  for (;;) {
    const head = socket.received.indexOf('\r\n\r\n');
    if (head >= 0) {
      const lines = socket.received.slice(0, head).split('\r\n');
      const headers = Object.fromEntries(lines.slice(1).map((l) => {
        const colon = l.indexOf(':');
        return [l.slice(0, colon).toLowerCase(), l.slice(colon + 1).trim()];
      }));
      const length = Number(headers['content-length'] ?? 0);
      const body = socket.received.slice(head + 4);
      if (body.length >= length) {
        return { status: Number(lines[0].split(' ')[1]), headers, json: length ? JSON.parse(body.slice(0, length)) : undefined };
      }
    }
    if (socket.destroyed && !socket.readableLength) throw new Error(`closed without an answer: ${JSON.stringify(socket.received)}`);
    if (Date.now() > deadline) throw new Error(`no answer in ${ms} ms: ${JSON.stringify(socket.received)}`);
    await sleep(10);
  }
}

// A sample of the origin's /metrics, e.g. metric('whale_origin_connections_refused_total{reason="per_ip"}').
async function metric(series) {
  const text = (await request(origin.base, 'GET', '/metrics')).text;
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line ? Number(line.slice(series.length + 1)) : NaN;
}

// Whether `socket` closes within `ms`.
const closesWithin = (socket, ms) => Promise.race([socket.gone.then(() => true), sleep(ms).then(() => false)]);

const chunkedHead = (method, path, token) =>
  `${method} ${path} HTTP/1.1\r\nHost: origin\r\n${token ? `Authorization: Bearer ${token}\r\n` : ''}` +
  'Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n';

// One chunk of `n` spaces (valid inside JSON, so nothing but the size can refuse it).
const chunk = (n) => Buffer.concat([Buffer.from(`${n.toString(16)}\r\n`), Buffer.alloc(n, 0x20), Buffer.from('\r\n')]);

test('200 slow-loris heads from 8 addresses: others are served, the head deadline cuts them all', async () => {
  const slow = [];
  for (let i = 0; i < 200; i++) slow.push(await connect(port, `127.0.0.${2 + (i % 8)}`));
  const head = 'GET /healthz HTTP/1.1\r\nHost: origin\r\nX-Slow: ' + 'x'.repeat(64);
  const trickles = slow.map((s) => {
    let at = 0;
    const send = () => { if (!s.destroyed) s.write(head[at++ % head.length]); };
    send();
    return setInterval(send, 1000);  // one byte a second: never a complete head
  });
  try {
    const health = await request(origin.base, 'GET', '/healthz');
    assert.equal(health.status, 200);
    assert.deepEqual(health.json, { ok: true });
    const published = await publish(origin.base, 'acme', tokens.acme, configFor('acme'));
    assert.equal(published.version, 1);
    // Closed by the deadline for the whole head although a byte arrives every second.
    const closed = await Promise.all(slow.map((s) => closesWithin(s, HEAD_TIMEOUT_MS + 8000)));
    assert.equal(closed.filter(Boolean).length, slow.length);
    assert.ok(slow.every((s) => s.received === ''), 'a cut head gets no answer');
    assert.ok(slow.every((s) => s.bytesWritten >= 2), 'the slow clients kept sending');
    assert.ok(await metric('whale_origin_requests_timed_out_total{phase="head"}') >= slow.length);
  } finally {
    trickles.forEach(clearInterval);
  }
  assert.equal((await request(origin.base, 'GET', '/healthz')).status, 200);
});

test('a chunked body past the cap, with a valid token: 413 without reading the rest', async (t) => {
  const s = await connect(port);
  s.write(chunkedHead('PUT', '/v1/vendors/acme/config', tokens.acme));
  const total = 64 * 1024 * 1024;
  const piece = chunk(64 * 1024);
  // Writes until the server stops taking bytes (it closes after its answer) or all is sent.
  while (s.bytesWritten < total && s.writable && !s.destroyed) {
    if (!s.write(piece)) await Promise.race([new Promise((r) => s.once('drain', r)), s.gone, sleep(3000)]);
    if (s.received) break;  // the answer came: a client stops here
  }
  const res = await answer(s);
  assert.equal(res.status, 413);
  assert.equal(res.json.error.code, 'too_large');
  assert.equal(res.headers.connection, 'close');
  assert.ok(await closesWithin(s, ANSWER_MS), 'the connection is closed after the 413');
  // The cap, plus what the socket buffers on both sides hold, plus a little drained at close.
  assert.ok(s.bytesWritten < 24 * 1024 * 1024, `${s.bytesWritten} bytes sent of ${total}`);
  assert.ok(s.bytesWritten > CONFIG_CAP, 'the cap was reached');
  t.diagnostic(`the client sent ${s.bytesWritten} bytes of ${total} (cap ${CONFIG_CAP})`);
  // Nothing stored.
  const draft = await request(origin.base, 'GET', '/v1/vendors/acme/config', { token: tokens.acme });
  assert.equal(draft.json.config['x-padding'], undefined);
});

test('a chunked body to an unknown path or without a valid token is answered before it is read', async () => {
  const cases = [
    ['POST', '/v1/nothing', undefined, 404, 'not_found'],
    ['PUT', '/v1/vendors/acme/config', undefined, 401, 'unauthorized'],
    ['PUT', '/v1/vendors/acme/config', 'whv_not-a-token', 401, 'unauthorized'],
    ['PUT', '/v1/vendors/acme/config', tokens.edge, 403, 'forbidden'],
    ['POST', '/v1/events', undefined, 401, 'unauthorized'],
    ['POST', '/v1/events', tokens.acme, 403, 'forbidden'],
  ];
  for (const [method, path, token, status, code] of cases) {
    const s = await connect(port);
    s.write(chunkedHead(method, path, token));
    s.write(chunk(4096));  // then nothing: the body has not ended, the answer must not wait for it
    const res = await answer(s);
    assert.equal(res.status, status, `${method} ${path}`);
    assert.equal(res.json.error.code, code, `${method} ${path}`);
    assert.equal(res.headers.connection, 'close', 'the unread body is not drained');
    assert.ok(await closesWithin(s, ANSWER_MS), `${method} ${path}: closed after the answer`);
    assert.ok(s.bytesWritten < 8192);
  }
  // With Expect: 100-continue the refused caller gets no 100, an accepted one does.
  const refused = await connect(port);
  refused.write(chunkedHead('PUT', '/v1/vendors/acme/config', undefined).replace('\r\n\r\n', '\r\nExpect: 100-continue\r\n\r\n'));
  assert.equal((await answer(refused)).status, 401);
  assert.doesNotMatch(refused.received, /100 Continue/);
  const accepted = await connect(port);
  accepted.write(chunkedHead('PUT', '/v1/vendors/acme/config', tokens.acme).replace('\r\n\r\n', '\r\nExpect: 100-continue\r\n\r\n'));
  assert.equal((await answer(accepted)).status, 100);
  accepted.write(Buffer.concat([chunk(2), Buffer.from('0\r\n\r\n')]));  // "  ": not JSON
  await sleep(0);
  accepted.received = accepted.received.slice(accepted.received.indexOf('\r\n\r\n') + 4);
  const res = await answer(accepted);
  assert.equal(res.status, 400);
  assert.equal(res.json.error.code, 'invalid_json');
  accepted.destroy();
});

test('a Content-Length past the cap: 413 with the JSON error before the body is sent', async () => {
  const cases = [['PUT', '/v1/vendors/acme/config', tokens.acme, CONFIG_CAP], ['POST', '/v1/events', tokens.edge, EVENTS_CAP]];
  for (const [method, path, token, cap] of cases) {
    const s = await connect(port);
    s.write(`${method} ${path} HTTP/1.1\r\nHost: origin\r\nAuthorization: Bearer ${token}\r\nContent-Length: ${cap + 1}\r\n\r\n`);
    const res = await answer(s);
    assert.equal(res.status, 413, path);
    assert.equal(res.json.error.code, 'too_large', path);
    assert.match(res.json.error.message, new RegExp(String(cap)));
    s.destroy();
  }
});

test('past the per-address cap, connections are closed at once; another address is served', async () => {
  const from = '127.0.0.20';
  const held = [];
  for (let i = 0; i < PER_IP; i++) held.push(await connect(port, from));
  await sleep(200);
  assert.ok(held.every((s) => !s.destroyed), 'up to the cap, connections stay open');
  const extra = [];
  for (let i = 0; i < 4; i++) extra.push(await connect(port, from).catch(() => null));
  for (const s of extra.filter(Boolean)) {
    assert.ok(await closesWithin(s, ANSWER_MS), 'a connection past the cap is closed');
    if (s.received) assert.match(s.received, /^HTTP\/1\.1 503 [^]*too_many_connections/);
  }
  assert.equal(await metric('whale_origin_connections_refused_total{reason="per_ip"}'), extra.filter(Boolean).length);
  assert.ok(await metric('whale_origin_connections_open') >= PER_IP);
  // Another address, and a held connection, are served.
  const other = await connect(port, '127.0.0.21');
  other.write('GET /healthz HTTP/1.1\r\nHost: origin\r\n\r\n');
  assert.equal((await answer(other)).status, 200);
  held[0].write('GET /healthz HTTP/1.1\r\nHost: origin\r\n\r\n');
  assert.equal((await answer(held[0])).status, 200);
  for (const s of [...held, other]) s.destroy();
});

test('keep-alive and pipelining on one connection; HTTP/1.0 closes unless asked', async () => {
  const s = await connect(port);
  s.write('GET /healthz HTTP/1.1\r\nHost: origin\r\n\r\nGET /v1/nothing HTTP/1.1\r\nHost: origin\r\n\r\n');
  const first = await answer(s);
  assert.equal(first.status, 200);
  await sleep(100);
  const second = s.received.slice(s.received.indexOf('HTTP/1.1', 10));
  assert.match(second, /^HTTP\/1\.1 404 /);
  assert.ok(!s.destroyed, 'kept alive');
  s.destroy();
  const old = await connect(port);
  old.write('GET /healthz HTTP/1.0\r\n\r\n');
  assert.equal((await answer(old)).status, 200);
  assert.ok(await closesWithin(old, ANSWER_MS));
});
