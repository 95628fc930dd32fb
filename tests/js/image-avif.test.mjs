// AVIF through the glue (js-glue/image.js) on both wasm builds: image.wasm hands the final pixels
// to avif.wasm, which loadAvif() compiles on demand. The files are decoded by libavif with dav1d
// (Debian's avifdec, a decoder that shares no code with ours) and compared with the same job
// written losslessly: the picture, its size and its alpha must come back. Also: process() before
// loadAvif() says what to do, wantsAvif(), transform() loading the encoder itself, and avif.wasm's
// memory dropped after a job like image.wasm's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { root } from './targets.mjs';
import { ACCEPT_AVIF, ACCEPT_WEBP, loadImageModule } from '../../js-glue/image.js';

const sharp = createRequire(import.meta.url)('sharp'); // reads the PNGs avifdec writes
const fixture = (name) => readFileSync(join(root, 'fixtures', 'images', name));
const builds = [
  { name: 'emscripten', dir: join(process.env.WHALE_EMSCRIPTEN_DIR ?? join(root, 'build/emscripten'), 'wasm') },
  { name: 'wasi', dir: join(process.env.WHALE_WASI_DIR ?? join(root, 'build/wasi'), 'wasm') },
];

async function load(build, options = {}) {
  return loadImageModule(readFileSync(join(build.dir, 'image.wasm')), { avif: readFileSync(join(build.dir, 'avif.wasm')), ...options });
}

