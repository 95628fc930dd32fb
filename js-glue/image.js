// @whaletools/edge/image: loads image.wasm (wasm/whale_image.h) and owns every byte that crosses
// its boundary: options parsing, probing and the whole resize job. Works in workerd / Cloudflare
// Workers and Node 20 alike. The URL helpers for frontends are in image-url.js (no wasm).
//
// Memory: each job has a budget (`maxJobMemoryBytes`, default 96 MB: the module's whole memory at
// the job's peak), which the module checks against its estimate before decoding (too_large over
// it). A wasm memory never shrinks, so after a job that left it above `maxMemoryBytes` the
// instance is dropped and the next call instantiates a fresh one from the compiled module: one
// large photo does not pin its memory for the life of the isolate. A trap drops it the same way.
// As in index.js, inputs are copied into memory the module allocated and outputs copied out at
// once; no view of wasm memory is kept across a call.

import { ERROR_CODES, WhaleError } from './index.js';

export { WhaleError };

export const IMAGE_ABI_MAJOR = 1;
// 1.1: the per-job memory budget; an older module would ignore it. 1.2: overlays (draw).
// 1.3: format=avif (the final pixels handed to avif.wasm).
export const IMAGE_ABI_MINOR = 3;
export const AVIF_ABI_MAJOR = 1;
// image.wasm's answer to an AVIF job: whale::avif's handoff header and the final pixels, which
// avif.wasm (wasm/whale_avif.h) encodes.
const AVIF_HANDOFF_TYPE = 'application/x-whale-avif-pixels';
export const DEFAULT_MAX_MEMORY_BYTES = 48 * 1024 * 1024;
export const DEFAULT_MAX_JOB_MEMORY_BYTES = 96 * 1024 * 1024;
// whale::image::accept_bits: what the client takes, for format=auto.
export const ACCEPT_WEBP = 1;
export const ACCEPT_AVIF = 2;
// The client bits beyond Accept (whale::image::client_slow, client_width_shift): a slow
// connection (slow-connection-quality applies) and width=auto's size class.
export const CLIENT_SLOW = 4;
export const CLIENT_WIDTH_SHIFT = 4;
// width=auto's widths (whale::image::auto_widths), Cloudflare's four, by size class: 0 nothing
// known (desktop), 1 mobile, 2 tablet, 3 desktop, 4 large desktop.
export const AUTO_WIDTHS = Object.freeze([960, 320, 768, 960, 1200]);

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: false });

const NODE_FS = 'node:fs/promises';

async function compileModule(source, file = './image.wasm') {
  if (typeof source === 'function') source = await source();
  if (source instanceof WebAssembly.Module) return source;
  if (source instanceof ArrayBuffer || ArrayBuffer.isView(source)) return WebAssembly.compile(source);
  if (source === undefined || source === null) source = new URL(file, import.meta.url);
  const url = source instanceof URL ? source : new URL(String(source), import.meta.url);
  if (url.protocol === 'file:') {
    // Named through a variable so that bundlers for workers and browsers (esbuild in wrangler)
    // leave Node's module out instead of warning that it cannot be found.
    const { readFile } = await import(NODE_FS);
    return WebAssembly.compile(await readFile(url));
  }
  const response = await fetch(url);
  if (!response.ok) throw new WhaleError('not_found', `image module: HTTP ${response.status} for ${url}`);
  return WebAssembly.compile(await response.arrayBuffer());
}

// The modules do no I/O. Emscripten's STANDALONE_WASM build and the wasm32-wasi reactor both
// import a few WASI calls: the environment is empty (wasi-libc exits when reading it fails, and
// libjpeg-turbo reads it), there are no preopened directories, everything else answers ENOSYS;
// proc_exit means the module gave up.
// Emscripten's setjmp/longjmp lowering keeps a value in the host (getTempRet0/setTempRet0).
function importsFor(module, state) {
  const imports = {};
  const zeros = (...pointers) => {
    const view = new DataView(state.memory.buffer);
    for (const p of pointers) view.setUint32(p, 0, true);
    return 0;
  };
  for (const { module: ns, name, kind } of WebAssembly.Module.imports(module)) {
    if (kind !== 'function') continue;
    imports[ns] ??= {};
    let fn = () => 52; // ENOSYS
    if (name === 'proc_exit') fn = (code) => { throw new WhaleError('internal', `image module exited with ${code}`); };
    else if (name === 'environ_sizes_get' || name === 'args_sizes_get') fn = (count, size) => zeros(count, size);
    else if (name === 'environ_get' || name === 'args_get') fn = () => 0;
    else if (name === 'fd_prestat_get') fn = () => 8; // EBADF: no preopened directories (wasi-libc asks at start)
    else if (name === 'emscripten_notify_memory_growth') fn = () => {};
    else if (name === 'getTempRet0') fn = () => state.tempRet0;
    else if (name === 'setTempRet0') fn = (value) => { state.tempRet0 = value; };
    imports[ns][name] = fn;
  }
  return imports;
}

