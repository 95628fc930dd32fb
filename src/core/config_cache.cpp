// The LRU cache of parsed configs: a list in recency order (front = most recent) and a hash
// index of it. Lookups hash (slug, version) without building a key string, so a warm resolve
// allocates nothing.
#include <list>
#include <string>
#include <unordered_map>

#include "whale/config.h"

namespace whale::config {

namespace {

// Bytes an entry costs besides its config: the list node, the index node, the slug.
constexpr size_t entry_overhead = 96;

uint64_t key_hash(std::string_view slug, uint64_t version) noexcept {
  uint64_t h = 1469598103934665603ull ^ version;  // FNV-1a 64, seeded with the version
  for (char c : slug) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace

struct cache::impl {
  struct entry {
    std::string slug;
    uint64_t version = 0;
    uint64_t hash = 0;
    size_t bytes = 0;
    std::shared_ptr<const vendor_config> config;
  };
  using list = std::list<entry>;

  list lru;
  std::unordered_multimap<uint64_t, list::iterator> index;
  stats counters;

  list::iterator find(std::string_view slug, uint64_t version, uint64_t hash) {
    auto range = index.equal_range(hash);
    for (auto it = range.first; it != range.second; ++it) {
      if (it->second->version == version && it->second->slug == slug) return it->second;
    }
    return lru.end();
  }

  void remove(list::iterator e) {
    auto range = index.equal_range(e->hash);
    for (auto it = range.first; it != range.second; ++it) {
      if (it->second == e) {
        index.erase(it);
        break;
      }
    }
    counters.bytes -= e->bytes;
    lru.erase(e);
    counters.entries = lru.size();
  }
};

cache::cache(size_t budget_bytes) : impl_(std::make_unique<impl>()) { impl_->counters.budget = budget_bytes; }
cache::~cache() = default;

std::shared_ptr<const vendor_config> cache::get(std::string_view slug, uint64_t version) {
  impl& c = *impl_;
  const auto e = c.find(slug, version, key_hash(slug, version));
  if (e == c.lru.end()) {
    ++c.counters.misses;
    return nullptr;
  }
  ++c.counters.hits;
  c.lru.splice(c.lru.begin(), c.lru, e);  // iterators stay valid
  return e->config;
}

void cache::put(std::string_view slug, uint64_t version, std::shared_ptr<const vendor_config> config) {
  impl& c = *impl_;
  const uint64_t hash = key_hash(slug, version);
  if (auto old = c.find(slug, version, hash); old != c.lru.end()) c.remove(old);
  if (config == nullptr) return;
  const size_t bytes = config->memory_bytes() + slug.size() + entry_overhead;
  if (bytes > c.counters.budget) return;
  c.lru.push_front(impl::entry{std::string(slug), version, hash, bytes, std::move(config)});
  c.index.emplace(hash, c.lru.begin());
  c.counters.bytes += bytes;
  while (c.counters.bytes > c.counters.budget) {
    c.remove(std::prev(c.lru.end()));
    ++c.counters.evictions;
  }
  c.counters.entries = c.lru.size();
}

bool cache::erase(std::string_view slug, uint64_t version) {
  impl& c = *impl_;
  const auto e = c.find(slug, version, key_hash(slug, version));
  if (e == c.lru.end()) return false;
  c.remove(e);
  return true;
}

cache::stats cache::counters() const noexcept { return impl_->counters; }

}  // namespace whale::config
