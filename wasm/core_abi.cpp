// The C ABI of wasm/whale_core.h: one-line forwards into whale::api (cf. proxy-wasm).
#include "whale_core.h"

#include <cstdlib>
#include <ctime>
#include <map>
#include <memory>
#include <string>

#include "whale/api.h"
#include "whale/config.h"
#include "whale/json.h"

#include "abi_export.h"

namespace {

constexpr uint32_t abi_major = 1;
// 1.1 added whale_config_*, 1.2 whale_render_layout, 1.3 whale_config_media, 1.4 render requests
// with "decide", "experiments", "writeStickyDocs" and whale_config_consent, 1.5
// whale_features_attributes and whale_eval_all_encoded, 1.6 whale_url_redirect.
constexpr uint32_t abi_minor = 6;

std::string last;
uint32_t last_handle = 0;

// Loaded feature sets by handle: numbers from 1, never reused within an instance, so a stale
// handle is refused instead of naming another set.
class handle_table {
 public:
  uint32_t add(std::unique_ptr<whale::api::feature_set> set) {
    const uint32_t handle = next_++;
    sets_.emplace(handle, std::move(set));
    return handle;
  }
  // nullptr when the handle is not live.
  const whale::api::feature_set* find(uint32_t handle) const {
    const auto it = sets_.find(handle);
    return it == sets_.end() ? nullptr : it->second.get();
  }
  bool erase(uint32_t handle) { return sets_.erase(handle) != 0; }

 private:
  std::map<uint32_t, std::unique_ptr<whale::api::feature_set>> sets_;
  uint32_t next_ = 1;
};

handle_table feature_sets;
whale::config::cache configs;  // the instance's parsed vendor configs (16 MB budget)
whale::api::layout_precomputations layouts;  // each cached config's zone rule and forecasts

uint32_t finish(whale::result<std::string> r) {
  if (!r.ok()) {
    last = r.message();
    return static_cast<uint32_t>(r.code());
  }
  last = std::move(r).value();
  return 0;
}

std::string_view input(const char* ptr, size_t len) { return ptr ? std::string_view(ptr, len) : std::string_view(); }

uint32_t failed(whale::error_code code, std::string message) {
  last = std::move(message);
  return static_cast<uint32_t>(code);
}

// The feature set a handle names; nullptr when it is not live (answer with not_live).
const whale::api::feature_set* feature_set_of(uint32_t handle) { return feature_sets.find(handle); }

uint32_t not_cached(std::string_view slug, uint32_t version) {
  return failed(whale::error_code::not_found,
                "config " + std::string(slug) + " v" + std::to_string(version) + " is not cached");
}

uint32_t not_live(uint32_t handle) {
  return failed(whale::error_code::invalid_handle, "handle " + std::to_string(handle) + " is not live");
}

}  // namespace