function instantiate(module, what = 'image', major = IMAGE_ABI_MAJOR, minor = IMAGE_ABI_MINOR) {
  const state = { memory: null, tempRet0: 0 };
  const instance = new WebAssembly.Instance(module, importsFor(module, state));
  const x = instance.exports;
  state.memory = x.memory;
  if (typeof x._initialize === 'function') x._initialize();
  const version = x[`whale_${what}_abi_version`]() >>> 0;
  if (version >>> 16 !== major || (version & 0xffff) < minor) {
    throw new WhaleError('abi_mismatch',
      `${what} ABI ${version >>> 16}.${version & 0xffff}, glue expects ${major}.${minor} or a later ${major}.x`);
  }
  return x;
}

function isTrap(e) {
  return e instanceof WebAssembly.RuntimeError || e instanceof RangeError;
}

// The accept bits of an Accept header (or bits already).
export function acceptBits(accept) {
  if (typeof accept === 'number') return accept >>> 0;
  const text = String(accept ?? '').toLowerCase();
  return (/\bimage\/webp\b/.test(text) ? ACCEPT_WEBP : 0) | (/\bimage\/avif\b/.test(text) ? ACCEPT_AVIF : 0);
}

const header = (headers, name) => (typeof headers?.get === 'function' ? headers.get(name) : null);

// Whether a request's client hints say a slow connection, as Cloudflare reads them for
// slow-connection-quality: RTT over 150 ms, Save-Data: on, ECT slow-2g, 2g or 3g, or Downlink under
// 5 Mbps. A page asks browsers for them with `Accept-CH: RTT, Save-Data, ECT, Downlink`.
export function slowConnection(headers) {
  const number = (name) => {
    const text = header(headers, name);
    return text === null || text.trim() === '' ? NaN : Number(text);
  };
  if (number('rtt') > 150) return true;
  if (String(header(headers, 'save-data') ?? '').trim().toLowerCase() === 'on') return true;
  if (['slow-2g', '2g', '3g'].includes(String(header(headers, 'ect') ?? '').trim().toLowerCase())) return true;
  return number('downlink') < 5;
}

// width=auto's size class (an index of AUTO_WIDTHS) from a request's headers: the viewport's
// width in CSS pixels (Sec-CH-Viewport-Width, or the older Viewport-Width) when the browser sends
// it: up to 480 mobile, 1024 tablet, 1440 desktop, wider large; else Sec-CH-UA-Mobile: ?1 is
// mobile; else the User-Agent (iPad, Tablet, or Android without Mobile: tablet; Mobi, iPhone or
// Android: mobile; any other: desktop); 0 when there is no header at all.
export function sizeClass(headers) {
  const viewport = Number.parseInt(header(headers, 'sec-ch-viewport-width') ?? header(headers, 'viewport-width') ?? '', 10);
  if (Number.isSafeInteger(viewport) && viewport > 0) {
    return viewport <= 480 ? 1 : viewport <= 1024 ? 2 : viewport <= 1440 ? 3 : 4;
  }
  if (String(header(headers, 'sec-ch-ua-mobile') ?? '').trim() === '?1') return 1;
  const agent = header(headers, 'user-agent');
  if (agent === null) return 0;
  if (/iPad|Tablet/i.test(agent) || (/Android/i.test(agent) && !/Mobile/i.test(agent))) return 2;
  if (/Mobi|iPhone|Android/i.test(agent)) return 1;
  return 3;
}

// The client bits of a request's headers: what it accepts, whether its connection is slow, its
// size class (for process()'s `accept`).
export function clientBits(headers) {
  return acceptBits(header(headers, 'accept')) | (slowConnection(headers) ? CLIENT_SLOW : 0) |
    (sizeClass(headers) << CLIENT_WIDTH_SHIFT);
}

