// Image transforms, image.wasm (under Node, through the glue the worker uses) vs npm `sharp`
// (native libvips, sharp.concurrency(1)), in one process.
//
//   node bench/image.bench.mjs [--seconds N] [--no-peers]
//
// Tasks (sharp's own benchmark, test/bench in the sharp repository; docs/architecture.md#tests-and-benchmarks):
//   jpeg  fixtures/images/2569067123_aca715a2ee_o.jpg 2725x2225 -> 720x588, JPEG quality 80, written
//         the same way by both: progressive (our format=jpeg, Cloudflare's default; sharp's
//         progressive: true) and baseline (our format=baseline-jpeg; sharp's default)
//   png   fixtures/images/alpha-premultiply-2048x1536-paper.png 2048x1536 RGBA -> 720x540, PNG
// Quality: SSIM (luma, 8x8 windows, stride 4) of our resize against sharp's Lanczos3 resize of the
// same task, both written losslessly (PNG) so that only the resize is compared: against sharp's
// exact path (fastShrinkOnLoad: false) and its default (JPEG shrink-on-load, then Lanczos3);
// and of the encoded outputs of the task (our JPEG q80 vs sharp's JPEG q80).
// AVIF: the task's 720x588 pixels (our lossless resize) encoded by avif.wasm, native sharp
// (libheif + aom) and @jsquash/avif (libavif + aom in wasm) at the same aom quantizer (16: our
// quality 85, libavif's and libheif's 75), fastest speed and 4:2:0: ms/op, bytes, SSIM against
// the pixels encoded; then avif.wasm at the 1200x1200 limit (the CPU budget) and its memory.
// Memory: peak wasm memory of 16 MP JPEGs and PNGs (made from the fixture by sharp at start, not
// stored) and of an 8x8 JPEG blown up to 4096x4096, within the default job budget; image.wasm size
// raw and gzip.
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import sharp from 'sharp';
import { loadImageModule } from '../js-glue/image.js';
import { ssim } from '../tests/js/ssim.mjs';

const root = new URL('../', import.meta.url);
const fixture = (name) => readFileSync(new URL(`fixtures/images/${name}`, root));
const seconds = Number(process.argv[process.argv.indexOf('--seconds') + 1]) || 3;
const now = () => Number(process.hrtime.bigint()) / 1e6;

sharp.concurrency(1);
sharp.cache(false);
const wasmBytes = readFileSync(new URL('js-glue/image.wasm', root));
const mb = (n) => (n / 2 ** 20).toFixed(1);
const images = await loadImageModule(wasmBytes);

// ops/s of an async or sync function, after a warm-up, over about `seconds` seconds.
async function opsPerSecond(fn) {
  for (let i = 0; i < 3; i++) await fn();
  let n = 0;
  const t0 = now();
  let t = t0;
  while (t - t0 < seconds * 1000) {
    await fn();
    n++;
    t = now();
  }
  return { ops: (n * 1000) / (t - t0), msPerOp: (t - t0) / n };
}

// ops/s of two functions timed in alternating slices of a quarter second over about `seconds`
// seconds each, so that a machine slowing down or speeding up meanwhile weighs on both alike.
async function interleaved(a, b) {
  for (let i = 0; i < 3; i++) { await a(); await b(); }
  const runs = [{ n: 0, ms: 0 }, { n: 0, ms: 0 }];
  while (runs[0].ms < seconds * 1000 || runs[1].ms < seconds * 1000) {
    for (const [k, fn] of [[0, a], [1, b]]) {
      const t0 = now();
      let t = t0;
      while (t - t0 < 250) {
        await fn();
        runs[k].n++;
        t = now();
      }
      runs[k].ms += t - t0;
    }
  }
  return runs.map((r) => ({ ops: (r.n * 1000) / r.ms, msPerOp: r.ms / r.n }));
}

const luma = async (buf) => sharp(buf).flatten({ background: '#ffffff' }).greyscale().raw().toBuffer({ resolveWithObject: true });

