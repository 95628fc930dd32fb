// End to end: GET /cdn-cgi/image/<options>/<source> in a real workerd with the real image.wasm,
// against a local HTTP server standing for the vendors' media origin (fixtures/images) and a local
// cache service behind caches.default (workerd's cache protocol). Three test vendors (configs
// written here): img-open (the default vendor), img-strict (widths, formats and a small byte limit;
// Host strict.test) and img-signed (signed URLs; Host signed.test). A second edge, without
// IMAGE_ALLOW_PRIVATE_SOURCES, shows the private-address refusal. The browser's lazyImages runs in
// headless Chromium against the first edge.
//
// Env: WHALE_CHROMIUM (default /usr/bin/chromium).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { chromium } from 'playwright-core';
import { REPO, WORKERD, startOnFreePort, stop } from '../../scripts/stack.mjs';
import { defaultImageWasm } from '../../edge-workers/gen-config.mjs';
import { deriveImageKey, signImageUrl } from '../../js-glue/image-url.js';
import { imageSize } from '../js/image-size.mjs';

const CHROMIUM = process.env.WHALE_CHROMIUM ?? '/usr/bin/chromium';
const IMAGES = join(REPO, 'fixtures', 'images');
const SIGNING_SECRET = 'e2e-image-signing-secret-of-32-bytes-or-more';
const MEMORY_LIMIT_MB = 24;

const work = mkdtempSync(join(tmpdir(), 'whale-image-'));
let origin; // {server, base, hits: [paths]}
let cacheService; // {server, address, entries: Map, puts, hits}
let edge; // with IMAGE_ALLOW_PRIVATE_SOURCES and the cache
let strictEdge; // without either

// --- the media origin ----------------------------------------------------------------------

function fixtureFile(name) {
  const file = decodeURIComponent(name);  // a fixture, or one of webp/'s
  const path = file.startsWith('webp/') ? join(IMAGES, 'webp', basename(file)) : join(IMAGES, basename(file));
  return existsSync(path) ? readFileSync(path) : null;
}

// /images/<name>: the fixture with Content-Length and a strong ETag; /stream/<name>: chunked, no
// length; /private/<name>: the same, off every allowlist; /hop/ok|off/<name>: 302 to /images or
// /private; /hop/loop: redirects to itself.
function startOrigin() {
  const hits = [];
  const server = http.createServer((req, res) => {
    hits.push(req.url);
    const [, area, ...rest] = new URL(req.url, 'http://origin').pathname.split('/');
    const name = rest.join('/');
    if (area === 'hop') {
      const [kind, file] = rest;
      const location = kind === 'ok' ? `/images/${file}` : kind === 'off' ? `/private/${file}` : '/hop/loop';
      res.writeHead(302, { Location: location });
      res.end();
      return;
    }
    const bytes = ['images', 'stream', 'private'].includes(area) ? fixtureFile(name) : null;
    if (bytes === null) {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('not found');
      return;
    }
    const type = name.endsWith('.png') ? 'image/png' : name.endsWith('.gif') ? 'image/gif' : 'image/jpeg';
    if (area === 'stream') {
      res.writeHead(200, { 'Content-Type': type });
      for (let at = 0; at < bytes.length; at += 16384) res.write(bytes.subarray(at, at + 16384));
      res.end();
      return;
    }
    const etag = `"${createHash('sha256').update(bytes).digest('hex').slice(0, 16)}"`;
    res.writeHead(200, { 'Content-Type': type, 'Content-Length': bytes.length, ETag: etag });
    res.end(bytes);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({ server, hits, base: `http://127.0.0.1:${server.address().port}` }));
  });
}

// workerd's cache protocol (cacheApiOutbound): PUT stores the serialized HTTP response it sends as
// the body; GET answers it back with CF-Cache-Status: HIT, or MISS.
function startCacheService() {
  const entries = new Map();
  const service = { entries, puts: 0, hits: 0 };
  service.server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      if (req.method === 'PUT') {
        entries.set(req.url, Buffer.concat(chunks));
        service.puts++;
        res.writeHead(204);
        res.end();
      } else if (req.method === 'GET' && entries.has(req.url)) {
        service.hits++;
        const stored = entries.get(req.url);
        const head = stored.indexOf('\r\n');
        res.socket.end(Buffer.concat([stored.subarray(0, head + 2), Buffer.from('CF-Cache-Status: HIT\r\n'), stored.subarray(head + 2)]));
      } else if (req.method === 'PURGE') {
        res.writeHead(entries.delete(req.url) ? 200 : 404);
        res.end();
      } else {
        res.writeHead(504, { 'CF-Cache-Status': 'MISS' });
        res.end();
      }
    });
  });
  return new Promise((resolve) => {
    service.server.listen(0, '127.0.0.1', () => {
      service.address = `127.0.0.1:${service.server.address().port}`;
      resolve(service);
    });
  });
}

// --- the vendors and the edges ---------------------------------------------------------------

