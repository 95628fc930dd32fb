// Config sync at the edge: the vendor configs an isolate holds, pulled from the origin as signed
// snapshots (docs/origin.md), verified with WebCrypto Ed25519 against keys pinned in the worker's
// bindings, and kept as the last known good when anything goes wrong.
//
// Per vendor and isolate the edge holds {version, published_at, feature set, config text,
// fetched_at, source}.
//   - First request: fetch the snapshot and wait for it.
//   - stale-while-revalidate: once the held config is older than maxAge, requests are answered
//     from it and one background refresh runs (ctx.waitUntil; one in flight per vendor).
//   - stale-if-error: an origin that is down or erroring changes nothing held; responses carry
//     Age and Warning headers.
//   - A nudge (POST /v1/invalidate from the origin) refreshes the vendor now.
// A snapshot is refused (and counted by reason) when it is malformed, names another vendor, is
// signed by a key that is not pinned, fails its signature, is older than the one held, or its
// features do not load into the engine.
// Reads go to this edge's region replica when one is configured, then to the primary, through
// the network that reaches the origin (originFetch in http.js).
// On Cloudflare (a SNAPSHOTS KV binding), reads go first to KV through snapshots.js (a beacon
// names the newest version; the snapshot comes from the Cache API or KV) and to the origin only
// when KV has nothing usable for the vendor: the origin is the last resort. The origin writes to
// KV through this worker's publish route (publish() below).

import { bearerMatches, objectVar, originFetch } from './http.js';
import { SnapshotStore } from './snapshots.js';

export const DEFAULT_MAX_AGE_S = 5;
export const DEFAULT_TIMEOUT_MS = 1500;
// The origin's nudger waits 2 s for an answer; the refresh itself goes on in ctx.waitUntil.
const INVALIDATE_BUDGET_MS = 1800;
// After a failed background refresh, requests wait this long before starting another.
const RETRY_AFTER_MS = 1000;
// Bigger than the origin's config limit (4 MiB) plus the snapshot's own fields.
export const MAX_SNAPSHOT_BYTES = 8 * 1024 * 1024;
// Vendors whose first pull failed are remembered, not pulled again, for maxAge (unknown to the
// origin) or RETRY_AFTER_MS (origin unavailable); at most this many of them.
const MAX_MISSES = 1024;
const SIGNATURE_PREFIX = 'whale-snapshot-v1\n';
const CONFIG_MEMBER = ',"config":';

// Where a snapshot read from Workers KV came from, in /v1/config answers.
const KV_SOURCE = { region: 'kv', url: 'kv:SNAPSHOTS' };

export const REJECTION_REASONS = ['bad_signature', 'unknown_key', 'rollback', 'slug_mismatch', 'malformed', 'invalid_config'];

function missError({ status, message }) {
  return Object.assign(new Error(message), { status, code: status === 404 ? 'not_found' : 'config_unavailable' });
}

class Rejection extends Error {
  constructor(reason, message) {
    super(message);
    this.reason = reason;
  }
}

// A failure to reach or use one source (network, timeout, HTTP status): counted as an error.
class SourceError extends Error {}