// A limit for the ABI: 0 means the module's default; anything else a positive integer.
function limit(value, name) {
  if (value === undefined || value === null) return 0;
  if (!Number.isSafeInteger(value) || value < 0 || value > 0xffffffff) {
    throw new WhaleError('invalid_value', `${name}: expected an integer from 0 to 4294967295`);
  }
  return value;
}

function bytesOf(input, what) {
  if (input instanceof Uint8Array) return input;
  if (input instanceof ArrayBuffer) return new Uint8Array(input);
  if (ArrayBuffer.isView(input)) return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  throw new WhaleError('wrong_type', `${what}: expected bytes (Uint8Array or ArrayBuffer)`);
}

// avif.wasm (wasm/whale_avif.h): the AVIF encoder, instantiated by loadAvif(). Its memory is
// dropped after a job that left it above maxMemoryBytes, as image.wasm's is.
class AvifModule {
  constructor(module, maxMemoryBytes) {
    this.module = module;
    this.maxMemoryBytes = maxMemoryBytes;
    this.exports = null;
    this.counters = { instances: 0, replacements: 0, traps: 0, jobs: 0, peakMemoryBytes: 0 };
  }

  get memoryBytes() { return this.exports === null ? 0 : this.exports.memory.buffer.byteLength; }

  // The AVIF file of image.wasm's handoff (header and pixels).
  encode(handoff) {
    if (this.exports === null) {
      this.exports = instantiate(this.module, 'avif', AVIF_ABI_MAJOR, 0);
      this.counters.instances++;
    }
    const x = this.exports;
    this.counters.jobs++;
    let ptr = 0;
    try {
      ptr = x.whale_avif_alloc(handoff.length) >>> 0;
      if (ptr === 0) throw new WhaleError('out_of_memory', `avif module: cannot allocate ${handoff.length} bytes`);
      new Uint8Array(x.memory.buffer, ptr, handoff.length).set(handoff);
      const code = x.whale_avif_encode(ptr, handoff.length) >>> 0;
      x.whale_avif_free(ptr);
      ptr = 0;
      const out = new Uint8Array(x.memory.buffer, x.whale_avif_out() >>> 0, x.whale_avif_out_len() >>> 0).slice();
      x.whale_avif_reset();
      if (code !== 0) throw new WhaleError(ERROR_CODES[code] ?? 'internal', decoder.decode(out), code);
      return out;
    } catch (e) {
      if (isTrap(e)) {
        this.exports = null;
        this.counters.traps++;
        throw new WhaleError('internal', `avif module trapped: ${e.message}`);
      }
      if (ptr !== 0) x.whale_avif_free(ptr);
      throw e;
    } finally {
      const bytes = this.memoryBytes;
      if (bytes > this.counters.peakMemoryBytes) this.counters.peakMemoryBytes = bytes;
      if (this.exports !== null && bytes > this.maxMemoryBytes) {
        this.exports = null;
        this.counters.replacements++;
      }
    }
  }

  stats() { return { ...this.counters, memoryBytes: this.memoryBytes }; }
}

class ImageModule {
  constructor(module, { maxMemoryBytes = DEFAULT_MAX_MEMORY_BYTES, avif } = {}) {
    this.module = module;
    this.maxMemoryBytes = maxMemoryBytes;
    this.exports = instantiate(module);
    this.version = this.exports.whale_image_abi_version() >>> 0;
    this.counters = { instances: 1, replacements: 0, traps: 0, jobs: 0, peakMemoryBytes: this.memoryBytes };
    this.avifSource = avif;
    this.avif = null; // AvifModule once loadAvif() has compiled it
    this.avifPromise = null;
  }

  // Compiles avif.wasm (once; from the `avif` source given to loadImageModule, by default the
  // avif.wasm beside this file) so that AVIF jobs can be encoded. Call it before process() when
  // the output may be AVIF (wantsAvif()); transform() does. Other jobs never load it.
  loadAvif() {
    if (this.avifSource === false) {
      return Promise.reject(new WhaleError('unsupported_format', 'AVIF: this image module was loaded without avif.wasm'));
    }
    this.avifPromise ??= compileModule(this.avifSource, './avif.wasm')
      .then((module) => { this.avif = new AvifModule(module, this.maxMemoryBytes); return this.avif; })
      .catch((e) => { this.avifPromise = null; throw e; });
    return this.avifPromise;
  }

  // Whether a job with this options text (normalized or not) and these client bits may come out
  // as AVIF: format=avif, or format=auto for a client that takes it.
  wantsAvif(optionsText, accept = 0) {
    const format = /(?:^|[,/])(?:format=|f=|f_)([a-z-]+)/.exec(String(optionsText ?? '').toLowerCase())?.[1];
    return format === 'avif' || (format === 'auto' && (acceptBits(accept) & ACCEPT_AVIF) !== 0);
  }

