// Which network each outbound request of the edge goes through: image sources and every redirect
// hop through the global fetch (public addresses only in the generated config), the origin through
// ORIGIN_NET, and image sources through IMAGE_NET only with IMAGE_ALLOW_PRIVATE_SOURCES. A fake
// network stands for workerd's: it resolves host names and refuses non-public addresses as
// workerd's `network` service with allow = ["public"] does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fetchSource, sourceFetch } from '../../edge-workers/image.js';
import { originFetch } from '../../edge-workers/http.js';
import { generateConfig, keyIdOf } from '../../edge-workers/gen-config.mjs';

const JPEG = new Uint8Array([0xff, 0xd8, 0xff, 0xd9]);

// A network that knows a few names: public ones it serves with `routes` (URL -> Response
// factory), names that resolve to loopback it refuses like workerd ("no addresses permitted").
function publicOnlyNetwork(routes) {
  const DNS = { 'cdn.example': '203.0.113.10', 'img.example': '198.51.100.7', 'internal.example': '127.0.0.1', 'meta.example': '169.254.169.254' };
  const calls = [];
  const fetchImpl = async (input, init) => {
    const url = new URL(input);
    calls.push(url.href);
    assert.equal(init.redirect, 'manual', 'redirects are followed by hand');
    const address = DNS[url.hostname];
    if (address === undefined || /^(127\.|169\.254\.|10\.)/.test(address)) {
      throw new TypeError(`${url.hostname}: DNS lookup failed (no permitted addresses)`);
    }
    const route = routes[url.href];
    return route ? route() : new Response('not found', { status: 404 });
  };
  return { fetchImpl, calls };
}

const redirect = (location) => () => new Response(null, { status: 302, headers: { Location: location } });
const image = () => new Response(JPEG, { headers: { 'Content-Type': 'image/jpeg' } });
const media = (allowedSources) => ({ allowedSources, maxInputBytes: 1 << 20 });
const options = (fetchImpl) => ({ allowPrivate: false, timeoutMs: 2000, fetchImpl });

test('every redirect hop goes through the source network: a hop to a name that resolves to loopback is refused', async () => {
  const { fetchImpl, calls } = publicOnlyNetwork({ 'https://cdn.example/a.jpg': redirect('https://internal.example/metrics') });
  const sources = media(['https://cdn.example/', 'https://internal.example/']);
  await assert.rejects(fetchSource(new URL('https://cdn.example/a.jpg'), sources, options(fetchImpl)),
    (e) => e.status === 502 && e.code === 'source_unreachable' && /internal\.example/.test(e.message));
  assert.deepEqual(calls, ['https://cdn.example/a.jpg', 'https://internal.example/metrics']);
});

test('a redirect is checked against allowedSources and the address rules before it is fetched', async () => {
  const { fetchImpl, calls } = publicOnlyNetwork({
    'https://cdn.example/off.jpg': redirect('https://img.example/b.jpg'),
    'https://cdn.example/literal.jpg': redirect('http://127.0.0.1:8788/metrics'),
    'https://cdn.example/meta.jpg': redirect('http://[::ffff:169.254.169.254]/latest/meta-data/'),
    'https://cdn.example/ok.jpg': redirect('/b.jpg'),
    'https://cdn.example/b.jpg': image,
  });
  const sources = media(['https://cdn.example/', 'http://127.0.0.1:8788/', 'http://[::ffff:169.254.169.254]/']);
  for (const path of ['off', 'literal', 'meta']) {
    await assert.rejects(fetchSource(new URL(`https://cdn.example/${path}.jpg`), sources, options(fetchImpl)),
      (e) => e.status === 403 && e.code === 'source_not_allowed', path);
  }
  assert.deepEqual(calls, ['https://cdn.example/off.jpg', 'https://cdn.example/literal.jpg', 'https://cdn.example/meta.jpg']);
  const fetched = await fetchSource(new URL('https://cdn.example/ok.jpg'), sources, options(fetchImpl));
  assert.deepEqual([...fetched.bytes], [...JPEG]);
  assert.equal(fetched.url.href, 'https://cdn.example/b.jpg');
});

test('image sources use IMAGE_NET only with IMAGE_ALLOW_PRIVATE_SOURCES; the origin uses ORIGIN_NET', async () => {
  const seen = [];
  const binding = (name) => ({ fetch: async (input) => { seen.push([name, input]); return new Response('ok'); } });
  const realFetch = globalThis.fetch;
  globalThis.fetch = async (input) => { seen.push(['global', input]); return new Response('ok'); };
  try {
    const env = { IMAGE_NET: binding('IMAGE_NET'), ORIGIN_NET: binding('ORIGIN_NET') };
    await sourceFetch(env, false)('https://cdn.example/a.jpg', {});
    await sourceFetch(env, true)('http://127.0.0.1:8790/a.jpg', {});
    await sourceFetch({}, true)('http://127.0.0.1:8790/b.jpg', {});
    await originFetch(env)('http://127.0.0.1:8788/v1/snapshots/x', {});
    await originFetch({})('https://origin.example/v1/snapshots/x', {});
  } finally {
    globalThis.fetch = realFetch;
  }
  assert.deepEqual(seen, [
    ['global', 'https://cdn.example/a.jpg'],
    ['IMAGE_NET', 'http://127.0.0.1:8790/a.jpg'],
    ['global', 'http://127.0.0.1:8790/b.jpg'],
    ['ORIGIN_NET', 'http://127.0.0.1:8788/v1/snapshots/x'],
    ['global', 'https://origin.example/v1/snapshots/x'],
  ]);
});

test('gen-config: the global fetch reaches public addresses only; the origin and local image sources get their own binding', () => {
  const work = mkdtempSync(join(tmpdir(), 'whale-networks-'));
  try {
    const wasm = join(work, 'core.wasm');
    writeFileSync(wasm, '');
    const raw = generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' }).subarray(12).toString('base64');
    const sync = { origin: 'http://127.0.0.1:8788', keys: { [keyIdOf(raw)]: raw } };
    const config = (name, options) => readFileSync(
      generateConfig({ outDir: join(work, name), wasm, imageWasm: null, vendorsDir: work, ...options }).configPath, 'utf8');
    const publicNet = '(name = "public-net", network = (allow = ["public"], deny = ["private", "local"]';
    const privateNet = '(name = "private-net", network = (allow = ["public", "private", "local"]))';

    const synced = config('synced', sync);
    assert.ok(synced.includes(publicNet));
    assert.match(synced, /^ {2}globalOutbound = "public-net",/m);
    assert.ok(synced.includes(privateNet));
    assert.ok(synced.includes('(name = "ORIGIN_NET", service = "private-net")'));
    assert.ok(!synced.includes('IMAGE_NET'));

    const local = config('local', { ...sync, image: { allowPrivateSources: true } });
    assert.match(local, /^ {2}globalOutbound = "public-net",/m);
    assert.ok(local.includes('(name = "IMAGE_NET", service = "private-net")'));
    assert.ok(local.includes('(name = "IMAGE_ALLOW_PRIVATE_SOURCES", text = "1")'));

    const alone = config('alone', {});
    assert.match(alone, /^ {2}globalOutbound = "public-net",/m);
    assert.ok(!alone.includes('private-net'));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
