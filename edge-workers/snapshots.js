// Signed snapshots in Workers KV, the way every isolate on Cloudflare reads them (edge-workers/
// README.md, "Snapshots on Cloudflare"). The origin sends each new snapshot once, to the worker's
// publish route (POST /v1/publish); the worker verifies it and writes:
//
//   snapshot/<slug>/<version>   the snapshot as the origin signed it, never rewritten
//   beacon/<slug>               the newest version published, as decimal text (the version index)
//
// An isolate holding a version older than CONFIG_MAX_AGE reads the beacon (with a short
// cacheTtl); when it names a newer version, the snapshot comes from the Cache API (per colo; the
// key names the version, so an entry never goes stale) or else from KV. KV and the cache are
// untrusted transport: sync.js verifies every snapshot read from them exactly as one from the
// origin (pinned keys, signature, rollback), so a snapshot that was tampered with in either is
// refused and counted.

// KV's shortest cacheTtl (Cloudflare's documented minimum). The bound it puts on propagation is
// in the README beside KV's own.
export const BEACON_CACHE_TTL_S = 30;
// What the Cache API keeps a snapshot: a year (its key names the version: it never changes).
const SNAPSHOT_CACHE_CONTROL = 'public, max-age=31536000, immutable';
// The Cache API wants URLs; this host is never resolved, it only names the entries.
const CACHE_ORIGIN = 'https://snapshots.whale.internal';

export const snapshotKey = (slug, version) => `snapshot/${slug}/${version}`;
export const beaconKey = (slug) => `beacon/${slug}`;

function cacheOf() {
  return typeof caches === 'undefined' ? null : caches.default ?? null;
}

export class SnapshotStore {
  // kv: the SNAPSHOTS binding; cache: caches.default (null where the runtime has none).
  constructor(kv, { cache = cacheOf(), beaconTtlS = BEACON_CACHE_TTL_S } = {}) {
    this.kv = kv;
    this.cache = cache;
    this.beaconTtlS = beaconTtlS;
    this.cacheBroken = false;
    this.counters = { beaconReads: 0, cacheHits: 0, cacheMisses: 0, kvReads: 0, kvMisses: 0, writes: 0 };
  }

  // The newest version KV says the vendor has, or null when KV has none. fresh: read past the
  // edge cache of KV (the publish route compares against it before writing).
  async beacon(slug, { fresh = false } = {}) {
    this.counters.beaconReads++;
    const text = await this.kv.get(beaconKey(slug), fresh ? { type: 'text' } : { type: 'text', cacheTtl: this.beaconTtlS });
    if (text === null) return null;
    const version = Number(text);
    return Number.isSafeInteger(version) && version >= 1 ? version : null;
  }

  // The snapshot text of slug at version: the Cache API, then KV (which then fills the cache).
  // Null when neither has it (KV is eventually consistent: a beacon can arrive before its
  // snapshot in a far colo).
  async read(slug, version, ctx) {
    const url = `${CACHE_ORIGIN}/${slug}/${version}`;
    const cached = await this.lookup(url);
    if (cached !== null) {
      this.counters.cacheHits++;
      return cached.text();
    }
    this.counters.cacheMisses++;
    this.counters.kvReads++;
    const text = await this.kv.get(snapshotKey(slug, version), { type: 'text' });
    if (text === null) {
      this.counters.kvMisses++;
      return null;
    }
    const put = this.store(url, text);
    if (ctx) ctx.waitUntil(put);
    else await put;
    return text;
  }

  // Writes a verified snapshot: its version's key first, then the beacon, so a reader that sees
  // the beacon finds the snapshot (in the same colo; elsewhere read() may miss for a while).
  async write(slug, version, text) {
    await this.kv.put(snapshotKey(slug, version), text);
    await this.kv.put(beaconKey(slug), String(version));
    this.counters.writes++;
  }

  async lookup(url) {
    if (this.cache === null || this.cacheBroken) return null;
    try {
      return (await this.cache.match(url)) ?? null;
    } catch {
      this.cacheBroken = true; // workerd without a cache service
      return null;
    }
  }

  async store(url, text) {
    if (this.cache === null || this.cacheBroken) return;
    try {
      await this.cache.put(url, new Response(text, {
        headers: { 'Content-Type': 'application/json', 'Cache-Control': SNAPSHOT_CACHE_CONTROL },
      }));
    } catch {
      this.cacheBroken = true;
    }
  }

  stats() {
    return { ...this.counters, cache: this.cache !== null && !this.cacheBroken };
  }
}
