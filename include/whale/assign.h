// The assignment engine: GrowthBook SDK specification 0.8.0 (hashing, bucketing, conditions,
// experiments, features, sticky bucketing), computed exactly as the JS SDK does so that a
// vendor moving from GrowthBook keeps every user in the same variant.
//
// Strings are UTF-8 inside; hashing walks them as UTF-16 code units, as JS charCodeAt does.
// URL targeting (urlPatterns) and redirect experiments read URLs as WHATWG URLs (whale/url.h).
// Unsupported (README "Limits"): old-style `url` and `groups` targeting, `include`
// callbacks, context `overrides`, auto experiments' `changeId`/`blockedChangeIds`.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "whale/json.h"
#include "whale/result.h"

namespace whale::assign {

using range = std::pair<double, double>;  // [start, end) within [0, 1)

// FNV-1a 32 over the UTF-16 code units of a UTF-8 string (invalid bytes count as U+FFFD).
uint32_t fnv1a32(std::string_view utf8) noexcept;
// GrowthBook hash: version 1 -> [0,1) in steps of 0.001, version 2 -> steps of 0.0001;
// nullopt for any other version.
std::optional<double> hash(std::string_view seed, std::string_view value, int version) noexcept;
std::vector<double> equal_weights(int n);
std::vector<range> bucket_ranges(int variations, double coverage, const std::vector<double>* weights);
int choose_variation(double n, const std::vector<range>& ranges) noexcept;
// namespace = [id, start, end].
bool in_namespace(std::string_view hash_value, std::string_view ns, double start, double end) noexcept;
std::optional<int> query_string_override(std::string_view id, std::string_view url, int variations);

// Conditions nest at most this many object levels ($and/$or/$not/$elemMatch, operator objects).
inline constexpr int max_condition_depth = 64;
// Rejects conditions that nest deeper than max_condition_depth or are not objects.
result<void> validate_condition(const json::value& condition);
// Compiles every $regex / $regexi pattern of a condition: invalid_regex names the first bad one.
// evalCondition itself treats a bad pattern as matching nothing (GrowthBook's behaviour); a
// payload is checked with this when it is loaded, so a vendor hears about it.
result<void> validate_patterns(const json::value& condition);
// GrowthBook evalCondition. Call validate_condition first for untrusted conditions;
// evaluation itself is bounded (too deep evaluates to false) and never fails.
bool eval_condition(const json::value& attributes, const json::value& condition,
                    const json::value& saved_groups);
// Appends to `names` (once each) the top-level attributes eval_condition may read for this
// condition: evaluating it with only those attributes gives the same answer.
void condition_attributes(const json::value& condition, const json::value& saved_groups,
                          std::vector<std::string>& names);

// The fields of an experiment as runExperiment reads them (nullptr when absent). For a feature
// rule they follow GrowthBook's rule -> experiment copy: coverage, bucketVersion and
// minBucketVersion when present, the rest only when truthy.
struct experiment_fields {
  const json::value* key = nullptr;
  const json::value* variations = nullptr;
  const json::value* weights = nullptr;
  const json::value* coverage = nullptr;
  const json::value* hash_attribute = nullptr;
  const json::value* fallback_attribute = nullptr;
  const json::value* disable_sticky_bucketing = nullptr;
  const json::value* bucket_version = nullptr;
  const json::value* min_bucket_version = nullptr;
  const json::value* namespace_ = nullptr;
  const json::value* meta = nullptr;
  const json::value* ranges = nullptr;
  const json::value* name = nullptr;
  const json::value* phase = nullptr;
  const json::value* seed = nullptr;
  const json::value* hash_version = nullptr;
  const json::value* filters = nullptr;
  const json::value* condition = nullptr;
  const json::value* parent_conditions = nullptr;  // plain experiments only
  const json::value* force = nullptr;              // plain experiments only
  const json::value* status = nullptr;
  const json::value* active = nullptr;
  const json::value* url_patterns = nullptr;
};

// A feature rule with its fields looked up once, when the payload is loaded.
struct rule_index {
  const json::value* rule = nullptr;
  const json::value* id = nullptr;  // truthy or nullptr
  const json::value* parent_conditions = nullptr;
  const json::value* filters = nullptr;  // truthy or nullptr
  const json::value* force = nullptr;    // present ("force" in rule) or nullptr
  const json::value* condition = nullptr;
  const json::value* seed = nullptr;  // truthy or nullptr
  const json::value* contextual_bandit_ref = nullptr;
  // Rollout fields of a force rule (isIncludedInRollout).
  const json::value* range = nullptr;  // truthy or nullptr
  const json::value* coverage = nullptr;
  const json::value* hash_attribute = nullptr;
  const json::value* fallback_attribute = nullptr;
  const json::value* hash_version = nullptr;
  bool disable_sticky_bucketing = false;
  bool experiment = false;  // has (contextual) variations: an experiment rule
  // FNV-1a over the seed the rule hashes with, when that seed is text of the payload: hash
  // version 2 hashes seed + value, so each request hashes the value only.
  bool seed_prepared = false;
  uint32_t seed_state = 0;
  experiment_fields fields;  // key nullptr = the feature's id
};

struct feature_index {
  std::string_view key;  // a view of the payload's member name
  const json::value* feature = nullptr;
  const json::value* default_value = nullptr;  // nullptr when absent
  std::vector<rule_index> rules;
};

// What a vendor publishes: GrowthBook's payload shape {features, savedGroups, contextualBandits},
// indexed once. Holds pointers into itself: movable, not copyable.
struct payload {
  json::value features = json::value::object();
  json::value saved_groups = json::value::object();
  json::value contextual_bandits = json::value::object();
  std::vector<feature_index> index;  // one per feature, in payload order (duplicates merged)

