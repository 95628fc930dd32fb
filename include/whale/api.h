// The engine's operations as JSON in, JSON out: the one implementation behind the C ABI
// (wasm/), the `whale` harness (src/cli/) and the tests. Every output is compact JSON whose
// bytes depend only on the input, on every target.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "whale/assign.h"
#include "whale/config.h"
#include "whale/result.h"

namespace whale::layout {
class prepared;
}

namespace whale::api {

// Inputs larger than this are refused with too_large.
inline constexpr size_t max_input_bytes = 16 * 1024 * 1024;

// {"seed","value","version"} -> number or null.
result<std::string> hash(std::string_view request);
// {"attributes","condition","savedGroups"?} -> true | false.
result<std::string> eval_condition(std::string_view request);
// {"variations","coverage"?,"weights"?} -> [[start,end],...] (getBucketRanges).
result<std::string> bucket_ranges(std::string_view request);
// {"n","ranges"} -> index or -1 (chooseVariation).
result<std::string> choose_variation(std::string_view request);
// {"n"} -> [weights] (getEqualWeights).
result<std::string> equal_weights(std::string_view request);
// {"hashValue","namespace":[id,start,end]} -> true | false (inNamespace).
result<std::string> in_namespace(std::string_view request);
// {"key","url","variations"} -> index or null (getQueryStringOverride).
result<std::string> query_string_override(std::string_view request);
// {"experiment", "context"} -> {"result": GrowthBook's Result, "stickyBucketAssignmentDocs":
// the documents this call wrote (sticky bucketing is on when the context has documents)}.
result<std::string> run(std::string_view request);
// {"key", "context"} -> {"result": GrowthBook's FeatureResult, "stickyBucketAssignmentDocs"}.
result<std::string> eval_feature(std::string_view request);
// {"context" (GrowthBook's, with "url" and "experiments"), "disableCrossOriginUrlRedirectExperiments"?}
// -> {"result": {"redirect", "results"} (assign::url_redirect), "stickyBucketAssignmentDocs"}.
result<std::string> url_redirect(std::string_view request);
// {"alpha","beta","seed","count"?} -> [samples].
result<std::string> sample_beta(std::string_view request);
// {"arms":[{"alpha","beta"}],"seed"} -> index.
result<std::string> thompson_choose(std::string_view request);
// {"arms":[{"alpha","beta"}],"seed","draws"?,"floor"?,"topTwo"?} -> [weights].
result<std::string> bandit_weights(std::string_view request);

// A vendor's payload ({"features", "savedGroups"?, ...}) parsed and checked once.
class feature_set {
 public:
  explicit feature_set(assign::payload data);
  // {"attributes", "stickyBucketAssignmentDocs"?, "url"?, "forcedVariations"?} ->
  // {"features":{...},"experiments":[...],"stickyBucketAssignmentDocs":{changed}}.
  result<std::string> eval_all(std::string_view request) const;
  // The same in assign::eval_all_compact's binary form (the glue's per-request fast path).
  result<std::string> eval_all_compact(std::string_view request) const;
  // eval_all_compact for a request with attributes only, given in the encoded form below
  // (no JSON to parse). Errors: invalid_value (a malformed record), invalid_utf8, too_deep.
  result<std::string> eval_all_encoded(std::string_view encoded) const;
  // The features' keys in evaluation order, as a JSON array (the compact form indexes them).
  std::string keys_json() const;
  // The attributes the payload reads (assign::referenced_attributes), as a JSON array: an
  // encoded request names them by their index in it.
  std::string attributes_json() const;
  const assign::payload& data() const { return data_; }

 private:
  assign::payload data_;
  std::vector<std::string> attributes_;
};

// The encoded attributes of feature_set::eval_all_encoded: records back to back, little-endian,
// unaligned. A record starts with a uint32 (slot << 8 | tag), slot being the attribute's index in
// attributes_json() (0 inside arrays and objects); an attribute without a record is absent. What
// follows the head by tag:
enum class attribute_tag : uint8_t {
  null_value = 0,   // nothing
  false_value = 1,  // nothing
  true_value = 2,   // nothing
  number = 3,       // a float64
  string = 4,       // a uint32 byte length, then UTF-8 bytes
  array = 5,        // a uint32 count, then that many records
  object = 6,       // a uint32 count, then per member a byte length, its UTF-8 name and a record
};
result<std::unique_ptr<feature_set>> load_features(std::string_view payload_json);

// Each cached config's layout precomputation (layout::prepared: zone rule, stockout forecasts),
// built on a config's first render and rebuilt when the cache holds another config under its
// key. Holds configs weakly: an evicted config's entry is dropped on the next lookup.
class layout_precomputations {
 public:
  layout_precomputations();
  ~layout_precomputations();
  std::shared_ptr<const layout::prepared> get(const std::shared_ptr<const config::vendor_config>& config);
  size_t size() const noexcept { return entries_.size(); }

 private:
  struct entry {
    const config::vendor_config* key = nullptr;
    std::weak_ptr<const config::vendor_config> config;
    std::shared_ptr<const layout::prepared> prepared;
  };
  std::vector<entry> entries_;
};

// A config's settings as the ABI answers them: JSON in the config's own member names, every
// default filled in (docs/config.md, `media` and `consent`).
std::string media_json(const config::media_settings& m);
std::string consent_json(const config::consent_settings& c);
// The config cache's counters: {"hits","misses","evictions","entries","bytes","budget"}.
std::string cache_stats_json(const config::cache::stats& s);

// {"slug","version","page","attributes"?,"now"?,"behaviour"?,"stickyBucketAssignmentDocs"?} ->
// the layout JSON of layout::render_layout, for a config in `configs` (not_found when (slug,
// version) is not cached). `now` is Unix seconds (default: default_now, the caller's clock);
// `behaviour` the browser's summary string. Optional booleans: "experiments" (false: the control
// layout, no experiment runs), "writeStickyDocs" (false: leave them out of the layout) and
// "decide" (true: layout::decide_layout's decisions instead of the layout). "forcedVariations"
// (an object: layout::options::forced_variations). Multi-variant pages: "candidates": K answers
// layout::decide_candidates, "choose": K layout::choose_candidate (with "kept": i, that one).
result<std::string> render_layout(config::cache& configs, layout_precomputations& prepared, std::string_view request,
                                  int64_t default_now);

}  // namespace whale::api
