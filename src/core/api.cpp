#include "whale/api.h"

#include <cmath>
#include <cstring>

#include "whale/bandit.h"
#include "whale/json.h"

namespace whale::api {

using json::value;

namespace {

result<value> parse_request(std::string_view text) {
  if (text.size() > max_input_bytes) {
    return fail(error_code::too_large, "request: larger than " + std::to_string(max_input_bytes) + " bytes");
  }
  WHALE_TRY(value doc, json::parse(text));
  if (!doc.is_object()) return fail(error_code::wrong_type, "request: expected an object");
  return doc;
}

result<const value*> required(const value& doc, const char* name) {
  const value* v = doc.find(name);
  if (v == nullptr) return fail(error_code::wrong_type, std::string(name) + ": required");
  return v;
}

result<std::string> string_field(const value& doc, const char* name) {
  WHALE_TRY(const value* v, required(doc, name));
  if (v->is_string()) return v->as_string();
  if (v->is_number()) return json::number_to_string(v->as_number());
  return fail(error_code::wrong_type, std::string(name) + ": expected a string");
}

result<double> number_field(const value& doc, const char* name, double fallback, bool is_required) {
  const value* v = doc.find(name);
  if (v == nullptr) {
    if (is_required) return fail(error_code::wrong_type, std::string(name) + ": required");
    return fallback;
  }
  if (!v->is_number()) return fail(error_code::wrong_type, std::string(name) + ": expected a number");
  return v->as_number();
}

// The payload and context of a request's "context" member.
struct request_context {
  assign::payload data;
  assign::context ctx;
};

result<std::unique_ptr<request_context>> context_of(const value& doc) {
  static const value empty = value::object();
  const value* ctx_json = doc.find("context");
  auto out = std::make_unique<request_context>();
  WHALE_TRY(out->ctx, assign::context_from_json(ctx_json ? *ctx_json : empty, out->data));
  out->ctx.data = &out->data;
  return out;
}

result<bandit::beta_arm> arm_of(const value& v, size_t index) {
  const std::string path = "arms[" + std::to_string(index) + "]";
  if (!v.is_object()) return fail(error_code::wrong_type, path + ": expected an object");
  const value* a = v.find("alpha");
  const value* b = v.find("beta");
  if (a == nullptr || !a->is_number() || b == nullptr || !b->is_number()) {
    return fail(error_code::wrong_type, path + ": expected numbers alpha and beta");
  }
  if (!(a->as_number() > 0) || !(b->as_number() > 0) || !std::isfinite(a->as_number()) || !std::isfinite(b->as_number())) {
    return fail(error_code::invalid_value, path + ": alpha and beta must be finite and > 0");
  }
  return bandit::beta_arm{a->as_number(), b->as_number()};
}

result<std::vector<bandit::beta_arm>> arms_of(const value& doc) {
  WHALE_TRY(const value* arms, required(doc, "arms"));
  if (!arms->is_array()) return fail(error_code::wrong_type, "arms: expected an array");
  if (arms->items().empty()) return fail(error_code::invalid_value, "arms: expected at least one arm");
  if (arms->items().size() > bandit::max_arms) {
    return fail(error_code::too_large, "arms: more than " + std::to_string(bandit::max_arms));
  }
  std::vector<bandit::beta_arm> out;
  for (size_t i = 0; i < arms->items().size(); ++i) {
    WHALE_TRY(bandit::beta_arm arm, arm_of(arms->items()[i], i));
    out.push_back(arm);
  }
  return out;
}

std::string number_json(double n) {
  std::string out;
  json::write(value::number(n), out);
  return out;
}

result<std::vector<double>> numbers_field(const value& doc, const char* name) {
  std::vector<double> out;
  const value* v = doc.find(name);
  if (v == nullptr || v->is_null()) return out;
  if (!v->is_array()) return fail(error_code::wrong_type, std::string(name) + ": expected an array");
  for (const value& x : v->items()) {
    if (!x.is_number()) return fail(error_code::wrong_type, std::string(name) + ": expected numbers");
    out.push_back(x.as_number());
  }
  return out;
}

result<int> count_field(const value& doc, const char* name, int limit) {
  WHALE_TRY(double n, number_field(doc, name, 0, true));
  if (n != std::floor(n) || n < -1 || n > limit) {
    return fail(error_code::invalid_value, std::string(name) + ": expected an integer up to " + std::to_string(limit));
  }
  return static_cast<int>(n);
}

constexpr int max_variations = 10000;

// {"result": R, "stickyBucketAssignmentDocs": {the documents the call wrote}}
std::string with_sticky_docs(const value& result, const assign::context& ctx) {
  std::string out = "{\"result\":";
  json::write(result, out);
  out += ",\"stickyBucketAssignmentDocs\":";
  out += assign::changed_docs_json(ctx);
  out.push_back('}');
  return out;
}

}  // namespace

result<std::string> hash(std::string_view request) {
  WHALE_TRY(value doc, parse_request(request));
  WHALE_TRY(std::string seed, string_field(doc, "seed"));
  WHALE_TRY(std::string v, string_field(doc, "value"));
  WHALE_TRY(double version, number_field(doc, "version", 1, false));
  const int whole = version == 1 || version == 2 ? static_cast<int>(version) : 0;  // others hash to null
  const auto n = assign::hash(seed, v, whole);
  return n ? number_json(*n) : std::string("null");
}

result<std::string> eval_condition(std::string_view request) {
  WHALE_TRY(value doc, parse_request(request));
  WHALE_TRY(const value* condition, required(doc, "condition"));
  WHALE_TRY_VOID(assign::validate_condition(*condition));
  static const value empty = value::object();
  const value* attributes = doc.find("attributes");
  const value* groups = doc.find("savedGroups");
  if (groups != nullptr && !groups->is_object() && !groups->is_null()) {
    return fail(error_code::wrong_type, "savedGroups: expected an object");
  }
  const bool pass = assign::eval_condition(attributes ? *attributes : empty, *condition,
                                           groups && groups->is_object() ? *groups : empty);
  return std::string(pass ? "true" : "false");
}

result<std::string> bucket_ranges(std::string_view request) {
  WHALE_TRY(value doc, parse_request(request));
  WHALE_TRY(int variations, count_field(doc, "variations", max_variations));
  WHALE_TRY(double coverage, number_field(doc, "coverage", 1, false));
  WHALE_TRY(std::vector<double> weights, numbers_field(doc, "weights"));
  const value* w = doc.find("weights");
  const bool has_weights = w != nullptr && !w->is_null();
  std::string out = "[";
  for (const assign::range& r : assign::bucket_ranges(variations, coverage, has_weights ? &weights : nullptr)) {
    if (out.size() > 1) out.push_back(',');
    out += "[" + number_json(r.first) + "," + number_json(r.second) + "]";
  }
  out.push_back(']');
  return out;
}

result<std::string> choose_variation(std::string_view request) {
  WHALE_TRY(value doc, parse_request(request));
  WHALE_TRY(double n, number_field(doc, "n", 0, true));
  WHALE_TRY(const value* ranges_json, required(doc, "ranges"));
  if (!ranges_json->is_array()) return fail(error_code::wrong_type, "ranges: expected an array");
  std::vector<assign::range> ranges;
  for (const value& r : ranges_json->items()) {
    if (!r.is_array() || r.items().size() != 2 || !r.items()[0].is_number() || !r.items()[1].is_number()) {
      return fail(error_code::wrong_type, "ranges: expected [start, end] pairs of numbers");
    }
    ranges.emplace_back(r.items()[0].as_number(), r.items()[1].as_number());
  }
  return std::to_string(assign::choose_variation(n, ranges));
}

result<std::string> equal_weights(std::string_view request) {
  WHALE_TRY(value doc, parse_request(request));
  WHALE_TRY(int n, count_field(doc, "n", max_variations));
  std::string out = "[";
  for (double w : assign::equal_weights(n)) {
    if (out.size() > 1) out.push_back(',');
    out += number_json(w);
  }
  out.push_back(']');
  return out;
}

result<std::string> in_namespace(std::string_view request) {
  WHALE_TRY(value doc, parse_request(request));
  WHALE_TRY(std::string hash_value, string_field(doc, "hashValue"));
  WHALE_TRY(const value* ns, required(doc, "namespace"));
  if (!ns->is_array() || ns->items().size() != 3 || !ns->items()[0].is_string() || !ns->items()[1].is_number() ||
      !ns->items()[2].is_number()) {
    return fail(error_code::wrong_type, "namespace: expected [id, start, end]");
  }
  const bool in = assign::in_namespace(hash_value, ns->items()[0].as_string(), ns->items()[1].as_number(),
                                       ns->items()[2].as_number());
  return std::string(in ? "true" : "false");
}

result<std::string> query_string_override(std::string_view request) {
  WHALE_TRY(value doc, parse_request(request));
  WHALE_TRY(std::string key, string_field(doc, "key"));
  WHALE_TRY(std::string url, string_field(doc, "url"));
  WHALE_TRY(int variations, count_field(doc, "variations", max_variations));
  const auto forced = assign::query_string_override(key, url, variations);
  return forced ? std::to_string(*forced) : std::string("null");
}

result<std::string> run(std::string_view request) {
  WHALE_TRY(value doc, parse_request(request));
  WHALE_TRY(const value* experiment, required(doc, "experiment"));
  if (!experiment->is_object()) return fail(error_code::wrong_type, "experiment: expected an object");
  if (const value* c = experiment->find("condition"); c && !c->is_null()) {
    auto checked = assign::validate_condition(*c);
    if (!checked) return fail(checked.code(), "experiment.condition: " + checked.message());
  }
  WHALE_TRY(auto rc, context_of(doc));
  return with_sticky_docs(assign::run(*experiment, rc->ctx), rc->ctx);
}

result<std::string> eval_feature(std::string_view request) {
  WHALE_TRY(value doc, parse_request(request));
  WHALE_TRY(std::string key, string_field(doc, "key"));
  WHALE_TRY(auto rc, context_of(doc));
  return with_sticky_docs(assign::eval_feature(key, rc->ctx), rc->ctx);
}

result<std::string> url_redirect(std::string_view request) {
  WHALE_TRY(value doc, parse_request(request));
  WHALE_TRY(auto rc, context_of(doc));
  const value* ctx_json = doc.find("context");
  const value* experiments = ctx_json && ctx_json->is_object() ? ctx_json->find("experiments") : nullptr;
  if (experiments && !experiments->is_null() && !experiments->is_array()) {
    return fail(error_code::wrong_type, "context.experiments: expected an array");
  }
  if (experiments && experiments->is_array()) {
    for (size_t i = 0; i < experiments->items().size(); ++i) {
      const value* c = experiments->items()[i].find("condition");
      if (c == nullptr || c->is_null()) continue;
      auto checked = assign::validate_condition(*c);
      if (!checked) {
        return fail(checked.code(), "context.experiments[" + std::to_string(i) + "].condition: " + checked.message());
      }
    }
  }
  assign::redirect_options options;
  const value* off = doc.find("disableCrossOriginUrlRedirectExperiments");
  options.cross_origin = !(off && off->is_bool() && off->as_bool());
  std::string out = "{\"result\":";
  assign::url_redirect(experiments ? *experiments : value(), rc->ctx, options, out);
  out += ",\"stickyBucketAssignmentDocs\":";
  out += assign::changed_docs_json(rc->ctx);
  out.push_back('}');
  return out;
}

result<std::string> sample_beta(std::string_view request) {
  WHALE_TRY(value doc, parse_request(request));
  WHALE_TRY(double alpha, number_field(doc, "alpha", 0, true));
  WHALE_TRY(double beta, number_field(doc, "beta", 0, true));
  WHALE_TRY(std::string seed, string_field(doc, "seed"));
  WHALE_TRY(double count, number_field(doc, "count", 1, false));
  if (!(alpha > 0) || !(beta > 0) || !std::isfinite(alpha) || !std::isfinite(beta)) {
    return fail(error_code::invalid_value, "alpha and beta must be finite and > 0");
  }
  if (!(count >= 1) || count > bandit::max_draws || count != std::floor(count)) {
    return fail(error_code::invalid_value, "count: expected an integer in 1.." + std::to_string(bandit::max_draws));
  }
  bandit::rng r = bandit::rng::from_seed(seed);
  std::string out = "[";
  for (double i = 0; i < count; ++i) {
    if (i > 0) out.push_back(',');
    out += number_json(bandit::sample_beta(r, alpha, beta));
  }
  out.push_back(']');
  return out;
}

result<std::string> thompson_choose(std::string_view request) {
  WHALE_TRY(value doc, parse_request(request));
  WHALE_TRY(auto arms, arms_of(doc));
  WHALE_TRY(std::string seed, string_field(doc, "seed"));
  bandit::rng r = bandit::rng::from_seed(seed);
  WHALE_TRY(size_t chosen, bandit::thompson_choose(arms, r));
  return std::to_string(chosen);
}

result<std::string> bandit_weights(std::string_view request) {
  WHALE_TRY(value doc, parse_request(request));
  WHALE_TRY(auto arms, arms_of(doc));
  WHALE_TRY(std::string seed, string_field(doc, "seed"));
  bandit::weights_options options;
  WHALE_TRY(double draws, number_field(doc, "draws", options.draws, false));
  WHALE_TRY(options.floor, number_field(doc, "floor", 0, false));
  if (!(draws >= 1) || draws > bandit::max_draws || draws != std::floor(draws)) {
    return fail(error_code::invalid_value, "draws: expected an integer in 1.." + std::to_string(bandit::max_draws));
  }
  options.draws = static_cast<uint32_t>(draws);
  if (const value* top_two = doc.find("topTwo")) {
    if (!top_two->is_bool()) return fail(error_code::wrong_type, "topTwo: expected a boolean");
    options.top_two = top_two->as_bool();
  }
  bandit::rng r = bandit::rng::from_seed(seed);
  WHALE_TRY(std::vector<double> weights, bandit::bandit_weights(arms, options, r));
  std::string out = "[";
  for (size_t i = 0; i < weights.size(); ++i) {
    if (i > 0) out.push_back(',');
    out += number_json(weights[i]);
  }
  out.push_back(']');
  return out;
}

result<std::unique_ptr<feature_set>> load_features(std::string_view payload_json) {
  WHALE_TRY(value doc, parse_request(payload_json));
  WHALE_TRY(assign::payload data, assign::load_payload(doc));
  return std::make_unique<feature_set>(std::move(data));
}

namespace {

result<assign::context> request_context(const assign::payload& data, value& doc) {
  assign::context ctx;
  ctx.data = &data;
  if (value* attributes = doc.find("attributes")) {
    if (!attributes->is_object()) return fail(error_code::wrong_type, "attributes: expected an object");
    ctx.attributes = std::move(*attributes);
  }
  if (value* docs = doc.find("stickyBucketAssignmentDocs")) {
    if (!docs->is_object()) return fail(error_code::wrong_type, "stickyBucketAssignmentDocs: expected an object");
    ctx.sticky_docs = std::move(*docs);
    ctx.sticky_bucketing = true;
  }
  if (value* forced = doc.find("forcedVariations")) {
    if (!forced->is_object()) return fail(error_code::wrong_type, "forcedVariations: expected an object");
    ctx.forced_variations = std::move(*forced);
  }
  if (const value* url = doc.find("url"); url && url->is_string()) ctx.url = url->as_string();
  return ctx;
}

// Reads an encoded attributes buffer (attribute_tag) front to back; every read is bounds-checked.
class attribute_reader {
 public:
  attribute_reader(std::string_view bytes, const std::vector<std::string>& names) : bytes_(bytes), names_(names) {}