function writeVendor(dir, slug, media) {
  mkdirSync(join(dir, slug), { recursive: true });
  const config = {
    vendor: { id: `v_${slug}`, slug, name: slug, vertical: 'demo', timezone: 'UTC', region: 'us-east' },
    media,
  };
  writeFileSync(join(dir, slug, 'config.json'), JSON.stringify(config, null, 2));
}

before(async () => {
  assert.ok(existsSync(WORKERD), `workerd not installed at ${WORKERD} (npm ci)`);
  assert.ok(defaultImageWasm(), 'image.wasm not built: run scripts/build.sh');
  origin = await startOrigin();
  cacheService = await startCacheService();
  const vendorsDir = join(work, 'vendors');
  const o = origin.base;
  writeVendor(vendorsDir, 'img-open', { allowedSources: [`${o}/images/`, `${o}/hop/`, `${o}/stream/`], quality: 80 });
  writeVendor(vendorsDir, 'img-strict', {
    allowedSources: [`${o}/images/`, `${o}/stream/`], formats: ['jpeg'], widths: [100, 200], maxWidth: 800, maxHeight: 800,
    maxInputBytes: 60000,
  });
  writeVendor(vendorsDir, 'img-signed', { allowedSources: [`${o}/images/`], signedUrls: true });
  writeVendor(vendorsDir, 'img-avif', { allowedSources: [`${o}/images/`], formats: ['avif', 'webp', 'jpeg', 'png'] });
  edge = await startOnFreePort({
    outDir: join(work, 'edge'), vendorsDir, cache: cacheService.address,
    image: {
      vendor: 'img-open', hosts: { 'strict.test': 'img-strict', 'signed.test': 'img-signed', 'avif.test': 'img-avif' },
      signingSecretEnv: 'WHALE_IMAGE_SIGNING_SECRET', keyIds: { 'img-signed': [1] }, allowPrivateSources: true,
      maxMemoryMb: MEMORY_LIMIT_MB,
    },
    imageSecret: SIGNING_SECRET, // workerd reads it from the environment (fromEnvironment)
  });
  strictEdge = await startOnFreePort({ outDir: join(work, 'strict-edge'), vendorsDir, image: { vendor: 'img-open' } });
});

after(async () => {
  await stop(edge?.child);
  await stop(strictEdge?.child);
  origin?.server.close();
  cacheService?.server.close();
  rmSync(work, { recursive: true, force: true });
});

// --- requests --------------------------------------------------------------------------------

// node:http, so that Host can be set. Resolves to {status, headers, body (Buffer), json}.
function get(path, { headers = {}, method = 'GET', base = edge.base } = {}) {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ hostname, port, path, method, headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        let json;
        try { json = JSON.parse(body.toString('utf8')); } catch { json = undefined; }
        resolve({ status: res.statusCode, headers: res.headers, body, json });
      });
    });
    req.setTimeout(30000, () => req.destroy(new Error(`timed out: ${path}`)));
    req.on('error', reject);
    req.end();
  });
}

const originHits = (fragment) => origin.hits.filter((p) => p.includes(fragment)).length;

async function imageStats(base = edge.base) {
  const res = await get('/v1/events/stats', { base });
  assert.equal(res.status, 200);
  return res.json.images;
}

function assertError(res, status, code, message) {
  assert.equal(res.status, status, res.body.toString());
  assert.equal(res.headers['content-type'], 'application/json');
  assert.equal(res.json.error.code, code, res.body.toString());
  if (message) assert.match(res.json.error.message, message);
}

// --- the transforms --------------------------------------------------------------------------

test('a JPEG resized to width=200 comes back 200 px wide, immutable, with an ETag; then from the cache', async () => {
  const path = '/cdn-cgi/image/width=200/images/Landscape_1.jpg';
  const first = await get(path);
  assert.equal(first.status, 200, first.body.toString());
  assert.equal(first.headers['content-type'], 'image/jpeg');
  assert.deepEqual(imageSize(first.body), { format: 'jpeg', width: 200, height: 150, progressive: true });
  assert.equal(first.headers['cache-control'], 'public, max-age=31536000, immutable');
  assert.match(first.headers.etag, /^"[0-9a-f]{32}"$/);
  assert.equal(first.headers['x-whale-cache'], 'miss');
  assert.equal(first.headers.vary, undefined, 'no Vary without format=auto');
  const fetches = originHits('Landscape_1.jpg');
  assert.equal(fetches, 1);

  // The cache service got the answer; the same options in another spelling, or on the edge's own
  // /img/ route, are the same entry.
  for (const again of [path, '/cdn-cgi/image/w=200/images/Landscape_1.jpg', '/cdn-cgi/image/w_200,q_80/images/Landscape_1.jpg',
    '/img/width=200/images/Landscape_1.jpg']) {
    const res = await get(again);
    assert.equal(res.status, 200);
    assert.equal(res.headers['x-whale-cache'], 'hit', again);
    assert.deepEqual(res.body, first.body);
    assert.equal(res.headers.etag, first.headers.etag);
    assert.equal(res.headers['cache-control'], 'public, max-age=31536000, immutable');
    assert.equal(res.headers['cf-cache-status'], undefined);
  }
  assert.equal(originHits('Landscape_1.jpg'), fetches, 'hits do not fetch the source');
  assert.ok(cacheService.puts >= 1 && cacheService.hits >= 3);
});