const tasks = [
  {
    name: 'jpeg 2725x2225 -> 720x588 q80 baseline',
    input: fixture('2569067123_aca715a2ee_o.jpg'),
    ours: 'width=720,height=588,fit=cover,quality=80,format=baseline-jpeg',
    sharp: (buf) => sharp(buf).resize(720, 588).jpeg({ quality: 80 }).toBuffer(),
    oursLossless: 'width=720,height=588,fit=cover,format=png',
    sharpExact: (buf) => sharp(buf).resize(720, 588, { fastShrinkOnLoad: false }).png().toBuffer(),
    sharpDefault: (buf) => sharp(buf).resize(720, 588).png().toBuffer(),
  },
  {
    name: 'jpeg 2725x2225 -> 720x588 q80 progressive',
    input: fixture('2569067123_aca715a2ee_o.jpg'),
    ours: 'width=720,height=588,fit=cover,quality=80,format=jpeg',
    sharp: (buf) => sharp(buf).resize(720, 588).jpeg({ quality: 80, progressive: true }).toBuffer(),
    oursLossless: 'width=720,height=588,fit=cover,format=png',
    sharpExact: (buf) => sharp(buf).resize(720, 588, { fastShrinkOnLoad: false }).png().toBuffer(),
    sharpDefault: (buf) => sharp(buf).resize(720, 588).png().toBuffer(),
  },
  {
    name: 'png 2048x1536 rgba -> 720x540',
    input: fixture('alpha-premultiply-2048x1536-paper.png'),
    ours: 'width=720,height=540,fit=cover,format=png',
    sharp: (buf) => sharp(buf).resize(720, 540).png().toBuffer(),
    oursLossless: 'width=720,height=540,fit=cover,format=png',
    sharpExact: (buf) => sharp(buf).resize(720, 540, { fastShrinkOnLoad: false }).png().toBuffer(),
    sharpDefault: (buf) => sharp(buf).resize(720, 540).png().toBuffer(),
  },
];

console.log(`image: sharp ${sharp.versions.sharp} (libvips ${sharp.versions.vips}, concurrency 1) vs image.wasm, ` +
  `${seconds} s per contender`);
const rows = [];
for (const task of tasks) {
  const mine = images.process(task.input, task.ours, {});
  const theirs = await task.sharp(task.input);
  const a = await luma(Buffer.from(mine.bytes));
  const b = await luma(theirs);
  if (a.info.width !== b.info.width || a.info.height !== b.info.height) {
    console.error(`image: ${task.name}: sizes differ: ours ${a.info.width}x${a.info.height}, sharp ${b.info.width}x${b.info.height}`);
    process.exit(1);
  }
  const quality = ssim(a.data, b.data, a.info.width, a.info.height);
  const lossless = await luma(Buffer.from(images.process(task.input, task.oursLossless, {}).bytes));
  const exact = await luma(await task.sharpExact(task.input));
  const dflt = await luma(await task.sharpDefault(task.input));
  const w0 = lossless.info.width, h0 = lossless.info.height;
  const ssimExact = ssim(lossless.data, exact.data, w0, h0);
  const ssimDefault = ssim(lossless.data, dflt.data, w0, h0);
  const [w, s] = await interleaved(() => images.process(task.input, task.ours, {}), () => task.sharp(task.input));
  rows.push({
    task: task.name,
    'image.wasm ops/s': w.ops.toFixed(1),
    'image.wasm ms/op': w.msPerOp.toFixed(1),
    'sharp ops/s': s.ops.toFixed(1),
    'sharp ms/op': s.msPerOp.toFixed(1),
    ratio: (w.ops / s.ops).toFixed(2) + 'x',
    'SSIM resize (exact / default)': `${ssimExact.toFixed(4)} / ${ssimDefault.toFixed(4)}`,
    'SSIM encoded': quality.toFixed(4),
    'bytes ours/sharp': `${mine.bytes.length}/${theirs.length}`,
  });
}
console.table(rows);

