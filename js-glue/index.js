// @whaletools/edge: loads the whale core (core.wasm) and owns every byte that crosses the
// boundary. Works unchanged in workerd / Cloudflare Workers, Node 20 and browsers.
//
// Memory rule: inputs are encoded straight into memory the module allocated, results are
// copied out right after the call; no view of wasm memory is kept across a call, because a
// call may grow (and so detach) the memory.

export const ABI_MAJOR = 1;

// whale::error_code numbers (include/whale/result.h) -> Error.code names.
export const ERROR_CODES = Object.freeze([
  'ok', 'invalid_json', 'invalid_utf8', 'wrong_type', 'invalid_value', 'too_deep', 'too_large',
  'invalid_regex', 'regex_budget', 'not_found', 'invalid_handle', 'out_of_memory', 'abi_mismatch',
  'internal', 'unsupported_format', 'corrupt_input',
]);

export class WhaleError extends Error {
  constructor(code, message, number) {
    super(message);
    this.name = 'WhaleError';
    this.code = code;
    if (number !== undefined) this.number = number;
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: false });
// Up to this many characters, ASCII text is copied in and out of wasm memory by a JS loop: in
// workerd a TextEncoder/TextDecoder call crosses into the runtime's C++, which costs more than
// copying a few hundred bytes (a request's JSON, a decision). Longer or non-ASCII text takes them.
const SHORT_TEXT = 2048;

// Writes text's UTF-8 into memory (room for 3 bytes a character); returns the bytes written.
function writeUtf8(text, memory) {
  if (text.length <= SHORT_TEXT) {
    let i = 0;
    for (; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c >= 0x80) break;
      memory[i] = c;
    }
    if (i === text.length) return i;
  }
  return encoder.encodeInto(text, memory).written;
}

function readUtf8(bytes) {
  if (bytes.length <= SHORT_TEXT) {
    let ascii = true;
    for (let i = 0; i < bytes.length && ascii; i++) ascii = bytes[i] < 0x80;
    if (ascii) return String.fromCharCode.apply(null, bytes);
  }
  return decoder.decode(bytes);
}

const NODE_FS = 'node:fs/promises';

async function compileModule(source) {
  if (source instanceof WebAssembly.Module) return source;
  if (source instanceof ArrayBuffer || ArrayBuffer.isView(source)) return WebAssembly.compile(source);
  if (source === undefined || source === null) source = new URL('./core.wasm', import.meta.url);
  const url = source instanceof URL ? source : new URL(String(source), import.meta.url);
  if (url.protocol === 'file:') {
    // Named through a variable so that bundlers for workers and browsers (esbuild in wrangler)
    // leave Node's module out instead of warning that it cannot be found.
    const { readFile } = await import(NODE_FS);
    return WebAssembly.compile(await readFile(url));
  }
  const response = await fetch(url);
  if (!response.ok) throw new WhaleError('not_found', `core module: HTTP ${response.status} for ${url}`);
  return WebAssembly.compile(await response.arrayBuffer());
}

// The core does no I/O: every import it declares is a stub (WASI calls answer ENOSYS).
function importsFor(module) {
  const imports = {};
  for (const { module: ns, name, kind } of WebAssembly.Module.imports(module)) {
    if (kind !== 'function') continue;
    imports[ns] ??= {};
    if (name === 'proc_exit') {
      imports[ns][name] = (code) => { throw new WhaleError('internal', `core exited with ${code}`); };
    } else if (name === 'emscripten_notify_memory_growth') {
      imports[ns][name] = () => {};
    } else {
      imports[ns][name] = () => 52; // ENOSYS
    }
  }
  return imports;
}

function instantiate(module) {
  const instance = new WebAssembly.Instance(module, importsFor(module));
  const x = instance.exports;
  if (typeof x._initialize === 'function') x._initialize();
  const version = x.whale_abi_version() >>> 0;
  if (version >>> 16 !== ABI_MAJOR) {
    throw new WhaleError('abi_mismatch', `core ABI ${version >>> 16}.${version & 0xffff}, glue expects ${ABI_MAJOR}.x`);
  }
  return x;
}