test('a relative source is a path on the origin of the first allowed source; absolute URLs work the same', async () => {
  const relative = await get('/cdn-cgi/image/width=120,fit=cover,height=120/images/Portrait_3.jpg');
  const absolute = await get(`/cdn-cgi/image/width=120,fit=cover,height=120/${origin.base}/images/Portrait_3.jpg`);
  assert.equal(relative.status, 200, relative.body.toString());
  assert.equal(absolute.status, 200, absolute.body.toString());
  assert.deepEqual(imageSize(relative.body), { format: 'jpeg', width: 120, height: 120, progressive: true });
  assert.equal(absolute.headers['x-whale-cache'], 'hit', 'one cache entry for both spellings of the source');
  assert.deepEqual(absolute.body, relative.body);
  const png = await get('/cdn-cgi/image/width=64,format=png/images/test-pattern.png');
  assert.equal(png.headers['content-type'], 'image/png');
  assert.equal(imageSize(png.body).width, 64);
  const json = await get('/cdn-cgi/image/format=json/images/Landscape_6.jpg');
  assert.equal(json.headers['content-type'], 'application/json');
  assert.deepEqual([json.json.width, json.json.height, json.json.orientation], [450, 600, 6]);
});

test('format=auto follows Accept: WebP when the client and the vendor take it, with Vary: Accept', async () => {
  const path = '/cdn-cgi/image/width=160,format=auto/images/Landscape_2.jpg';
  const webp = await get(path, { headers: { accept: 'image/avif,image/webp,*/*' } });
  assert.equal(webp.status, 200, webp.body.toString());
  assert.equal(webp.headers['content-type'], 'image/webp');
  assert.equal(webp.headers.vary, 'Accept');
  assert.equal(imageSize(webp.body).width, 160);
  const jpeg = await get(path, { headers: { accept: 'image/jpeg,*/*' } });
  assert.equal(jpeg.headers['content-type'], 'image/jpeg');
  assert.equal(jpeg.headers.vary, 'Accept');
  assert.equal(jpeg.headers['x-whale-cache'], 'miss', 'a cache entry per accepted format');
  assert.notEqual(jpeg.headers.etag, webp.headers.etag);
  const again = await get(path, { headers: { accept: 'image/webp' } });
  assert.equal(again.headers['x-whale-cache'], 'hit');
  assert.equal(again.headers['content-type'], 'image/webp');
  // img-strict serves only JPEG: format=auto never picks WebP there.
  const strict = await get('/cdn-cgi/image/width=100,format=auto/images/concert.jpg', { headers: { host: 'strict.test', accept: 'image/webp' } });
  assert.equal(strict.headers['content-type'], 'image/jpeg');
});

test('AVIF where the vendor lists it: format=auto for AVIF clients, format=avif, WebP past 1200 px', async () => {
  const avif = { host: 'avif.test', accept: 'image/avif,image/webp,*/*' };
  const path = '/cdn-cgi/image/width=160,format=auto/images/Landscape_2.jpg';
  const auto = await get(path, { headers: avif });
  assert.equal(auto.status, 200, auto.body.toString());
  assert.equal(auto.headers['content-type'], 'image/avif');
  assert.equal(auto.headers.vary, 'Accept');
  assert.equal(auto.body.subarray(4, 12).toString('latin1'), 'ftypavif');
  const webp = await get(path, { headers: { host: 'avif.test', accept: 'image/webp,*/*' } });
  assert.equal(webp.headers['content-type'], 'image/webp');
  assert.equal(webp.headers['x-whale-cache'], 'miss', 'a cache entry per accepted format');
  const again = await get(path, { headers: avif });
  assert.equal(again.headers['x-whale-cache'], 'hit');
  assert.deepEqual(again.body, auto.body);
  const asked = await get('/cdn-cgi/image/width=200,format=avif/images/alpha-premultiply-2048x1536-paper.png', { headers: avif });
  assert.equal(asked.headers['content-type'], 'image/avif');
  const large = await get('/cdn-cgi/image/width=1300,format=avif/images/2569067123_aca715a2ee_o.jpg', { headers: avif });
  assert.equal(large.headers['content-type'], 'image/webp');
  assert.equal(imageSize(large.body).width, 1300);
  // A vendor without avif in its formats: WebP for the same client, and format=avif refused.
  assert.equal((await get(path, { headers: { accept: 'image/avif,image/webp' } })).headers['content-type'], 'image/webp');
  assertError(await get('/cdn-cgi/image/width=100,format=avif/images/concert.jpg'), 400, 'invalid_value', /option 'format'/);
});

