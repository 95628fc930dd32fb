// The job memory budget of image.wasm (emscripten, the build the edge loads): for large jobs, each
// in a fresh instance, the job is either refused with too_large before decoding (the message names
// the estimate and the limit) or its peak memory (memory.buffer.byteLength after the job) stays
// within the budget, and within the estimate the refusal message names. The inputs are made here:
// JPEGs and WebPs by image.wasm itself from a fixture or a PNG (with a budget high enough), PNGs
// with node:zlib.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { root } from './targets.mjs';
import { loadImageModule } from '../../js-glue/image.js';

const wasmPath = join(process.env.WHALE_EMSCRIPTEN_DIR ?? join(root, 'build/emscripten'), 'wasm/image.wasm');
const MB = 1024 * 1024;
const fixture = (name) => readFileSync(join(root, 'fixtures/images', name));
// Inputs up to 32 MB (a 16 MP PNG is larger than the default 25 MB).
const limits = { maxInputBytes: 32 * MB };

let wasm;
function fresh() {
  return loadImageModule(wasm, { maxMemoryBytes: Infinity });
}

// --- inputs ------------------------------------------------------------------------------------

const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

// A photo-like 8-bit PNG: gradients, edges and some noise, rows filtered by their left
// neighbour (Sub) as encoders do, about a byte a pixel; its data in 64 KB IDAT chunks.
function makePng(width, height, channels) {
  const stride = width * channels + 1;
  const raw = Buffer.alloc(stride * height);
  const previous = new Uint8Array(channels);
  let state = 12345;
  for (let y = 0; y < height; y++) {
    const row = y * stride;
    raw[row] = 1;
    for (let x = 0; x < width; x++) {
      const edge = ((x >> 7) + (y >> 7)) & 1 ? 60 : 0;
      for (let c = 0; c < channels; c++) {
        state = (state * 1103515245 + 12345) >>> 0;
        const v = c === 3 ? 255 - ((x + y) >> 6) : ((x >> 4) + (y >> 5) + c * 40 + edge + (state >>> 30)) & 255;
        raw[row + 1 + x * channels + c] = (v - (x ? previous[c] : 0)) & 255;
        previous[c] = v;
      }
    }
  }
  const data = deflateSync(raw, { level: 1 });
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = { 1: 0, 2: 4, 3: 2, 4: 6 }[channels];
  const parts = [Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr)];
  for (let at = 0; at < data.length; at += 65536) parts.push(chunk('IDAT', data.subarray(at, at + 65536)));
  parts.push(chunk('IEND', Buffer.alloc(0)));
  return Buffer.concat(parts);
}

async function made(source, options) {
  const out = (await fresh()).process(source, options, { maxJobMemoryBytes: 512 * MB });
  return out.bytes;
}

// --- the check -----------------------------------------------------------------------------------