  payload() = default;
  payload(payload&&) = default;
  payload& operator=(payload&&) = default;
  payload(const payload&) = delete;
  payload& operator=(const payload&) = delete;
  const feature_index* find(std::string_view key) const;
};
// Accepts a payload object; checks every rule's shape and condition depth.
result<payload> load_payload(const json::value& doc);

// The attributes sticky-bucket documents are keyed by: every experiment rule's hashAttribute
// (default "id") and fallbackAttribute, in first-seen order (GrowthBook's
// deriveStickyBucketIdentifierAttributes).
std::vector<std::string> sticky_attributes(const payload& data);

// Every top-level attribute an evaluation of the payload's features may read (conditions,
// hash and fallback attributes, filters, contextual bandit contexts), in first-seen order: a
// caller may send only these (eval_all answers the same).
std::vector<std::string> referenced_attributes(const payload& data);

// An experiment the user was bucketed into, by index into the payload (for the compact form).
struct exposure_record {
  int32_t feature = -1;    // index into payload::index
  int32_t rule = -1;       // index into that feature's rules
  int32_t variation = 0;
  uint32_t flags = 0;      // exposure_sticky_used | exposure_fallback_attribute
  int32_t leaf = -2;       // contextual bandit leaf: context index, -1 fallback, -2 none
  int32_t bucket_units = 0;  // bucket = bucket_units / bucket_scale, exactly as hashed
  int32_t bucket_scale = 1;
};
inline constexpr uint32_t exposure_sticky_used = 1;
inline constexpr uint32_t exposure_fallback_attribute = 2;

// One evaluation's user side: GrowthBook's context minus the payload.
struct context {
  const payload* data = nullptr;  // borrowed; must outlive the context
  json::value attributes = json::value::object();
  json::value forced_variations = json::value::object();
  json::value forced_features = json::value::object();
  std::string url;
  bool enabled = true;
  bool qa_mode = false;
  // When true the caller persists sticky-bucket documents (GrowthBook's
  // saveStickyBucketAssignmentDoc); sticky_docs holds "attr||value" -> document.
  bool sticky_bucketing = false;
  json::value sticky_docs = json::value::object();
  std::vector<std::string> changed_sticky_docs;  // keys of documents this evaluation wrote
  // Experiments the user was bucketed into during this evaluation (results with hashUsed).
  std::vector<std::string> exposures;  // as compact JSON
  bool record_compact = false;  // record exposures as exposure_record instead of JSON
  std::vector<exposure_record> compact_exposures;
};

// The sticky-bucket documents an evaluation wrote ({"attr||value": document}), as JSON: the one
// writer of them (evalAll, the layout, the API's single-feature answers).
std::string changed_docs_json(const context& ctx);

// Builds a context (and the payload it points to) from GrowthBook's context JSON.
result<context> context_from_json(const json::value& ctx, payload& storage);

// GrowthBook's isURLTargeted: an experiment's urlPatterns ([{type: "simple"|"regex", include,
// pattern}]) against a URL; false for an empty or non-array list.
bool url_targeted(std::string_view url, const json::value& patterns);
// GrowthBook's mergeQueryStrings: the old URL's query parameters appended to the new URL's,
// the new URL's own winning; new_url unchanged when either does not parse.
std::string merge_query_strings(std::string_view old_url, std::string_view new_url);

// GrowthBook's auto experiments as its SDK runs them on load (_updateAllAutoExperiments), for
// URL redirects: in order, manual ones skipped, unknown change types and redirects whose URLs
// do not parse excluded, the first redirect experiment the user is in ends the run. Writes
// {"redirect": url|null, "results": [{"experimentKey", "inExperiment", "variationId",
// "urlRedirect", "urlWithParams", "result": Result}]} with one result at most: the redirect
// experiment the user is in (urlWithParams null when its variation has no urlRedirect or the
// redirect URL matches the experiment's own urlPatterns).
struct redirect_options {
  bool cross_origin = true;  // false: GrowthBook's disableCrossOriginUrlRedirectExperiments
};
void url_redirect(const json::value& experiments, context& ctx, const redirect_options& options, std::string& out);

// runExperiment: returns GrowthBook's Result object.
json::value run(const json::value& experiment, context& ctx);
// evalFeature: returns {value, on, off, source, ruleId[, experiment, experimentResult]}.
json::value eval_feature(std::string_view key, context& ctx);
// evalFeature by reference, for a caller that needs the value and the experiment's outcome but
// not GrowthBook's FeatureResult object (the layout's section variants): nothing is copied.
struct feature_pick {
  const json::value* value = nullptr;  // into the payload or the context; nullptr: null
  // Where the value came from: GrowthBook's source ("defaultValue", "force", "experiment", ...)
  // and the rule's index (-1: none). With `variation` they name the value within the payload.
  std::string_view source;
  int rule = -1;
  bool has_experiment = false;
  std::string_view experiment;  // the experiment's key (the rule's key, else the feature's)
  int variation = 0;            // as experimentResult.variationId
  bool in_experiment = false;
};
// The pointers are valid while the payload and the context are.
feature_pick pick_feature(std::string_view key, context& ctx);

// Every feature of the payload at once: {"features":{key:{value,on,off,source,ruleId}},
// "experiments":[result...], "stickyBucketAssignmentDocs":{changed docs}} written compactly.
void eval_all(context& ctx, std::string& out);

// The same evaluation as eval_all in a compact binary form that a caller holding the same
// payload resolves without parsing values (little-endian int32 words):
//   feature_count, then per feature: source, rule index (-1), variation (-1);
//   exposure_count, then per exposure: feature, rule, variation, flags, leaf, bucket_units,
//   bucket_scale; then the byte length of a JSON object of the sticky documents written,
//   followed by that JSON. Sources: see feature_source.
enum class feature_source : int32_t {
  unknown_feature = 0,
  default_value = 1,
  force = 2,
  override_value = 3,
  experiment = 4,
  prerequisite = 5,
  cyclic_prerequisite = 6,
};
void eval_all_compact(context& ctx, std::string& out);
// The compact form's records, in 32-bit words: per feature (source, rule, variation) and per
// exposure (feature, rule, variation, flags, leaf, bucket units, bucket scale). The glue reads
// the same sizes (js-glue/index.js; tests/js/contracts.test.mjs checks they agree).
constexpr int compact_feature_words = 3;
constexpr int compact_exposure_words = 7;

}  // namespace whale::assign