function base64ToBytes(text) {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function trimSlash(url) {
  return url.replace(/\/+$/, '');
}

// The origin sources of this edge, in the order reads try them.
function readSources(env) {
  if (!env.ORIGIN_URL) return [];
  const primary = { region: 'primary', url: trimSlash(env.ORIGIN_URL) };
  const region = env.EDGE_REGION || '';
  const replica = region ? objectVar(env.ORIGIN_REPLICAS)[region] : undefined;
  if (!replica) return [primary];
  return [{ region, url: trimSlash(replica) }, primary];
}

async function importKeys(pinned) {
  const keys = new Map();
  for (const [keyId, publicKey] of Object.entries(pinned ?? {})) {
    const key = await crypto.subtle.importKey('raw', base64ToBytes(publicKey), { name: 'Ed25519' }, false, ['verify']);
    keys.set(keyId, key);
  }
  return keys;
}

// Splits a snapshot body into its fields and the exact config bytes that were signed. The
// origin writes config last, so those bytes run from just after the first ,"config": to just
// before the final }. The metadata is parsed from the text before them, so no member of the
// body escapes the signature check.
function splitSnapshot(text) {
  const body = text.trimEnd();
  const at = body.indexOf(CONFIG_MEMBER);
  if (at <= 0 || !body.endsWith('}')) throw new Rejection('malformed', 'snapshot: no trailing "config" member');
  const configText = body.slice(at + CONFIG_MEMBER.length, -1);
  let head;
  let config;
  try {
    head = JSON.parse(body.slice(0, at) + '}');
    config = JSON.parse(configText);
  } catch (e) {
    throw new Rejection('malformed', `snapshot: ${e.message}`);
  }
  const fields = head !== null && typeof head === 'object' &&
    typeof head.slug === 'string' && Number.isSafeInteger(head.version) && head.version >= 1 &&
    typeof head.published_at === 'string' && typeof head.key_id === 'string' && typeof head.signature === 'string';
  if (!fields) throw new Rejection('malformed', 'snapshot: missing or mistyped slug, version, published_at, key_id or signature');
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new Rejection('malformed', 'snapshot: config is not an object');
  }
  return { head, config, configText };
}

const REFUSAL_STATUS = { malformed: 400, slug_mismatch: 400, unknown_key: 403, bad_signature: 403, rollback: 409, invalid_config: 422 };

// A refused publish as {status, body}; the error code is the rejection's reason.
function refusal(e) {
  if (!(e instanceof Rejection)) throw e;
  return { status: REFUSAL_STATUS[e.reason] ?? 400, body: { error: { code: e.reason, message: e.message } } };
}

// Per-vendor state in this isolate.
class Vendor {
  constructor(slug) {
    this.slug = slug;
    this.held = null; // {version, publishedAt, keyId, set, configText, fetchedAt, source, trigger}
    this.inflight = null; // the refresh running now, if any
    this.lastAttemptAt = 0;
    this.lastAttemptFailed = false;
    this.lastError = null;
    this.rejected = Object.fromEntries(REJECTION_REASONS.map((r) => [r, 0]));
    this.refreshes = 0; // refreshes that reached an origin and confirmed or replaced the config
    this.fetches = 0; // requests sent to a source
    this.errors = 0; // requests that failed: network, timeout, HTTP status
  }
}

export class ConfigSync {
  // env: the worker's bindings; engine: () => Promise<Engine> (js-glue).
  constructor(env, engine) {
    this.engine = engine;
    this.name = env.EDGE_NAME || 'edge';
    this.region = env.EDGE_REGION || '';
    this.sources = readSources(env);
    this.token = typeof env.EDGE_TOKEN === 'string' ? env.EDGE_TOKEN : '';
    const maxAge = Number(env.CONFIG_MAX_AGE ?? DEFAULT_MAX_AGE_S);
    this.maxAgeMs = (Number.isFinite(maxAge) && maxAge >= 0 ? maxAge : DEFAULT_MAX_AGE_S) * 1000;
    const timeout = Number(env.ORIGIN_TIMEOUT_MS ?? DEFAULT_TIMEOUT_MS);
    this.timeoutMs = Number.isFinite(timeout) && timeout > 0 ? timeout : DEFAULT_TIMEOUT_MS;
    this.pinned = objectVar(env.ORIGIN_KEYS);
    this.fetch = originFetch(env);
    this.store = env.SNAPSHOTS ? new SnapshotStore(env.SNAPSHOTS) : null;
    this.keys = null; // Promise<Map<key id, CryptoKey>>
    this.vendors = new Map();
    this.misses = new Map(); // slug -> {until (ms), status, message}: first pulls that failed
    this.onInstall = null; // (slug, version) => Promise: after a new version is installed (the storefront warms)
  }

  vendor(slug) {
    let v = this.vendors.get(slug);
    if (!v) {
      v = new Vendor(slug);
      this.vendors.set(slug, v);
    }
    return v;
  }