test('width=auto follows the client hints, within the vendor widths, with Vary naming them', async () => {
  const path = '/cdn-cgi/image/width=auto,format=jpeg/images/2569067123_aca715a2ee_o.jpg';
  const phone = await get(path, { headers: { 'sec-ch-viewport-width': '390' } });
  assert.equal(phone.status, 200, phone.body.toString());
  assert.equal(imageSize(phone.body).width, 320);
  assert.match(phone.headers.vary, /Sec-CH-Viewport-Width/);
  assert.match(phone.headers.vary, /User-Agent/);
  const wide = await get(path, { headers: { 'sec-ch-viewport-width': '1920' } });
  assert.equal(imageSize(wide.body).width, 1200);
  assert.equal(wide.headers['x-whale-cache'], 'miss', 'a cache entry per width');
  const tablet = await get(path, { headers: { 'user-agent': 'Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X)' } });
  assert.equal(imageSize(tablet.body).width, 768);
  const unknown = await get(path);
  assert.equal(imageSize(unknown.body).width, 960, 'no hint at all: desktop');
  // img-strict has widths 100 and 200: the nearest at or above the client's, else the largest.
  const strict = await get('/cdn-cgi/image/width=auto/images/concert.jpg', { headers: { host: 'strict.test', 'sec-ch-viewport-width': '390' } });
  assert.equal(strict.status, 200, strict.body.toString());
  assert.equal(imageSize(strict.body).width, 200);
});

test('slow-connection-quality applies only when the client hints say slow', async () => {
  const path = '/cdn-cgi/image/width=400,quality=90,scq=20,format=jpeg/images/flowers.jpeg';
  const fast = await get(path, { headers: { ect: '4g', rtt: '50', downlink: '10' } });
  const slow = await get(path, { headers: { ect: '2g' } });
  const saving = await get(path, { headers: { 'save-data': 'on' } });
  assert.equal(fast.status, 200, fast.body.toString());
  assert.match(fast.headers.vary, /ECT/);
  assert.ok(slow.body.length < fast.body.length * 0.6, `slow ${slow.body.length} B, fast ${fast.body.length} B`);
  assert.deepEqual(saving.body, slow.body);
  assert.notEqual(slow.headers.etag, fast.headers.etag);
  const plain = await get('/cdn-cgi/image/width=400,quality=20,format=jpeg/images/flowers.jpeg');
  assert.deepEqual(slow.body, plain.body, 'the slow answer is quality=20');
});

test('trim and border: a window of the source, a frame around the output', async () => {
  const framed = await get('/cdn-cgi/image/width=100,border.width=4,border.color=red,format=png/images/320x240.jpg');
  assert.equal(framed.status, 200, framed.body.toString());
  assert.deepEqual([imageSize(framed.body).width, imageSize(framed.body).height], [108, 83]);
  const trimmed = await get('/cdn-cgi/image/trim=20;60;20;60,format=png/images/320x240.jpg');
  assert.equal(trimmed.status, 200, trimmed.body.toString());
  assert.deepEqual([imageSize(trimmed.body).width, imageSize(trimmed.body).height], [200, 200]);
  assertError(await get('/cdn-cgi/image/trim=0;200;0;200/images/320x240.jpg'), 400, 'invalid_value', /'trim': leaves no pixels/);
});

// --- refusals --------------------------------------------------------------------------------

test('a bad option is a 400 naming it, answered before any fetch', async () => {
  const before = origin.hits.length;
  assertError(await get('/cdn-cgi/image/width=abc/images/Landscape_1.jpg'), 400, 'invalid_value', /option 'width'/);
  assertError(await get('/cdn-cgi/image/width=100,zoom=0.5/images/Landscape_1.jpg'), 400, 'invalid_value', /'zoom'.*not supported/);
  assertError(await get('/cdn-cgi/image/width=100,trim=2/images/Landscape_1.jpg'), 400, 'invalid_value', /'trim'.*top;right;bottom;left/);
  assertError(await get('/cdn-cgi/image/fit=squash/images/Landscape_1.jpg'), 400, 'invalid_value', /option 'fit'/);
  assertError(await get('/cdn-cgi/image/width=100,width=200/images/Landscape_1.jpg'), 400, 'invalid_value', /given twice/);
  assertError(await get('/cdn-cgi/image/width=100'), 400, 'invalid_value', /<options>\/<source>/);
  assert.equal(origin.hits.length, before);
});

test('sources off the vendor\'s allowlist are 403, before any fetch', async () => {
  const before = origin.hits.length;
  for (const source of [`${origin.base}/private/Landscape_1.jpg`, 'https://example.com/a.jpg', 'http://169.254.169.254/latest/meta-data',
    `${origin.base.replace('http:', 'https:')}/images/Landscape_1.jpg`, 'ftp://example.com/a.jpg', 'private/Landscape_1.jpg']) {
    assertError(await get(`/cdn-cgi/image/width=100/${source}`), 403, 'source_not_allowed');
  }
  assert.equal(origin.hits.length, before, 'nothing was fetched');
});