  result<value> read_all() {
    value attributes = value::object();
    attributes.members().reserve(names_.size());
    while (at_ < bytes_.size()) {
      uint32_t head = 0;
      if (!read_raw(head)) return truncated();
      const uint32_t slot = head >> 8;
      if (slot >= names_.size()) return fail(error_code::invalid_value, "attributes: slot " + std::to_string(slot) + " out of range");
      WHALE_TRY(value v, read_value(static_cast<attribute_tag>(head & 0xff), 1));
      attributes.members().emplace_back(names_[slot], std::move(v));
    }
    return attributes;
  }

 private:
  template <typename T>
  bool read_raw(T& out) {
    if (bytes_.size() - at_ < sizeof(T)) return false;
    std::memcpy(&out, bytes_.data() + at_, sizeof(T));
    at_ += sizeof(T);
    return true;
  }

  result<std::string_view> read_bytes() {
    uint32_t length = 0;
    if (!read_raw(length) || bytes_.size() - at_ < length) return truncated();
    const std::string_view out = bytes_.substr(at_, length);
    at_ += length;
    return out;
  }

  result<std::string> read_text() {
    WHALE_TRY(std::string_view text, read_bytes());
    if (!json::valid_utf8(text)) return fail(error_code::invalid_utf8, "attributes: invalid UTF-8");
    return std::string(text);
  }