  get abiVersion() { return `${this.version >>> 16}.${this.version & 0xffff}`; }

  // Bytes of the live instance's memory (0 between a drop and the next call).
  get memoryBytes() { return this.exports === null ? 0 : this.exports.memory.buffer.byteLength; }

  stats() {
    return { ...this.counters, memoryBytes: this.memoryBytes, maxMemoryBytes: this.maxMemoryBytes,
      avif: this.avif === null ? null : this.avif.stats() };
  }

  live() {
    if (this.exports === null) {
      this.exports = instantiate(this.module);
      this.counters.instances++;
    }
    return this.exports;
  }

  // Copies each input into module memory, calls fn with (ptr, len) pairs, reads the result
  // with read(x), frees everything; a trap drops the instance.
  run(name, inputs, extra, read) {
    const x = this.live();
    const pointers = [];
    try {
      const args = [];
      for (const bytes of inputs) {
        const ptr = x.whale_image_alloc(Math.max(1, bytes.length)) >>> 0;
        if (ptr === 0) throw new WhaleError('out_of_memory', `image module: cannot allocate ${bytes.length} bytes`);
        pointers.push(ptr);
        new Uint8Array(x.memory.buffer, ptr, bytes.length).set(bytes);
        args.push(ptr, bytes.length);
      }
      const code = x[name](...args, ...extra) >>> 0;
      for (const ptr of pointers.splice(0)) x.whale_image_free(ptr);
      if (code !== 0) {
        const message = this.outText();
        x.whale_image_reset();
        throw new WhaleError(ERROR_CODES[code] ?? 'internal', message, code);
      }
      const result = read(x);
      x.whale_image_reset();
      return result;
    } catch (e) {
      if (isTrap(e)) {
        this.drop();
        this.counters.traps++;
        throw new WhaleError('internal', `image module trapped: ${e.message}`);
      }
      for (const ptr of pointers) x.whale_image_free(ptr);
      throw e;
    } finally {
      this.afterJob();
    }
  }

  outBytes() {
    const x = this.exports;
    return new Uint8Array(x.memory.buffer, x.whale_image_out() >>> 0, x.whale_image_out_len() >>> 0).slice();
  }

  outText() { return decoder.decode(this.outBytes()); }

  outType() {
    const x = this.exports;
    const memory = new Uint8Array(x.memory.buffer);
    const start = x.whale_image_out_type() >>> 0;
    let end = start;
    while (end < memory.length && memory[end] !== 0) end++;
    return decoder.decode(memory.subarray(start, end));
  }

  drop() {
    this.exports = null;
  }

  // The high-water rule: a memory left above the threshold is not kept.
  afterJob() {
    const bytes = this.memoryBytes;
    if (bytes > this.counters.peakMemoryBytes) this.counters.peakMemoryBytes = bytes;
    if (this.exports !== null && bytes > this.maxMemoryBytes) {
      this.drop();
      this.counters.replacements++;
    }
  }

  // Parses and validates the <options> segment of /cdn-cgi/image/<options>/<source>; returns the
  // normalized text (the cache key part). Throws WhaleError invalid_value naming the option.
  options(text) {
    return this.run('whale_image_options', [encoder.encode(String(text))], [], () => this.outText());
  }

  // The source's header: {width, height, format, orientation, frames}.
  probe(bytes) {
    return this.run('whale_image_probe', [bytesOf(bytes, 'probe')], [], () => JSON.parse(this.outText()));
  }