test('loopback and private addresses are refused unless IMAGE_ALLOW_PRIVATE_SOURCES is set', async () => {
  const port = new URL(origin.base).port;
  const before = origin.hits.length;
  for (const source of ['images/Landscape_1.jpg', `http://127.0.0.1:${port}/images/Landscape_1.jpg`,
    `http://2130706433:${port}/images/Landscape_1.jpg`, `http://[::ffff:127.0.0.1]:${port}/images/Landscape_1.jpg`]) {
    assertError(await get(`/cdn-cgi/image/width=100/${source}`, { base: strictEdge.base }), 403, 'source_not_allowed', /loopback and private/);
  }
  // Other spellings of this machine are refused on both edges (on the first they are not on the list).
  for (const source of [`http://localhost:${port}/images/a.jpg`, `http://[::1]:${port}/images/a.jpg`, `http://10.0.0.1/images/a.jpg`]) {
    assertError(await get(`/cdn-cgi/image/width=100/${source}`, { base: strictEdge.base }), 403, 'source_not_allowed');
    assertError(await get(`/cdn-cgi/image/width=100/${source}`), 403, 'source_not_allowed');
  }
  assert.equal(origin.hits.length, before);
  // The same source is served by the edge that allows private sources (local tests only).
  assert.equal((await get('/cdn-cgi/image/width=100/images/Landscape_1.jpg')).status, 200);
});

test('redirects are followed only to allowed sources, at most 3', async () => {
  const ok = await get('/cdn-cgi/image/width=90/hop/ok/Landscape_3.jpg');
  assert.equal(ok.status, 200, ok.body.toString());
  assert.equal(imageSize(ok.body).width, 90);
  const before = originHits('/private/');
  assertError(await get('/cdn-cgi/image/width=90/hop/off/Landscape_3.jpg'), 403, 'source_not_allowed', /redirect .* is not under/);
  assert.equal(originHits('/private/'), before, 'the redirect target was not fetched');
  const loops = originHits('/hop/loop');
  assertError(await get('/cdn-cgi/image/width=90/hop/loop'), 502, 'source_error', /more than 3 redirects/);
  assert.equal(originHits('/hop/loop') - loops, 4, 'the first request and three redirects');
});

test('inputs over the vendor\'s byte limit, the pixel limit or the memory budget are 413', async () => {
  // img-strict: maxInputBytes 60000. Landscape_4.jpg is 140 KB: refused by Content-Length...
  const strict = { headers: { host: 'strict.test' } };
  assertError(await get('/cdn-cgi/image/width=100/images/Landscape_4.jpg', strict), 413, 'too_large', /60000 bytes/);
  // ...and without one, while reading.
  assertError(await get('/cdn-cgi/image/width=100/stream/Landscape_4.jpg', strict), 413, 'too_large', /60000 bytes/);
  // 24 KB is fine.
  assert.equal((await get('/cdn-cgi/image/width=100/stream/concert.jpg', strict)).status, 200);
  // 20000x14000 declared in the header: refused before decoding.
  assertError(await get('/cdn-cgi/image/width=100/images/giant-image.jpg'), 413, 'too_large');
  // Within every limit, but its estimate is over the job's memory budget (IMAGE_MAX_JOB_MB, 96 MB
  // by default): a 4096x4096 WebP with alpha.
  assertError(await get('/cdn-cgi/image/width=4096,height=4096,fit=cover,format=webp/images/p3.png'), 413, 'too_large',
    /needs about \d+ MB to encode \(output 4096x4096 WebP\); the limit is 96 MB/);
});

test('a WebP source is decoded: WebP back by default, JPEG or PNG when asked; an animated one as its first frame', async () => {
  const webp = await get('/cdn-cgi/image/width=80/images/webp/lossy.webp');
  assert.equal(webp.status, 200, webp.body.toString());
  assert.equal(webp.headers['content-type'], 'image/webp');
  assert.deepEqual(imageSize(webp.body), { format: 'webp', width: 80, height: 60 });
  const png = await get('/cdn-cgi/image/width=50,format=png/images/webp/lossless-alpha.webp');
  assert.equal(png.status, 200, png.body.toString());
  assert.equal(png.headers['content-type'], 'image/png');
  assert.equal(imageSize(png.body).width, 50);
  const jpeg = await get('/cdn-cgi/image/width=40,format=jpeg/images/webp/lossy-alpha.webp');
  assert.equal(jpeg.status, 200, jpeg.body.toString());
  assert.equal(imageSize(jpeg.body).format, 'jpeg');
  const animated = await get('/cdn-cgi/image/width=50/images/webp/animated.webp');
  assert.equal(animated.status, 200, animated.body.toString());
  assert.deepEqual(imageSize(animated.body), { format: 'webp', width: 50, height: 39 });
  assertError(await get('/cdn-cgi/image/width=50/images/webp/truncated.webp'), 422, 'corrupt_input');
});