  verifyKeys() {
    this.keys ??= importKeys(this.pinned).catch((e) => {
      this.keys = null;
      throw e;
    });
    return this.keys;
  }

  // --- the request path --------------------------------------------------------------------

  // The vendor's state with a config held, fetching it on first use and starting a background
  // refresh when it is older than maxAge. Throws {status, code} when there is nothing to serve.
  async ready(slug, ctx) {
    const miss = this.misses.get(slug);
    if (miss !== undefined) {
      if (Date.now() < miss.until) throw missError(miss);
      this.misses.delete(slug);
    }
    const v = this.vendor(slug);
    if (v.held === null) {
      const outcome = await this.refresh(v, { trigger: 'first', ctx });
      if (v.held === null) throw missError(this.forget(v, outcome));
    } else {
      this.refreshIfStale(v, ctx);
    }
    return v;
  }

  // ready() without waiting, for the hot path: the vendor when a config is held (starting a
  // background refresh when it is stale), else null and the caller awaits ready().
  heldNow(slug, ctx) {
    const v = this.vendors.get(slug);
    if (v === undefined || v.held === null) return null;
    this.refreshIfStale(v, ctx);
    return v;
  }

  refreshIfStale(v, ctx) {
    if (this.ageMs(v) > this.maxAgeMs && v.inflight === null &&
        !(v.lastAttemptFailed && Date.now() - v.lastAttemptAt < RETRY_AFTER_MS)) {
      this.refresh(v, { trigger: 'stale', ctx });
    }
  }

  // Drops a vendor whose first pull failed (so unknown names cost no memory) and remembers the
  // failure for a while, so that requests do not turn into a stream of pulls.
  forget(v, outcome) {
    const unknown = outcome === 'not_found';
    const miss = {
      until: Date.now() + (unknown ? this.maxAgeMs : RETRY_AFTER_MS),
      status: unknown ? 404 : 503,
      message: unknown ? `unknown vendor "${v.slug}"` : `no config for "${v.slug}" yet: ${v.lastError ?? 'origin unavailable'}`,
    };
    if (v.held !== null || v.inflight !== null) return miss;
    this.vendors.delete(v.slug);
    this.misses.delete(v.slug);
    if (this.misses.size >= MAX_MISSES) this.misses.delete(this.misses.keys().next().value);
    this.misses.set(v.slug, miss);
    return miss;
  }

  ageMs(v) {
    return v.held === null ? 0 : Math.max(0, Date.now() - v.held.fetchedAt);
  }

  // Age and Warning for a response answered from v's config (RFC 9111 Age; RFC 7234 warn-codes
  // 110 "Response is Stale" past maxAge, 111 "Revalidation Failed" when the last refresh failed).
  headers(v) {
    const ageMs = this.ageMs(v);
    const headers = { Age: String(Math.floor(ageMs / 1000)) };
    const warnings = [];
    if (ageMs > this.maxAgeMs) warnings.push('110 - "Response is Stale"');
    if (v.lastAttemptFailed) warnings.push('111 - "Revalidation Failed"');
    if (warnings.length > 0) headers.Warning = warnings.join(', ');
    return headers;
  }

  // --- refreshing ----------------------------------------------------------------------------

  // Joins the refresh in flight or starts one; resolves to its outcome: 'updated', 'current',
  // 'not_found' or 'failed'. Never rejects. The work is kept alive with ctx.waitUntil, so it
  // finishes even when the request that started it has been answered.
  refresh(v, { trigger, minVersion = 0, ctx }) {
    if (v.inflight === null) {
      v.inflight = this.pull(v, trigger, minVersion)
        .catch((e) => {
          v.lastError = `internal: ${e.message}`;
          return 'failed';
        })
        .then((outcome) => {
          v.inflight = null;
          v.lastAttemptAt = Date.now();
          v.lastAttemptFailed = outcome === 'failed';
          return outcome;
        });
    }
    ctx?.waitUntil(v.inflight);
    return v.inflight;
  }

