// image.wasm gives the same bytes on every target: each (fixture, options) job below goes through
// the native CLI (`whale image`), the wasm32-wasi image.wasm and the emscripten image.wasm (both
// through the C ABI of wasm/whale_image.h), and the SHA-256 of every output (or the error code and
// message) must agree. A few jobs also go through the WASI harness (`node js-glue/bin/whale.js
// image ...`). Covers JPEG, PNG, WebP and AVIF output, every fit mode, orientation, alpha, GIF, CMYK,
// greyscale, gravity=auto, shrink-on-load scales, WebP input and damaged inputs. An AVIF job's
// handoff from image.wasm goes through the same build's avif.wasm (wasm/whale_avif.h); the CLIs
// link the encoder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { nativeCli, root } from './targets.mjs';

const wasmBuilds = [
  { name: 'wasi', path: join(process.env.WHALE_WASI_DIR ?? join(root, 'build/wasi'), 'wasm/image.wasm') },
  { name: 'emscripten', path: join(process.env.WHALE_EMSCRIPTEN_DIR ?? join(root, 'build/emscripten'), 'wasm/image.wasm') },
];
const AVIF_HANDOFF_TYPE = 'application/x-whale-avif-pixels';

const ACCEPT_WEBP = 1;
const ACCEPT_AVIF = 2;
const CLIENT_SLOW = 4;
const CLIENT_WIDTH_SHIFT = 4;
const SIZE_CLASSES = ['', 'mobile', 'tablet', 'desktop', 'large'];
const jobs = [
  ['2569067123_aca715a2ee_o.jpg', 'width=720,height=588,quality=80'],  // sharp's benchmark task (1/2 DCT scale)
  ['2569067123_aca715a2ee_o.jpg', 'width=300,format=webp'],             // 1/4
  ['2569067123_aca715a2ee_o.jpg', 'width=120,height=120,fit=cover,format=png'],  // 1/8
  ['2569067123_aca715a2ee_o.jpg', 'width=400,height=200,fit=crop,gravity=top,quality=90'],
  ['320x240.jpg', 'width=640,fit=contain'],                            // enlarged
  ['320x240.jpg', 'width=200,height=200,fit=pad,background=%23336699,format=webp'],
  ['320x240.jpg', 'width=100,height=240,fit=cover,gravity=0.25x0.5,format=png'],
  ['Landscape_6.jpg', 'width=200,height=150,fit=cover,rotate=90'],
  ['Landscape_6.jpg', 'width=150,flip=h,rotate=90,format=png'],      // flip, then rotate
  ['flowers.jpeg', 'width=120,brightness=1.3,contrast=0.7'],          // levels (no streamed JPEG)
  ['grey-8bit-alpha.png', 'width=90,height=90,fit=pad,contrast=2.5,format=png'],
  ['flowers.jpeg', 'width=140,gamma=2.2,saturation=1.6,format=png'],  // gamma's table uses pow()
  ['Portrait_2.jpg', 'width=100,gamma=0.45,saturation=0'],
  ['test-pattern.png', 'width=200,gamma=1.7,brightness=0.9,format=webp'],
  ['flowers.jpeg', 'width=160,blur=3,format=png'],                    // blur: the kernel
  ['grey-8bit-alpha.png', 'width=120,blur=25,format=png'],            // blur: three boxes, alpha
  ['2569067123_aca715a2ee_o.jpg', 'width=300,sharpen=1'],             // an unsharp mask after the resize
  ['Portrait_7.jpg', 'width=90,format=png'],
  ['Channel_digital_image_CMYK_color.jpg', 'width=300,format=webp,quality=70'],
  ['concert.jpg', 'width=200,format=jpeg,quality=60'],                 // greyscale JPEG
  ['concert.jpg', 'width=200,format=webp'],
  ['flowers.jpeg', 'width=150,height=150,fit=cover,gravity=auto'],
  ['gamma_dalai_lama_gray.jpg', 'width=129,format=png'],
  ['alpha-premultiply-2048x1536-paper.png', 'width=720,height=540'],   // sharp's PNG task
  ['alpha-premultiply-2048x1536-paper.png', 'width=300,format=webp'],  // WebP with alpha
  ['alpha-premultiply-2048x1536-paper.png', 'width=300,format=jpeg,background=white'],
  ['test-pattern.png', 'width=320,format=auto', ACCEPT_WEBP],
  ['test-pattern.png', 'width=320,height=100,fit=scale-down,format=auto'],
  ['16-bit-grey-alpha.png', 'width=64,format=png'],
  ['grey-8bit-alpha.png', 'width=200,height=200,fit=pad,background=transparent,format=png'],
  ['grey-8bit-alpha.png', 'width=150,format=jpeg'],
  ['full-transparent.png', 'width=50,format=webp'],
  ['p3.png', 'width=64,fit=contain'],
  ['embedgravitybird.png', 'width=192,height=384,fit=cover,gravity=auto'],
  ['animated-loop-3.gif', 'width=100,height=100,fit=crop'],
  ['Crash_test.gif', 'width=200,format=jpeg'],
  ['truncated.jpg', 'width=100'],
  ['truncated.png', 'width=100'],
  ['corrupt-header.jpg', 'width=100'],
  ['giant-image.jpg', 'width=100'],
  ['giant-image.jpg', 'format=json'],
  ['65536-uint32-limit.png', 'width=100'],
  ['webp/lossy.webp', 'width=100,format=png'],                          // WebP input: lossy (VP8)
  ['webp/lossy.webp', 'width=120,height=120,fit=cover'],                // WebP out by default
  ['webp/lossless-alpha.webp', 'width=60,format=png'],                  // lossless (VP8L) with alpha
  ['webp/lossy-alpha.webp', 'width=50,format=jpeg,background=white'],   // lossy with an ALPH chunk
  ['webp/animated.webp', 'width=50'],                                   // animated: its first frame
  ['webp/truncated.webp', 'width=50'],                                  // refused: truncated
  ['Landscape_6.jpg', 'trim=10;20;30;40,width=100,format=png'],          // trim: the upright source's window
  ['2569067123_aca715a2ee_o.jpg', 'trim.left=500,trim.top=300,trim.width=1200,trim.height=900,width=200'],  // at 1/4
  ['320x240.jpg', 'width=100,border.width=3,border.color=%23ff000080,format=png'],
  ['grey-8bit-alpha.png', 'width=80,height=80,fit=pad,border.top=4,border.left=2,border.color=blue,format=webp'],
  ['2569067123_aca715a2ee_o.jpg', 'width=auto,scq=40', CLIENT_SLOW | (1 << CLIENT_WIDTH_SHIFT)],  // mobile, slow
  ['2569067123_aca715a2ee_o.jpg', 'width=auto,format=webp', 4 << CLIENT_WIDTH_SHIFT],             // large desktop
  ['animated-loop-3.gif', 'width=90,format=webp'],                      // an animated GIF to an animated WebP
  ['Landscape_2.jpg', 'trim=border,trim.border.tolerance=60,width=120'],  // trim=border: a JPEG scanned at a DCT scale
  ['embedgravitybird.png', 'trim=border,trim.border.keep=4,format=png'],
  ['webp/animated.webp', 'width=64,height=64,fit=pad,border.width=2'],  // an animated WebP stays one
  // draw: overlays (whale_image_process_draw; --draw in the CLI)
  ['flowers.jpeg', 'width=200,format=png', 0, [['embedgravitybird.png', 'width=40,bottom=5,right=5,opacity=0.6'],
    ['p3.png', 'width=16,top=0,repeat=x']]],
  ['2569067123_aca715a2ee_o.jpg', 'width=300,quality=70', 0, [['webp/lossy-alpha.webp', 'width=60,gravity=0.5x0.25']]],
  // AVIF: aom's encoder on three targets
  ['2569067123_aca715a2ee_o.jpg', 'width=720,height=588,fit=cover,format=avif'],  // the bench's task
  ['alpha-premultiply-2048x1536-paper.png', 'width=300,format=avif,quality=60'],   // an alpha item
  ['grey-8bit-alpha.png', 'width=77,format=avif'],                              // grey + alpha, odd sizes
  ['concert.jpg', 'width=121,height=81,fit=cover,format=auto', ACCEPT_AVIF | ACCEPT_WEBP],
  ['Landscape_6.jpg', 'width=200,rotate=90,format=avif,quality=30,sharpen=1'],
  ['2569067123_aca715a2ee_o.jpg', 'width=1300,format=avif'],                    // past 1200 px: WebP
  ['animated-loop-3.gif', 'width=90,format=avif'],                              // an animation: WebP
];