test('damaged sources are 4xx JSON errors; a missing source is a 404', async () => {
  assertError(await get('/cdn-cgi/image/width=100/images/truncated.jpg'), 422, 'corrupt_input');
  const header = await get('/cdn-cgi/image/width=100/images/corrupt-header.jpg');
  assert.ok(header.status === 415 || header.status === 422, header.body.toString());
  assert.ok(['unsupported_format', 'corrupt_input'].includes(header.json.error.code));
  assertError(await get('/cdn-cgi/image/width=100/images/SOURCES.md'), 415, 'unsupported_format');
  assertError(await get('/cdn-cgi/image/width=100/images/no-such.jpg'), 404, 'source_not_found');
  // Errors are not cached: the edge asks again.
  const before = originHits('no-such.jpg');
  await get('/cdn-cgi/image/width=100/images/no-such.jpg');
  assert.equal(originHits('no-such.jpg'), before + 1);
});

test('onerror=redirect answers 302 to the source on failures after the checks, never on refusals', async () => {
  const broken = await get('/cdn-cgi/image/width=100,onerror=redirect/images/truncated.jpg');
  assert.equal(broken.status, 302);
  assert.equal(broken.headers.location, `${origin.base}/images/truncated.jpg`);
  assert.equal(broken.headers['x-whale-error'], 'corrupt_input');
  assert.equal(broken.headers['cache-control'], 'private, no-store');
  const missing = await get('/cdn-cgi/image/onerror=redirect,width=100/images/no-such.jpg');
  assert.equal(missing.status, 302);
  assert.equal(missing.headers.location, `${origin.base}/images/no-such.jpg`);
  const large = await get('/cdn-cgi/image/width=100,onerror=redirect/images/Landscape_4.jpg', { headers: { host: 'strict.test' } });
  assert.equal(large.status, 302);
  assert.equal(large.headers['x-whale-error'], 'too_large');
  // Refusals stay refusals: a redirect would make the edge an open redirector.
  assertError(await get('/cdn-cgi/image/width=100,onerror=redirect/https://example.com/a.jpg'), 403, 'source_not_allowed');
  assertError(await get('/cdn-cgi/image/width=100,onerror=redirect/hop/off/Landscape_3.jpg'), 403, 'source_not_allowed');
  assertError(await get('/cdn-cgi/image/width=abc,onerror=redirect/images/Landscape_1.jpg'), 400, 'invalid_value');
});

test('If-None-Match answers 304 from the cache and, on a miss, before any pixel work', async () => {
  const path = '/cdn-cgi/image/width=140/images/Landscape_5.jpg';
  const full = await get(path);
  assert.equal(full.status, 200);
  const etag = full.headers.etag;
  const hit = await get(path, { headers: { 'if-none-match': etag } });
  assert.equal(hit.status, 304);
  assert.equal(hit.body.length, 0);
  assert.equal(hit.headers.etag, etag);
  assert.equal(hit.headers['x-whale-cache'], 'hit');
  assert.equal((await get(path, { headers: { 'if-none-match': `"other", W/${etag}` } })).status, 304);
  assert.equal((await get(path, { headers: { 'if-none-match': '"other"' } })).status, 200);

  // With the cache emptied the edge fetches the source again, and answers 304 without a transform.
  cacheService.entries.clear();
  const transforms = (await imageStats()).transforms;
  const miss = await get(path, { headers: { 'if-none-match': etag } });
  assert.equal(miss.status, 304);
  assert.equal(miss.headers['x-whale-cache'], 'miss');
  assert.equal(miss.headers.etag, etag, 'the ETag depends on the options and the source, not on where the answer came from');
  assert.equal((await imageStats()).transforms, transforms);
});

test('signed URLs: required by the vendor, verified with its key, bound to the options', async () => {
  const signed = { headers: { host: 'signed.test' } };
  const path = '/cdn-cgi/image/width=110,fit=contain/images/Portrait_1.jpg';
  assertError(await get(path, signed), 403, 'signature_required');
  const key = await deriveImageKey(SIGNING_SECRET, 'img-signed', 1);
  const good = await signImageUrl(path, { vendor: 'img-signed', keyId: 1, key });
  const res = await get(good, signed);
  assert.equal(res.status, 200, res.body.toString());
  assert.equal(imageSize(res.body).width, 110);
  const otherKey = await deriveImageKey('another-secret-of-32-bytes-or-more', 'img-signed', 1);
  assertError(await get(await signImageUrl(path, { vendor: 'img-signed', keyId: 1, key: otherKey }), signed), 403, 'invalid_signature');
  assertError(await get(good.replace('width=110', 'width=111'), signed), 403, 'invalid_signature');
  assertError(await get(good.replace('Portrait_1', 'Portrait_2'), signed), 403, 'invalid_signature');
  assertError(await get(good.replace(/s=1:[0-9a-f]+/, 's=1:abc'), signed), 403, 'malformed_signature');
  // Other vendors ignore a signature, and it is not part of the cache key.
  const open = await get(good);
  assert.equal(open.status, 200);
});