// The wasm peers on the JPEG task, in the same run (bench/image-peers.mjs installs them on first
// use; --no-peers leaves them out). Ours against each: ops/s ratio, output bytes.
if (!process.argv.includes('--no-peers')) {
  const { loadPeers } = await import('./image-peers.mjs');
  const task = tasks[0];
  const ours = await opsPerSecond(() => images.process(task.input, task.ours, {}));
  const peerRows = [{ contender: 'image.wasm (ours)', 'ms/op': ours.msPerOp.toFixed(1), 'ours/peer ops/s': '', bytes: images.process(task.input, task.ours, {}).bytes.length }];
  for (const peer of await loadPeers()) {
    try {
      const out = await peer.run(task.input, 720, 588, 80);
      const r = await opsPerSecond(() => peer.run(task.input, 720, 588, 80));
      peerRows.push({ contender: peer.name, 'ms/op': r.msPerOp.toFixed(1), 'ours/peer ops/s': (ours.ops / r.ops).toFixed(2) + 'x', bytes: out.length });
    } catch (e) {
      peerRows.push({ contender: peer.name, 'ms/op': `failed: ${e.message}`, 'ours/peer ops/s': '', bytes: '' });
    }
  }
  console.log(`image: wasm peers on ${task.name} (goal: ahead of every one; and >= 0.7x native sharp above)`);
  console.table(peerRows);
}

// AVIF encoders on the same pixels (see the header).
{
  const pixels = await sharp(Buffer.from(images.process(tasks[0].input, 'width=720,height=588,fit=cover,format=png', {}).bytes))
    .removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const { width, height } = pixels.info;
  const header = new DataView(new ArrayBuffer(28));
  // whale::avif's handoff header: magic "WAV1", width, height, channels, quality, speed, memory (0: none).
  [0x31564157, width, height, 3, 85, 9, 0].forEach((v, i) => header.setUint32(i * 4, v, true));
  const handoff = new Uint8Array(28 + pixels.data.length);
  handoff.set(new Uint8Array(header.buffer), 0);
  handoff.set(pixels.data, 28);
  const avif = await images.loadAvif();
  const rgba = await sharp(pixels.data, { raw: pixels.info }).ensureAlpha().raw().toBuffer();
  const source = await sharp(pixels.data, { raw: pixels.info }).greyscale().raw().toBuffer();
  const contenders = [
    { name: 'avif.wasm (ours, speed 9)', run: async () => avif.encode(handoff) },
    { name: `sharp ${sharp.versions.sharp} native (heif ${sharp.versions.heif ?? '?'}, effort 0)`,
      run: () => sharp(pixels.data, { raw: pixels.info }).avif({ quality: 75, effort: 0, chromaSubsampling: '4:2:0' }).toBuffer() },
  ];
  if (!process.argv.includes('--no-peers')) {
    const { loadJsquashAvif } = await import('./image-peers.mjs');
    const jsquash = await loadJsquashAvif();
    contenders.push({ name: `${jsquash.name} (speed 9)`, run: () => jsquash.encode(rgba, width, height, { quality: 75, speed: 9, subsample: 1 }) });
  }
  const first = await opsPerSecond(contenders[0].run);
  const avifRows = [];
  for (const c of contenders) {
    const out = await c.run();
    const r = c === contenders[0] ? first : await opsPerSecond(c.run);
    const decoded = await sharp(Buffer.from(out)).greyscale().raw().toBuffer();
    avifRows.push({ encoder: c.name, 'ms/op': r.msPerOp.toFixed(1), 'ours/it ops/s': (first.ops / r.ops).toFixed(2) + 'x',
      bytes: out.length, SSIM: ssim(source, decoded, width, height).toFixed(4) });
  }
  console.log(`image: AVIF encode of the task's ${width}x${height} pixels, aom quantizer 16, 4:2:0`);
  console.table(avifRows);
  const webp = images.process(tasks[0].input, 'width=720,height=588,fit=cover,format=webp', {});
  const jpeg = images.process(tasks[0].input, 'width=720,height=588,fit=cover,format=jpeg,quality=85', {});
  console.log(`image: the same task as WebP q85 ${webp.bytes.length} B, JPEG q85 ${jpeg.bytes.length} B`);
  const fresh = await loadImageModule(wasmBytes, { maxMemoryBytes: Infinity });
  await fresh.loadAvif();
  const t0 = now();
  const limit = fresh.process(tasks[0].input, 'width=1200,height=1200,fit=cover,format=avif', {});
  console.log(`image: avif.wasm at the limit: ${limit.width}x${limit.height} in ${(now() - t0).toFixed(0)} ms (decode, resize, ` +
    `encode; the first call compiles too), ${limit.bytes.length} B; avif.wasm memory ${mb(fresh.stats().avif.peakMemoryBytes)} MB, ` +
    `image.wasm ${mb(fresh.stats().peakMemoryBytes)} MB`);
  const avifWasm = readFileSync(new URL('js-glue/avif.wasm', root));
  console.log(`image: avif.wasm ${avifWasm.length} bytes raw, ${gzipSync(avifWasm, { level: 9 }).length} bytes gzip`);
}