function isTrap(e) {
  return e instanceof WebAssembly.RuntimeError || e instanceof RangeError;
}

// The compact form's record sizes in bytes (include/whale/assign.h: compact_*_words x 4).
const FEATURE_RECORD_BYTES = 12;
const EXPOSURE_RECORD_BYTES = 28;
// whale::assign::feature_source numbers (include/whale/assign.h) -> GrowthBook's source names.
const SOURCES = ['unknownFeature', 'defaultValue', 'force', 'override', 'experiment', 'prerequisite', 'cyclicPrerequisite'];
const SOURCE_FORCE = 2;
const SOURCE_EXPERIMENT = 4;
const STICKY_USED = 1;
const FALLBACK_ATTRIBUTE = 2;
// Attribute records of whale_eval_all_encoded (whale::api::attribute_tag, include/whale/api.h).
const TAG_NULL = 0;
const TAG_FALSE = 1;
const TAG_TRUE = 2;
const TAG_NUMBER = 3;
const TAG_STRING = 4;
const TAG_ARRAY = 5;
const TAG_OBJECT = 6;
// JSON text writes integers from 2^63 up as digits the core's parser does not take as numbers:
// such attributes keep the JSON request, so that they answer as before.
const LARGEST_ENCODED_NUMBER = 2 ** 63;
// Deeper values keep the JSON request too, whose parser counts (and limits) the depth itself.
const MAX_ENCODED_DEPTH = 200;
// evalAll's input buffer is kept across calls up to this size; a larger one is freed after use.
const INPUT_KEEP_BYTES = 64 * 1024;

class FeatureSet {
  constructor(engine, text, payload) {
    this.engine = engine;
    this.text = text; // kept to reload after a trap replaced the instance
    this.payload = payload; // the same payload parsed in JS: results point into it
    this.keys = [];
    this.features = [];
    this.shape = {}; // every key of keys, in order, valued null: evalAll's answer starts as a copy
    this.slots = null; // attribute name -> its index in whale_features_attributes (ABI 1.5)
    this.id = 0;
    this.generation = -1;
  }
  evalAll(attributes, options) { return this.engine.evalAll(this, attributes, options); }
  free() { this.engine.freeFeatures(this); }
}

class Engine {
  constructor(module) {
    this.module = module;
    this.generation = 0;
    this.exports = instantiate(module);
    this.version = this.exports.whale_abi_version() >>> 0;
    // evalAll's encoded attributes: one buffer in wasm memory, kept and grown (never shrunk)
    // across calls; views of the memory, remade when it grows.
    this.input = { ptr: 0, capacity: 0, generation: -1, busy: false };
    this.bytes = null;
    this.view = null;
  }

  get abiVersion() { return `${this.version >>> 16}.${this.version & 0xffff}`; }

  // Calls fn(...extra, ptr, len) on the UTF-8 bytes of text (a string, or bytes already in
  // UTF-8) and returns its error code; the module's "last result" buffer holds the output until
  // the next call.
  invoke(name, text, extra) {
    if (this.exports === null) {
      this.exports = instantiate(this.module);
      this.generation++;
    }
    const x = this.exports;
    try {
      const bytes = typeof text === 'string' ? null : text;
      const capacity = bytes ? bytes.length : text.length * 3;
      const ptr = x.whale_alloc(capacity);
      if (ptr === 0) throw new WhaleError('out_of_memory', 'core: allocation failed');
      try {
        const memory = new Uint8Array(x.memory.buffer, ptr, capacity);
        let written = capacity;
        if (bytes) memory.set(bytes);
        else written = writeUtf8(text, memory);
        return x[name](...extra, ptr, written) >>> 0;
      } finally {
        x.whale_free(ptr);
      }
    } catch (e) {
      throw this.trapped(e);
    }
  }

  // The error to throw for e; a trap poisons the instance: the next call starts a fresh one.
  trapped(e) {
    if (!isTrap(e)) return e;
    this.exports = null;
    return new WhaleError('internal', `core trapped: ${e.message}`);
  }