  // The whole job. accept: an Accept header or ACCEPT_* bits (format=auto); limits: 0 or
  // absent = the module's defaults (16.8 MP, 25 MB, 4096, 96 MB of memory). Returns {bytes,
  // contentType, width, height}; bytes are a copy, the caller's to keep.
  // draw: overlays, [{bytes, options}] (options: the overlay's own options text with opacity,
  // repeat, top, left, bottom, right), drawn on the output in order; at most 8.
  process(bytes, optionsText, { accept = 0, maxPixels, maxInputBytes, maxOutputSide, maxJobMemoryBytes, draw } = {}) {
    const input = bytesOf(bytes, 'process');
    const extra = [acceptBits(accept), limit(maxPixels, 'maxPixels'), limit(maxInputBytes, 'maxInputBytes'),
      limit(maxOutputSide, 'maxOutputSide'), limit(maxJobMemoryBytes, 'maxJobMemoryBytes')];
    this.counters.jobs++;
    const inputs = [input, encoder.encode(String(optionsText ?? ''))];
    if (draw !== undefined && draw.length > 0) inputs.push(drawBlob(draw));
    const name = inputs.length === 3 ? 'whale_image_process_draw' : 'whale_image_process';
    const out = this.run(name, inputs, extra, (x) => ({
      bytes: this.outBytes(),
      contentType: this.outType(),
      width: x.whale_image_out_width() >>> 0,
      height: x.whale_image_out_height() >>> 0,
    }));
    if (out.contentType !== AVIF_HANDOFF_TYPE) return out;
    if (this.avif === null) {
      throw new WhaleError('unsupported_format', 'AVIF: the encoder module is not loaded (await loadAvif() before process())');
    }
    return { ...out, bytes: this.avif.encode(out.bytes), contentType: 'image/avif' };
  }

  // Cloudflare's `fetch(source, {cf: {image: options}})` as one call, for a worker moving over:
  // fetches `source` (a Request or a URL), transforms it by `options` (cf.image's object: width,
  // height, fit, gravity ({x, y} too), quality, format, dpr, background, rotate, flip, trim
  // ({top, right, bottom, left, width, height}), border ({color, width} or the sides), brightness,
  // contrast, gamma, saturation, blur, sharpen, compression, metadata, anim, ...) and answers a
  // Response with the image. `draw` (at most 8 of {url, width, height, fit, gravity, rotate,
  // opacity, repeat, top, left, bottom, right}): each url (relative to the source's) is fetched
  // the same way and drawn on the output. The source's own error answers (4xx, 5xx)
  // come back as they are. format=auto and the client hints read `clientHints` (the visitor's
  // request headers; default: the source request's). `fetch` defaults to the global one;
  // `maxInputBytes` bounds the source (25 MB); the limits of process() apply. Bad options and
  // sources throw WhaleError with .code, as process() does.
  async transform(source, options = {}, {
    fetch: fetchImpl = globalThis.fetch, clientHints, maxInputBytes = TRANSFORM_MAX_INPUT_BYTES, ...limits
  } = {}) {
    if (options === null || typeof options !== 'object') throw new WhaleError('wrong_type', 'transform: options must be an object');
    const { draw = [], ...rest } = options;
    if (!Array.isArray(draw) || draw.length > 8 || draw.some((d) => d === null || typeof d !== 'object' || typeof d.url !== 'string')) {
      throw new WhaleError('invalid_value', "option 'draw': expected at most 8 objects, each with a url");
    }
    const text = cfImageText(rest);
    if (text !== '') this.options(text);  // a bad option throws before anything is fetched
    const overlays = draw.map((entry) => ({ url: entry.url, options: overlayText(entry) }));
    const request = source instanceof Request ? source : new Request(String(source));
    const response = await fetchImpl(request);
    if (!response.ok || (text === '' && overlays.length === 0)) return response;
    const tooLarge = (what) => () => new WhaleError('too_large', `transform: ${what} has more than ${maxInputBytes} bytes`);
    const bytes = await readAtMost(response, maxInputBytes, tooLarge('the source'));
    // Overlays come from where the caller says, as the source does (its rules are the caller's).
    const fetched = [];
    for (const overlay of overlays) {
      const got = await fetchImpl(new Request(new URL(overlay.url, request.url)));
      if (!got.ok) throw new WhaleError('not_found', `transform: overlay ${overlay.url}: HTTP ${got.status}`);
      fetched.push({ bytes: await readAtMost(got, maxInputBytes, tooLarge(`overlay ${overlay.url}`)), options: overlay.options });
    }
    const hints = clientHints ?? request.headers;
    if (this.wantsAvif(text, clientBits(hints))) await this.loadAvif();
    const out = this.process(bytes, text === '' ? 'metadata=copyright' : text,
      { ...limits, maxInputBytes, accept: clientBits(hints), draw: fetched });
    const headers = new Headers({ 'Content-Type': out.contentType, 'Content-Length': String(out.bytes.byteLength) });
    const cacheControl = response.headers.get('Cache-Control');
    if (cacheControl !== null) headers.set('Cache-Control', cacheControl);
    return new Response(out.bytes, { status: 200, headers });
  }
}

// `size` bytes of chunks, one after the other, in one array.
function joinBytes(chunks, size) {
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.byteLength;
  }
  return bytes;
}