  // Tries each source in order until one confirms or replaces what is held. A source that fails,
  // lags behind minVersion or serves a refused snapshot hands over to the next one.
  async pull(v, trigger, minVersion) {
    const outcome = await this.trySources(v, trigger, minVersion);
    if (outcome === 'updated' || outcome === 'current') v.lastError = null;
    return outcome;
  }

  async trySources(v, trigger, minVersion) {
    if (this.store !== null) {
      const outcome = await this.tryStore(v, trigger, minVersion);
      if (outcome !== null) return outcome;
    }
    let notFound = false;
    for (const source of this.sources) {
      const wanted = Math.max(minVersion, v.held?.version ?? 0);
      let res;
      try {
        res = await this.fetchSnapshot(v, source);
      } catch (e) {
        v.errors++;
        v.lastError = `${source.url}: ${e.message}`;
        continue;
      }
      if (res.status === 404) {
        await res.body?.cancel();
        notFound = true;
        v.lastError = `${source.url}: 404, vendor not published`;
        continue;
      }
      if (res.status === 304 && v.held !== null) {
        this.confirm(v, source);
        if (v.held.version >= wanted) return 'current';
        v.lastError = `${source.url}: behind version ${wanted}`;
        continue;
      }
      try {
        if (res.status !== 200) {
          await res.body?.cancel();
          throw new SourceError(`HTTP ${res.status}`);
        }
        const text = await this.readBody(res);
        const snapshot = await this.verify(v, text);
        const same = v.held !== null && snapshot.head.version === v.held.version;
        if (same) this.confirm(v, source);
        else await this.install(v, snapshot, source, trigger);
        if (v.held.version >= wanted) return same ? 'current' : 'updated';
        v.lastError = `${source.url}: behind version ${wanted}`;
      } catch (e) {
        if (e instanceof Rejection) {
          v.rejected[e.reason]++;
        } else {
          v.errors++;
        }
        v.lastError = `${source.url}: ${e.message}`;
      }
    }
    return notFound && v.held === null ? 'not_found' : 'failed';
  }

  // The KV source: the beacon, then the snapshot it names. Null hands the pull to the origin: KV
  // has nothing for the vendor, cannot be read, or holds a snapshot that is refused.
  async tryStore(v, trigger, minVersion) {
    const wanted = Math.max(minVersion, v.held?.version ?? 0);
    let version;
    let text;
    try {
      version = await this.store.beacon(v.slug);
      if (version === null) return null;
      if (v.held !== null && version <= v.held.version) {
        this.confirm(v, KV_SOURCE);
        return v.held.version >= wanted ? 'current' : null;
      }
      text = await this.store.read(v.slug, version);
    } catch (e) {
      v.errors++;
      v.lastError = `${KV_SOURCE.url}: ${e.message}`;
      return null;
    }
    if (text === null) {
      // The beacon arrived before its snapshot (KV is eventually consistent): keep serving what
      // is held and look again after RETRY_AFTER_MS; with nothing held, ask the origin.
      v.lastError = `${KV_SOURCE.url}: snapshot ${version} is not readable yet`;
      return v.held !== null ? 'failed' : null;
    }
    try {
      const snapshot = await this.verify(v, text);
      if (snapshot.head.version !== version) {
        throw new Rejection('malformed', `KV key of version ${version} holds version ${snapshot.head.version}`);
      }
      await this.install(v, snapshot, KV_SOURCE, trigger);
      return v.held.version >= wanted ? 'updated' : null;
    } catch (e) {
      if (e instanceof Rejection) v.rejected[e.reason]++;
      else v.errors++;
      v.lastError = `${KV_SOURCE.url}: ${e.message}`;
      return null;
    }
  }

  // --- publishing to KV (POST /v1/publish) -----------------------------------------------------

