// The image glue: the URL helpers (imageUrl, srcset, the Next.js loader), the edge's source rules
// (edge-workers/image.js: allowlist, private addresses; signatures: image-signing.test.mjs), the core's
// reading of a config's media settings, and loadImageModule against the real image.wasm of both
// wasm builds: option errors with .code, a resize of a fixture, instance replacement after a
// large job.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { targets, engineFor, root } from './targets.mjs';
import { imageSize } from './image-size.mjs';
import {
  createImageLoader, imageLoader, imageOptions, imageUrl, srcset,
} from '../../js-glue/image-url.js';
import * as browser from '../../js-glue/browser.js';
import {
  ACCEPT_WEBP, AUTO_WIDTHS, CLIENT_SLOW, CLIENT_WIDTH_SHIFT, acceptBits, clientBits, loadImageModule, sizeClass,
  slowConnection,
} from '../../js-glue/image.js';
import { WhaleError } from '../../js-glue/index.js';
import {
  ImageService, allowedBy, checkSource, isPrivateHost, parseImagePath, resolveSource, vendorOf,
} from '../../edge-workers/image.js';

const fixture = (name) => readFileSync(join(root, 'fixtures', 'images', name));

// --- URLs ------------------------------------------------------------------------------------

test('imageUrl writes Cloudflare names in a stable order, whatever the order or spelling given', () => {
  const a = imageUrl('/media/a.jpg', { format: 'auto', fit: 'cover', w: 400, height: 300, quality: 80 });
  const b = imageUrl('media/a.jpg', { h: 300, q: 80, width: 400, f: 'auto', fit: 'cover' });
  assert.equal(a, '/img/width=400,height=300,fit=cover,quality=80,format=auto/media/a.jpg');
  assert.equal(b, a);
  assert.equal(imageUrl('https://cdn.example/x.png', { width: 200, base: 'https://shop.example/' }),
    'https://shop.example/img/width=200/https://cdn.example/x.png');
  assert.equal(imageUrl('/a.jpg', { gravity: { x: 0.25, y: 0.5 }, dpr: 2, anim: false, onerror: 'redirect' }),
    '/img/dpr=2,gravity=0.25x0.5,anim=false,onerror=redirect/a.jpg');
  assert.equal(imageOptions({ metadata: 'none', flip: 'h', rotate: 90 }), 'rotate=90,flip=h,metadata=none');
  // Characters that would end the segment or split an option are escaped.
  assert.equal(imageOptions({ background: '#ff0000', fit: 'pad' }), 'fit=pad,background=%23ff0000');
  assert.equal(imageOptions({ background: 'rgb(1,2,3)' }), 'background=rgb(1%2C2%2C3)');
  assert.equal(imageOptions({ zoom: 1, anim: true, width: undefined, height: null }), 'anim=true,zoom=1');
  // No option: the source itself.
  assert.equal(imageUrl('/a.jpg', {}), '/a.jpg');
  assert.throws(() => imageOptions({ width: Infinity }), TypeError);
});

test('srcset lists each width once, ascending, without dpr', () => {
  assert.equal(srcset('/a.jpg', [800, 400, 800], { quality: 70, dpr: 2 }),
    '/img/width=400,quality=70/a.jpg 400w, /img/width=800,quality=70/a.jpg 800w');
  assert.equal(srcset('/a.jpg', []), '');
});

test('the Next.js loader: width, quality when given, format=auto; createImageLoader sets defaults', () => {
  assert.equal(imageLoader({ src: '/p/1.jpg', width: 640 }), '/img/width=640,format=auto/p/1.jpg');
  assert.equal(imageLoader({ src: '/p/1.jpg', width: 640, quality: 75 }), '/img/width=640,quality=75,format=auto/p/1.jpg');
  const loader = createImageLoader({ base: 'https://edge.example', fit: 'cover', quality: 60 });
  assert.equal(loader({ src: 'https://cdn.example/1.jpg', width: 320 }),
    'https://edge.example/img/width=320,fit=cover,quality=60,format=auto/https://cdn.example/1.jpg');
});

test('the browser entry re-exports the URL helpers and has lazyImages', () => {
  assert.equal(browser.imageUrl, imageUrl);
  assert.equal(browser.srcset, srcset);
  assert.equal(browser.imageLoader, imageLoader);
  assert.equal(typeof browser.lazyImages, 'function');
});

