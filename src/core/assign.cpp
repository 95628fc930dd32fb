// Experiments and features, step for step as GrowthBook's runExperiment and evalFeature.
#include "whale/assign.h"

#include <cmath>
#include <cstring>
#include <initializer_list>

#include "jsops.h"
#include "whale/url.h"

namespace whale::assign {

using json::kind;
using json::value;

namespace {

constexpr uint32_t fnv_offset = 0x811c9dc5u;

// Continues FNV-1a 32 over the UTF-16 code units of a UTF-8 string.
uint32_t fnv1a32_more(uint32_t h, std::string_view utf8) noexcept {
  const auto mix = [&h](uint32_t unit) {
    h ^= unit;
    h *= 0x01000193u;  // the FNV prime; JS spells it as shifts and adds
  };
  for (size_t i = 0; i < utf8.size();) {
    const unsigned char c = static_cast<unsigned char>(utf8[i]);
    if (c < 0x80) {
      mix(c);
      ++i;
      continue;
    }
    const uint32_t cp = js::next_code_point(utf8, i);
    if (cp >= 0x10000) {
      mix(0xD800 + ((cp - 0x10000) >> 10));
      mix(0xDC00 + ((cp - 0x10000) & 0x3FF));
    } else {
      mix(cp);
    }
  }
  return h;
}

// Version 2's outer hash: fnv(String(inner)), the inner hash as decimal digits, without allocating.
double hash_v2_outer(uint32_t inner) noexcept {
  char digits[10];
  size_t n = 0;
  do {
    digits[n++] = static_cast<char>('0' + inner % 10);
    inner /= 10;
  } while (inner != 0);
  uint32_t h = fnv_offset;
  while (n > 0) {
    h ^= static_cast<unsigned char>(digits[--n]);
    h *= 0x01000193u;
  }
  return static_cast<double>(h % 10000) / 10000;
}

}  // namespace

uint32_t fnv1a32(std::string_view utf8) noexcept { return fnv1a32_more(fnv_offset, utf8); }

std::optional<double> hash(std::string_view seed, std::string_view value, int version) noexcept {
  if (version == 2) return hash_v2_outer(fnv1a32_more(fnv1a32_more(fnv_offset, seed), value));
  if (version == 1) {
    return static_cast<double>(fnv1a32_more(fnv1a32_more(fnv_offset, value), seed) % 1000) / 1000;
  }
  return std::nullopt;
}

std::vector<double> equal_weights(int n) {
  if (n <= 0) return {};
  return std::vector<double>(static_cast<size_t>(n), 1.0 / n);
}

std::vector<range> bucket_ranges(int variations, double coverage, const std::vector<double>* weights) {
  if (coverage < 0) coverage = 0;
  if (coverage > 1) coverage = 1;
  std::vector<double> w = (weights != nullptr && weights->size() == static_cast<size_t>(std::max(variations, 0)))
                              ? *weights
                              : equal_weights(variations);
  double total = 0;
  for (double x : w) total += x;
  if (!(total >= 0.99 && total <= 1.01)) w = equal_weights(variations);
  std::vector<range> out;
  out.reserve(w.size());
  double cumulative = 0;
  for (double x : w) {
    const double start = cumulative;
    cumulative += x;
    out.emplace_back(start, start + coverage * x);
  }
  return out;
}

int choose_variation(double n, const std::vector<range>& ranges) noexcept {
  for (size_t i = 0; i < ranges.size(); ++i) {
    if (n >= ranges[i].first && n < ranges[i].second) return static_cast<int>(i);
  }
  return -1;
}

bool in_namespace(std::string_view hash_value, std::string_view ns, double start, double end) noexcept {
  const std::string seed = "__" + std::string(ns);
  const auto n = hash(seed, hash_value, 1);
  return n && *n >= start && *n < end;
}

std::optional<int> query_string_override(std::string_view id, std::string_view url, int variations) {
  const size_t q = url.find('?');
  if (q == std::string_view::npos) return std::nullopt;
  std::string_view search = url.substr(q + 1);
  search = search.substr(0, search.find('?'));  // JS split("?")[1] stops at a second "?"
  search = search.substr(0, search.find('#'));
  if (search.empty()) return std::nullopt;
  size_t start = 0;
  while (start <= search.size()) {
    const size_t amp = search.find('&', start);
    const std::string_view pair = search.substr(start, amp == search.npos ? search.npos : amp - start);
    const size_t eq = pair.find('=');
    if (pair.substr(0, eq) == id) {
      double v = 0;
      if (eq == std::string_view::npos) return std::nullopt;
      std::string_view raw = pair.substr(eq + 1);
      raw = raw.substr(0, raw.find('='));  // split("=", 2) drops anything after a second "="
      if (!js::parse_int(raw, v)) return std::nullopt;
      if (v >= 0 && v < variations) return static_cast<int>(v);
      return std::nullopt;
    }
    if (amp == std::string_view::npos) break;
    start = amp + 1;
  }
  return std::nullopt;
}

namespace {

const value null_value;
const value empty_object = value::object();

const value& member_or_null(const value& obj, std::string_view key) {
  const value* v = obj.find(key);
  return v ? *v : null_value;
}

const value* truthy_or_null(const value* v) { return js::truthy(v) ? v : nullptr; }

experiment_fields plain_fields(const value& exp) {
  experiment_fields f;
  f.key = exp.find("key");
  if (f.key == nullptr) f.key = &null_value;
  f.variations = exp.find("variations");
  f.weights = exp.find("weights");
  f.coverage = exp.find("coverage");
  f.hash_attribute = exp.find("hashAttribute");
  f.fallback_attribute = exp.find("fallbackAttribute");
  f.disable_sticky_bucketing = exp.find("disableStickyBucketing");
  f.bucket_version = exp.find("bucketVersion");
  f.min_bucket_version = exp.find("minBucketVersion");
  f.namespace_ = exp.find("namespace");
  f.meta = exp.find("meta");
  f.ranges = exp.find("ranges");
  f.name = exp.find("name");
  f.phase = exp.find("phase");
  f.seed = exp.find("seed");
  f.hash_version = exp.find("hashVersion");
  f.filters = exp.find("filters");
  f.condition = exp.find("condition");
  f.parent_conditions = exp.find("parentConditions");
  f.force = exp.find("force");
  f.status = exp.find("status");
  f.active = exp.find("active");
  f.url_patterns = exp.find("urlPatterns");
  return f;
}

// GrowthBook's rule -> experiment copy (evalFeature): which fields the experiment sees.
experiment_fields rule_fields(const value& rule, const value* variations) {
  experiment_fields f;
  f.variations = variations;
  f.key = truthy_or_null(rule.find("key"));
  f.coverage = rule.find("coverage");
  f.weights = truthy_or_null(rule.find("weights"));
  f.hash_attribute = truthy_or_null(rule.find("hashAttribute"));
  f.fallback_attribute = truthy_or_null(rule.find("fallbackAttribute"));
  f.disable_sticky_bucketing = truthy_or_null(rule.find("disableStickyBucketing"));
  f.bucket_version = rule.find("bucketVersion");
  f.min_bucket_version = rule.find("minBucketVersion");
  f.namespace_ = truthy_or_null(rule.find("namespace"));
  f.meta = truthy_or_null(rule.find("meta"));
  f.ranges = truthy_or_null(rule.find("ranges"));
  f.name = truthy_or_null(rule.find("name"));
  f.phase = truthy_or_null(rule.find("phase"));
  f.seed = truthy_or_null(rule.find("seed"));
  f.hash_version = truthy_or_null(rule.find("hashVersion"));
  f.filters = truthy_or_null(rule.find("filters"));
  f.condition = truthy_or_null(rule.find("condition"));
  return f;
}

// The seed a rule hashes with, as eval_rules and run_experiment pick it, when it is text the
// payload holds (a string or the feature's key); nullptr otherwise.
const std::string* payload_string(const value* v) { return v && v->is_string() ? &v->as_string() : nullptr; }

void prepare_seed(rule_index& r, std::string_view feature_key) {
  std::string_view seed = feature_key;
  const value* named = r.force ? r.seed : (js::truthy(r.fields.seed) ? r.fields.seed : r.fields.key);
  if (named != nullptr) {
    const std::string* text = payload_string(named);
    if (text == nullptr) return;
    seed = *text;
  }
  r.seed_state = fnv1a32_more(fnv_offset, seed);
  r.seed_prepared = true;
}

rule_index index_rule(const value& rule, std::string_view feature_key) {
  rule_index r;
  r.rule = &rule;
  r.id = truthy_or_null(rule.find("id"));
  r.parent_conditions = rule.find("parentConditions");
  r.filters = truthy_or_null(rule.find("filters"));
  r.force = rule.find("force");
  r.condition = truthy_or_null(rule.find("condition"));
  r.seed = truthy_or_null(rule.find("seed"));
  r.contextual_bandit_ref = truthy_or_null(rule.find("contextualBanditRef"));
  r.range = truthy_or_null(rule.find("range"));
  r.coverage = rule.find("coverage");
  r.hash_attribute = rule.find("hashAttribute");
  r.fallback_attribute = rule.find("fallbackAttribute");
  r.hash_version = rule.find("hashVersion");
  r.disable_sticky_bucketing = js::truthy(rule.find("disableStickyBucketing"));
  const value* variations = rule.find("contextualVariations");
  if (variations == nullptr || variations->is_null()) variations = rule.find("variations");
  r.experiment = js::truthy(variations) && variations->is_array();
  if (r.experiment) r.fields = rule_fields(rule, variations);
  if (r.force || r.experiment) prepare_seed(r, feature_key);
  return r;
}

// An experiment being run: its fields, plus what a contextual bandit leaf adds.
struct experiment_view {
  experiment_fields f;
  const value* object = nullptr;  // the plain experiment; nullptr for a rule
  value contextual_bandit;        // null unless a contextual bandit applies
  int leaf = -2;                  // contextual bandit leaf index, -1 fallback, -2 none
  int feature_no = -1;            // payload::index position (rules only)
  int rule_no = -1;
  const rule_index* rule = nullptr;  // the feature rule run as this experiment (rules only)
};

// GrowthBook's Result, by reference into the experiment, the attributes and the payload.
struct exp_result {
  int variation = 0;
  bool in_experiment = false;
  bool hash_used = false;
  bool sticky_used = false;
  bool has_bucket = false;
  double bucket = 0;
  std::string key;              // meta key or the variation index
  std::string_view feature_id;  // null when has_feature_id is false
  bool has_feature_id = false;
  const value* value_ = nullptr;  // the variation's value
  std::string hash_attribute;
  const value* hash_value = nullptr;  // nullptr -> ""
  const value* name = nullptr;
  const value* passthrough = nullptr;
  value contextual_bandit;  // {leafId, variationWeights, banditVersion?} when it applies
};

// What runExperiment decided, before it is spelled out as a Result.
struct decision {
  int variation = -1;  // out of range: not in the experiment
  bool hash_used = false;
  bool sticky_used = false;
  bool has_bucket = false;
  double bucket = 0;
};

void write_result(const exp_result& r, std::string& out) {
  out += "{\"key\":";
  json::write_string(r.key, out);
  out += ",\"featureId\":";
  if (r.has_feature_id) json::write_string(r.feature_id, out);
  else out += "null";
  out += r.in_experiment ? ",\"inExperiment\":true" : ",\"inExperiment\":false";
  out += r.hash_used ? ",\"hashUsed\":true" : ",\"hashUsed\":false";
  out += ",\"variationId\":";
  out += std::to_string(r.variation);
  out += ",\"value\":";
  json::write(r.value_ ? *r.value_ : null_value, out);
  out += ",\"hashAttribute\":";
  json::write_string(r.hash_attribute, out);
  out += ",\"hashValue\":";
  if (r.hash_value) json::write(*r.hash_value, out);
  else out += "\"\"";
  out += r.sticky_used ? ",\"stickyBucketUsed\":true" : ",\"stickyBucketUsed\":false";
  if (r.name) {
    out += ",\"name\":";
    json::write(*r.name, out);
  }
  if (r.has_bucket) {
    out += ",\"bucket\":";
    json::write(value::number(r.bucket), out);
  }
  if (r.passthrough) {
    out += ",\"passthrough\":";
    json::write(*r.passthrough, out);
  }
  if (!r.contextual_bandit.is_null()) {
    for (const json::member& m : r.contextual_bandit.members()) {
      out.push_back(',');
      json::write_string(m.first, out);
      out.push_back(':');
      json::write(m.second, out);
    }
  }
  out.push_back('}');
}

value result_value(const exp_result& r) {
  std::string text;
  write_result(r, text);
  auto parsed = json::parse(text);
  return parsed.ok() ? std::move(parsed).value() : value();
}

struct hash_attribute {
  std::string_view attribute;
  const value* hash_value;  // nullptr when missing or falsy
  std::string storage;      // backs attribute when it is not a string in the payload
  bool fallback_used = false;
};

// The attribute name a field names: its string, or "id" when absent (GrowthBook: attr || "id").
std::string_view attribute_name(const value* attr, std::string& storage) {
  if (!js::truthy(attr)) return "id";
  if (attr->is_string()) return attr->as_string();
  storage = js::to_string(attr);
  return storage;
}

hash_attribute get_hash_attribute(const context& ctx, const value* attr, const value* fallback) {
  hash_attribute out;
  out.attribute = attribute_name(attr, out.storage);
  out.hash_value = truthy_or_null(ctx.attributes.find(out.attribute));
  if (out.hash_value == nullptr && js::truthy(fallback)) {
    std::string fallback_storage;
    const std::string_view name = attribute_name(fallback, fallback_storage);
    const value* fv = truthy_or_null(ctx.attributes.find(name));
    if (fv) {
      out.fallback_used = true;
      out.hash_value = fv;
      out.storage = std::move(fallback_storage);
      out.attribute = fallback->is_string() ? std::string_view(fallback->as_string()) : std::string_view(out.storage);
    }
  }
  return out;
}

// GrowthBook's toString(): strings as they are, anything else as JSON.
std::string sticky_string(const value* v) {
  if (v == nullptr) return "";
  if (v->is_string()) return v->as_string();
  return json::to_string(*v);
}

std::string sticky_experiment_key(const value& exp_key, const value* bucket_version) {
  const std::string version = js::truthy(bucket_version) ? js::to_string(bucket_version) : "0";
  return js::to_string(&exp_key) + "__" + version;
}

// A number used as an index or version: NaN and out-of-range values become -1 (never valid),
// so no float-to-int conversion is undefined.
int index_of(double n) {
  if (!(n >= -1 && n <= 1e9) || n != std::floor(n)) return -1;
  return static_cast<int>(n);
}

int version_or(const value* v, int fallback) { return js::truthy(v) ? index_of(js::to_number(v)) : fallback; }

std::optional<double> hash_value_of(std::string_view seed, const value* v, int version) {
  if (v->is_string()) return hash(seed, v->as_string(), version);
  return hash(seed, js::to_string(v), version);
}

// hash_value_of for a rule whose seed was prepared at load (rule_index::seed_state).
std::optional<double> rule_hash(const rule_index* rule, std::string_view seed, const value* v, int version) {
  if (version != 2 || rule == nullptr || !rule->seed_prepared) return hash_value_of(seed, v, version);
  if (v->is_string()) return hash_v2_outer(fnv1a32_more(rule->seed_state, v->as_string()));
  return hash_v2_outer(fnv1a32_more(rule->seed_state, js::to_string(v)));
}

bool in_ranges(double n, const value& ranges) {
  if (!ranges.is_array()) return false;
  for (const value& r : ranges.items()) {
    if (r.is_array() && r.items().size() >= 2 && n >= js::to_number(&r.items()[0]) && n < js::to_number(&r.items()[1])) {
      return true;
    }
  }
  return false;
}

bool filtered_out(const value& filters, const context& ctx) {
  if (!filters.is_array()) return false;
  for (const value& f : filters.items()) {
    const hash_attribute h = get_hash_attribute(ctx, f.find("attribute"), nullptr);
    if (h.hash_value == nullptr) return true;
    const auto n = hash_value_of(js::to_string(&member_or_null(f, "seed")), h.hash_value, version_or(f.find("hashVersion"), 2));
    if (!n) return true;
    const value* ranges = f.find("ranges");
    if (ranges == nullptr || !in_ranges(*n, *ranges)) return true;
  }
  return false;
}

bool condition_passes(const value& condition, const context& ctx) {
  return eval_condition(ctx.attributes, condition, ctx.data->saved_groups);
}

// The state of one evalFeature call chain (cycle detection across prerequisites).
struct evaluation {
  context& ctx;
  std::vector<std::string_view> stack;  // features being evaluated
};

// GrowthBook's name of a feature source (FeatureResult.source).
const char* source_name(feature_source source) {
  switch (source) {
    case feature_source::unknown_feature: return "unknownFeature";
    case feature_source::default_value: return "defaultValue";
    case feature_source::force: return "force";
    case feature_source::override_value: return "override";
    case feature_source::experiment: return "experiment";
    case feature_source::prerequisite: return "prerequisite";
    case feature_source::cyclic_prerequisite: return "cyclicPrerequisite";
  }
  return "unknownFeature";
}

// GrowthBook's FeatureResult, by reference.
struct feature_outcome {
  const context* ctx = nullptr;
  const value* value_ = nullptr;  // nullptr -> null
  feature_source source = feature_source::unknown_feature;
  int rule_no = -1;
  const value* rule_id = nullptr;
  bool has_experiment = false;
  experiment_view experiment;
  decision result;
};

feature_outcome outcome(const value* v, feature_source source, const value* rule_id = nullptr) {
  feature_outcome o;
  o.value_ = v;
  o.source = source;
  o.rule_id = rule_id;
  return o;
}

feature_outcome eval_feature_in(std::string_view id, evaluation& ev, int depth);
feature_outcome eval_feature_at(const feature_index& feature, evaluation& ev, int depth);

bool sticky_enabled(const context& ctx, const experiment_fields& f) {
  return ctx.sticky_bucketing && !js::truthy(f.disable_sticky_bucketing);
}

const value* meta_of(const experiment_fields& f, int variation) {
  if (f.meta && f.meta->is_array() && variation >= 0 && static_cast<size_t>(variation) < f.meta->items().size()) {
    return &f.meta->items()[static_cast<size_t>(variation)];
  }
  return nullptr;
}

int variation_count(const experiment_fields& f) {
  return f.variations && f.variations->is_array() ? static_cast<int>(f.variations->items().size()) : 0;
}

bool in_experiment(const experiment_fields& f, const decision& a) {
  return a.variation >= 0 && a.variation < variation_count(f);
}

// The Result's key: the variation's meta key, else its index.
std::string variation_key(const experiment_fields& f, int variation) {
  const value* meta = meta_of(f, variation);
  const value* meta_key = meta ? meta->find("key") : nullptr;
  return js::truthy(meta_key) ? js::to_string(meta_key) : std::to_string(variation);
}

exp_result experiment_result(const context& ctx, const experiment_view& exp, const decision& a,
                             std::string_view feature_id, bool has_feature_id) {
  int variation = a.variation;
  const bool hash_used = a.hash_used;
  const double* bucket = a.has_bucket ? &a.bucket : nullptr;
  const bool sticky_used = a.sticky_used;
  const experiment_fields& f = exp.f;
  const size_t count = f.variations && f.variations->is_array() ? f.variations->items().size() : 0;
  exp_result r;
  r.in_experiment = true;
  if (variation < 0 || static_cast<size_t>(variation) >= count) {
    variation = 0;
    r.in_experiment = false;
  }
  const hash_attribute h = get_hash_attribute(ctx, f.hash_attribute, sticky_enabled(ctx, f) ? f.fallback_attribute : nullptr);
  const value* meta = meta_of(f, variation);
  r.variation = variation;
  r.key = variation_key(f, variation);
  r.feature_id = feature_id;
  r.has_feature_id = has_feature_id;
  r.hash_used = hash_used;
  r.value_ = count ? &f.variations->items()[static_cast<size_t>(variation)] : nullptr;
  r.hash_attribute = std::string(h.attribute);
  r.hash_value = h.hash_value;
  r.sticky_used = sticky_used;
  r.name = meta ? truthy_or_null(meta->find("name")) : nullptr;
  if (bucket) {
    r.has_bucket = true;
    r.bucket = *bucket;
  }
  r.passthrough = meta ? truthy_or_null(meta->find("passthrough")) : nullptr;
  const value& cb = exp.contextual_bandit;
  if (cb.is_object() && hash_used && r.in_experiment) {
    r.contextual_bandit = value::object();
    r.contextual_bandit.members().emplace_back("leafId", member_or_null(cb, "leafId"));
    r.contextual_bandit.members().emplace_back("variationWeights", member_or_null(cb, "variationWeights"));
    if (const value* bv = cb.find("banditVersion")) r.contextual_bandit.members().emplace_back("banditVersion", *bv);
  }
  return r;
}

// The assignments of the user's sticky documents: the fallback attribute's, then the hash
// attribute's on top (later entries win).
std::vector<const json::member*> sticky_assignments(const context& ctx, const experiment_fields& f) {
  std::vector<const json::member*> assignments;
  if (!ctx.sticky_docs.is_object() || ctx.sticky_docs.members().empty()) return assignments;
  const auto merge_doc = [&](const hash_attribute& h) {
    const value* doc = ctx.sticky_docs.find(std::string(h.attribute) + "||" + sticky_string(h.hash_value));
    const value* a = doc ? doc->find("assignments") : nullptr;
    if (a && a->is_object()) {
      for (const json::member& m : a->members()) assignments.push_back(&m);
    }
  };
  const hash_attribute fallback = get_hash_attribute(ctx, f.fallback_attribute, nullptr);
  if (fallback.hash_value) merge_doc(fallback);
  merge_doc(get_hash_attribute(ctx, f.hash_attribute, nullptr));
  return assignments;
}

const value* assignment(const std::vector<const json::member*>& assignments, std::string_view key) {
  for (auto it = assignments.rbegin(); it != assignments.rend(); ++it) {
    if ((*it)->first == key) return &(*it)->second;
  }
  return nullptr;
}

struct sticky_lookup {
  int variation = -1;
  bool version_blocked = false;
};

sticky_lookup sticky_variation(const context& ctx, const experiment_fields& f) {
  const auto assignments = sticky_assignments(ctx, f);
  if (assignments.empty()) return {};
  const double min_version = js::truthy(f.min_bucket_version) ? js::to_number(f.min_bucket_version) : 0;
  for (int i = 0; i < min_version && i < 10000; ++i) {
    const value version = value::number(i);
    if (assignment(assignments, sticky_experiment_key(*f.key, &version))) return {-1, true};
  }
  const value* assigned = assignment(assignments, sticky_experiment_key(*f.key, f.bucket_version));
  if (assigned == nullptr || f.meta == nullptr || !f.meta->is_array()) return {};
  for (size_t i = 0; i < f.meta->items().size(); ++i) {
    const value* mk = f.meta->items()[i].find("key");
    if (mk && js::strict_equal(mk, assigned)) return {static_cast<int>(i), false};
  }
  return {};
}

void save_sticky(context& ctx, std::string_view attribute, const value* hash_value, std::string exp_key,
                 const std::string& variation_key) {
  const std::string attribute_value = sticky_string(hash_value);
  const std::string doc_key = std::string(attribute) + "||" + attribute_value;
  value* existing = ctx.sticky_docs.find(doc_key);
  const value* old_assignments = existing ? existing->find("assignments") : nullptr;
  const value* old = old_assignments ? old_assignments->find(exp_key) : nullptr;
  if (old && old->is_string() && old->as_string() == variation_key) return;  // unchanged
  value assignments = old_assignments && old_assignments->is_object() ? *old_assignments : value::object();
  assignments.set(std::move(exp_key), value::string(variation_key));
  value doc = value::object();
  doc.members().emplace_back("attributeName", value::string(std::string(attribute)));
  doc.members().emplace_back("attributeValue", value::string(attribute_value));
  doc.members().emplace_back("assignments", std::move(assignments));
  ctx.sticky_docs.set(doc_key, std::move(doc));
  for (const std::string& k : ctx.changed_sticky_docs) {
    if (k == doc_key) return;
  }
  ctx.changed_sticky_docs.push_back(doc_key);
}

enum class parents { pass, fail, skip_rule, cyclic };

// Prerequisites: each parent feature is evaluated and its value tested against the condition.
parents check_parents(const value& parent_conditions, evaluation& ev, int depth, bool rule_level) {
  if (!parent_conditions.is_array()) return parents::pass;
  const size_t saved = ev.stack.size();
  for (const value& parent : parent_conditions.items()) {
    ev.stack.resize(saved);
    const std::string parent_id = js::to_string(parent.find("id"));
    const feature_outcome result = eval_feature_in(parent_id, ev, depth + 1);
    if (result.source == feature_source::cyclic_prerequisite) return parents::cyclic;
    value eval_obj = value::object();
    eval_obj.members().emplace_back("value", result.value_ ? *result.value_ : value());
    const value* cond = parent.find("condition");
    if (!eval_condition(eval_obj, cond ? *cond : empty_object, ev.ctx.data->saved_groups)) {
      return rule_level && !js::truthy(parent.find("gate")) ? parents::skip_rule : parents::fail;
    }
  }
  return parents::pass;
}

// Step 9: the variation from the bucket ranges (explicit ranges, or weights and coverage).
int assign_variation(const experiment_fields& f, double n, int count) {
  if (js::truthy(f.ranges) && f.ranges->is_array()) {
    int index = 0;
    for (const value& r : f.ranges->items()) {
      const bool pair = r.is_array() && r.items().size() >= 2;
      if (pair && n >= js::to_number(&r.items()[0]) && n < js::to_number(&r.items()[1])) return index;
      ++index;
    }
    return -1;
  }
  // getBucketRanges + chooseVariation in one pass, without allocating.
  double coverage = f.coverage ? js::to_number(f.coverage) : 1;
  if (coverage < 0) coverage = 0;
  if (coverage > 1) coverage = 1;
  const value* weights = js::truthy(f.weights) && f.weights->is_array() ? f.weights : nullptr;
  if (weights && weights->items().size() == static_cast<size_t>(count)) {
    double total = 0;
    for (const value& w : weights->items()) total += js::to_number(&w);
    if (!(total >= 0.99 && total <= 1.01)) weights = nullptr;
  } else {
    weights = nullptr;
  }
  const double equal = 1.0 / count;
  double cumulative = 0;
  for (int i = 0; i < count; ++i) {
    const double w = weights ? js::to_number(&weights->items()[static_cast<size_t>(i)]) : equal;
    const double start = cumulative;
    cumulative += w;
    if (n >= start && n < start + coverage * w) return i;
  }
  return -1;
}

bool is_string_equal(const value* v, std::string_view s) { return v && v->is_string() && v->as_string() == s; }

// The string a field names, without a copy when it is a string already.
std::string_view string_of(const value* v, std::string& storage) {
  if (v && v->is_string()) return v->as_string();
  storage = js::to_string(v);
  return storage;
}

decision run_experiment(const experiment_view& exp, std::string_view feature_id, bool has_feature_id,
                          evaluation& ev, int depth) {
  context& ctx = ev.ctx;
  const experiment_fields& f = exp.f;
  const int count = variation_count(f);
  const auto forced_to = [](int variation) {
    decision a;
    a.variation = variation;
    return a;
  };
  const decision not_in;
  if (count < 2 || !ctx.enabled) return not_in;
  if (js::truthy(f.url_patterns) && !url_targeted(ctx.url, *f.url_patterns)) return not_in;
  std::string key_storage;
  const std::string_view key = string_of(f.key, key_storage);
  if (!ctx.url.empty()) {
    if (auto forced = query_string_override(key, ctx.url, count)) return forced_to(*forced);
  }
  if (!ctx.forced_variations.members().empty()) {
    if (const value* forced = ctx.forced_variations.find(key)) return forced_to(index_of(js::to_number(forced)));
  }
  if (is_string_equal(f.status, "draft") || (f.active && f.active->is_bool() && !f.active->as_bool())) return not_in;
  const bool sticky = sticky_enabled(ctx, f);
  const hash_attribute h = get_hash_attribute(ctx, f.hash_attribute, sticky ? f.fallback_attribute : nullptr);
  if (h.hash_value == nullptr) return not_in;

  sticky_lookup found;
  if (sticky) found = sticky_variation(ctx, f);
  const bool found_sticky = found.variation >= 0;
  int assigned = found.variation;

  if (!found_sticky) {
    if (js::truthy(f.filters)) {
      if (filtered_out(*f.filters, ctx)) return not_in;
    } else if (js::truthy(f.namespace_)) {
      const value* ns = f.namespace_;
      if (ns->is_array() && ns->items().size() >= 3 &&
          !in_namespace(js::to_string(h.hash_value), js::to_string(&ns->items()[0]), js::to_number(&ns->items()[1]),
                        js::to_number(&ns->items()[2]))) {
        return not_in;
      }
    }
    if (js::truthy(f.condition) && !condition_passes(*f.condition, ctx)) return not_in;
    if (js::truthy(f.parent_conditions) && check_parents(*f.parent_conditions, ev, depth, false) != parents::pass) {
      return not_in;
    }
  }

  std::string seed_storage;
  const std::string_view seed = js::truthy(f.seed) ? string_of(f.seed, seed_storage) : key;
  const auto n = rule_hash(exp.rule, seed, h.hash_value, version_or(f.hash_version, 1));
  if (!n) return not_in;
  if (!found_sticky) assigned = assign_variation(f, *n, count);
  if (found.version_blocked) {
    decision blocked;
    blocked.sticky_used = true;
    return blocked;
  }
  if (assigned < 0) return not_in;
  if (f.force) return forced_to(f.force->is_number() ? index_of(f.force->as_number()) : -1);
  if (ctx.qa_mode) return not_in;
  if (is_string_equal(f.status, "stopped")) return not_in;

  decision a;
  a.variation = assigned;
  a.hash_used = true;
  a.sticky_used = found_sticky;
  a.has_bucket = true;
  a.bucket = *n;
  if (sticky) {
    save_sticky(ctx, h.attribute, h.hash_value, sticky_experiment_key(*f.key, f.bucket_version), variation_key(f, assigned));
  }
  if (ctx.record_compact) {
    exposure_record r;
    r.feature = exp.feature_no;
    r.rule = exp.rule_no;
    r.variation = assigned;
    r.flags = (found_sticky ? exposure_sticky_used : 0) | (h.fallback_used ? exposure_fallback_attribute : 0);
    r.leaf = exp.contextual_bandit.is_null() ? -2 : exp.leaf;
    r.bucket_scale = version_or(f.hash_version, 1) == 2 ? 10000 : 1000;
    r.bucket_units = static_cast<int32_t>(a.bucket * r.bucket_scale + 0.5);
    ctx.compact_exposures.push_back(r);
  } else {
    // An exposure is GrowthBook's Result and the experiment's key (its tracking callback's
    // experiment.key), which exposure events name.
    std::string exposure;
    write_result(experiment_result(ctx, exp, a, feature_id, has_feature_id), exposure);
    exposure.pop_back();
    exposure += ",\"experimentKey\":";
    json::write_string(key, exposure);
    exposure.push_back('}');
    ctx.exposures.push_back(std::move(exposure));
  }
  return a;
}

bool included_in_rollout(const context& ctx, std::string_view seed, const rule_index& rule) {
  const value* range_json = rule.range;
  const value* coverage = rule.coverage;
  if (!range_json && coverage == nullptr) return true;
  if (!range_json && coverage->is_number() && coverage->as_number() == 0) return false;
  const hash_attribute h = get_hash_attribute(
      ctx, rule.hash_attribute, ctx.sticky_bucketing && !rule.disable_sticky_bucketing ? rule.fallback_attribute : nullptr);
  if (h.hash_value == nullptr) return false;
  const auto n = rule_hash(&rule, seed, h.hash_value, version_or(rule.hash_version, 1));
  if (!n) return false;
  if (range_json) {
    return range_json->is_array() && range_json->items().size() >= 2 && *n >= js::to_number(&range_json->items()[0]) &&
           *n < js::to_number(&range_json->items()[1]);
  }
  return *n <= js::to_number(coverage);
}

// A contextual bandit rule: the first leaf whose condition passes gives the weights.
void apply_contextual_bandit(experiment_view& exp, const value& ref, const context& ctx) {
  const value* def = ctx.data->contextual_bandits.find(js::to_string(&ref));
  if (def == nullptr || !def->is_object()) return;
  const value* contexts = def->find("contexts");
  const value* leaf = nullptr;
  if (contexts && contexts->is_array()) {
    for (const value& c : contexts->items()) {
      const value* cond = c.find("condition");
      if (condition_passes(cond && cond->is_object() ? *cond : empty_object, ctx)) {
        leaf = &c;
        break;
      }
    }
  }
  value cb = value::object();
  if (leaf) {
    exp.f.weights = &member_or_null(*leaf, "weights");
    exp.leaf = static_cast<int>(leaf - contexts->items().data());
    cb.members().emplace_back("leafId", member_or_null(*leaf, "leafId"));
    cb.members().emplace_back("variationWeights", member_or_null(*leaf, "weights"));
  } else {
    exp.leaf = -1;
    cb.members().emplace_back("leafId", value::number(-1));
    std::vector<value> eq;
    for (double x : equal_weights(static_cast<int>(exp.f.variations->items().size()))) eq.push_back(value::number(x));
    cb.members().emplace_back("variationWeights", exp.f.weights ? *exp.f.weights : value::array(std::move(eq)));
  }
  if (const value* bv = def->find("banditVersion")) cb.members().emplace_back("banditVersion", *bv);
  exp.contextual_bandit = std::move(cb);
}

// GrowthBook's experiment object for a rule, keys in its order (for evalFeature's answer).
value experiment_value(const experiment_view& exp, std::string_view feature_id) {
  if (exp.object) return *exp.object;
  const experiment_fields& f = exp.f;
  value out = value::object();
  auto& m = out.members();
  m.emplace_back("variations", *f.variations);
  m.emplace_back("key", f.key ? *f.key : value::string(std::string(feature_id)));
  const std::pair<const char*, const value*> order[] = {
      {"coverage", f.coverage}, {"weights", f.weights}, {"hashAttribute", f.hash_attribute},
      {"fallbackAttribute", f.fallback_attribute}, {"disableStickyBucketing", f.disable_sticky_bucketing},
      {"bucketVersion", f.bucket_version}, {"minBucketVersion", f.min_bucket_version}, {"namespace", f.namespace_},
      {"meta", f.meta}, {"ranges", f.ranges}, {"name", f.name}, {"phase", f.phase}, {"seed", f.seed},
      {"hashVersion", f.hash_version}, {"filters", f.filters}, {"condition", f.condition}};
  for (const auto& [name, v] : order) {
    if (v) m.emplace_back(name, *v);
  }
  if (!exp.contextual_bandit.is_null()) m.emplace_back("contextualBandit", exp.contextual_bandit);
  return out;
}

constexpr int max_prerequisite_depth = 64;

feature_outcome eval_rules(const feature_index& feature, evaluation& ev, int depth) {
  context& ctx = ev.ctx;
  const size_t evaluated = ev.stack.size();  // the features being evaluated when the rules start
  for (const rule_index& rule : feature.rules) {
    if (rule.parent_conditions) {
      ev.stack.resize(evaluated);
      const parents p = check_parents(*rule.parent_conditions, ev, depth, true);
      if (p == parents::cyclic) return outcome(nullptr, feature_source::cyclic_prerequisite);
      if (p == parents::skip_rule) continue;
      if (p == parents::fail) return outcome(nullptr, feature_source::prerequisite);
    }
    if (rule.filters && filtered_out(*rule.filters, ctx)) continue;
    if (rule.force) {
      if (rule.condition && !condition_passes(*rule.condition, ctx)) continue;
      std::string seed_storage;
      const std::string_view seed = rule.seed ? string_of(rule.seed, seed_storage) : feature.key;
      if (!included_in_rollout(ctx, seed, rule)) continue;
      feature_outcome o = outcome(rule.force, feature_source::force, rule.id);
      o.rule_no = static_cast<int>(&rule - feature.rules.data());
      return o;
    }
    if (!rule.experiment) continue;
    experiment_view exp;
    exp.f = rule.fields;
    value id_value;
    if (exp.f.key == nullptr) {
      id_value = value::string(std::string(feature.key));
      exp.f.key = &id_value;
    }
    if (rule.contextual_bandit_ref) apply_contextual_bandit(exp, *rule.contextual_bandit_ref, ctx);
    exp.feature_no = static_cast<int>(&feature - ctx.data->index.data());
    exp.rule_no = static_cast<int>(&rule - feature.rules.data());
    exp.rule = &rule;
    const decision result = run_experiment(exp, feature.key, true, ev, depth);
    const bool in = in_experiment(exp.f, result);
    if (!(result.hash_used && in) && !exp.contextual_bandit.is_null()) exp.contextual_bandit = value();
    const value* meta = meta_of(exp.f, result.variation);
    if (in && !(meta && js::truthy(meta->find("passthrough")))) {
      const value* chosen = &exp.f.variations->items()[static_cast<size_t>(result.variation)];
      feature_outcome o = outcome(chosen, feature_source::experiment, rule.id);
      o.ctx = &ctx;
      o.rule_no = exp.rule_no;
      o.has_experiment = true;
      o.experiment = std::move(exp);
      // id_value dies with this frame: a null key means "the feature id" (see experiment_value).
      if (o.experiment.f.key == &id_value) o.experiment.f.key = nullptr;
      o.result = result;
      return o;
    }
  }
  return outcome(feature.default_value, feature_source::default_value);
}

// evalFeature for a feature of the payload (an unknown id is handled by eval_feature_in).
feature_outcome eval_feature_at(const feature_index& feature, evaluation& ev, int depth) {
  context& ctx = ev.ctx;
  for (std::string_view s : ev.stack) {
    if (s == feature.key) return outcome(nullptr, feature_source::cyclic_prerequisite);
  }
  if (depth > max_prerequisite_depth) return outcome(nullptr, feature_source::cyclic_prerequisite);
  if (!ctx.forced_features.members().empty()) {
    if (const value* forced = ctx.forced_features.find(feature.key)) return outcome(forced, feature_source::override_value);
  }
  if (!js::truthy(feature.feature)) return outcome(nullptr, feature_source::unknown_feature);
  ev.stack.push_back(feature.key);  // the payload owns the key
  return eval_rules(feature, ev, depth);
}

feature_outcome eval_feature_in(std::string_view id, evaluation& ev, int depth) {
  if (const feature_index* feature = ev.ctx.data->find(id)) return eval_feature_at(*feature, ev, depth);
  for (std::string_view s : ev.stack) {
    if (s == id) return outcome(nullptr, feature_source::cyclic_prerequisite);
  }
  if (!ev.ctx.forced_features.members().empty()) {
    if (const value* forced = ev.ctx.forced_features.find(id)) return outcome(forced, feature_source::override_value);
  }
  return outcome(nullptr, feature_source::unknown_feature);
}

value outcome_value(const feature_outcome& o, std::string_view id) {
  const bool on = js::truthy(o.value_);
  value out = value::object();
  auto& m = out.members();
  m.emplace_back("value", o.value_ ? *o.value_ : value());
  m.emplace_back("on", value::boolean(on));
  m.emplace_back("off", value::boolean(!on));
  m.emplace_back("source", value::string(source_name(o.source)));
  m.emplace_back("ruleId", o.rule_id ? value::string(js::to_string(o.rule_id)) : value::string(""));
  if (o.has_experiment) {
    m.emplace_back("experiment", experiment_value(o.experiment, id));
    m.emplace_back("experimentResult", result_value(experiment_result(*o.ctx, o.experiment, o.result, id, true)));
  }
  return out;
}

result<void> check_rule(const value& rule, const std::string& path) {
  if (!rule.is_object()) return fail(error_code::wrong_type, path + ": expected an object");
  for (const char* name : {"condition"}) {
    const value* c = rule.find(name);
    if (c && !c->is_null()) {
      auto checked = validate_condition(*c);
      if (checked) checked = validate_patterns(*c);
      if (!checked) return fail(checked.code(), path + "." + name + ": " + checked.message());
    }
  }
  for (const char* name : {"weights", "coverage"}) {
    const value* w = rule.find(name);
    if (w == nullptr) continue;
    const auto bad_number = [](const value& x) { return !x.is_number() || std::isnan(x.as_number()) || x.as_number() < 0; };
    if (w->is_array()) {
      for (const value& x : w->items()) {
        if (bad_number(x)) return fail(error_code::invalid_value, path + "." + name + ": expected non-negative numbers");
      }
    } else if (!w->is_null() && bad_number(*w)) {
      return fail(error_code::invalid_value, path + "." + name + ": expected a non-negative number");
    }
  }
  const value* parents = rule.find("parentConditions");
  if (parents && parents->is_array()) {
    for (size_t i = 0; i < parents->items().size(); ++i) {
      const value* c = parents->items()[i].find("condition");
      if (c == nullptr) continue;
      auto checked = validate_condition(*c);
      if (checked) checked = validate_patterns(*c);
      if (!checked) {
        return fail(checked.code(), path + ".parentConditions[" + std::to_string(i) + "].condition: " + checked.message());
      }
    }
  }
  return {};
}

}  // namespace

result<payload> load_payload(const value& doc) {
  if (!doc.is_object()) return fail(error_code::wrong_type, "payload: expected an object");
  payload p;
  if (const value* features = doc.find("features")) {
    if (!features->is_object()) return fail(error_code::wrong_type, "features: expected an object");
    for (const json::member& f : features->members()) {
      const std::string path = "features." + f.first;
      if (!f.second.is_object()) return fail(error_code::wrong_type, path + ": expected an object");
      const value* rules = f.second.find("rules");
      if (rules == nullptr || rules->is_null()) continue;
      if (!rules->is_array()) return fail(error_code::wrong_type, path + ".rules: expected an array");
      for (size_t i = 0; i < rules->items().size(); ++i) {
        WHALE_TRY_VOID(check_rule(rules->items()[i], path + ".rules[" + std::to_string(i) + "]"));
      }
    }
    // A duplicate key keeps its first position and its last value, as JSON.parse does.
    for (const json::member& f : features->members()) {
      if (value* seen = p.features.find(f.first)) {
        *seen = f.second;
      } else {
        p.features.members().push_back(f);
      }
    }
  }
  if (const value* groups = doc.find("savedGroups")) {
    if (!groups->is_object()) return fail(error_code::wrong_type, "savedGroups: expected an object");
    p.saved_groups = *groups;
  }
  if (const value* bandits = doc.find("contextualBandits")) {
    if (!bandits->is_object()) return fail(error_code::wrong_type, "contextualBandits: expected an object");
    p.contextual_bandits = *bandits;
  }
  p.index.reserve(p.features.members().size());
  for (const json::member& f : p.features.members()) {
    feature_index fi;
    fi.key = f.first;
    fi.feature = &f.second;
    fi.default_value = f.second.find("defaultValue");
    const value* rules = f.second.find("rules");
    if (rules && rules->is_array()) {
      fi.rules.reserve(rules->items().size());
      for (const value& rule : rules->items()) fi.rules.push_back(index_rule(rule, fi.key));
    }
    p.index.push_back(std::move(fi));
  }
  return p;
}

const feature_index* payload::find(std::string_view key) const {
  for (const feature_index& f : index) {
    if (f.key == key) return &f;
  }
  return nullptr;
}

std::vector<std::string> sticky_attributes(const payload& data) {
  std::vector<std::string> out;
  const auto add = [&out](std::string name) {
    for (const std::string& seen : out) {
      if (seen == name) return;
    }
    out.push_back(std::move(name));
  };
  for (const json::member& f : data.features.members()) {
    const value* rules = f.second.find("rules");
    if (rules == nullptr || !rules->is_array()) continue;
    for (const value& rule : rules->items()) {
      if (!js::truthy(rule.find("variations")) && !js::truthy(rule.find("contextualVariations"))) continue;
      const value* attr = rule.find("hashAttribute");
      add(js::truthy(attr) ? js::to_string(attr) : "id");
      const value* fallback = rule.find("fallbackAttribute");
      if (js::truthy(fallback)) add(js::to_string(fallback));
    }
  }
  return out;
}

namespace {

void add_name(std::vector<std::string>& names, std::string_view name) {
  for (const std::string& seen : names) {
    if (seen == name) return;
  }
  names.emplace_back(name);
}

// What get_hash_attribute may read for a rule: its hash attribute ("id" when absent) and its
// fallback; each filter's attribute.
void rule_attributes(const value& rule, std::vector<std::string>& names) {
  std::string storage;
  add_name(names, attribute_name(rule.find("hashAttribute"), storage));
  if (const value* fallback = rule.find("fallbackAttribute"); js::truthy(fallback)) {
    add_name(names, attribute_name(fallback, storage));
  }
  const value* filters = rule.find("filters");
  if (filters == nullptr || !filters->is_array()) return;
  for (const value& filter : filters->items()) add_name(names, attribute_name(filter.find("attribute"), storage));
}

}  // namespace

std::vector<std::string> referenced_attributes(const payload& data) {
  std::vector<std::string> names;
  for (const feature_index& f : data.index) {
    for (const rule_index& r : f.rules) {
      if (const value* c = r.rule->find("condition")) condition_attributes(*c, data.saved_groups, names);
      rule_attributes(*r.rule, names);
    }
  }
  for (const json::member& bandit : data.contextual_bandits.members()) {
    const value* contexts = bandit.second.find("contexts");
    if (contexts == nullptr || !contexts->is_array()) continue;
    for (const value& c : contexts->items()) {
      if (const value* cond = c.find("condition")) condition_attributes(*cond, data.saved_groups, names);
    }
  }
  return names;
}

result<context> context_from_json(const value& doc, payload& storage) {
  if (!doc.is_object()) return fail(error_code::wrong_type, "context: expected an object");
  WHALE_TRY(storage, load_payload(doc));
  context ctx;
  ctx.data = &storage;
  const auto object_field = [&](const char* name, value& out) -> result<void> {
    const value* v = doc.find(name);
    if (v == nullptr || v->is_null()) return {};
    if (!v->is_object()) return fail(error_code::wrong_type, std::string("context.") + name + ": expected an object");
    out = *v;
    return {};
  };
  WHALE_TRY_VOID(object_field("attributes", ctx.attributes));
  WHALE_TRY_VOID(object_field("forcedVariations", ctx.forced_variations));
  WHALE_TRY_VOID(object_field("forcedFeatureValues", ctx.forced_features));
  if (const value* docs = doc.find("stickyBucketAssignmentDocs")) {
    if (!docs->is_object()) return fail(error_code::wrong_type, "context.stickyBucketAssignmentDocs: expected an object");
    ctx.sticky_docs = *docs;
    ctx.sticky_bucketing = true;
  }
  if (const value* url = doc.find("url"); url && url->is_string()) ctx.url = url->as_string();
  if (const value* e = doc.find("enabled"); e && e->is_bool()) ctx.enabled = e->as_bool();
  if (const value* q = doc.find("qaMode")) ctx.qa_mode = js::truthy(q);
  return ctx;
}

value run(const value& experiment, context& ctx) {
  evaluation ev{ctx, {}};
  experiment_view exp;
  exp.f = plain_fields(experiment);
  exp.object = &experiment;
  return result_value(experiment_result(ctx, exp, run_experiment(exp, {}, false, ev, 0), {}, false));
}

value eval_feature(std::string_view key, context& ctx) {
  evaluation ev{ctx, {}};
  return outcome_value(eval_feature_in(key, ev, 0), key);
}

namespace {

// GrowthBook's getAutoExperimentChangeType.
enum class change_type { redirect, visual, unknown };

change_type auto_change_type(const value& exp) {
  const value* variations = exp.find("variations");
  if (variations == nullptr || !variations->is_array()) return change_type::unknown;
  if (js::truthy(exp.find("urlPatterns"))) {
    for (const value& v : variations->items()) {
      if (v.is_object() && v.find("urlRedirect")) return change_type::redirect;
    }
  }
  for (const value& v : variations->items()) {
    if (v.is_object() && (js::truthy(v.find("domMutations")) || v.find("js") || v.find("css"))) return change_type::visual;
  }
  return change_type::unknown;
}

// _isAutoExperimentBlockedByContext for a redirect: the page URL and every variation's
// urlRedirect must parse (and stay on the page's origin when cross-origin redirects are off).
bool redirect_blocked(const value& exp, const context& ctx, const redirect_options& options) {
  const auto current = url::parse(ctx.url);
  if (!current) return true;
  for (const value& v : exp.find("variations")->items()) {
    const value* target = v.is_object() ? v.find("urlRedirect") : nullptr;
    if (!js::truthy(target)) continue;
    const auto parsed = url::parse(js::to_string(target));
    if (!parsed) return true;
    if (!options.cross_origin && (parsed->scheme != current->scheme || parsed->host_port() != current->host_port())) {
      return true;
    }
  }
  return false;
}

// One auto experiment through runExperiment, as a plain experiment.
decision run_auto(const value& exp, context& ctx, experiment_view& view) {
  evaluation ev{ctx, {}};
  view.f = plain_fields(exp);
  view.object = &exp;
  return run_experiment(view, {}, false, ev, 0);
}

void write_redirect_result(const context& ctx, const experiment_view& view, const decision& d,
                           const value* target, const std::string* with_params, std::string& out) {
  out += "{\"experimentKey\":";
  json::write(*view.f.key, out);
  out += ",\"inExperiment\":true,\"variationId\":";
  out += std::to_string(d.variation);
  out += ",\"urlRedirect\":";
  json::write(target ? *target : null_value, out);
  out += ",\"urlWithParams\":";
  if (with_params) json::write_string(*with_params, out);
  else out += "null";
  out += ",\"result\":";
  write_result(experiment_result(ctx, view, d, {}, false), out);
  out.push_back('}');
}

}  // namespace

void url_redirect(const value& experiments, context& ctx, const redirect_options& options, std::string& out) {
  std::string redirect;
  std::string results;
  bool redirected = false;
  if (experiments.is_array()) {
    for (const value& exp : experiments.items()) {
      if (!exp.is_object() || js::truthy(exp.find("manual"))) continue;
      const change_type type = auto_change_type(exp);
      if (type == change_type::unknown) continue;  // blocked: excluded, nothing recorded
      if (type == change_type::redirect && redirect_blocked(exp, ctx, options)) continue;
      experiment_view view;
      const decision d = run_auto(exp, ctx, view);
      if (type != change_type::redirect || !in_experiment(view.f, d)) continue;
      const value& chosen = view.f.variations->items()[static_cast<size_t>(d.variation)];
      const value* target = chosen.is_object() ? chosen.find("urlRedirect") : nullptr;
      std::string with_params;
      if (js::truthy(target)) {
        with_params = js::to_string(target);
        if (js::truthy(exp.find("persistQueryString"))) with_params = merge_query_strings(ctx.url, with_params);
        // GrowthBook skips a redirect to a URL the experiment itself targets (no loop).
        redirected = !url_targeted(with_params, *exp.find("urlPatterns"));
      }
      if (redirected) redirect = with_params;
      write_redirect_result(ctx, view, d, target, redirected ? &redirect : nullptr, results);
      break;
    }
  }
  out += "{\"redirect\":";
  if (redirected) json::write_string(redirect, out);
  else out += "null";
  out += ",\"results\":[";
  out += results;
  out += "]}";
}

std::string changed_docs_json(const context& ctx) {
  std::string docs = "{";
  for (const std::string& key : ctx.changed_sticky_docs) {
    if (docs.size() > 1) docs.push_back(',');
    json::write_string(key, docs);
    docs.push_back(':');
    json::write(member_or_null(ctx.sticky_docs, key), docs);
  }
  docs.push_back('}');
  return docs;
}

feature_pick pick_feature(std::string_view key, context& ctx) {
  evaluation ev{ctx, {}};
  const feature_outcome o = eval_feature_in(key, ev, 0);
  feature_pick pick;
  pick.value = o.value_;
  pick.source = source_name(o.source);
  pick.rule = o.rule_no;
  if (!o.has_experiment) return pick;
  const experiment_fields& f = o.experiment.f;
  const size_t count = f.variations && f.variations->is_array() ? f.variations->items().size() : 0;
  pick.has_experiment = true;
  pick.in_experiment = o.result.variation >= 0 && static_cast<size_t>(o.result.variation) < count;
  pick.variation = pick.in_experiment ? o.result.variation : 0;
  pick.experiment = f.key && f.key->is_string() ? std::string_view(f.key->as_string()) : key;
  return pick;
}

void eval_all(context& ctx, std::string& out) {
  out += "{\"features\":{";
  bool first = true;
  evaluation ev{ctx, {}};
  for (const feature_index& f : ctx.data->index) {
    ev.stack.clear();
    const feature_outcome o = eval_feature_at(f, ev, 0);
    if (!first) out.push_back(',');
    first = false;
    json::write_string(f.key, out);
    out += ":{\"value\":";
    json::write(o.value_ ? *o.value_ : null_value, out);
    out += js::truthy(o.value_) ? ",\"on\":true,\"off\":false" : ",\"on\":false,\"off\":true";
    out += ",\"source\":\"";
    out += source_name(o.source);
    out += "\",\"ruleId\":";
    if (o.rule_id && o.rule_id->is_string()) json::write_string(o.rule_id->as_string(), out);
    else json::write_string(o.rule_id ? js::to_string(o.rule_id) : "", out);
    out.push_back('}');
  }
  out += "},\"experiments\":[";
  first = true;
  for (const std::string& exposure : ctx.exposures) {
    if (!first) out.push_back(',');
    first = false;
    out += exposure;
  }
  out += "],\"stickyBucketAssignmentDocs\":";
  out += changed_docs_json(ctx);
  out.push_back('}');
}

namespace {

// Writes int32 words at a byte offset of out, which holds them already: every target is
// little-endian (x86-64, wasm32), so the words are copied as they are.
void put_words(std::string& out, size_t at, std::initializer_list<int32_t> words) {
  std::memcpy(&out[at], words.begin(), 4 * words.size());
}

}  // namespace

void eval_all_compact(context& ctx, std::string& out) {
  ctx.record_compact = true;
  ctx.compact_exposures.reserve(8);
  const auto& index = ctx.data->index;
  // Sized once for the feature records, once more for what follows: growing the string a word
  // at a time cost more than the records.
  size_t at = 0;
  out.resize(4 + 4 * compact_feature_words * index.size());
  put_words(out, at, {static_cast<int32_t>(index.size())});
  at += 4;
  evaluation ev{ctx, {}};
  for (const feature_index& f : index) {
    ev.stack.clear();
    const feature_outcome o = eval_feature_at(f, ev, 0);
    put_words(out, at, {static_cast<int32_t>(o.source), o.rule_no, o.has_experiment ? o.result.variation : -1});
    at += 4 * compact_feature_words;
  }
  const std::string docs = changed_docs_json(ctx);
  out.resize(at + 4 + 4 * compact_exposure_words * ctx.compact_exposures.size() + 4 + docs.size());
  put_words(out, at, {static_cast<int32_t>(ctx.compact_exposures.size())});
  at += 4;
  for (const exposure_record& r : ctx.compact_exposures) {
    put_words(out, at, {r.feature, r.rule, r.variation, static_cast<int32_t>(r.flags), r.leaf, r.bucket_units, r.bucket_scale});
    at += 4 * compact_exposure_words;
  }
  put_words(out, at, {static_cast<int32_t>(docs.size())});
  std::memcpy(&out[at + 4], docs.data(), docs.size());
}

}  // namespace whale::assign