  lastText() {
    const x = this.exports;
    return readUtf8(new Uint8Array(x.memory.buffer, x.whale_last_ptr(), x.whale_last_len()));
  }

  // Calls an operation and returns its output text, or throws its error.
  call(name, text, ...extra) {
    const code = this.invoke(name, text, extra);
    const out = this.lastText();
    if (code !== 0) throw new WhaleError(ERROR_CODES[code] ?? 'internal', out, code);
    return out;
  }

  json(name, request) { return JSON.parse(this.call(name, JSON.stringify(request))); }

  hash(seed, value, version = 1) {
    return this.json('whale_hash', { seed: String(seed), value: String(value), version });
  }
  evalCondition(attributes, condition, savedGroups = {}) {
    return this.json('whale_eval_condition', { attributes, condition, savedGroups });
  }
  getBucketRanges(variations, coverage, weights) {
    return this.json('whale_bucket_ranges', { variations, coverage, weights });
  }
  chooseVariation(n, ranges) { return this.json('whale_choose_variation', { n, ranges }); }
  getEqualWeights(n) { return this.json('whale_equal_weights', { n }); }
  inNamespace(hashValue, namespace) { return this.json('whale_in_namespace', { hashValue, namespace }); }
  getQueryStringOverride(key, url, variations) {
    return this.json('whale_query_string_override', { key, url, variations });
  }

  // GrowthBook's run/evalFeature. When the context carries stickyBucketAssignmentDocs, the
  // documents the call wrote are merged into it, as GrowthBook updates its context.
  run(experiment, context = {}) { return this.withSticky('whale_run', { experiment, context }, context); }
  evalFeature(key, context = {}) { return this.withSticky('whale_eval_feature', { key, context }, context); }
  // GrowthBook's URL redirect experiments (context.experiments) for the page at context.url: the
  // first redirect experiment the user is in, as {redirect, results, stickyBucketAssignmentDocs
  // (the documents written, also merged into the context's as run does)}. ABI 1.6.
  urlRedirect(context = {}, { disableCrossOriginUrlRedirectExperiments = false } = {}) {
    const request = { context, disableCrossOriginUrlRedirectExperiments };
    const { result, stickyBucketAssignmentDocs } = this.json('whale_url_redirect', request);
    if (context.stickyBucketAssignmentDocs) Object.assign(context.stickyBucketAssignmentDocs, stickyBucketAssignmentDocs);
    return { ...result, stickyBucketAssignmentDocs };
  }

  withSticky(name, request, context) {
    const { result, stickyBucketAssignmentDocs } = this.json(name, request);
    if (context.stickyBucketAssignmentDocs) Object.assign(context.stickyBucketAssignmentDocs, stickyBucketAssignmentDocs);
    return result;
  }

  sampleBeta(alpha, beta, seed, count) {
    const samples = this.json('whale_sample_beta', { alpha, beta, seed: String(seed), count: count ?? 1 });
    return count === undefined ? samples[0] : samples;
  }
  thompsonChoose(arms, seed) { return this.json('whale_thompson_choose', { arms, seed: String(seed) }); }
  banditWeights(arms, { seed = '', draws, floor, topTwo } = {}) {
    return this.json('whale_bandit_weights', { arms, seed: String(seed), draws, floor, topTwo });
  }

  // Parses and checks a vendor payload once; evalAll then needs only the request's attributes.
  loadFeatures(payload) {
    const text = typeof payload === 'string' ? payload : JSON.stringify(payload);
    const set = new FeatureSet(this, text, null);
    this.bind(set);
    set.payload = JSON.parse(text);
    set.features = set.keys.map((key) => set.payload.features[key]);
    return set;
  }