extern "C" {

WHALE_EXPORT(whale_abi_version) uint32_t whale_abi_version(void) { return (abi_major << 16) | abi_minor; }
WHALE_EXPORT(whale_alloc) void* whale_alloc(size_t size) { return std::malloc(size ? size : 1); }
WHALE_EXPORT(whale_free) void whale_free(void* ptr) { std::free(ptr); }
WHALE_EXPORT(whale_last_ptr) const char* whale_last_ptr(void) { return last.data(); }
WHALE_EXPORT(whale_last_len) size_t whale_last_len(void) { return last.size(); }
WHALE_EXPORT(whale_last_handle) uint32_t whale_last_handle(void) { return last_handle; }

WHALE_EXPORT(whale_hash) uint32_t whale_hash(const char* p, size_t n) { return finish(whale::api::hash(input(p, n))); }
WHALE_EXPORT(whale_eval_condition) uint32_t whale_eval_condition(const char* p, size_t n) {
  return finish(whale::api::eval_condition(input(p, n)));
}
WHALE_EXPORT(whale_bucket_ranges) uint32_t whale_bucket_ranges(const char* p, size_t n) {
  return finish(whale::api::bucket_ranges(input(p, n)));
}
WHALE_EXPORT(whale_choose_variation) uint32_t whale_choose_variation(const char* p, size_t n) {
  return finish(whale::api::choose_variation(input(p, n)));
}
WHALE_EXPORT(whale_equal_weights) uint32_t whale_equal_weights(const char* p, size_t n) {
  return finish(whale::api::equal_weights(input(p, n)));
}
WHALE_EXPORT(whale_in_namespace) uint32_t whale_in_namespace(const char* p, size_t n) {
  return finish(whale::api::in_namespace(input(p, n)));
}
WHALE_EXPORT(whale_query_string_override) uint32_t whale_query_string_override(const char* p, size_t n) {
  return finish(whale::api::query_string_override(input(p, n)));
}
WHALE_EXPORT(whale_run) uint32_t whale_run(const char* p, size_t n) { return finish(whale::api::run(input(p, n))); }
WHALE_EXPORT(whale_eval_feature) uint32_t whale_eval_feature(const char* p, size_t n) {
  return finish(whale::api::eval_feature(input(p, n)));
}
WHALE_EXPORT(whale_url_redirect) uint32_t whale_url_redirect(const char* p, size_t n) {
  return finish(whale::api::url_redirect(input(p, n)));
}
WHALE_EXPORT(whale_sample_beta) uint32_t whale_sample_beta(const char* p, size_t n) {
  return finish(whale::api::sample_beta(input(p, n)));
}
WHALE_EXPORT(whale_thompson_choose) uint32_t whale_thompson_choose(const char* p, size_t n) {
  return finish(whale::api::thompson_choose(input(p, n)));
}
WHALE_EXPORT(whale_bandit_weights) uint32_t whale_bandit_weights(const char* p, size_t n) {
  return finish(whale::api::bandit_weights(input(p, n)));
}

WHALE_EXPORT(whale_features_load) uint32_t whale_features_load(const char* p, size_t n) {
  auto loaded = whale::api::load_features(input(p, n));
  if (!loaded.ok()) return failed(loaded.code(), loaded.message());
  last = loaded.value()->keys_json();
  last_handle = feature_sets.add(std::move(loaded).value());
  return 0;
}

WHALE_EXPORT(whale_features_free) uint32_t whale_features_free(uint32_t handle) {
  if (!feature_sets.erase(handle)) return not_live(handle);
  last.clear();
  return 0;
}

WHALE_EXPORT(whale_eval_all) uint32_t whale_eval_all(uint32_t handle, const char* p, size_t n) {
  const auto* set = feature_set_of(handle);
  return set ? finish(set->eval_all(input(p, n))) : not_live(handle);
}

WHALE_EXPORT(whale_eval_all_compact) uint32_t whale_eval_all_compact(uint32_t handle, const char* p, size_t n) {
  const auto* set = feature_set_of(handle);
  return set ? finish(set->eval_all_compact(input(p, n))) : not_live(handle);
}

WHALE_EXPORT(whale_features_attributes) uint32_t whale_features_attributes(uint32_t handle) {
  const auto* set = feature_set_of(handle);
  if (set == nullptr) return not_live(handle);
  last = set->attributes_json();
  return 0;
}

WHALE_EXPORT(whale_eval_all_encoded) uint32_t whale_eval_all_encoded(uint32_t handle, const char* p, size_t n) {
  const auto* set = feature_set_of(handle);
  return set ? finish(set->eval_all_encoded(input(p, n))) : not_live(handle);
}

WHALE_EXPORT(whale_config_parse) uint32_t whale_config_parse(const char* p, size_t n) {
  auto parsed = whale::config::parse(input(p, n));
  if (!parsed.ok()) return failed(parsed.code(), parsed.message());
  last = whale::config::summary(*parsed.value());
  return 0;
}

// ABI 1.4: whether the bytes are JSON (simdjson's parse alone): the floor under a config parse.
WHALE_EXPORT(whale_json_check) uint32_t whale_json_check(const char* p, size_t n) {
  auto checked = whale::json::check(input(p, n));
  if (!checked.ok()) return failed(checked.code(), checked.message());
  last.clear();
  return 0;
}

WHALE_EXPORT(whale_config_load) uint32_t whale_config_load(uint32_t version, const char* p, size_t n) {
  auto parsed = whale::config::parse(input(p, n));
  if (!parsed.ok()) return failed(parsed.code(), parsed.message());
  std::shared_ptr<const whale::config::vendor_config> config = std::move(parsed).value();
  last = whale::config::summary(*config);
  configs.put(config->vendor().slug, version, config);
  return 0;
}

WHALE_EXPORT(whale_config_resolve) uint32_t whale_config_resolve(uint32_t version, const char* p, size_t n) {
  if (configs.get(input(p, n), version) == nullptr) return not_cached(input(p, n), version);
  last.clear();
  return 0;
}

WHALE_EXPORT(whale_config_media) uint32_t whale_config_media(uint32_t version, const char* p, size_t n) {
  const auto config = configs.get(input(p, n), version);
  if (config == nullptr) return not_cached(input(p, n), version);
  last = whale::api::media_json(config->media());
  return 0;
}

WHALE_EXPORT(whale_config_consent) uint32_t whale_config_consent(uint32_t version, const char* p, size_t n) {
  const auto config = configs.get(input(p, n), version);
  if (config == nullptr) return not_cached(input(p, n), version);
  last = whale::api::consent_json(config->consent());
  return 0;
}

WHALE_EXPORT(whale_config_cache_stats) uint32_t whale_config_cache_stats(void) {
  last = whale::api::cache_stats_json(configs.counters());
  return 0;
}

// A request without "now" renders at the host's clock (Date.now() in emscripten, WASI's clock).
WHALE_EXPORT(whale_render_layout) uint32_t whale_render_layout(const char* p, size_t n) {
  return finish(whale::api::render_layout(configs, layouts, input(p, n), static_cast<int64_t>(std::time(nullptr))));
}

}  // extern "C"