// The estimate, from the message of a refusal with a budget of 1 byte: {mb, stage}.
async function estimateOf(input, options) {
  try {
    (await fresh()).process(input, options, { ...limits, maxJobMemoryBytes: 1 });
  } catch (e) {
    const m = /needs about (\d+) MB to ([^(]+) \(output/.exec(e.message);
    assert.ok(e.code === 'too_large' && m, e.message);
    return { mb: Number(m[1]), stage: m[2] };
  }
  assert.fail(`${options}: not refused with a budget of 1 byte`);
}

// Runs the job with the budget in a fresh instance: {refused, peakMb, message}.
async function runWithin(input, options, budgetMb) {
  const image = await fresh();
  try {
    image.process(input, options, { ...limits, maxJobMemoryBytes: budgetMb * MB });
    return { refused: false, peakMb: image.stats().peakMemoryBytes / MB };
  } catch (e) {
    assert.equal(e.code, 'too_large', `${options}: ${e.message}`);
    assert.match(e.message, /needs about \d+ MB to .+; the limit is \d+ MB|the memory budget leaves/, e.message);
    return { refused: true, peakMb: image.stats().peakMemoryBytes / MB, message: e.message };
  }
}

// A GIF of `frames` one-pixel frames on a w x h screen (each frame is a whole canvas when decoded).
function tinyFramesGif(w, h, frames) {
  const parts = [Buffer.from('GIF89a'), Buffer.from([w & 255, w >> 8, h & 255, h >> 8, 0x80, 0, 0, 0, 0, 0, 255, 255, 255])];
  for (let i = 0; i < frames; i++) {
    parts.push(Buffer.from([0x21, 0xf9, 4, 0, 10, 0, 0, 0]));
    parts.push(Buffer.from([0x2c, i & 255, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x44, 1, 0]));
  }
  parts.push(Buffer.from([0x3b]));
  return Buffer.concat(parts);
}

test('every job is refused before decoding or stays within its memory budget and its estimate', { timeout: 600_000 }, async () => {
  assert.ok(existsSync(wasmPath), `emscripten image.wasm missing at ${wasmPath}: run scripts/build.sh`);
  wasm = readFileSync(wasmPath);
  const photo = fixture('2569067123_aca715a2ee_o.jpg');  // 2725x2225
  const inputs = {
    'baseline JPEG 16.8 MP': await made(photo, 'width=4096,height=4096,fit=cover,format=baseline-jpeg'),
    'progressive JPEG 16.8 MP': await made(photo, 'width=4096,height=4096,fit=cover,format=jpeg'),
    'RGB PNG 16.8 MP': makePng(4096, 4096, 3),
    'RGBA PNG 12.6 MP': makePng(4096, 3072, 4),
    'RGBA PNG 16.8 MP': makePng(4096, 4096, 4),
    'JPEG 8x8': await made(photo, 'width=8,height=8,fit=cover'),
    'RGBA PNG 8x8': fixture('p3.png'),
    'WebP 16.8 MP': await made(photo, 'width=4096,height=4096,fit=cover,format=webp'),
    'RGBA WebP 8.4 MP': await made(makePng(4096, 2048, 4), 'format=webp'),
    'animated GIF 10 frames': fixture('animated-loop-3.gif'),
    'animated WebP 10 frames': fixture('webp/animated.webp'),
    'GIF 1500x1500, 20 frames': tinyFramesGif(1500, 1500, 20),
  };
  const jobs = [
    ['baseline JPEG 16.8 MP', 'width=720'],
    ['baseline JPEG 16.8 MP', 'width=2048'],
    ['baseline JPEG 16.8 MP', 'width=4000'],
    ['baseline JPEG 16.8 MP', 'width=3000,rotate=90'],
    ['baseline JPEG 16.8 MP', 'width=2048,height=2048,fit=pad,background=%2300000080,format=png'],
    ['baseline JPEG 16.8 MP', 'width=1000,height=1000,fit=cover,gravity=auto'],
    ['progressive JPEG 16.8 MP', 'width=720'],
    ['progressive JPEG 16.8 MP', 'width=4000'],
    ['RGB PNG 16.8 MP', 'width=720'],
    ['RGB PNG 16.8 MP', 'width=1600,format=webp'],
    ['RGBA PNG 12.6 MP', 'width=720'],
    ['RGBA PNG 12.6 MP', 'width=1200,format=webp'],
    ['RGBA PNG 16.8 MP', 'width=720'],
    ['JPEG 8x8', 'width=4096,height=4096,fit=cover'],
    ['JPEG 8x8', 'width=4096,height=4096,fit=cover,format=png'],
    ['JPEG 8x8', 'width=4096,height=4096,fit=cover,format=webp'],
    ['RGBA PNG 8x8', 'width=4096,height=4096,fit=cover'],
    ['WebP 16.8 MP', 'width=720'],
    ['WebP 16.8 MP', 'width=2048,format=jpeg'],
    ['RGBA WebP 8.4 MP', 'width=720'],
    ['RGBA WebP 8.4 MP', 'width=1000,format=png'],
    ['animated GIF 10 frames', 'width=1600,format=webp'],
    ['animated WebP 10 frames', 'width=1200,height=1200,fit=pad'],
    ['GIF 1500x1500, 20 frames', 'width=720,format=webp'],
  ];
  const rows = [];
  const accepted = {};
  for (const [name, options] of jobs) {
    const input = inputs[name];
    const estimate = await estimateOf(input, options);
    const row = { job: `${name} ${options}`, estimate: `${estimate.mb} MB (${estimate.stage})` };
    for (const budget of [48, 96]) {
      const r = await runWithin(input, options, budget);
      if (!r.refused) {
        assert.ok(r.peakMb <= budget, `${name} ${options}: ${r.peakMb.toFixed(1)} MB within a budget of ${budget} MB`);
        assert.ok(r.peakMb <= estimate.mb, `${name} ${options}: ${r.peakMb.toFixed(1)} MB within its estimate of ${estimate.mb} MB`);
        assert.ok(estimate.mb <= budget, `${name} ${options}: accepted with an estimate over the budget`);
      } else if (/needs about/.test(r.message)) {
        assert.ok(estimate.mb > budget, `${name} ${options}: refused at ${budget} MB with an estimate of ${estimate.mb} MB`);
        // Refused before decoding: the memory holds the module's 4 MB and the input, little more.
        assert.ok(r.peakMb <= 5 + input.length / MB, `${name} ${options}: refused before decoding (${r.peakMb.toFixed(1)} MB)`);
      }
      row[`${budget} MB`] = r.refused ? 'refused' : `${r.peakMb.toFixed(1)} MB`;
      if (budget === 96) accepted[`${name} ${options}`] = !r.refused;
    }
    rows.push(row);
  }
  console.table(rows);
  // The default budget takes what a storefront asks of a 16 MP photo and of a tiny one.
  for (const job of ['baseline JPEG 16.8 MP width=720', 'baseline JPEG 16.8 MP width=2048', 'baseline JPEG 16.8 MP width=4000',
    'progressive JPEG 16.8 MP width=720', 'RGB PNG 16.8 MP width=720', 'RGBA PNG 12.6 MP width=720',
    'JPEG 8x8 width=4096,height=4096,fit=cover']) {
    assert.ok(accepted[job], `${job}: refused within the default 96 MB`);
  }
});