  bind(set) {
    set.keys = JSON.parse(this.call('whale_features_load', set.text));
    // Made by JSON.parse, so V8 gives it fast properties: a copy of it is one allocation, and
    // filling it stores into existing slots. Adding twenty keys one by one to {} instead turns the
    // object into a dictionary (measured: 1.2 µs against 0.35 µs for twenty features).
    set.shape = JSON.parse(`{${set.keys.map((key) => `${JSON.stringify(key)}:null`).join(',')}}`);
    set.id = this.exports.whale_last_handle() >>> 0;
    set.generation = this.generation;
    if (typeof this.exports.whale_eval_all_encoded === 'function') {
      const names = JSON.parse(this.call('whale_features_attributes', '', set.id));
      set.slots = new Map(names.map((name, slot) => [name, slot]));
    }
  }

  freeFeatures(set) {
    if (set.id !== 0 && set.generation === this.generation && this.exports !== null) {
      this.call('whale_features_free', '', set.id);
    }
    set.id = 0;
  }

  // Vendor configs (docs/config.md), as JSON text or its UTF-8 bytes. parseConfig parses and
  // validates and returns a summary {vendor, name, components, pages, sections, instances,
  // products, features, experiments, memoryBytes}; errors are thrown with the JSON path.
  parseConfig(config) { return JSON.parse(this.call('whale_config_parse', configInput(config))); }
  // The same, answering {ok: true, summary} or {ok: false, code, message} instead of throwing.
  validateConfig(config) {
    try {
      return { ok: true, summary: this.parseConfig(config) };
    } catch (e) {
      if (!(e instanceof WhaleError) || e.code === 'internal') throw e;
      return { ok: false, code: e.code, message: e.message };
    }
  }
  // Parses and keeps the config in the instance's LRU cache under (its vendor slug, version).
  // A trap replaces the instance and empties that cache: resolveConfig then answers false.
  loadConfig(config, version) {
    return JSON.parse(this.call('whale_config_load', configInput(config), version >>> 0));
  }
  // A warm lookup: true when (slug, version) is cached.
  resolveConfig(slug, version) {
    return this.invoke('whale_config_resolve', String(slug), [version >>> 0]) === 0;
  }
  configCacheStats() { return JSON.parse(this.call('whale_config_cache_stats', '')); }
  // The media settings of a cached config (docs/config.md), every default filled in; throws
  // WhaleError not_found when (slug, version) is not cached. ABI 1.3.
  configMedia(slug, version) { return JSON.parse(this.call('whale_config_media', String(slug), version >>> 0)); }
  // The consent settings of a cached config: {globalPrivacyControl, cookie, granted, denied}
  // (docs/config.md), every default filled in. ABI 1.4.
  configConsent(slug, version) { return JSON.parse(this.call('whale_config_consent', String(slug), version >>> 0)); }

  // The layout of a page (docs/layout.md) for a config loaded with loadConfig; throws
  // WhaleError not_found when (slug, version) is not cached. `now` is Unix seconds (default:
  // the clock); `behaviour` the browser's summary string; `experiments: false` gives the control
  // layout (no experiment runs); `writeStickyDocs: false` leaves the documents written out.
  renderLayout(slug, version, options) { return JSON.parse(this.renderLayoutText(slug, version, options)); }
  // The same layout as JSON text, unparsed (what an edge sends on: parsing it costs more than rendering).
  renderLayoutText(slug, version, options = {}) {
    return this.call('whale_render_layout', layoutRequest(slug, version, options));
  }
  // The page's decisions without the layout: {cacheKey, maxAge, assignments,
  // stickyBucketAssignmentDocs?, vary}, as renderLayout would give them for the same options.
  // Layouts are equal when their (version, cacheKey) are (but for the sticky documents written),
  // so an edge decides first and renders only what its cache lacks. ABI 1.4.
  decideLayout(slug, version, options = {}) {
    return JSON.parse(this.call('whale_render_layout', layoutRequest(slug, version, options, true)));
  }
  // A multi-variant page's candidates (docs/layout.md#candidates): {watchMs, candidates: [{name,
  // states, forcedVariations, decision}]}, at most `count` (1..8), the layout options as for
  // decideLayout. Render each with its forcedVariations. A page without candidates, or
  // `experiments: false`: one, "default", watchMs 0.
  decideCandidates(slug, version, { count, ...options } = {}) {
    return JSON.parse(this.call('whale_render_layout', layoutRequest(slug, version, options, false, `,"candidates":${candidateCount(count)}`)));
  }
  // Which of those candidates the visit keeps: {chosen, visit: [states], candidate: {name,
  // states, forcedVariations}}, chosen by `behaviour` (the summary), or `kept` (an index) when given.
  chooseCandidate(slug, version, { count, kept, ...options } = {}) {
    let extra = `,"choose":${candidateCount(count)}`;
    if (kept !== undefined) {
      if (!Number.isInteger(kept) || kept < 0) throw new WhaleError('invalid_value', 'kept: expected a candidate index');
      extra += `,"kept":${kept}`;
    }
    return JSON.parse(this.call('whale_render_layout', layoutRequest(slug, version, options, false, extra)));
  }