// process()'s overlays as whale_image_process_draw reads them: per overlay a little-endian u32
// length and its bytes, then a u32 length and its options text.
function drawBlob(draw) {
  if (!Array.isArray(draw)) throw new WhaleError('wrong_type', 'draw: expected an array of {bytes, options}');
  const parts = [];
  for (const overlay of draw) {
    const data = bytesOf(overlay?.bytes, 'draw');
    const text = encoder.encode(String(overlay.options ?? ''));
    for (const part of [data, text]) {
      const length = new Uint8Array(4);
      new DataView(length.buffer).setUint32(0, part.length, true);
      parts.push(length, part);
    }
  }
  return joinBytes(parts, parts.reduce((n, p) => n + p.length, 0));
}

// A cf.image draw entry as an overlay's options text (process()'s draw[].options).
function overlayText(entry) {
  const { url, repeat, ...rest } = entry;
  const text = cfImageText(rest);
  const parts = text === '' ? [] : [text];
  if (repeat !== undefined) parts.push(`repeat=${repeat === true ? 'true' : repeat === false ? 'false' : String(repeat)}`);
  return parts.join(',');
}

// cf.image's object as the URL's options text (image.wasm checks and normalizes it). The worker
// cannot import js-glue/image-url.js (browsers get it as text), whose imageOptions writes the same.
function cfImageText(options) {
  const escape = (v) => String(v).replace(/[%,]/g, (c) => (c === '%' ? '%25' : '%2C'));
  const parts = [];
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined || value === null || value === '') continue;
    if (key === 'gravity' && typeof value === 'object') parts.push(`gravity=${value.x}x${value.y}`);
    else if (key === 'trim' && typeof value === 'object' && typeof value.border === 'object') {
      parts.push('trim=border');  // {border: {color, tolerance, keep}}
      for (const [part, v] of Object.entries(value.border)) if (v !== undefined) parts.push(`trim.border.${part}=${escape(v)}`);
    } else if (key === 'trim' && typeof value === 'object') {
      const { top = 0, right = 0, bottom = 0, left = 0, width, height } = value;
      parts.push(`trim=${[top, right, bottom, left].map(escape).join(';')}`);
      if (width !== undefined) parts.push(`trim.width=${escape(width)}`);
      if (height !== undefined) parts.push(`trim.height=${escape(height)}`);
    } else if (key === 'border' && typeof value === 'object') {
      for (const [part, v] of Object.entries(value)) if (v !== undefined) parts.push(`border.${part}=${escape(v)}`);
    } else parts.push(`${escape(key)}=${escape(value)}`);
  }
  return parts.join(',');
}

// transform()'s source limit when the caller gives none: image.wasm's own default.
const TRANSFORM_MAX_INPUT_BYTES = 25 * 1024 * 1024;

// A response's body, at most maxBytes: past it (by Content-Length, or while reading) the body is
// cancelled and tooLarge() is thrown. The edge's image route and transform() read sources so.
export async function readAtMost(res, maxBytes, tooLarge) {
  const declared = Number(res.headers.get('Content-Length') ?? NaN);
  if (declared > maxBytes) {
    await res.body?.cancel();
    throw tooLarge();
  }
  if (res.body === null) return new Uint8Array(0);
  const reader = res.body.getReader();
  // One buffer when the length is declared; chunks otherwise.
  let buffer = Number.isSafeInteger(declared) && declared >= 0 ? new Uint8Array(declared) : null;
  const chunks = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (size + value.byteLength > maxBytes) {
      await reader.cancel();
      throw tooLarge();
    }
    if (buffer !== null && size + value.byteLength <= buffer.length) buffer.set(value, size);
    else {
      if (buffer !== null) chunks.push(buffer.subarray(0, size));
      buffer = null;
      chunks.push(value);
    }
    size += value.byteLength;
  }
  if (buffer !== null) return size === buffer.length ? buffer : buffer.subarray(0, size);
  return joinBytes(chunks, size);
}

// loadImageModule(source, {maxMemoryBytes, avif}): source is a compiled WebAssembly.Module
// (workers), the wasm bytes, or a URL; in Node the default is the image.wasm beside this file.
// avif: avif.wasm the same ways, or a function that returns (a promise of) one (a worker's
// `() => import('./avif.wasm')`), compiled by the first loadAvif(); default the avif.wasm beside
// this file; false: no AVIF.
export async function loadImageModule(source, options = {}) {
  return new ImageModule(await compileModule(source), options);
}