  // Verifies a snapshot the origin sent and writes it to KV; this isolate installs it at once.
  // Resolves to {status, body}: 200 when stored (or KV already has that version), 409 for an
  // older version than KV's, 403 for a key or signature the pins refuse, 400 malformed, 422
  // when the engine refuses its features. Nothing is written unless every check passed.
  async publish(text, slugPattern) {
    if (this.store === null) return { status: 501, body: { error: { code: 'not_configured', message: 'this worker has no SNAPSHOTS KV binding' } } };
    let head;
    try {
      ({ head } = splitSnapshot(text));
    } catch (e) {
      return refusal(e);
    }
    if (!slugPattern.test(head.slug)) return { status: 400, body: { error: { code: 'invalid_value', message: 'slug: not a vendor name' } } };
    const v = this.vendor(head.slug);
    this.misses.delete(head.slug);
    let snapshot;
    try {
      snapshot = await this.verify(v, text);
    } catch (e) {
      if (e instanceof Rejection) v.rejected[e.reason]++;
      return refusal(e);
    }
    const current = await this.store.beacon(head.slug, { fresh: true });
    if (current !== null && head.version < current) {
      v.rejected.rollback++;
      return refusal(new Rejection('rollback', `version ${head.version} is older than KV's ${current}`));
    }
    if (current === head.version) return { status: 200, body: { slug: head.slug, version: head.version, stored: false } };
    if (v.held === null || v.held.version < head.version) {
      try {
        await this.install(v, snapshot, KV_SOURCE, 'publish');
      } catch (e) {
        if (!(e instanceof Rejection)) throw e;
        v.rejected[e.reason]++;
        return refusal(e);
      }
    }
    await this.store.write(head.slug, head.version, text);
    return { status: 200, body: { slug: head.slug, version: head.version, stored: true } };
  }