  // One request: every feature's value and the experiments the user is in. The core answers
  // in a compact binary form (whale::assign::eval_all_compact) that names payload entries by
  // index; the values themselves come from the payload parsed here once, as GrowthBook returns
  // references into its payload.
  evalAll(set, attributes = {}, { stickyBucketAssignmentDocs, url, forcedVariations } = {}) {
    if (!(set instanceof FeatureSet) || set.engine !== this) {
      throw new WhaleError('invalid_handle', 'evalAll: expected a feature set from this engine\'s loadFeatures');
    }
    if (set.id === 0) throw new WhaleError('invalid_handle', 'evalAll: the feature set was freed');
    if (set.generation !== this.generation || this.exports === null) this.bind(set);
    const plain = stickyBucketAssignmentDocs === undefined && url === undefined && forcedVariations === undefined;
    let code = plain && set.slots !== null ? this.evalEncoded(set, attributes) : -1;
    if (code < 0) {
      code = this.invoke('whale_eval_all_compact', jsonRequest(attributes, stickyBucketAssignmentDocs, url, forcedVariations), [set.id]);
    }
    if (code !== 0) throw new WhaleError(ERROR_CODES[code] ?? 'internal', this.lastText(), code);
    // Decoded straight from wasm memory: nothing below calls into the module.
    const x = this.exports;
    return decodeEvalAll(set, attributes, this.views().view, x.whale_last_ptr());
  }

  // The views of the module's memory, remade after it grew (growing detaches the old buffer).
  views() {
    const buffer = this.exports.memory.buffer;
    if (this.bytes === null || this.bytes.buffer !== buffer) {
      this.bytes = new Uint8Array(buffer);
      this.view = new DataView(buffer);
    }
    return this;
  }

  // whale_eval_all_encoded's error code, or -1 when the attributes need the JSON request. A getter
  // among the attributes may call this engine again while they are written: that inner call
  // takes the JSON path, and a trap in it (a new instance) sends the outer one there too.
  evalEncoded(set, attributes) {
    if (this.input.busy) return -1;
    try {
      this.input.busy = true;
      const length = this.encodeAttributes(set, attributes);
      if (length < 0 || this.input.generation !== this.generation || this.exports === null) return -1;
      return this.exports.whale_eval_all_encoded(set.id, this.input.ptr, length) >>> 0;
    } catch (e) {
      throw this.trapped(e);
    } finally {
      this.input.busy = false;
      if (this.input.capacity > INPUT_KEEP_BYTES) this.dropInput();
    }
  }

  // Frees an input buffer a large request grew, so that one request does not hold it for good.
  dropInput() {
    if (this.exports !== null && this.input.generation === this.generation) this.exports.whale_free(this.input.ptr);
    this.input = { ptr: 0, capacity: 0, generation: this.generation, busy: false };
  }

