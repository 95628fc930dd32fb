// Image transforms, image.wasm (under Node, through the glue the worker uses) vs npm `sharp`
// (native libvips, sharp.concurrency(1)), in one process.
//
//   node bench/image.bench.mjs [--seconds N]
//
// Tasks (sharp's own benchmark, test/bench in the sharp repository, as DESIGN.md quotes it):
//   jpeg  fixtures/images/2569067123_aca715a2ee_o.jpg 2725x2225 -> 720x588, JPEG quality 80
//   png   fixtures/images/alpha-premultiply-2048x1536-paper.png 2048x1536 RGBA -> 720x540, PNG
// Quality: SSIM (luma, 8x8 windows, stride 4) of our resize against sharp's Lanczos3 resize of the
// same task, both written losslessly (PNG) so that only the resize is compared: against sharp's
// exact path (fastShrinkOnLoad: false) and its default (JPEG shrink-on-load, then Lanczos3);
// and of the encoded outputs of the task (our JPEG q80 vs sharp's JPEG q80).
// Memory: wasm memory after a 16 MP JPEG (made from the fixture by sharp at start, not stored)
// resized to 1600 wide; image.wasm size raw and gzip.
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import sharp from 'sharp';
import { loadImageModule } from '../js-glue/image.js';

const root = new URL('../', import.meta.url);
const fixture = (name) => readFileSync(new URL(`fixtures/images/${name}`, root));
const seconds = Number(process.argv[process.argv.indexOf('--seconds') + 1]) || 3;
const now = () => Number(process.hrtime.bigint()) / 1e6;

sharp.concurrency(1);
sharp.cache(false);
const wasmBytes = readFileSync(new URL('js-glue/image.wasm', root));
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

// SSIM over luma, 8x8 windows with stride 4 (Wang et al. 2004 constants for 8-bit).
function ssim(a, b, width, height) {
  const c1 = (0.01 * 255) ** 2;
  const c2 = (0.03 * 255) ** 2;
  let sum = 0;
  let count = 0;
  for (let y = 0; y + 8 <= height; y += 4) {
    for (let x = 0; x + 8 <= width; x += 4) {
      let sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
      for (let j = 0; j < 8; j++) {
        for (let i = 0; i < 8; i++) {
          const p = a[(y + j) * width + x + i];
          const q = b[(y + j) * width + x + i];
          sa += p; sb += q; saa += p * p; sbb += q * q; sab += p * q;
        }
      }
      const ma = sa / 64, mb = sb / 64;
      const va = saa / 64 - ma * ma, vb = sbb / 64 - mb * mb, cov = sab / 64 - ma * mb;
      sum += ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2));
      count++;
    }
  }
  return sum / count;
}
const luma = async (buf) => sharp(buf).flatten({ background: '#ffffff' }).greyscale().raw().toBuffer({ resolveWithObject: true });

const tasks = [
  {
    name: 'jpeg 2725x2225 -> 720x588 q80',
    input: fixture('2569067123_aca715a2ee_o.jpg'),
    ours: 'width=720,height=588,fit=cover,quality=80,format=jpeg',
    sharp: (buf) => sharp(buf).resize(720, 588).jpeg({ quality: 80 }).toBuffer(),
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
  const w = await opsPerSecond(() => images.process(task.input, task.ours, {}));
  const s = await opsPerSecond(() => task.sharp(task.input));
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

// Peak memory: a 16 MP JPEG (4896x3264) made from the fixture, resized to 1600 wide.
const big = await sharp(tasks[0].input).resize(4896, 3264, { fit: 'fill' }).jpeg({ quality: 90 }).toBuffer();
const mb = (n) => (n / 2 ** 20).toFixed(1);
for (const opts of ['width=1600,quality=80,format=jpeg', 'width=4000,quality=80,format=jpeg']) {
  const fresh = await loadImageModule(wasmBytes, { maxMemoryBytes: Infinity });
  const before = fresh.stats().memoryBytes;
  const out = fresh.process(big, opts, {});
  const peak = fresh.stats().peakMemoryBytes;
  console.log(`image: 16 MP JPEG 4896x3264 (${big.length} bytes) ${opts} -> ${out.width}x${out.height}: wasm memory ` +
    `${mb(before)} MB at start, ${mb(peak)} MB peak (goal <= 64 MB)`);
}
console.log(`image: image.wasm ${wasmBytes.length} bytes raw, ${gzipSync(wasmBytes, { level: 9 }).length} bytes gzip`);
