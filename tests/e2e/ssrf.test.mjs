// End to end: the image route cannot be turned against the edge's own machine or network (issue
// 10, "image SSRF by host name"). A vendor's allowedSources names this machine by a host name
// (os.hostname(), when it resolves to a loopback address) rather than by an address literal, so
// only the network can tell; the edge synced from an origin, without IMAGE_ALLOW_PRIVATE_SOURCES,
// must refuse to fetch it, the origin's /metrics included. The same edge with the flag fetches it
// (the name does reach the media server). The origin refuses loopback, private and link-local
// hosts in allowedSources at PUT unless it runs with --allow-private-media-sources.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { lookup } from 'node:dns/promises';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ORIGIN_BIN, REPO, addPrincipal, readConfig, request, startOnFreePort, startOrigin, stop } from '../../scripts/stack.mjs';

const SLUG = 'minimal';
const IMAGE = readFileSync(join(REPO, 'fixtures', 'images', 'p3.png'));
const work = mkdtempSync(join(tmpdir(), 'whale-ssrf-'));
let tokens; // {vendor, edge}
let origin; // without --allow-private-media-sources
let loopbackName = null; // {name, address}: a host name (not localhost) this machine resolves to loopback
let media; // {server, base, hits}
const edges = []; // the child processes to stop

// The machine's own name when it resolves to a loopback address: a name image.js cannot judge.
async function findLoopbackName() {
  const name = hostname().toLowerCase();
  if (!name || name === 'localhost' || name.endsWith('.localhost') || /^[\d.]+$/.test(name)) return null;
  try {
    const { address } = await lookup(name, { family: 4 });
    return address.startsWith('127.') ? { name, address } : null;
  } catch {
    return null;
  }
}

// Serves IMAGE at any path on `address` and records every request.
function startMedia(address) {
  const hits = [];
  const server = http.createServer((req, res) => {
    hits.push(req.url);
    res.writeHead(200, { 'Content-Type': 'image/png', 'Content-Length': IMAGE.length });
    res.end(IMAGE);
  });
  return new Promise((resolve) => server.listen(0, address, () => resolve({ server, hits, port: server.address().port })));
}

function configWith(allowedSources) {
  const config = readConfig(SLUG);
  config.media = { ...config.media, allowedSources };
  return config;
}

const putConfig = (base, config) => request(base, 'PUT', `/v1/vendors/${SLUG}/config`, { token: tokens.vendor, body: config });

async function publishSources(allowedSources) {
  const put = await putConfig(origin.base, configWith(allowedSources));
  assert.equal(put.status, 200, put.text);
  const rev = await request(origin.base, 'POST', `/v1/vendors/${SLUG}/revalidate`, { token: tokens.vendor, body: '' });
  assert.equal(rev.status, 200, rev.text);
}

async function startImageEdge(name, image) {
  const edge = await startOnFreePort({
    outDir: join(work, name), name, origin: origin.base, keys: { [origin.keyId]: origin.publicKey },
    edgeToken: tokens.edge, image: { vendor: SLUG, ...image },
  });
  edges.push(edge);
  return edge;
}

before(async () => {
  const db = join(work, 'origin.db');
  tokens = { vendor: addPrincipal('vendor', SLUG, db), edge: addPrincipal('edge', 'ssrf-edges', db) };
  origin = await startOrigin({ db, edgeToken: tokens.edge });
  loopbackName = await findLoopbackName();
  if (loopbackName) media = await startMedia(loopbackName.address);
});

after(async () => {
  await Promise.all(edges.map((e) => stop(e.child)));
  await stop(origin?.child);
  media?.server.close();
  rmSync(work, { recursive: true, force: true });
});

// Entries that name this machine or a private network, in spellings a URL parser accepts.
const LOCAL_SOURCES = [
  'http://127.0.0.1:8790/', 'http://localhost:8790/', 'http://img.LocalHost/', 'http://localhost./x/',
  'http://10.1.2.3/', 'http://172.16.5.4/', 'http://192.168.0.10/', 'http://100.64.0.1/',
  'http://169.254.169.254/latest/', 'http://0.0.0.0/', 'http://[::1]:8080/img', 'http://[::]/',
  'http://[fe80::1]/', 'http://[fd00::5]/', 'http://[::ffff:127.0.0.1]/', 'http://[::ffff:a9fe:a9fe]/',
  'http://[64:ff9b::10.0.0.1]/', 'http://[2002:c0a8:1::]/', 'http://2130706433/', 'http://0x7f.1/',
  'http://127.1/', 'http://0177.0.0.1/', 'https://0x7f000001:8443/a/',
];