test('the vendor\'s width allowlist, size bounds and formats', async () => {
  const strict = { headers: { host: 'strict.test' } };
  assert.equal((await get('/cdn-cgi/image/width=200/images/concert.jpg', strict)).status, 200);
  assertError(await get('/cdn-cgi/image/width=150/images/concert.jpg', strict), 400, 'invalid_value', /option 'width': 150 is not one of this vendor's widths \(100, 200\)/);
  assertError(await get('/cdn-cgi/image/height=900/images/concert.jpg', strict), 400, 'invalid_value', /option 'height'/);
  // dpr may take the output past maxWidth/maxHeight only up to the larger of the two (800 here).
  const dense = await get('/cdn-cgi/image/width=200,dpr=3,height=300,fit=cover/images/concert.jpg', strict);
  assert.equal(dense.status, 200, dense.body.toString());
  const size = imageSize(dense.body);
  assert.ok(size.width <= 800 && size.height <= 800, JSON.stringify(size));
  assertError(await get('/cdn-cgi/image/width=100,format=webp/images/concert.jpg', strict), 400, 'invalid_value', /option 'format'/);
  // Without an allowlist any width is fine.
  assert.equal((await get('/cdn-cgi/image/width=150/images/concert.jpg')).status, 200);
});

test('HEAD answers the headers only; other methods are 405', async () => {
  const head = await get('/cdn-cgi/image/width=200/images/Landscape_1.jpg', { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.headers['content-type'], 'image/jpeg');
  assert.equal(head.body.length, 0);
  const post = await get('/cdn-cgi/image/width=200/images/Landscape_1.jpg', { method: 'POST' });
  assertError(post, 405, 'method_not_allowed');
  assert.equal(post.headers.allow, 'GET, HEAD');
});

test('a job that leaves image.wasm\'s memory above IMAGE_MAX_MEMORY_MB replaces the instance', async () => {
  const before = await imageStats();
  assert.ok(before.module, 'the module is loaded');
  assert.ok(before.module.memoryBytes <= MEMORY_LIMIT_MB * 1024 * 1024, JSON.stringify(before.module));
  // 2725x2225 at full size, turned: about 37 MB of wasm memory (the turned image, then libjpeg's
  // coefficients beside it; unturned, the rows go straight into the encoder and 22 MB do).
  const res = await get('/cdn-cgi/image/width=2725,rotate=90/images/2569067123_aca715a2ee_o.jpg');
  assert.equal(res.status, 200, res.body.toString());
  assert.deepEqual(imageSize(res.body), { format: 'jpeg', width: 2225, height: 2725, progressive: true });
  const after = await imageStats();
  assert.equal(after.module.replacements, before.module.replacements + 1);
  assert.ok(after.module.peakMemoryBytes > MEMORY_LIMIT_MB * 1024 * 1024);
  // The next job runs in a fresh instance with a small memory.
  assert.equal((await get('/cdn-cgi/image/width=50/images/concert.jpg')).status, 200);
  const fresh = await imageStats();
  assert.equal(fresh.module.instances, after.module.instances + 1);
  assert.ok(fresh.module.memoryBytes <= MEMORY_LIMIT_MB * 1024 * 1024, JSON.stringify(fresh.module));
});

// --- the browser -----------------------------------------------------------------------------

test('lazyImages loads images within 50px of the viewport at once and the rest when scrolled to', { timeout: 60_000 }, async (t) => {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-quic'] });
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 800, height: 600 } });
  await page.goto(`${edge.base}/healthz`);
  await page.setContent(`<!doctype html><body style="margin:0">
    <div style="height:620px"></div>
    <img id="near" width="200" height="150" data-src="/img/width=200/images/Landscape_7.jpg">
    <div style="height:3000px"></div>
    <img id="far" width="200" height="150" data-src="/img/width=200/images/Landscape_8.jpg"
         data-srcset="/img/width=200/images/Landscape_8.jpg 200w, /img/width=400/images/Landscape_8.jpg 400w"
         data-sizes="200px">
  </body>`);
  const before = originHits('Landscape_8.jpg');
  await page.evaluate(async () => {
    const { lazyImages, imageUrl } = await import('/js-glue/browser.js');
    window.lazy = lazyImages(document, { rootMargin: '50px' });
    window.helperUrl = imageUrl('/images/Landscape_7.jpg', { width: 200 });
  });
  assert.equal(await page.evaluate(() => window.helperUrl), '/img/width=200/images/Landscape_7.jpg');
  // 620px from the top of a 600px viewport: inside the 50px margin.
  await page.waitForFunction(() => {
    const img = document.getElementById('near');
    return img.complete && img.naturalWidth === 200;
  });
  const far = await page.evaluate(() => {
    const img = document.getElementById('far');
    return { src: img.getAttribute('src'), dataSrc: img.getAttribute('data-src'), loading: img.loading, pending: window.lazy.pending() };
  });
  assert.deepEqual(far, { src: null, dataSrc: '/img/width=200/images/Landscape_8.jpg', loading: 'lazy', pending: 1 });
  assert.equal(originHits('Landscape_8.jpg'), before, 'the far image was not requested');

  await page.evaluate(() => document.getElementById('far').scrollIntoView());
  await page.waitForFunction(() => {
    const img = document.getElementById('far');
    return img.complete && img.naturalWidth > 0;
  });
  const loaded = await page.evaluate(() => {
    const img = document.getElementById('far');
    return { srcset: img.getAttribute('srcset'), sizes: img.getAttribute('sizes'), hasData: img.hasAttribute('data-src'), pending: window.lazy.pending() };
  });
  assert.match(loaded.srcset, /200w, .* 400w$/);
  assert.equal(loaded.sizes, '200px');
  assert.equal(loaded.hasData, false);
  assert.equal(loaded.pending, 0);
});