  // Writes the attributes the payload reads into the input buffer (whale::api::attribute_tag
  // records) and returns their byte length; -1 when JSON must carry them instead: what
  // JSON.stringify would do differently (toJSON, boxed primitives, a prototype of another class
  // at the top, BigInt, lone surrogates, integers from 2^63, depth) keeps its own path.
  encodeAttributes(set, attributes) {
    if (attributes === null || typeof attributes !== 'object' || Array.isArray(attributes)) return -1;
    const proto = Object.getPrototypeOf(attributes);
    if ((proto !== Object.prototype && proto !== null) || typeof attributes.toJSON === 'function') return -1;
    if (this.input.generation !== this.generation) this.input = { ptr: 0, capacity: 0, generation: this.generation, busy: true };
    let at = 0;
    for (const name of Object.keys(attributes)) {
      const slot = set.slots.get(name);
      if (slot === undefined) continue;
      at = this.encodeValue(slot, attributes[name], at, 0);
      if (at < 0) return -1;
    }
    return at;
  }

  // One record at offset `at` of the input buffer; returns the offset after it, `at` itself for
  // a value JSON leaves out (undefined, functions, symbols), or -1 (JSON must carry the request).
  encodeValue(slot, v, at, depth) {
    switch (typeof v) {
      case 'string': return this.encodeText(slot, TAG_STRING, v, at);
      case 'number':
        if (!Number.isFinite(v)) return this.encodeHead(slot, TAG_NULL, at, 0); // JSON writes null
        if (Math.abs(v) >= LARGEST_ENCODED_NUMBER) return -1;
        at = this.encodeHead(slot, TAG_NUMBER, at, 8);
        this.view.setFloat64(this.input.ptr + at, v + 0, true); // + 0: -0 is 0, as in JSON
        return at + 8;
      case 'boolean': return this.encodeHead(slot, v ? TAG_TRUE : TAG_FALSE, at, 0);
      case 'object':
        if (v === null) return this.encodeHead(slot, TAG_NULL, at, 0);
        if (depth >= MAX_ENCODED_DEPTH || typeof v.toJSON === 'function' || isBoxed(v)) return -1;
        return Array.isArray(v) ? this.encodeArray(slot, v, at, depth + 1) : this.encodeObject(slot, v, at, depth + 1);
      case 'bigint': return -1; // JSON.stringify throws: the JSON path says so
      default: return at;
    }
  }

  // A count, then each item; what JSON leaves out of an array it writes as null.
  encodeArray(slot, items, at, depth) {
    at = this.encodeHead(slot, TAG_ARRAY, at, 4);
    this.view.setUint32(this.input.ptr + at, items.length, true);
    at += 4;
    for (let i = 0; i < items.length; i++) {
      const next = this.encodeValue(0, items[i], at, depth);
      if (next < 0) return -1;
      at = next === at ? this.encodeHead(0, TAG_NULL, at, 0) : next;
    }
    return at;
  }

  // A count, then each member's name and value, in JSON.stringify's order (Object.keys); a
  // member JSON leaves out is not written.
  encodeObject(slot, object, at, depth) {
    at = this.encodeHead(slot, TAG_OBJECT, at, 4);
    const countAt = at;
    at += 4;
    let count = 0;
    for (const key of Object.keys(object)) {
      const valueAt = this.encodeBytes(key, at);
      if (valueAt < 0) return -1;
      const next = this.encodeValue(0, object[key], valueAt, depth);
      if (next < 0) return -1;
      if (next === valueAt) continue; // left out: the name is overwritten by what follows
      at = next;
      count++;
    }
    this.reserve(at); // the members' getters may have grown the memory: fresh views
    this.view.setUint32(this.input.ptr + countAt, count, true);
    return at;
  }

  // A record head with room for `extra` bytes after it; returns the offset after the head.
  encodeHead(slot, tag, at, extra) {
    this.reserve(at + 4 + extra);
    this.view.setUint32(this.input.ptr + at, (slot << 8) | tag, true);
    return at + 4;
  }

  encodeText(slot, tag, text, at) { return this.encodeBytes(text, this.encodeHead(slot, tag, at, 0)); }