// Peak memory (memory.buffer.byteLength after the job, a fresh instance each) within the default
// job budget (96 MB), for 16 MP sources made from the fixture by sharp (not stored) and a tiny one
// blown up to 4096x4096; a refusal prints the estimate it names.
const photo = () => sharp(tasks[0].input).resize(4896, 3264, { fit: 'fill' });
const sources = {
  'baseline JPEG 4896x3264': await photo().jpeg({ quality: 90 }).toBuffer(),
  'progressive JPEG 4896x3264': await photo().jpeg({ quality: 90, progressive: true }).toBuffer(),
  'RGB PNG 4896x3264': await photo().png().toBuffer(),
  'RGBA PNG 4000x3000': await sharp(tasks[0].input).resize(4000, 3000, { fit: 'fill' }).ensureAlpha(0.8).png().toBuffer(),
  'RGBA PNG 4896x3264': await photo().ensureAlpha(0.8).png().toBuffer(),
  'JPEG 8x8': await sharp(tasks[0].input).resize(8, 8, { fit: 'fill' }).jpeg().toBuffer(),
};
const memoryJobs = [
  ['baseline JPEG 4896x3264', 'width=720'], ['baseline JPEG 4896x3264', 'width=2048'], ['baseline JPEG 4896x3264', 'width=4096'],
  ['progressive JPEG 4896x3264', 'width=720'], ['progressive JPEG 4896x3264', 'width=4096'],
  ['RGB PNG 4896x3264', 'width=720'], ['RGBA PNG 4000x3000', 'width=720'], ['RGBA PNG 4896x3264', 'width=720'],
  ['JPEG 8x8', 'width=4096,height=4096,fit=cover'], ['JPEG 8x8', 'width=4096,height=4096,fit=cover,format=png'],
  ['JPEG 8x8', 'width=4096,height=4096,fit=cover,format=webp'],
];
for (const [name, opts] of memoryJobs) {
  const fresh = await loadImageModule(wasmBytes, { maxMemoryBytes: Infinity });
  const input = sources[name];
  const t0 = now();
  let what;
  try {
    const out = fresh.process(input, opts, { maxInputBytes: 32 << 20 });
    what = `${out.width}x${out.height} ${out.contentType}: ${mb(fresh.stats().peakMemoryBytes)} MB peak`;
  } catch (e) {
    what = `${e.code}: ${e.message}`;
  }
  console.log(`image: memory: ${name} (${mb(input.length)} MB) ${opts} -> ${what} (${(now() - t0).toFixed(0)} ms; goal <= 64 MB)`);
}
console.log(`image: image.wasm ${wasmBytes.length} bytes raw, ${gzipSync(wasmBytes, { level: 9 }).length} bytes gzip`);