// --- the edge's source rules -----------------------------------------------------------------

test('private and loopback hosts are recognised in every spelling a URL parser leaves', () => {
  const host = (text) => new URL(text).hostname;
  for (const url of [
    'http://localhost/', 'http://LOCALHOST./', 'http://a.localhost/', 'http://127.0.0.1/', 'http://127.1/',
    'http://2130706433/', 'http://0x7f000001/', 'http://0177.0.0.1/', 'http://10.1.2.3/', 'http://172.16.0.1/',
    'http://172.31.255.255/', 'http://192.168.1.1/', 'http://169.254.169.254/', 'http://100.64.0.1/', 'http://0.0.0.0/',
    'http://224.0.0.1/', 'http://255.255.255.255/', 'http://[::1]/', 'http://[::]/', 'http://[::ffff:127.0.0.1]/',
    'http://[::ffff:10.0.0.1]/', 'http://[fc00::1]/', 'http://[fd12:3456::1]/', 'http://[fe80::1]/',
    'http://[64:ff9b::7f00:1]/', 'http://[2002:a00:1::]/', 'http://[ff02::1]/', 'http://[::127.0.0.1]/',
  ]) {
    assert.equal(isPrivateHost(host(url)), true, url);
  }
  for (const url of [
    'http://example.com/', 'http://8.8.8.8/', 'http://172.32.0.1/', 'http://100.128.0.1/', 'http://[2606:4700::1111]/',
    'http://[::ffff:8.8.8.8]/', 'http://localhost.example.com/', 'http://169.255.0.1/',
  ]) {
    assert.equal(isPrivateHost(host(url)), false, url);
  }
});

test('allowed sources are prefixes of scheme, host, port and path', () => {
  const prefixes = ['https://cdn.example/media/', 'http://127.0.0.1:8080/img'];
  const ok = (text) => allowedBy(new URL(text), prefixes);
  assert.equal(ok('https://cdn.example/media/a.jpg'), true);
  assert.equal(ok('https://CDN.example:443/media/x/y.png'), true);
  assert.equal(ok('https://cdn.example/media/../secret.jpg'), false);
  assert.equal(ok('https://cdn.example/media/%2e%2e/secret.jpg'), false);
  assert.equal(ok('http://cdn.example/media/a.jpg'), false, 'scheme');
  assert.equal(ok('https://cdn.example.evil/media/a.jpg'), false, 'host');
  assert.equal(ok('https://cdn.example:8443/media/a.jpg'), false, 'port');
  assert.equal(ok('https://cdn.example/other/a.jpg'), false, 'path');
  assert.equal(ok('http://127.0.0.1:8080/img/a.jpg'), true);
  assert.equal(ok('http://127.0.0.1:8081/img/a.jpg'), false);
});

test('sources: relative paths use the first allowed origin; checks refuse with 403 and a reason', () => {
  const media = { allowedSources: ['https://cdn.example/media/', 'http://10.0.0.5/img/'] };
  assert.equal(resolveSource('media/a.jpg?v=1', media).href, 'https://cdn.example/media/a.jpg?v=1');
  assert.equal(resolveSource('https:/cdn.example/media/a.jpg', media).href, 'https://cdn.example/media/a.jpg');
  assert.equal(resolveSource('https%3A%2F%2Fcdn.example%2Fmedia%2Fa.jpg', media).href, 'https://cdn.example/media/a.jpg');
  assert.throws(() => resolveSource('a.jpg', { allowedSources: [] }), (e) => e.status === 403);
  assert.throws(() => resolveSource('ftp://cdn.example/a.jpg', media), (e) => e.status === 403);
  const refused = (text, allowPrivate, reason) => assert.throws(() => checkSource(new URL(text), media, { allowPrivate }),
    (e) => e.status === 403 && e.code === 'source_not_allowed' && reason.test(e.message), text);
  refused('http://10.0.0.5/img/a.jpg', false, /private/);
  assert.doesNotThrow(() => checkSource(new URL('http://10.0.0.5/img/a.jpg'), media, { allowPrivate: true }));
  refused('https://elsewhere.example/a.jpg', true, /allowed sources/);
  refused('https://user:pw@cdn.example/media/a.jpg', true, /credentials/);
  assert.throws(() => checkSource(new URL('https://cdn.example/media/../cdn-cgi/image/w=1/x.jpg'), { allowedSources: ['https://cdn.example/'] }),
    (e) => e.status === 403 && /an image URL/.test(e.message), 'an image URL as a source would loop');
  // /img/ is this edge's route only on the hosts it answers; elsewhere it is a media path.
  const self = { selfHosts: new Set(['shop.example']) };
  assert.throws(() => checkSource(new URL('https://shop.example/img/w=1/x.jpg'), { allowedSources: ['https://shop.example/'] }, self),
    (e) => e.status === 403 && /an image URL/.test(e.message), 'our own /img/ route as a source would loop');
  assert.doesNotThrow(() => checkSource(new URL('https://cdn.example/img/w=1/x.jpg'), { allowedSources: ['https://cdn.example/'] }, self));
});