test('the origin refuses loopback, private and link-local hosts in media.allowedSources, naming the entry', async () => {
  for (const source of LOCAL_SOURCES) {
    const res = await putConfig(origin.base, configWith(['https://cdn.example/', source]));
    assert.equal(res.status, 400, `${source}: ${res.text}`);
    assert.equal(res.json.error.code, 'invalid_value');
    assert.ok(res.json.error.message.startsWith(`media.allowedSources[1]: "${source}" names `), res.json.error.message);
    assert.match(res.json.error.message, /--allow-private-media-sources/);
  }
  const open = ['https://cdn.example/', 'http://93.184.216.34/img/', 'https://[2606:4700::1111]/', 'https://localhost.example/',
    'http://127.0.0.1.example/', 'https://img-10.example:8443/'];
  const res = await putConfig(origin.base, configWith(open));
  assert.equal(res.status, 200, res.text);
});

test('with --allow-private-media-sources the origin accepts them (the local stack)', async () => {
  const db = join(work, 'local.db');
  const vendor = addPrincipal('vendor', SLUG, db, ORIGIN_BIN);
  const local = await startOrigin({ db, args: ['--allow-private-media-sources'] });
  try {
    const res = await request(local.base, 'PUT', `/v1/vendors/${SLUG}/config`, { token: vendor, body: configWith(LOCAL_SOURCES) });
    assert.equal(res.status, 200, res.text);
  } finally {
    await stop(local.child);
  }
});

test('an image source whose host name resolves to loopback is not fetched; the origin\'s /metrics neither', async (t) => {
  if (!loopbackName) {
    t.skip(`${hostname()} does not resolve to a loopback address here`);
    return;
  }
  const { name } = loopbackName;
  const mediaBase = `http://${name}:${media.port}`;
  const originBase = `http://${name}:${origin.port}`;
  // A name, not an address: the origin cannot tell it is this machine, and accepts it.
  await publishSources([`${mediaBase}/img/`, `${originBase}/`]);
  const edge = await startImageEdge('edge-public', {});

  const image = await request(edge.base, 'GET', `/cdn-cgi/image/width=8/${mediaBase}/img/p3.png`);
  assert.equal(image.status, 502, image.text);
  assert.equal(image.json.error.code, 'source_unreachable');
  assert.deepEqual(media.hits, [], 'the media server saw no request');

  const origin0 = origin.stderr.length;
  const metrics = await request(edge.base, 'GET', `/cdn-cgi/image/width=8/${originBase}/metrics`);
  assert.equal(metrics.status, 502, metrics.text);
  assert.equal(metrics.json.error.code, 'source_unreachable');
  assert.match(origin.stderr, new RegExp(`"path":"/v1/vendors/${SLUG}/revalidate"`), 'the origin logs each request\'s path');
  assert.doesNotMatch(origin.stderr.slice(origin0), /"path":"\/metrics"/, 'the origin saw no request for /metrics');

  // The edge reached the origin (config sync) all along: through its own network, not this one.
  const held = await request(edge.base, 'GET', `/v1/config/${SLUG}`);
  assert.equal(held.status, 200, held.text);
});

test('with IMAGE_ALLOW_PRIVATE_SOURCES the same name is fetched (the name does reach the media server)', async (t) => {
  if (!loopbackName) {
    t.skip(`${hostname()} does not resolve to a loopback address here`);
    return;
  }
  const mediaBase = `http://${loopbackName.name}:${media.port}`;
  const edge = await startImageEdge('edge-local', { allowPrivateSources: true });
  const before = media.hits.length;
  const image = await request(edge.base, 'GET', `/cdn-cgi/image/width=8/${mediaBase}/img/p3.png`);
  assert.equal(image.status, 200, image.text);
  assert.equal(image.headers.get('content-type'), 'image/png');
  assert.deepEqual(media.hits.slice(before), ['/img/p3.png']);
});