const ERROR_NAMES = ['ok', 'invalid_json', 'invalid_utf8', 'wrong_type', 'invalid_value', 'too_deep', 'too_large',
  'invalid_regex', 'regex_budget', 'not_found', 'invalid_handle', 'out_of_memory', 'abi_mismatch', 'internal',
  'unsupported_format', 'corrupt_input'];

const sha = (bytes) => createHash('sha256').update(bytes).digest('hex');
const fixture = (name) => readFileSync(join(root, 'fixtures/images', name));

// The module does no I/O: every WASI import is a stub, as in js-glue/image.js.
function loadWasm(path) {
  const module = new WebAssembly.Module(readFileSync(path));
  const imports = {};
  for (const { module: ns, name, kind } of WebAssembly.Module.imports(module)) {
    if (kind !== 'function') continue;
    imports[ns] ??= {};
    // fd_prestat_get: EBADF, no preopened directories (avif.wasm's wasi-libc asks: aom can fopen).
    imports[ns][name] = name === 'proc_exit' ? (code) => { throw new Error(`${path} exited with ${code}`); }
      : name === 'fd_prestat_get' ? () => 8 : () => 52;
  }
  const x = new WebAssembly.Instance(module, imports).exports;
  x._initialize?.();
  return x;
}

// whale_image_process_draw's overlays: per overlay a u32 length and its bytes, a u32 length and its text.
function drawBlob(draw) {
  const parts = [];
  for (const [name, text] of draw) {
    for (const part of [fixture(name), Buffer.from(text)]) {
      const length = Buffer.alloc(4);
      length.writeUInt32LE(part.length);
      parts.push(length, part);
    }
  }
  return Buffer.concat(parts);
}