test('the vendor comes from IMAGE_HOSTS by host, else IMAGE_VENDOR', () => {
  const env = { IMAGE_HOSTS: { 'shop.example': 'flora-distro', 'img.example:8443': 'green-harbor' }, IMAGE_VENDOR: 'minimal' };
  assert.equal(vendorOf(new URL('https://shop.example/x'), env), 'flora-distro');
  assert.equal(vendorOf(new URL('https://img.example:8443/x'), env), 'green-harbor');
  assert.equal(vendorOf(new URL('https://other.example/x'), env), 'minimal');
  assert.equal(vendorOf(new URL('https://shop.example/x'), { IMAGE_HOSTS: '{"shop.example":"a"}' }), 'a');
  assert.throws(() => vendorOf(new URL('https://other.example/x'), {}), (e) => e.status === 404);
});

test('the worker gives image.wasm IMAGE_MAX_JOB_MB as each job\'s memory budget, 96 MB by default', () => {
  const service = (env) => new ImageService({ env, media: async () => ({}), loadModule: async () => null, cache: null });
  assert.equal(service({}).maxJobMemoryBytes, 96 * 1024 * 1024);
  assert.equal(service({ IMAGE_MAX_JOB_MB: '40' }).maxJobMemoryBytes, 40 * 1024 * 1024);
  assert.equal(service({ IMAGE_MAX_JOB_MB: 'lots' }).maxJobMemoryBytes, 96 * 1024 * 1024);
});

// --- the core's media settings --------------------------------------------------------------

for (const target of targets) {
  test(`${target.name}: configMedia answers the config's media settings with defaults filled in`, async () => {
    const engine = await engineFor(target);
    assert.equal(engine.abiVersion, '1.6');
    engine.loadConfig(readFileSync(join(root, 'fixtures/vendors/green-harbor/config.json')), 4);
    engine.loadConfig(readFileSync(join(root, 'fixtures/vendors/minimal/config.json')), 1);
    assert.deepEqual(engine.configMedia('green-harbor', 4), {
      allowedSources: ['https://images.greenharbor.example/'], formats: ['jpeg', 'webp', 'avif'], maxWidth: 1600, maxHeight: 1600,
      quality: 78, widths: [160, 320, 480, 800, 1200, 1600], maxInputBytes: 26214400, maxInputPixels: 16777216, signedUrls: false,
    });
    assert.deepEqual(engine.configMedia('minimal', 1), {
      allowedSources: [], formats: ['jpeg', 'png', 'webp'], maxWidth: 4096, maxHeight: 4096, quality: 85, widths: [],
      maxInputBytes: 26214400, maxInputPixels: 16777216, signedUrls: false,
    });
    assert.throws(() => engine.configMedia('minimal', 2), (e) => e instanceof WhaleError && e.code === 'not_found');
  });
}

// --- image.wasm -----------------------------------------------------------------------------

const imageTargets = [
  { name: 'emscripten', path: join(process.env.WHALE_EMSCRIPTEN_DIR ?? join(root, 'build/emscripten'), 'wasm/image.wasm') },
  { name: 'wasi', path: join(process.env.WHALE_WASI_DIR ?? join(root, 'build/wasi'), 'wasm/image.wasm') },
];

async function imageModule(target, options) {
  assert.ok(existsSync(target.path), `${target.name} image.wasm missing at ${target.path}: run scripts/build.sh`);
  return loadImageModule(readFileSync(target.path), options);
}

test('acceptBits reads an Accept header', () => {
  assert.equal(acceptBits('image/avif,image/webp,image/apng,*/*;q=0.8'), 3);
  assert.equal(acceptBits('image/webp'), ACCEPT_WEBP);
  assert.equal(acceptBits('*/*'), 0);
  assert.equal(acceptBits(undefined), 0);
  assert.equal(acceptBits(1), 1);
});