  // A byte length and UTF-8 text; -1 for a string with a lone surrogate.
  encodeBytes(text, at) {
    this.reserve(at + 4 + 3 * text.length);
    const bytes = this.bytes;
    const base = this.input.ptr + at + 4;
    let written = text.length;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c >= 0x80) {
        if (hasLoneSurrogate(text)) return -1;
        written = encoder.encodeInto(text, bytes.subarray(base, base + 3 * text.length)).written;
        break;
      }
      bytes[base + i] = c;
    }
    this.view.setUint32(base - 4, written, true);
    return at + 4 + written;
  }

  // Makes the input buffer hold at least `size` bytes, keeping what it holds, and the views
  // current: attribute getters run between writes, and may grow the memory.
  reserve(size) {
    const input = this.input;
    const x = this.exports;
    if (x === null) throw new WhaleError('internal', 'evalAll: the core trapped while the attributes were read');
    // A grown memory detaches the old buffer, and a view of a detached buffer has length 0.
    if (this.bytes === null || this.bytes.length === 0) this.views();
    if (size <= input.capacity) return;
    const capacity = Math.max(size, 2 * input.capacity, 1024);
    const ptr = x.whale_alloc(capacity);
    if (ptr === 0) throw new WhaleError('out_of_memory', 'core: allocation failed');
    this.views();
    if (input.ptr !== 0) {
      this.bytes.copyWithin(ptr, input.ptr, input.ptr + input.capacity);
      x.whale_free(input.ptr);
    }
    input.ptr = ptr;
    input.capacity = capacity;
  }
}

// JSON.stringify writes a Number, String or Boolean object as its primitive.
function isBoxed(v) {
  return v instanceof Number || v instanceof String || v instanceof Boolean;
}

// TextEncoder writes a lone surrogate as U+FFFD where JSON.stringify escapes it.
function hasLoneSurrogate(text) {
  return typeof text.isWellFormed === 'function' ? !text.isWellFormed() : /[\uD800-\uDFFF]/.test(text);
}

// evalAll's request as JSON (options, or attributes encodeAttributes leaves to JSON). Sticky
// bucketing is on when the caller passes documents (GrowthBook: a sticky bucket service).
function jsonRequest(attributes, stickyBucketAssignmentDocs, url, forcedVariations) {
  let request = `{"attributes":${JSON.stringify(attributes)}`;
  if (stickyBucketAssignmentDocs !== undefined) request += `,"stickyBucketAssignmentDocs":${JSON.stringify(stickyBucketAssignmentDocs)}`;
  if (url !== undefined) request += `,"url":${JSON.stringify(url)}`;
  if (forcedVariations !== undefined) request += `,"forcedVariations":${JSON.stringify(forcedVariations)}`;
  return `${request}}`;
}

function layoutRequest(slug, version, {
  page, attributes = {}, now, behaviour, stickyBucketAssignmentDocs, experiments, writeStickyDocs, forcedVariations,
} = {}, decide = false, extra = '') {
  let request = `{"slug":${JSON.stringify(String(slug))},"version":${version >>> 0}`;
  if (page !== undefined) request += `,"page":${JSON.stringify(page)}`;
  request += `,"attributes":${JSON.stringify(attributes)},"now":${JSON.stringify(now ?? Math.floor(Date.now() / 1000))}`;
  if (behaviour !== undefined) request += `,"behaviour":${JSON.stringify(behaviour)}`;
  if (stickyBucketAssignmentDocs !== undefined) request += `,"stickyBucketAssignmentDocs":${JSON.stringify(stickyBucketAssignmentDocs)}`;
  if (experiments === false) request += ',"experiments":false';
  if (writeStickyDocs === false) request += ',"writeStickyDocs":false';
  if (forcedVariations !== undefined) request += `,"forcedVariations":${JSON.stringify(forcedVariations)}`;
  if (decide) request += ',"decide":true';
  return `${request}${extra}}`;
}

function candidateCount(count) {
  if (!Number.isInteger(count) || count < 1 || count > 8) throw new WhaleError('invalid_value', 'count: expected an integer 1..8');
  return count;
}

function configInput(config) {
  if (typeof config === 'string' || config instanceof Uint8Array) return config;
  if (config instanceof ArrayBuffer) return new Uint8Array(config);
  return JSON.stringify(config);
}

function variationsOf(rule) { return rule.contextualVariations ?? rule.variations; }