// The AVIF file avif.wasm makes of image.wasm's handoff.
function avifOf(avif, handoff) {
  const at = avif.whale_avif_alloc(handoff.length) >>> 0;
  new Uint8Array(avif.memory.buffer, at, handoff.length).set(handoff);
  const code = avif.whale_avif_encode(at, handoff.length) >>> 0;
  avif.whale_avif_free(at);
  const out = new Uint8Array(avif.memory.buffer, avif.whale_avif_out(), avif.whale_avif_out_len()).slice();
  avif.whale_avif_reset();
  assert.equal(code, 0, `avif.wasm: ${new TextDecoder().decode(out)}`);
  return out;
}

function outType(x) {
  const memory = new Uint8Array(x.memory.buffer);
  const start = x.whale_image_out_type() >>> 0;
  return new TextDecoder().decode(memory.subarray(start, memory.indexOf(0, start)));
}

function wasmAnswer(x, avif, [name, options, accept = 0, draw]) {
  const input = fixture(name);
  const text = new TextEncoder().encode(options);
  const src = x.whale_image_alloc(input.length) >>> 0;
  new Uint8Array(x.memory.buffer, src, input.length).set(input);
  const opts = x.whale_image_alloc(text.length) >>> 0;
  new Uint8Array(x.memory.buffer, opts, text.length).set(text);
  let code;
  if (draw) {
    const blob = drawBlob(draw);
    const at = x.whale_image_alloc(blob.length) >>> 0;
    new Uint8Array(x.memory.buffer, at, blob.length).set(blob);
    code = x.whale_image_process_draw(src, input.length, opts, text.length, at, blob.length, accept, 0, 0, 0, 0) >>> 0;
    x.whale_image_free(at);
  } else {
    code = x.whale_image_process(src, input.length, opts, text.length, accept, 0, 0, 0, 0) >>> 0;
  }
  x.whale_image_free(src);
  x.whale_image_free(opts);
  let out = new Uint8Array(x.memory.buffer, x.whale_image_out(), x.whale_image_out_len()).slice();
  if (code === 0 && outType(x) === AVIF_HANDOFF_TYPE) out = avifOf(avif, out);
  const answer = code === 0
    ? `${x.whale_image_out_width()}x${x.whale_image_out_height()} ${sha(out)}`
    : `${ERROR_NAMES[code]}: ${new TextDecoder().decode(out)}`;
  x.whale_image_reset();
  return answer;
}