  // A nested record: its head's tag (the slot is unused), then its value.
  result<value> read_nested(size_t depth) {
    uint32_t head = 0;
    if (!read_raw(head)) return truncated();
    return read_value(static_cast<attribute_tag>(head & 0xff), depth + 1);
  }

  // A count of items that each take at least 4 more bytes (a bound before reserving for them).
  result<uint32_t> read_count() {
    uint32_t count = 0;
    if (!read_raw(count) || (bytes_.size() - at_) / 4 < count) return truncated();
    return count;
  }

  result<value> read_array(size_t depth) {
    WHALE_TRY(uint32_t count, read_count());
    std::vector<value> items;
    items.reserve(count);
    for (uint32_t i = 0; i < count; ++i) {
      WHALE_TRY(value item, read_nested(depth));
      items.push_back(std::move(item));
    }
    return value::array(std::move(items));
  }

  result<value> read_object(size_t depth) {
    WHALE_TRY(uint32_t count, read_count());
    std::vector<json::member> members;
    members.reserve(count);
    for (uint32_t i = 0; i < count; ++i) {
      WHALE_TRY(std::string name, read_text());
      WHALE_TRY(value member, read_nested(depth));
      members.emplace_back(std::move(name), std::move(member));
    }
    return value::object(std::move(members));
  }

