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
  'internal',
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

async function compileModule(source) {
  if (source instanceof WebAssembly.Module) return source;
  if (source instanceof ArrayBuffer || ArrayBuffer.isView(source)) return WebAssembly.compile(source);
  if (source === undefined || source === null) source = new URL('./core.wasm', import.meta.url);
  const url = source instanceof URL ? source : new URL(String(source), import.meta.url);
  if (url.protocol === 'file:') {
    const { readFile } = await import('node:fs/promises');
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

class FeatureSet {
  constructor(engine, payload) {
    this.engine = engine;
    this.payload = payload; // kept to reload after a trap replaced the instance
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
  }

  get abiVersion() { return `${this.version >>> 16}.${this.version & 0xffff}`; }

  // Calls fn(ptr, len, ...extra) on the UTF-8 bytes of text; returns the result text.
  call(name, text, ...extra) {
    if (this.exports === null) {
      this.exports = instantiate(this.module);
      this.generation++;
    }
    const x = this.exports;
    try {
      const capacity = text.length * 3;
      const ptr = x.whale_alloc(capacity);
      if (ptr === 0) throw new WhaleError('out_of_memory', 'core: allocation failed');
      let code;
      try {
        const { written } = encoder.encodeInto(text, new Uint8Array(x.memory.buffer, ptr, capacity));
        code = x[name](...extra, ptr, written) >>> 0;
      } finally {
        x.whale_free(ptr);
      }
      const out = decoder.decode(new Uint8Array(x.memory.buffer, x.whale_last_ptr(), x.whale_last_len()));
      if (code !== 0) throw new WhaleError(ERROR_CODES[code] ?? 'internal', out, code);
      return out;
    } catch (e) {
      if (isTrap(e)) {
        this.exports = null; // a trap poisons the instance: the next call starts a fresh one
        throw new WhaleError('internal', `core trapped: ${e.message}`);
      }
      throw e;
    }
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
    const set = new FeatureSet(this, text);
    this.bind(set);
    return set;
  }

  bind(set) {
    this.call('whale_features_load', set.payload);
    set.id = this.exports.whale_last_handle() >>> 0;
    set.generation = this.generation;
  }

  freeFeatures(set) {
    if (set.id !== 0 && set.generation === this.generation && this.exports !== null) {
      this.call('whale_features_free', '', set.id);
    }
    set.id = 0;
  }

  // One request: every feature's value and the experiments the user is in.
  evalAll(set, attributes = {}, { stickyBucketAssignmentDocs, url, forcedVariations } = {}) {
    if (!(set instanceof FeatureSet) || set.engine !== this) {
      throw new WhaleError('invalid_handle', 'evalAll: expected a feature set from this engine\'s loadFeatures');
    }
    if (set.generation !== this.generation || this.exports === null) this.bind(set);
    if (set.id === 0) throw new WhaleError('invalid_handle', 'evalAll: the feature set was freed');
    // Sticky bucketing is on when the caller passes documents (GrowthBook: a sticky bucket service).
    const request = JSON.stringify({ attributes, stickyBucketAssignmentDocs, url, forcedVariations });
    return JSON.parse(this.call('whale_eval_all', request, set.id));
  }
}

// createEngine({ module }): module is a WebAssembly.Module (workers), bytes, or a URL; in Node
// the default is the core.wasm that sits beside this file.
export async function createEngine({ module } = {}) {
  return new Engine(await compileModule(module));
}