for (const target of imageTargets) {
  test(`${target.name}: options are normalized, and errors are WhaleErrors naming the option`, async () => {
    const image = await imageModule(target);
    assert.match(image.abiVersion, /^1\.\d+$/);
    assert.equal(image.options('fit=cover,w=400'), image.options('width=400,fit=cover'));
    assert.equal(image.options('w_400,c_fill,f_auto'), image.options('width=400,fit=cover,format=auto'));
    for (const [text, name] of [['width=abc', 'width'], ['fit=squash', 'fit'], ['quality=0', 'quality'], ['trim=1', 'trim'],
      ['dpr=9', 'dpr'], ['nope=1', 'nope']]) {
      assert.throws(() => image.options(text), (e) => e instanceof WhaleError && e.code === 'invalid_value' &&
        e.message.includes(`'${name}'`), text);
    }
    assert.throws(() => image.options(''), (e) => e instanceof WhaleError && e.code === 'invalid_value');
    // The instance is still usable after errors.
    assert.equal(image.options('width=400'), 'width=400');
  });

  test(`${target.name}: probe and process a fixture`, async () => {
    const image = await imageModule(target);
    assert.deepEqual(image.probe(fixture('320x240.jpg')), { width: 320, height: 240, format: 'jpeg', orientation: 1, frames: 1 });
    const out = image.process(fixture('Landscape_1.jpg'), 'width=200');
    assert.equal(out.contentType, 'image/jpeg');
    assert.equal(out.width, 200);
    assert.equal(out.height, 150);
    assert.ok(out.bytes instanceof Uint8Array);
    assert.deepEqual(imageSize(out.bytes), { format: 'jpeg', width: 200, height: 150, progressive: true });
    // EXIF orientation 6 comes out upright: the same size as orientation 1.
    const turned = image.process(fixture('Landscape_6.jpg'), 'width=200');
    assert.deepEqual([turned.width, turned.height], [200, 150]);
    const webp = image.process(fixture('Landscape_1.jpg'), 'width=120,format=auto', { accept: 'image/webp,*/*' });
    assert.equal(webp.contentType, 'image/webp');
    assert.equal(imageSize(webp.bytes).width, 120);
    const json = image.process(fixture('Landscape_1.jpg'), 'format=json');
    assert.equal(json.contentType, 'application/json');
    assert.equal(JSON.parse(new TextDecoder().decode(json.bytes)).width, 600);
  });

  test(`${target.name}: damaged and oversized inputs are WhaleErrors, and the instance survives them`, async () => {
    const image = await imageModule(target);
    const code = (fn) => {
      try {
        fn();
      } catch (e) {
        assert.ok(e instanceof WhaleError, e);
        assert.ok(e.message.length > 0);
        return e.code;
      }
      return 'ok';
    };
    assert.equal(code(() => image.process(fixture('truncated.jpg'), 'width=100')), 'corrupt_input');
    assert.ok(['corrupt_input', 'unsupported_format'].includes(code(() => image.process(fixture('corrupt-header.jpg'), 'width=100'))));
    assert.equal(code(() => image.process(fixture('giant-image.jpg'), 'width=100')), 'too_large');
    assert.equal(code(() => image.process(fixture('Landscape_1.jpg'), 'width=100', { maxPixels: 1000 })), 'too_large');
    assert.equal(code(() => image.process(fixture('Landscape_1.jpg'), 'width=100', { maxInputBytes: 1000 })), 'too_large');
    assert.equal(code(() => image.process(new Uint8Array([1, 2, 3]), 'width=100')), 'unsupported_format');
    // Over the job's memory budget: refused before decoding, naming the estimate and the budget.
    assert.throws(() => image.process(fixture('Landscape_1.jpg'), 'width=600,format=png', { maxJobMemoryBytes: 4 << 20 }),
      (e) => e.code === 'too_large' && /needs about \d+ MB to .*; the limit is 4 MB$/.test(e.message), 'budget');
    assert.equal(code(() => image.process(fixture('Landscape_1.jpg'), 'width=100', { maxJobMemoryBytes: -1 })), 'invalid_value');
    assert.equal(image.process(fixture('320x240.jpg'), 'width=32').width, 32);
    assert.equal(image.stats().traps, 0);
  });

  test(`${target.name}: a job that leaves memory above the threshold replaces the instance`, async () => {
    const threshold = 8 * 1024 * 1024;
    const image = await imageModule(target, { maxMemoryBytes: threshold });
    const small = image.process(fixture('320x240.jpg'), 'width=64');
    assert.equal(small.width, 64);
    const before = image.stats();
    assert.equal(before.replacements, 0);
    assert.ok(before.memoryBytes <= threshold, `a small job stays under ${threshold} bytes (${before.memoryBytes})`);
    // 2725x2225 at full size: its decode alone needs more than the threshold (at 720x588 the
    // decode is shrunk on load and streamed, and stays under it).
    const large = image.process(fixture('2569067123_aca715a2ee_o.jpg'), 'width=2725');
    assert.deepEqual([large.width, large.height], [2725, 2225]);
    const after = image.stats();
    assert.equal(after.replacements, 1);
    assert.ok(after.peakMemoryBytes > threshold, `peak ${after.peakMemoryBytes}`);
    assert.equal(after.memoryBytes, 0, 'the grown instance is dropped');
    // The next call runs in a fresh instance with a small memory, and gives the same bytes.
    const again = image.process(fixture('320x240.jpg'), 'width=64');
    assert.deepEqual(again.bytes, small.bytes);
    const fresh = image.stats();
    assert.equal(fresh.instances, 2);
    assert.ok(fresh.memoryBytes < after.peakMemoryBytes && fresh.memoryBytes <= threshold, `memory dropped to ${fresh.memoryBytes}`);
  });
}