// What the new options and formats write, decoded by a real browser: AVIF with an alpha item (its
// transparent pixels counted after decoding) and through an <img>, an animated WebP made from a
// GIF and from an animated WebP (its frames counted through ImageDecoder), a trimmed and bordered
// PNG, a width=auto JPEG for the viewport hint Chromium sends.
test('Chromium decodes AVIF (alpha included), animated WebP, trimmed and bordered images from the edge', { timeout: 60_000 }, async (t) => {
  // avif.test (the vendor that serves AVIF) resolves to this machine, and counts as a secure
  // origin as 127.0.0.1 does (ImageDecoder exists only in secure contexts).
  const avifOrigin = `http://avif.test:${new URL(edge.base).port}`;
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--host-resolver-rules=MAP avif.test 127.0.0.1',
      `--unsafely-treat-insecure-origin-as-secure=${avifOrigin}`],
  });
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 800, height: 600 } });
  await page.goto(`${edge.base}/healthz`);
  const decoded = await page.evaluate(async () => {
    const look = async (url) => {
      const response = await fetch(url);
      const type = response.headers.get('content-type');
      const bytes = await response.arrayBuffer();
      const decoder = new ImageDecoder({ data: bytes, type });
      await decoder.tracks.ready;
      const frame = await decoder.decode({ frameIndex: 0 });
      return { type, frames: decoder.tracks.selectedTrack.frameCount, width: frame.image.displayWidth, height: frame.image.displayHeight };
    };
    return {
      gif: await look('/img/width=120,format=webp/images/animated-loop-3.gif'),
      webp: await look('/img/width=90,border.width=3,border.color=red/images/webp/animated.webp'),
      trimmed: await look('/img/trim=20;60;20;60,border.width=2,format=png/images/320x240.jpg'),
    };
  });
  // AVIF, from the vendor that serves it: with an alpha item, and through an <img>.
  const avifPage = await browser.newPage({ viewport: { width: 800, height: 600 } });
  await avifPage.goto(`${avifOrigin}/healthz`);
  const avif = await avifPage.evaluate(async () => {
    const response = await fetch('/img/width=150,format=avif/images/alpha-premultiply-2048x1536-paper.png');
    const type = response.headers.get('content-type');
    const decoder = new ImageDecoder({ data: await response.arrayBuffer(), type });
    const { image } = await decoder.decode({ frameIndex: 0 });
    const canvas = new OffscreenCanvas(image.displayWidth, image.displayHeight);
    const context = canvas.getContext('2d');
    context.drawImage(image, 0, 0);
    const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
    let transparent = 0;
    for (let i = 3; i < pixels.length; i += 4) if (pixels[i] === 0) transparent++;
    const img = new Image();
    img.src = '/img/width=120,height=120,fit=cover,format=avif/images/Landscape_2.jpg';
    await img.decode();
    return { type, width: image.displayWidth, height: image.displayHeight, transparent, img: [img.naturalWidth, img.naturalHeight] };
  });
  assert.equal(avif.type, 'image/avif');
  assert.deepEqual([avif.width, avif.height], [150, 113]);
  assert.ok(avif.transparent > 150 * 113 / 4, `transparent pixels after decoding: ${avif.transparent}`);
  assert.deepEqual(avif.img, [120, 120]);
  assert.deepEqual(decoded.gif, { type: 'image/webp', frames: 10, width: 120, height: 92 });
  assert.equal(decoded.webp.type, 'image/webp');
  assert.equal(decoded.webp.frames, 10);
  assert.equal(decoded.webp.width, 96);
  assert.deepEqual(decoded.trimmed, { type: 'image/png', frames: 1, width: 204, height: 204 });
});