  // Depth counts as in the JSON request {"attributes":{name: value}}, so that both forms refuse
  // the same nesting (json::max_depth).
  result<value> read_value(attribute_tag tag, size_t depth) {
    if (depth + 2 > json::max_depth) {
      return fail(error_code::too_deep, "attributes: nested deeper than " + std::to_string(json::max_depth));
    }
    switch (tag) {
      case attribute_tag::null_value: return value();
      case attribute_tag::false_value: return value::boolean(false);
      case attribute_tag::true_value: return value::boolean(true);
      case attribute_tag::number: {
        double n = 0;
        if (!read_raw(n)) return truncated();
        return value::number(n);
      }
      case attribute_tag::string: {
        WHALE_TRY(std::string text, read_text());
        return value::string(std::move(text));
      }
      case attribute_tag::array: return read_array(depth);
      case attribute_tag::object: return read_object(depth);
    }
    return fail(error_code::invalid_value, "attributes: unknown tag " + std::to_string(static_cast<int>(tag)));
  }

  static failure truncated() { return fail(error_code::invalid_value, "attributes: truncated record"); }

  std::string_view bytes_;
  const std::vector<std::string>& names_;
  size_t at_ = 0;
};

}  // namespace

feature_set::feature_set(assign::payload data)
    : data_(std::move(data)), attributes_(assign::referenced_attributes(data_)) {}

result<std::string> feature_set::eval_all(std::string_view request) const {
  WHALE_TRY(value doc, parse_request(request));
  WHALE_TRY(assign::context ctx, request_context(data_, doc));
  std::string out;
  assign::eval_all(ctx, out);
  return out;
}

result<std::string> feature_set::eval_all_compact(std::string_view request) const {
  WHALE_TRY(value doc, parse_request(request));
  WHALE_TRY(assign::context ctx, request_context(data_, doc));
  std::string out;
  assign::eval_all_compact(ctx, out);
  return out;
}

result<std::string> feature_set::eval_all_encoded(std::string_view encoded) const {
  if (encoded.size() > max_input_bytes) {
    return fail(error_code::too_large, "request: larger than " + std::to_string(max_input_bytes) + " bytes");
  }
  assign::context ctx;
  ctx.data = &data_;
  WHALE_TRY(ctx.attributes, attribute_reader(encoded, attributes_).read_all());
  std::string out;
  assign::eval_all_compact(ctx, out);
  return out;
}

std::string feature_set::attributes_json() const {
  std::string out = "[";
  for (const std::string& name : attributes_) {
    if (out.size() > 1) out.push_back(',');
    json::write_string(name, out);
  }
  out.push_back(']');
  return out;
}

std::string feature_set::keys_json() const {
  std::string out = "[";
  for (const assign::feature_index& f : data_.index) {
    if (out.size() > 1) out.push_back(',');
    json::write_string(f.key, out);
  }
  out.push_back(']');
  return out;
}

}  // namespace whale::api