function featureResult(feature, source, ruleIndex, variation) {
  let value = null;
  let ruleId = '';
  if (source === 1) {
    value = feature.defaultValue === undefined ? null : feature.defaultValue;
  } else if (source === SOURCE_FORCE || source === SOURCE_EXPERIMENT) {
    const rule = feature.rules[ruleIndex];
    value = source === SOURCE_FORCE ? rule.force : variationsOf(rule)[variation];
    ruleId = rule.id || '';
  }
  return { value, on: !!value, off: !value, source: SOURCES[source] ?? 'unknownFeature', ruleId };
}

function exposureResult(set, attributes, view, at) {
  const word = (k) => view.getInt32(at + 4 * k, true);
  const featureIndex = word(0);
  const rule = set.features[featureIndex].rules[word(1)];
  const variation = word(2);
  const flags = word(3);
  const leaf = word(4);
  const meta = rule.meta ? rule.meta[variation] : undefined;
  const hashAttribute = flags & FALLBACK_ATTRIBUTE ? rule.fallbackAttribute : rule.hashAttribute || 'id';
  const variations = variationsOf(rule);
  const result = {
    key: (meta && meta.key) || String(variation),
    featureId: set.keys[featureIndex],
    inExperiment: true,
    hashUsed: true,
    variationId: variation,
    value: variations[variation],
    hashAttribute,
    hashValue: attributes[hashAttribute],
    stickyBucketUsed: (flags & STICKY_USED) !== 0,
    // The experiment's key (the rule's key, else the feature's), for exposure events: the one
    // field GrowthBook's Result lacks (its tracking callback gets it as experiment.key). A plain
    // member: defining it non-enumerable cost ~200 ns per exposure, and JSON dropped it.
    experimentKey: rule.key || set.keys[featureIndex],
  };
  if (meta && meta.name) result.name = meta.name;
  result.bucket = word(5) / word(6);
  if (meta && meta.passthrough) result.passthrough = meta.passthrough;
  if (leaf >= -1) {
    const bandit = set.payload.contextualBandits?.[rule.contextualBanditRef] ?? {};
    if (leaf >= 0) {
      result.leafId = bandit.contexts[leaf].leafId;
      result.variationWeights = bandit.contexts[leaf].weights;
    } else {
      result.leafId = -1;
      result.variationWeights = rule.weights ?? variations.map(() => 1 / variations.length);
    }
    if (bandit.banditVersion !== undefined) result.banditVersion = bandit.banditVersion;
  }
  return result;
}

// The layout of whale::assign::eval_all_compact (include/whale/assign.h), at offset `at` of the
// module's memory.
function decodeEvalAll(set, attributes, view, at) {
  // Every key is already an own property of the copy, "__proto__" included (JSON.parse defines
  // it as a member), so the stores below set members and never the prototype.
  const features = { ...set.shape };
  const count = view.getInt32(at, true);
  at += 4;
  for (let f = 0; f < count; f++, at += FEATURE_RECORD_BYTES) {
    features[set.keys[f]] = featureResult(set.features[f], view.getInt32(at, true), view.getInt32(at + 4, true), view.getInt32(at + 8, true));
  }
  const experiments = [];
  const exposures = view.getInt32(at, true);
  at += 4;
  for (let e = 0; e < exposures; e++, at += EXPOSURE_RECORD_BYTES) experiments.push(exposureResult(set, attributes, view, at));
  const stickyLength = view.getInt32(at, true);
  at += 4;
  // Two bytes is "{}", what every call without sticky bucketing answers: no text to parse.
  const stickyBucketAssignmentDocs = stickyLength === 2 ? {} : JSON.parse(decoder.decode(new Uint8Array(view.buffer, at, stickyLength)));
  return { features, experiments, stickyBucketAssignmentDocs };
}

// createEngine({ module }): module is a WebAssembly.Module (workers), bytes, or a URL; in Node
// the default is the core.wasm that sits beside this file.
export async function createEngine({ module } = {}) {
  return new Engine(await compileModule(module));
}