// --- client hints ----------------------------------------------------------------------------

test('client hints: the size class of width=auto and a slow connection, read as Cloudflare reads them', async () => {
  const h = (entries) => new Headers(entries);
  assert.equal(sizeClass(h({})), 0);
  assert.equal(sizeClass(h({ 'sec-ch-viewport-width': '390' })), 1);
  assert.equal(sizeClass(h({ 'viewport-width': '800' })), 2);
  assert.equal(sizeClass(h({ 'sec-ch-viewport-width': '1280', 'sec-ch-ua-mobile': '?1' })), 3, 'the viewport first');
  assert.equal(sizeClass(h({ 'sec-ch-viewport-width': '2560' })), 4);
  assert.equal(sizeClass(h({ 'sec-ch-viewport-width': 'wide', 'sec-ch-ua-mobile': '?1' })), 1);
  assert.equal(sizeClass(h({ 'user-agent': 'Mozilla/5.0 (Linux; Android 14; Pixel 8) Mobile Safari/537.36' })), 1);
  assert.equal(sizeClass(h({ 'user-agent': 'Mozilla/5.0 (Linux; Android 13; SM-X710) Safari/537.36' })), 2);
  assert.equal(sizeClass(h({ 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0' })), 3);
  assert.equal(slowConnection(h({})), false);
  assert.equal(slowConnection(h({ rtt: '150', downlink: '5', ect: '4g', 'save-data': 'off' })), false);
  assert.equal(slowConnection(h({ rtt: '200' })), true);
  assert.equal(slowConnection(h({ downlink: '1.5' })), true);
  assert.equal(slowConnection(h({ ect: '3g' })), true);
  assert.equal(slowConnection(h({ 'save-data': 'on' })), true);
  assert.equal(clientBits(h({ accept: 'image/webp', ect: '2g', 'sec-ch-viewport-width': '390' })),
    ACCEPT_WEBP | CLIENT_SLOW | (1 << CLIENT_WIDTH_SHIFT));
  // The glue's table is image.wasm's.
  const image = await loadImageModule();
  for (let sizeClassIndex = 0; sizeClassIndex < AUTO_WIDTHS.length; sizeClassIndex++) {
    const out = image.process(fixture('2569067123_aca715a2ee_o.jpg'), 'width=auto,quality=30', { accept: sizeClassIndex << CLIENT_WIDTH_SHIFT });
    assert.equal(out.width, AUTO_WIDTHS[sizeClassIndex], `size class ${sizeClassIndex}`);
  }
});

// --- transform(): cf.image's options object -------------------------------------------------

test('transform() takes cf.image options and answers what the same URL options give', async () => {
  const http = await import('node:http');
  const server = http.createServer((req, res) => {
    const name = decodeURIComponent(req.url.slice(1));
    if (name === 'missing.jpg' || !existsSync(join(root, 'fixtures', 'images', name))) {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('no such image');
      return;
    }
    const body = fixture(name);
    res.writeHead(200, { 'Content-Type': 'image/jpeg', 'Content-Length': body.length, 'Cache-Control': 'max-age=600' });
    res.end(body);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${server.address().port}/`;
  try {
    const image = await loadImageModule();
    const options = {
      width: 120, height: 90, fit: 'cover', gravity: { x: 0.3, y: 0.5 }, quality: 70, flip: 'h',
      trim: { top: 10, right: 20, bottom: 10, left: 20 }, border: { color: '#ff0000', width: 2 }, format: 'png',
    };
    const answer = await image.transform(`${base}320x240.jpg`, options);
    assert.equal(answer.status, 200);
    assert.equal(answer.headers.get('content-type'), 'image/png');
    assert.equal(answer.headers.get('cache-control'), 'max-age=600');
    const bytes = new Uint8Array(await answer.arrayBuffer());
    const same = image.process(fixture('320x240.jpg'),
      'width=120,height=90,fit=cover,gravity=0.3x0.5,quality=70,flip=h,trim=10;20;10;20,border.width=2,border.color=%23ff0000,format=png');
    assert.deepEqual(bytes, same.bytes);
    assert.deepEqual([imageSize(bytes).width, imageSize(bytes).height], [124, 94]);
    // format=auto and width=auto read the visitor's hints.
    const auto = await image.transform(new Request(`${base}flowers.jpeg`), { width: 'auto', format: 'auto' },
      { clientHints: new Headers({ accept: 'image/webp', 'sec-ch-viewport-width': '390' }) });
    assert.equal(auto.headers.get('content-type'), 'image/webp');
    assert.equal(imageSize(new Uint8Array(await auto.arrayBuffer())).width, 320);
    const bordered = await image.transform(`${base}320x240.jpg`, { trim: { border: { tolerance: 255, keep: 0 } }, format: 'png' });
    assert.equal(imageSize(new Uint8Array(await bordered.arrayBuffer())).width, 320, 'all border: nothing cut');
    // The source's error comes back as it is; bad options and draw throw before any fetch.
    const missing = await image.transform(`${base}missing.jpg`, { width: 10 });
    assert.equal(missing.status, 404);
    await assert.rejects(image.transform(`${base}320x240.jpg`, { width: 0 }), (e) => e.code === 'invalid_value' && /option 'width'/.test(e.message));
    // draw: overlays fetched beside the source and drawn as process()'s draw does.
    const drawn = await image.transform(`${base}320x240.jpg`, {
      width: 200, format: 'png', draw: [{ url: 'p3.png', width: 20, bottom: 4, right: 4, opacity: 0.5 }, { url: 'embedgravitybird.png', width: 30, repeat: 'x', top: 0 }],
    });
    assert.equal(drawn.status, 200);
    const expected = image.process(fixture('320x240.jpg'), 'width=200,format=png', {
      draw: [{ bytes: fixture('p3.png'), options: 'width=20,bottom=4,right=4,opacity=0.5' },
        { bytes: fixture('embedgravitybird.png'), options: 'width=30,top=0,repeat=x' }],
    });
    assert.deepEqual(new Uint8Array(await drawn.arrayBuffer()), expected.bytes);
    const plainOut = image.process(fixture('320x240.jpg'), 'width=200,format=png');
    assert.notDeepEqual(expected.bytes, plainOut.bytes);
    await assert.rejects(image.transform(`${base}320x240.jpg`, { draw: [{ url: 'missing.png' }] }), (e) => e.code === 'not_found' && /missing\.png/.test(e.message));
    await assert.rejects(image.transform(`${base}320x240.jpg`, { draw: [{ url: 'p3.png', opacity: 3 }] }), (e) => e.code === 'invalid_value' && /opacity/.test(e.message));
    await assert.rejects(image.transform(`${base}320x240.jpg`, { draw: [{}] }), (e) => e.code === 'invalid_value' && /draw/.test(e.message));
    await assert.rejects(image.transform(`${base}320x240.jpg`, { width: 10 }, { maxInputBytes: 1000 }), (e) => e.code === 'too_large');
    await assert.rejects(image.transform(`${base}SOURCES.md`, { width: 10 }), (e) => e.code === 'unsupported_format');
  } finally {
    server.close();
  }
});