function cliAnswer(command, prefix, [name, options, accept = 0, draw = []], outFile) {
  const args = [...prefix, 'image', options, join(root, 'fixtures/images', name), outFile];
  for (const [overlay, text] of draw) args.push('--draw', join(root, 'fixtures/images', overlay), text);
  if (accept & (ACCEPT_WEBP | ACCEPT_AVIF)) {
    args.push('--accept', [accept & ACCEPT_WEBP ? 'webp' : '', accept & ACCEPT_AVIF ? 'avif' : ''].filter(Boolean).join(','));
  }
  if (accept & CLIENT_SLOW) args.push('--slow');
  if ((accept >> CLIENT_WIDTH_SHIFT) & 7) args.push('--size-class', SIZE_CLASSES[(accept >> CLIENT_WIDTH_SHIFT) & 7]);
  const r = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status === 1) {
    const { error } = JSON.parse(r.stderr);
    return `${error.code}: ${error.message}`;
  }
  assert.equal(r.status, 0, `${command} image ${options} ${name}: ${r.stderr}`);
  const { width, height } = JSON.parse(r.stdout);
  return `${width}x${height} ${sha(readFileSync(outFile))}`;
}

// A temporary folder removed when test `t` ends.
function scratch(t) {
  const dir = mkdtempSync(join(tmpdir(), 'whale-image-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('native, wasi and emscripten image.wasm write the same bytes', (t) => {
  assert.ok(existsSync(nativeCli), `native CLI missing at ${nativeCli}`);
  for (const build of wasmBuilds) assert.ok(existsSync(build.path), `${build.name} image.wasm missing at ${build.path}: run scripts/build.sh`);
  const out = join(scratch(t), 'out.bin');
  const native = jobs.map((job) => cliAnswer(nativeCli, [], job, out));
  for (const build of wasmBuilds) {
    const x = loadWasm(build.path);
    const avif = loadWasm(join(dirname(build.path), 'avif.wasm'));
    jobs.forEach((job, i) => assert.equal(wasmAnswer(x, avif, job), native[i], `${build.name} differs on ${JSON.stringify(job)}`));
  }
  const outputs = native.filter((a) => /^\d+x\d+ /.test(a)).length;
  assert.ok(outputs >= 25, 'most jobs should produce an image');
  assert.ok(native.some((a) => a.startsWith('corrupt_input: JPEG: Premature end')), 'truncated.jpg should fail clearly');
  console.log(`same bytes: ${jobs.length} image jobs (${outputs} images, ${jobs.length - outputs} errors) x 3 builds`);
});

test('the WASI harness runs `whale image` like the native CLI', (t) => {
  const harness = join(root, 'js-glue/bin/whale.js');
  const out = join(scratch(t), 'out.bin');  // absolute: the guest sees the host's root
  // the last two draw overlays and write AVIF
  for (const job of [jobs[0], jobs[15], jobs[27], jobs.find((j) => j[3]), jobs.find((j) => j[1].includes('format=avif'))]) {
    assert.equal(cliAnswer(process.execPath, [harness], job, out), cliAnswer(nativeCli, [], job, out), JSON.stringify(job));
  }
});