  async fetchSnapshot(v, source) {
    const headers = { Authorization: `Bearer ${this.token}` };
    if (v.held !== null) headers['If-None-Match'] = `"${v.held.version}"`;
    v.fetches++;
    try {
      return await this.fetch(`${source.url}/v1/snapshots/${v.slug}`, { headers, signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (e) {
      throw new SourceError(e.name === 'TimeoutError' ? `timed out after ${this.timeoutMs} ms` : e.message);
    }
  }

  async readBody(res) {
    if (Number(res.headers.get('Content-Length')) > MAX_SNAPSHOT_BYTES) {
      await res.body?.cancel();
      throw new SourceError(`snapshot over ${MAX_SNAPSHOT_BYTES} bytes`);
    }
    try {
      return await res.text();
    } catch (e) {
      throw new SourceError(e.name === 'TimeoutError' ? `timed out after ${this.timeoutMs} ms` : e.message);
    }
  }

  confirm(v, source) {
    v.held.fetchedAt = Date.now();
    v.held.source = source;
    v.refreshes++;
  }

  // Checks a snapshot body against the pinned keys and what is held; throws a Rejection.
  async verify(v, text) {
    const snapshot = splitSnapshot(text);
    const { head, configText } = snapshot;
    if (head.slug !== v.slug) throw new Rejection('slug_mismatch', `snapshot of "${head.slug}" served for "${v.slug}"`);
    const key = (await this.verifyKeys()).get(head.key_id);
    if (!key) throw new Rejection('unknown_key', `snapshot signed by key ${head.key_id}, which is not pinned`);
    let signature;
    try {
      signature = base64ToBytes(head.signature);
    } catch {
      throw new Rejection('bad_signature', 'signature is not base64');
    }
    const message = new TextEncoder().encode(
      `${SIGNATURE_PREFIX}${head.slug}\n${head.version}\n${head.published_at}\n${configText}`);
    const valid = signature.length === 64 && await crypto.subtle.verify('Ed25519', key, signature, message);
    if (!valid) throw new Rejection('bad_signature', `bad signature on version ${head.version}`);
    if (v.held !== null && head.version < v.held.version) {
      throw new Rejection('rollback', `version ${head.version} is older than the held ${v.held.version}`);
    }
    return snapshot;
  }

  // Loads the snapshot's features into the engine and makes it the held config; the old feature
  // set is freed (requests read v.held.set right before evaluating, so none still uses it).
  // The config's text is kept as signed, for the layout renderer to load (storefront.js).
  async install(v, { head, config, configText }, source, trigger) {
    const core = await this.engine();
    let set;
    try {
      set = core.loadFeatures({
        features: config.features ?? {}, savedGroups: config.savedGroups ?? {},
        ...(Array.isArray(config.experiments) ? { experiments: config.experiments } : {}), // redirect.js
      });
    } catch (e) {
      throw new Rejection('invalid_config', `version ${head.version} refused by the engine: ${e.message}`);
    }
    // Another refresh may have installed a newer version while the engine loaded this one.
    if (v.held !== null && head.version <= v.held.version) {
      set.free();
      return;
    }
    const old = v.held;
    v.held = {
      version: head.version, publishedAt: head.published_at, keyId: head.key_id,
      set, configText, fetchedAt: Date.now(), source, trigger,
    };
    v.refreshes++;
    old?.set.free();
    if (old !== null && this.onInstall !== null) {
      try {
        await this.onInstall(v.slug, head.version);
      } catch {
        // Warming is best effort: the first visitor renders what it could not.
      }
    }
  }

  // --- the nudge -----------------------------------------------------------------------------

  // Refreshes slug until it holds at least `version` (or once, without one), for at most
  // INVALIDATE_BUDGET_MS; the refresh goes on in the background past that.
  async invalidate(slug, version, ctx) {
    const v = this.vendor(slug);
    this.misses.delete(slug);
    const target = version ?? 0;
    if (version !== undefined && v.held !== null && v.held.version >= version) {
      return { status: 200, body: { slug, version: v.held.version, requested: version } };
    }
    let outcome = 'failed';
    const work = (async () => {
      // A refresh already in flight may have started before the publish: then pull again.
      for (let round = 0; round < 3; round++) {
        const joined = v.inflight !== null;
        outcome = await this.refresh(v, { trigger: 'invalidate', minVersion: target, ctx });
        if (outcome === 'not_found' || (outcome === 'failed' && !joined)) return;
        if ((v.held?.version ?? 0) >= target && (!joined || version !== undefined)) return;
      }
    })();
    ctx?.waitUntil(work);
    let timer;
    await Promise.race([work, new Promise((r) => { timer = setTimeout(r, INVALIDATE_BUDGET_MS); })]);
    clearTimeout(timer);
    const held = v.held?.version ?? null;
    const done = held !== null && held >= target;
    const answer = { slug, version: held, requested: version ?? null, ...(done ? {} : { error: v.lastError }) };
    if (v.held === null && v.inflight === null) this.forget(v, outcome);
    return { status: done ? 200 : 202, body: answer };
  }

  // Whether `authorization` carries the edge token (compared in constant time).
  authorized(authorization) {
    return bearerMatches(authorization, this.token);
  }

  // --- debugging -----------------------------------------------------------------------------

  // What GET /v1/config/{slug} answers: no secrets.
  describe(v) {
    const held = v.held;
    return {
      slug: v.slug,
      version: held?.version ?? null,
      published_at: held?.publishedAt ?? null,
      key_id: held?.keyId ?? null,
      age_s: held ? Math.floor(this.ageMs(v) / 1000) : null,
      max_age_s: this.maxAgeMs / 1000,
      stale: held ? this.ageMs(v) > this.maxAgeMs : null,
      fetched_at: held ? new Date(held.fetchedAt).toISOString() : null,
      source: held ? held.source.url : null,
      source_region: held ? held.source.region : null,
      trigger: held?.trigger ?? null,
      edge: this.name,
      region: this.region || null,
      reads: [...(this.store ? [KV_SOURCE] : []), ...this.sources].map((s) => ({ region: s.region, url: s.url })),
      refreshing: v.inflight !== null,
      rejected: { ...v.rejected },
      refreshes: v.refreshes,
      fetches: v.fetches,
      errors: v.errors,
      last_error: v.lastError,
      kv: this.store?.stats() ?? null,
    };
  }
}
