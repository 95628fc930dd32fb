// Experiments and features, step for step as GrowthBook's runExperiment and evalFeature.
#include "whale/assign.h"

#include <cmath>

#include "jsops.h"

namespace whale::assign {

using json::kind;
using json::value;

uint32_t fnv1a32(std::string_view utf8) noexcept {
  uint32_t h = 0x811c9dc5u;
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

std::optional<double> hash(std::string_view seed, std::string_view value, int version) noexcept {
  std::string buf;
  if (version == 2) {
    buf.reserve(seed.size() + value.size());
    buf.append(seed).append(value);
    const std::string inner = std::to_string(fnv1a32(buf));
    return static_cast<double>(fnv1a32(inner) % 10000) / 10000;
  }
  if (version == 1) {
    buf.reserve(seed.size() + value.size());
    buf.append(value).append(seed);
    return static_cast<double>(fnv1a32(buf) % 1000) / 1000;
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

const value& member_or_null(const value& obj, std::string_view key) {
  const value* v = obj.find(key);
  return v ? *v : null_value;
}

struct hash_attribute {
  std::string attribute;
  const value* hash_value;  // nullptr when missing or falsy
};

hash_attribute get_hash_attribute(const context& ctx, const value* attr, const value* fallback) {
  hash_attribute out{js::truthy(attr) ? js::to_string(attr) : "id", nullptr};
  const value* v = ctx.attributes.find(out.attribute);
  if (js::truthy(v)) out.hash_value = v;
  if (out.hash_value == nullptr && js::truthy(fallback)) {
    const std::string name = js::to_string(fallback);
    const value* fv = ctx.attributes.find(name);
    if (js::truthy(fv)) {
      out.hash_value = fv;
      out.attribute = name;
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

double number_or(const value* v, double fallback) {
  return (v != nullptr && v->is_number()) ? v->as_number() : fallback;
}

int hash_version(const value& exp) {
  const value* v = exp.find("hashVersion");
  return js::truthy(v) ? static_cast<int>(js::to_number(v)) : 1;
}

std::string seed_of(const value& exp, const value& key) {
  const value* seed = exp.find("seed");
  return js::truthy(seed) ? js::to_string(seed) : js::to_string(&key);
}

std::optional<double> hash_value_of(std::string_view seed, const value* v, int version) {
  return hash(seed, js::to_string(v), version);
}

bool in_ranges(double n, const value& ranges) {
  if (!ranges.is_array()) return false;
  for (const value& r : ranges.items()) {
    if (r.is_array() && r.items().size() >= 2 && n >= js::to_number(&r.items()[0]) &&
        n < js::to_number(&r.items()[1])) {
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
    const value* hv = f.find("hashVersion");
    const auto n = hash_value_of(js::to_string(&member_or_null(f, "seed")), h.hash_value,
                                 js::truthy(hv) ? static_cast<int>(js::to_number(hv)) : 2);
    if (!n) return true;
    const value* ranges = f.find("ranges");
    if (ranges == nullptr || !in_ranges(*n, *ranges)) return true;
  }
  return false;
}

bool condition_passes(const value& condition, const context& ctx) {
  return eval_condition(ctx.attributes, condition, ctx.data->saved_groups);
}

std::vector<double> numbers_of(const value& arr) {
  std::vector<double> out;
  out.reserve(arr.items().size());
  for (const value& v : arr.items()) out.push_back(js::to_number(&v));
  return out;
}

// The state of one evalFeature call chain (cycle detection across prerequisites).
struct evaluation {
  context& ctx;
  std::vector<std::string> stack;  // features being evaluated
};

value feature_result(value v, const char* source, std::string rule_id = "", const value* experiment = nullptr,
                     const value* experiment_result = nullptr) {
  const bool on = js::truthy(&v);
  value out = value::object();
  out.members().reserve(7);
  out.members().emplace_back("value", std::move(v));
  out.members().emplace_back("on", value::boolean(on));
  out.members().emplace_back("off", value::boolean(!on));
  out.members().emplace_back("source", value::string(source));
  out.members().emplace_back("ruleId", value::string(std::move(rule_id)));
  if (experiment) out.members().emplace_back("experiment", *experiment);
  if (experiment_result) out.members().emplace_back("experimentResult", *experiment_result);
  return out;
}

value eval_feature_in(std::string_view id, evaluation& ev, int depth);

bool sticky_enabled(const context& ctx, const value& exp) {
  return ctx.sticky_bucketing && !js::truthy(exp.find("disableStickyBucketing"));
}

value experiment_result(const context& ctx, const value& exp, int variation, bool hash_used,
                        const value* feature_id, const double* bucket, bool sticky_used) {
  const value& variations = member_or_null(exp, "variations");
  const size_t count = variations.is_array() ? variations.items().size() : 0;
  bool in_experiment = true;
  if (variation < 0 || static_cast<size_t>(variation) >= count) {
    variation = 0;
    in_experiment = false;
  }
  const hash_attribute h = get_hash_attribute(ctx, exp.find("hashAttribute"),
                                              sticky_enabled(ctx, exp) ? exp.find("fallbackAttribute") : nullptr);
  const value* meta_list = exp.find("meta");
  const value* meta = nullptr;
  if (meta_list && meta_list->is_array() && static_cast<size_t>(variation) < meta_list->items().size()) {
    meta = &meta_list->items()[static_cast<size_t>(variation)];
  }
  const value* meta_key = meta ? meta->find("key") : nullptr;
  value out = value::object();
  auto& m = out.members();
  m.reserve(12);
  m.emplace_back("key", value::string(js::truthy(meta_key) ? js::to_string(meta_key) : std::to_string(variation)));
  m.emplace_back("featureId", feature_id ? *feature_id : value());
  m.emplace_back("inExperiment", value::boolean(in_experiment));
  m.emplace_back("hashUsed", value::boolean(hash_used));
  m.emplace_back("variationId", value::number(variation));
  m.emplace_back("value", count ? variations.items()[static_cast<size_t>(variation)] : value());
  m.emplace_back("hashAttribute", value::string(h.attribute));
  m.emplace_back("hashValue", h.hash_value ? *h.hash_value : value::string(""));
  m.emplace_back("stickyBucketUsed", value::boolean(sticky_used));
  const value* name = meta ? meta->find("name") : nullptr;
  if (js::truthy(name)) m.emplace_back("name", *name);
  if (bucket) m.emplace_back("bucket", value::number(*bucket));
  const value* passthrough = meta ? meta->find("passthrough") : nullptr;
  if (js::truthy(passthrough)) m.emplace_back("passthrough", *passthrough);
  const value* cb = exp.find("contextualBandit");
  if (cb && cb->is_object() && hash_used && in_experiment) {
    m.emplace_back("leafId", member_or_null(*cb, "leafId"));
    m.emplace_back("variationWeights", member_or_null(*cb, "variationWeights"));
    if (const value* bv = cb->find("banditVersion")) m.emplace_back("banditVersion", *bv);
  }
  return out;
}

value sticky_assignments(const context& ctx, const value* hash_attr, const value* fallback_attr) {
  value assignments = value::object();
  if (!ctx.sticky_docs.is_object() || ctx.sticky_docs.members().empty()) return assignments;
  const auto merge_doc = [&](const std::string& key) {
    const value* doc = ctx.sticky_docs.find(key);
    const value* a = doc ? doc->find("assignments") : nullptr;
    if (a && a->is_object()) {
      for (const json::member& m : a->members()) assignments.set(m.first, m.second);
    }
  };
  const hash_attribute h = get_hash_attribute(ctx, hash_attr, nullptr);
  const hash_attribute f = get_hash_attribute(ctx, fallback_attr, nullptr);
  if (f.hash_value) merge_doc(f.attribute + "||" + sticky_string(f.hash_value));
  merge_doc(h.attribute + "||" + sticky_string(h.hash_value));
  return assignments;
}

struct sticky_lookup {
  int variation = -1;
  bool version_blocked = false;
};

sticky_lookup sticky_variation(const context& ctx, const value& exp, const value& key) {
  const value assignments = sticky_assignments(ctx, exp.find("hashAttribute"), exp.find("fallbackAttribute"));
  const double min_version = js::truthy(exp.find("minBucketVersion")) ? js::to_number(exp.find("minBucketVersion")) : 0;
  for (int i = 0; i < min_version && i < 10000; ++i) {
    const value version = value::number(i);
    if (assignments.find(sticky_experiment_key(key, &version))) return {-1, true};
  }
  const value* assigned = assignments.find(sticky_experiment_key(key, exp.find("bucketVersion")));
  if (assigned == nullptr) return {};
  const value* meta = exp.find("meta");
  if (meta == nullptr || !meta->is_array()) return {};
  for (size_t i = 0; i < meta->items().size(); ++i) {
    const value* mk = meta->items()[i].find("key");
    if (mk && js::strict_equal(mk, assigned)) return {static_cast<int>(i), false};
  }
  return {};
}

void save_sticky(context& ctx, const std::string& attribute, const value* hash_value, std::string exp_key,
                 const value& variation_key) {
  const std::string attribute_value = sticky_string(hash_value);
  const std::string doc_key = attribute + "||" + attribute_value;
  value* existing = ctx.sticky_docs.find(doc_key);
  const value* old_assignments = existing ? existing->find("assignments") : nullptr;
  value assignments = old_assignments && old_assignments->is_object() ? *old_assignments : value::object();
  const value before = assignments;
  assignments.set(std::move(exp_key), variation_key);
  if (json::equal(before, assignments)) return;
  value doc = value::object();
  doc.members().emplace_back("attributeName", value::string(attribute));
  doc.members().emplace_back("attributeValue", value::string(attribute_value));
  doc.members().emplace_back("assignments", std::move(assignments));
  ctx.sticky_docs.set(doc_key, std::move(doc));
  for (const std::string& k : ctx.changed_sticky_docs) {
    if (k == doc_key) return;
  }
  ctx.changed_sticky_docs.push_back(doc_key);
}

bool parents_pass(const value& parent_conditions, evaluation& ev, int depth, bool& cyclic, bool gate_only,
                  bool& skip_rule) {
  if (!parent_conditions.is_array()) return true;
  const std::vector<std::string> saved = ev.stack;
  for (const value& parent : parent_conditions.items()) {
    ev.stack = saved;
    const value result = eval_feature_in(js::to_string(parent.find("id")), ev, depth + 1);
    if (member_or_null(result, "source").as_string() == "cyclicPrerequisite") {
      cyclic = true;
      return false;
    }
    value eval_obj = value::object();
    eval_obj.members().emplace_back("value", member_or_null(result, "value"));
    const value* cond = parent.find("condition");
    static const value empty_condition = value::object();
    if (!eval_condition(eval_obj, cond ? *cond : empty_condition, ev.ctx.data->saved_groups)) {
      if (gate_only && !js::truthy(parent.find("gate"))) {
        skip_rule = true;
      }
      return false;
    }
  }
  return true;
}

value run_experiment(const value& exp, const value* feature_id, evaluation& ev, int depth) {
  context& ctx = ev.ctx;
  const value& key = member_or_null(exp, "key");
  const value& variations = member_or_null(exp, "variations");
  const int count = variations.is_array() ? static_cast<int>(variations.items().size()) : 0;
  const auto not_in = [&]() { return experiment_result(ctx, exp, -1, false, feature_id, nullptr, false); };
  if (count < 2 || !ctx.enabled) return not_in();
  if (exp.find("urlPatterns")) return not_in();  // URL targeting is not supported: nobody enrolls
  const std::string key_string = js::to_string(&key);
  if (auto forced = query_string_override(key_string, ctx.url, count)) {
    return experiment_result(ctx, exp, *forced, false, feature_id, nullptr, false);
  }
  if (const value* forced = ctx.forced_variations.find(key_string)) {
    return experiment_result(ctx, exp, static_cast<int>(js::to_number(forced)), false, feature_id, nullptr, false);
  }
  const value* status = exp.find("status");
  const value* active = exp.find("active");
  if ((status && status->is_string() && status->as_string() == "draft") ||
      (active && active->is_bool() && !active->as_bool())) {
    return not_in();
  }
  const bool sticky = sticky_enabled(ctx, exp);
  const hash_attribute h = get_hash_attribute(ctx, exp.find("hashAttribute"), sticky ? exp.find("fallbackAttribute") : nullptr);
  if (h.hash_value == nullptr) return not_in();

  sticky_lookup found;
  if (sticky) found = sticky_variation(ctx, exp, key);
  const bool found_sticky = found.variation >= 0;
  int assigned = found.variation;

  if (!found_sticky) {
    if (const value* filters = exp.find("filters")) {
      if (filtered_out(*filters, ctx)) return not_in();
    } else if (const value* ns = exp.find("namespace")) {
      if (js::truthy(ns) && ns->is_array() && ns->items().size() >= 3 &&
          !in_namespace(js::to_string(h.hash_value), js::to_string(&ns->items()[0]),
                        js::to_number(&ns->items()[1]), js::to_number(&ns->items()[2]))) {
        return not_in();
      }
    }
    const value* cond = exp.find("condition");
    if (js::truthy(cond) && !condition_passes(*cond, ctx)) return not_in();
    if (const value* parents = exp.find("parentConditions")) {
      bool cyclic = false;
      bool skip = false;
      if (!parents_pass(*parents, ev, depth, cyclic, false, skip)) return not_in();
    }
  }

  const auto n = hash_value_of(seed_of(exp, key), h.hash_value, hash_version(exp));
  if (!n) return not_in();
  if (!found_sticky) {
    const value* ranges_json = exp.find("ranges");
    std::vector<range> ranges;
    if (js::truthy(ranges_json) && ranges_json->is_array()) {
      for (const value& r : ranges_json->items()) {
        const bool pair = r.is_array() && r.items().size() >= 2;
        ranges.emplace_back(pair ? js::to_number(&r.items()[0]) : NAN, pair ? js::to_number(&r.items()[1]) : NAN);
      }
    } else {
      const value* weights_json = exp.find("weights");
      std::vector<double> weights;
      const bool has_weights = js::truthy(weights_json) && weights_json->is_array();
      if (has_weights) weights = numbers_of(*weights_json);
      ranges = bucket_ranges(count, number_or(exp.find("coverage"), 1), has_weights ? &weights : nullptr);
    }
    assigned = choose_variation(*n, ranges);
  }
  if (found.version_blocked) return experiment_result(ctx, exp, -1, false, feature_id, nullptr, true);
  if (assigned < 0) return not_in();
  if (const value* force = exp.find("force")) {
    return experiment_result(ctx, exp, force->is_number() ? static_cast<int>(force->as_number()) : -1, false,
                             feature_id, nullptr, false);
  }
  if (ctx.qa_mode) return not_in();
  if (status && status->is_string() && status->as_string() == "stopped") return not_in();

  const double bucket = *n;
  value result = experiment_result(ctx, exp, assigned, true, feature_id, &bucket, found_sticky);
  if (sticky) {
    save_sticky(ctx, h.attribute, h.hash_value, sticky_experiment_key(key, exp.find("bucketVersion")),
                member_or_null(result, "key"));
  }
  ctx.exposures.push_back(result);
  return result;
}

bool included_in_rollout(const context& ctx, const std::string& seed, const value& rule) {
  const value* range_json = rule.find("range");
  const value* coverage = rule.find("coverage");
  const bool has_range = js::truthy(range_json);
  if (!has_range && coverage == nullptr) return true;
  if (!has_range && coverage->is_number() && coverage->as_number() == 0) return false;
  const hash_attribute h = get_hash_attribute(
      ctx, rule.find("hashAttribute"),
      ctx.sticky_bucketing && !js::truthy(rule.find("disableStickyBucketing")) ? rule.find("fallbackAttribute") : nullptr);
  if (h.hash_value == nullptr) return false;
  const value* hv = rule.find("hashVersion");
  const auto n = hash_value_of(seed, h.hash_value, js::truthy(hv) ? static_cast<int>(js::to_number(hv)) : 1);
  if (!n) return false;
  if (has_range) {
    return range_json->is_array() && range_json->items().size() >= 2 && *n >= js::to_number(&range_json->items()[0]) &&
           *n < js::to_number(&range_json->items()[1]);
  }
  return *n <= js::to_number(coverage);
}

// The experiment a feature's experiment rule stands for, with the keys in GrowthBook's order.
value rule_experiment(const value& rule, const value& variations, std::string_view feature_id, const context& ctx) {
  value exp = value::object();
  auto& m = exp.members();
  m.emplace_back("variations", variations);
  const value* key = rule.find("key");
  m.emplace_back("key", js::truthy(key) ? *key : value::string(std::string(feature_id)));
  if (const value* v = rule.find("coverage")) m.emplace_back("coverage", *v);
  static const char* const copied[] = {"weights", "hashAttribute", "fallbackAttribute", "disableStickyBucketing"};
  for (const char* name : copied) {
    const value* v = rule.find(name);
    if (js::truthy(v)) m.emplace_back(name, *v);
  }
  if (const value* v = rule.find("bucketVersion")) m.emplace_back("bucketVersion", *v);
  if (const value* v = rule.find("minBucketVersion")) m.emplace_back("minBucketVersion", *v);
  static const char* const later[] = {"namespace", "meta", "ranges", "name", "phase", "seed", "hashVersion", "filters",
                                      "condition"};
  for (const char* name : later) {
    const value* v = rule.find(name);
    if (js::truthy(v)) m.emplace_back(name, *v);
  }
  const value* ref = rule.find("contextualBanditRef");
  if (js::truthy(ref)) {
    const value* def = ctx.data->contextual_bandits.find(js::to_string(ref));
    if (def != nullptr && def->is_object()) {
      const value* contexts = def->find("contexts");
      const value* leaf = nullptr;
      if (contexts && contexts->is_array()) {
        for (const value& c : contexts->items()) {
          static const value empty_condition = value::object();
          const value* cond = c.find("condition");
          if (condition_passes(cond && cond->is_object() ? *cond : empty_condition, ctx)) {
            leaf = &c;
            break;
          }
        }
      }
      value cb = value::object();
      if (leaf) {
        exp.set("weights", member_or_null(*leaf, "weights"));
        cb.members().emplace_back("leafId", member_or_null(*leaf, "leafId"));
        cb.members().emplace_back("variationWeights", member_or_null(*leaf, "weights"));
      } else {
        cb.members().emplace_back("leafId", value::number(-1));
        const value* w = exp.find("weights");
        std::vector<value> eq;
        for (double x : equal_weights(static_cast<int>(variations.items().size()))) eq.push_back(value::number(x));
        cb.members().emplace_back("variationWeights", w ? *w : value::array(std::move(eq)));
      }
      const value* bv = def->find("banditVersion");
      cb.members().emplace_back("banditVersion", bv ? *bv : value());
      exp.set("contextualBandit", std::move(cb));
    }
  }
  return exp;
}

constexpr int max_prerequisite_depth = 64;

value eval_feature_in(std::string_view id, evaluation& ev, int depth) {
  context& ctx = ev.ctx;
  for (const std::string& s : ev.stack) {
    if (s == id) return feature_result(value(), "cyclicPrerequisite");
  }
  if (depth > max_prerequisite_depth) return feature_result(value(), "cyclicPrerequisite");
  ev.stack.emplace_back(id);
  if (const value* forced = ctx.forced_features.find(id)) return feature_result(*forced, "override");
  const value* feature = ctx.data->features.find(id);
  if (!js::truthy(feature)) return feature_result(value(), "unknownFeature");
  const value* rules = feature->find("rules");
  if (rules && rules->is_array()) {
    const std::vector<std::string> evaluated = ev.stack;
    for (const value& rule : rules->items()) {
      const value* rule_id = rule.find("id");
      const std::string rule_id_string = js::truthy(rule_id) ? js::to_string(rule_id) : "";
      if (const value* parents = rule.find("parentConditions")) {
        bool cyclic = false;
        bool skip = false;
        ev.stack = evaluated;
        const bool pass = parents_pass(*parents, ev, depth, cyclic, true, skip);
        if (cyclic) return feature_result(value(), "cyclicPrerequisite");
        if (!pass && skip) continue;
        if (!pass) return feature_result(value(), "prerequisite");
      }
      if (const value* filters = rule.find("filters")) {
        if (filtered_out(*filters, ctx)) continue;
      }
      if (const value* force = rule.find("force")) {
        const value* cond = rule.find("condition");
        if (js::truthy(cond) && !condition_passes(*cond, ctx)) continue;
        const value* seed = rule.find("seed");
        if (!included_in_rollout(ctx, js::truthy(seed) ? js::to_string(seed) : std::string(id), rule)) continue;
        return feature_result(*force, "force", rule_id_string);
      }
      const value* variations = rule.find("contextualVariations");
      if (variations == nullptr || variations->is_null()) variations = rule.find("variations");
      if (!js::truthy(variations) || !variations->is_array()) continue;
      value exp = rule_experiment(rule, *variations, id, ctx);
      const value feature_id = value::string(std::string(id));
      const value result = run_experiment(exp, &feature_id, ev, depth);
      const bool in_experiment = member_or_null(result, "inExperiment").as_bool();
      if (exp.find("contextualBandit") && !(member_or_null(result, "hashUsed").as_bool() && in_experiment)) {
        auto& m = exp.members();
        for (auto it = m.begin(); it != m.end(); ++it) {
          if (it->first == "contextualBandit") {
            m.erase(it);
            break;
          }
        }
      }
      if (in_experiment && !js::truthy(result.find("passthrough"))) {
        return feature_result(member_or_null(result, "value"), "experiment", rule_id_string, &exp, &result);
      }
    }
  }
  const value* default_value = feature->find("defaultValue");
  return feature_result(default_value ? *default_value : value(), "defaultValue");
}

result<void> check_rule(const value& rule, const std::string& path) {
  if (!rule.is_object()) return fail(error_code::wrong_type, path + ": expected an object");
  for (const char* name : {"condition"}) {
    const value* c = rule.find(name);
    if (c && !c->is_null()) {
      auto checked = validate_condition(*c);
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
    p.features = *features;
  }
  if (const value* groups = doc.find("savedGroups")) {
    if (!groups->is_object()) return fail(error_code::wrong_type, "savedGroups: expected an object");
    p.saved_groups = *groups;
  }
  if (const value* bandits = doc.find("contextualBandits")) {
    if (!bandits->is_object()) return fail(error_code::wrong_type, "contextualBandits: expected an object");
    p.contextual_bandits = *bandits;
  }
  return p;
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
  return run_experiment(experiment, nullptr, ev, 0);
}

value eval_feature(std::string_view key, context& ctx) {
  evaluation ev{ctx, {}};
  return eval_feature_in(key, ev, 0);
}

void eval_all(context& ctx, std::string& out) {
  out += "{\"features\":{";
  bool first = true;
  for (const json::member& f : ctx.data->features.members()) {
    evaluation ev{ctx, {}};
    const value result = eval_feature_in(f.first, ev, 0);
    if (!first) out.push_back(',');
    first = false;
    json::write_string(f.first, out);
    out += ":{\"value\":";
    json::write(member_or_null(result, "value"), out);
    out += ",\"on\":";
    out += member_or_null(result, "on").as_bool() ? "true" : "false";
    out += ",\"off\":";
    out += member_or_null(result, "off").as_bool() ? "true" : "false";
    out += ",\"source\":";
    json::write(member_or_null(result, "source"), out);
    out += ",\"ruleId\":";
    json::write(member_or_null(result, "ruleId"), out);
    out.push_back('}');
  }
  out += "},\"experiments\":[";
  first = true;
  for (const value& exposure : ctx.exposures) {
    if (!first) out.push_back(',');
    first = false;
    json::write(exposure, out);
  }
  out += "],\"stickyBucketAssignmentDocs\":{";
  first = true;
  for (const std::string& key : ctx.changed_sticky_docs) {
    if (!first) out.push_back(',');
    first = false;
    json::write_string(key, out);
    out.push_back(':');
    json::write(member_or_null(ctx.sticky_docs, key), out);
  }
  out += "}}";
}

}  // namespace whale::assign