const work = mkdtempSync(join(tmpdir(), 'whale-avif-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

// avifdec's picture of an AVIF file, as raw RGBA.
async function avifdec(bytes, name) {
  const input = join(work, `${name}.avif`);
  const output = join(work, `${name}.png`);
  writeFileSync(input, bytes);
  const r = spawnSync('avifdec', [input, output], { encoding: 'utf8' });
  assert.equal(r.status, 0, `avifdec (Debian libavif-bin, scripts/setup.sh installs it): ${r.stderr}${r.stdout}`);
  return { ...(await sharp(output).ensureAlpha().raw().toBuffer({ resolveWithObject: true })), log: r.stdout };
}

async function rgba(bytes) {
  return sharp(bytes).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
}

// Mean absolute difference per sample of channel c (0..3) between two RGBA pictures.
function meanDiff(a, b, c) {
  let sum = 0;
  for (let i = c; i < a.length; i += 4) sum += Math.abs(a[i] - b[i]);
  return sum / (a.length / 4);
}

for (const build of builds) {
  test(`${build.name}: AVIF decodes with libavif and dav1d to the picture asked for`, async () => {
    const images = await load(build);
    await images.loadAvif();
    const photo = fixture('2569067123_aca715a2ee_o.jpg');
    const options = 'width=720,height=588,fit=cover,quality=85';
    const out = images.process(photo, `${options},format=avif`);
    assert.equal(out.contentType, 'image/avif');
    assert.deepEqual([out.width, out.height], [720, 588]);
    assert.equal(String.fromCharCode(...out.bytes.subarray(4, 12)), 'ftypavif');
    const decoded = await avifdec(out.bytes, `${build.name}-photo`);
    assert.match(decoded.log, /Resolution\s*:\s*720x588/);
    assert.match(decoded.log, /Alpha\s*:\s*Absent/);
    const reference = await rgba(images.process(photo, `${options},format=png`).bytes);
    assert.deepEqual([decoded.info.width, decoded.info.height], [reference.info.width, reference.info.height]);
    for (const c of [0, 1, 2]) {
      const diff = meanDiff(decoded.data, reference.data, c);
      assert.ok(diff < 4, `channel ${c} differs by ${diff.toFixed(2)} on average`);
    }
    // Smaller than the WebP of the same job, and smaller again at a lower quality.
    const webp = images.process(photo, `${options},format=webp`);
    assert.ok(out.bytes.length < webp.bytes.length * 1.1, `AVIF ${out.bytes.length} B, WebP ${webp.bytes.length} B`);
    assert.ok(images.process(photo, 'width=720,height=588,fit=cover,quality=40,format=avif').bytes.length < out.bytes.length / 2);
  });

  test(`${build.name}: transparency survives as an alpha item`, async () => {
    const images = await load(build);
    await images.loadAvif();
    const paper = fixture('alpha-premultiply-2048x1536-paper.png');
    const out = images.process(paper, 'width=400,format=avif,quality=90');
    const decoded = await avifdec(out.bytes, `${build.name}-alpha`);
    assert.match(decoded.log, /Alpha\s*:\s*Not premultiplied/);
    const reference = await rgba(images.process(paper, 'width=400,format=png').bytes);
    const alpha = meanDiff(decoded.data, reference.data, 3);
    assert.ok(alpha < 3, `alpha differs by ${alpha.toFixed(2)} on average`);
    // Where the paper is opaque, its colour came through too.
    let sum = 0;
    let n = 0;
    for (let i = 0; i < reference.data.length; i += 4) {
      if (reference.data[i + 3] === 255) {
        sum += Math.abs(decoded.data[i] - reference.data[i]);
        n++;
      }
    }
    assert.ok(n > 1000 && sum / n < 4, `opaque red differs by ${(sum / n).toFixed(2)}`);
  });
}

test('process() before loadAvif() names the step; wantsAvif() says when it is needed', async () => {
  const images = await load(builds[0]);
  const photo = fixture('320x240.jpg');
  assert.throws(() => images.process(photo, 'width=100,format=avif'),
    (e) => e.code === 'unsupported_format' && /loadAvif/.test(e.message));
  // Jobs that cannot come out as AVIF never need it.
  assert.equal(images.process(photo, 'width=100,format=webp').contentType, 'image/webp');
  const large = fixture('2569067123_aca715a2ee_o.jpg');
  assert.equal(images.process(large, 'width=1300,format=avif').contentType, 'image/webp', 'past 1200 px: WebP');
  assert.equal(images.wantsAvif('width=100,format=avif'), true);
  assert.equal(images.wantsAvif('w_100,f_avif'), true);
  assert.equal(images.wantsAvif('width=100,format=auto', ACCEPT_AVIF | ACCEPT_WEBP), true);
  assert.equal(images.wantsAvif('width=100,format=auto', 'image/avif,image/webp,*/*'), true);
  assert.equal(images.wantsAvif('width=100,format=auto', ACCEPT_WEBP), false);
  assert.equal(images.wantsAvif('width=100,format=webp', ACCEPT_AVIF), false);
  assert.equal(images.stats().avif, null, 'nothing loaded yet');
  const avif = await images.loadAvif();
  assert.equal(await images.loadAvif(), avif, 'compiled once');
  assert.equal(images.process(photo, 'width=100,format=auto', { accept: 'image/avif,image/webp' }).contentType, 'image/avif');
  assert.equal(images.stats().avif.jobs, 1);

  const without = await loadImageModule(readFileSync(join(builds[0].dir, 'image.wasm')), { avif: false });
  await assert.rejects(without.loadAvif(), (e) => e.code === 'unsupported_format');
});

test('transform() loads the encoder itself for format avif', async () => {
  const images = await load(builds[0]);
  const photo = fixture('320x240.jpg');
  const fetchImpl = async () => new Response(photo, { headers: { 'Content-Type': 'image/jpeg' } });
  const res = await images.transform('https://images.example/a.jpg', { width: 160, format: 'avif' }, { fetch: fetchImpl });
  assert.equal(res.headers.get('Content-Type'), 'image/avif');
  const bytes = new Uint8Array(await res.arrayBuffer());
  const decoded = await avifdec(bytes, 'transform');
  assert.match(decoded.log, /Resolution\s*:\s*160x120/);
  // format=auto follows the client hints given.
  const auto = await images.transform('https://images.example/a.jpg', { width: 160, format: 'auto' },
    { fetch: fetchImpl, clientHints: new Headers({ Accept: 'image/avif,image/webp' }) });
  assert.equal(auto.headers.get('Content-Type'), 'image/avif');
});

test('avif.wasm is dropped after a job that leaves its memory past the threshold', async () => {
  const images = await load(builds[0], { maxMemoryBytes: 16 * 1024 * 1024 });
  await images.loadAvif();
  const photo = fixture('2569067123_aca715a2ee_o.jpg');
  const big = images.process(photo, 'width=1200,height=1200,fit=cover,format=avif');
  assert.equal(big.contentType, 'image/avif');
  const after = images.stats().avif;
  assert.equal(after.replacements, 1, JSON.stringify(after));
  assert.equal(after.memoryBytes, 0);
  assert.ok(after.peakMemoryBytes > 16 * 1024 * 1024);
  // The next job instantiates a fresh one and gives the same bytes.
  const again = images.process(photo, 'width=1200,height=1200,fit=cover,format=avif');
  assert.deepEqual(again.bytes, big.bytes);
  assert.equal(images.stats().avif.instances, 2);
});
