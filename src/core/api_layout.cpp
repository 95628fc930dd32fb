// whale::api::render_layout: the layout request of the C ABI, the CLI and the tests.
#include <algorithm>
#include <cmath>

#include "whale/api.h"
#include "whale/json.h"
#include "whale/layout.h"

namespace whale::api {

using json::value;

layout_precomputations::layout_precomputations() = default;
layout_precomputations::~layout_precomputations() = default;

std::shared_ptr<const layout::prepared> layout_precomputations::get(
    const std::shared_ptr<const config::vendor_config>& config) {
  entries_.erase(std::remove_if(entries_.begin(), entries_.end(), [](const entry& e) { return e.config.expired(); }),
                 entries_.end());
  for (const entry& e : entries_) {
    if (e.key == config.get()) return e.prepared;
  }
  auto made = std::make_shared<const layout::prepared>(*config);
  entries_.push_back({config.get(), config, made});
  return made;
}

namespace {

// A non-negative whole number that fits 53 bits (versions, Unix seconds).
bool whole(const value* v, double lo) {
  return v != nullptr && v->is_number() && std::floor(v->as_number()) == v->as_number() && v->as_number() >= lo &&
         std::fabs(v->as_number()) <= 9007199254740991.0;
}

}  // namespace

result<std::string> render_layout(config::cache& configs, layout_precomputations& prepared, std::string_view request,
                                  int64_t default_now) {
  if (request.size() > max_input_bytes) {
    return fail(error_code::too_large, "request: larger than " + std::to_string(max_input_bytes) + " bytes");
  }
  WHALE_TRY(value doc, json::parse(request));
  if (!doc.is_object()) return fail(error_code::wrong_type, "request: expected an object");
  const value* slug = doc.find("slug");
  if (slug == nullptr || !slug->is_string()) return fail(error_code::wrong_type, "slug: expected a string");
  const value* version = doc.find("version");
  if (!whole(version, 0) || version->as_number() > 4294967295.0) {
    return fail(error_code::wrong_type, "version: expected an integer 0..4294967295");
  }
  const value* page = doc.find("page");
  if (page == nullptr || !page->is_string()) return fail(error_code::wrong_type, "page: expected a string");
  static const value no_attributes = value::object();
  const value* attributes = doc.find("attributes");
  if (attributes == nullptr || attributes->is_null()) attributes = &no_attributes;
  int64_t now = default_now;
  if (const value* t = doc.find("now"); t != nullptr && !t->is_null()) {
    if (!whole(t, -9007199254740991.0)) return fail(error_code::wrong_type, "now: expected Unix seconds (an integer)");
    now = static_cast<int64_t>(t->as_number());
  }
  layout::options opts;
  if (const value* b = doc.find("behaviour"); b != nullptr && !b->is_null()) {
    if (!b->is_string()) return fail(error_code::wrong_type, "behaviour: expected a string");
    opts.behaviour = b->as_string();
  }
  if (const value* sticky = doc.find("stickyBucketAssignmentDocs"); sticky != nullptr && !sticky->is_null()) {
    if (!sticky->is_object()) return fail(error_code::wrong_type, "stickyBucketAssignmentDocs: expected an object");
    opts.sticky_docs = sticky;
  }
  // Booleans: "experiments" (false: the control layout), "writeStickyDocs" (false: the layout
  // leaves them out) and "decide" (true: the decisions only, layout::decide_layout).
  bool decide = false;
  for (auto [name, slot] : {std::pair<const char*, bool*>{"experiments", &opts.experiments},
                            {"writeStickyDocs", &opts.write_sticky_docs}, {"decide", &decide}}) {
    const value* flag = doc.find(name);
    if (flag == nullptr || flag->is_null()) continue;
    if (!flag->is_bool()) return fail(error_code::wrong_type, std::string(name) + ": expected a boolean");
    *slot = flag->as_bool();
  }
  if (const value* forced = doc.find("forcedVariations"); forced != nullptr && !forced->is_null()) {
    if (!forced->is_object()) return fail(error_code::wrong_type, "forcedVariations: expected an object");
    opts.forced_variations = forced;
  }
  // "candidates": K (the page's candidate decisions), "choose": K (which one the visit keeps,
  // by the behaviour or "kept": an index). Multi-variant pages, docs/layout.md#candidates.
  size_t candidates = 0, choose = 0;
  int kept = -1;
  for (auto [name, slot] : {std::pair<const char*, size_t*>{"candidates", &candidates}, {"choose", &choose}}) {
    const value* k = doc.find(name);
    if (k == nullptr || k->is_null()) continue;
    if (!whole(k, 1) || k->as_number() > static_cast<double>(layout::max_candidates)) {
      return fail(error_code::invalid_value, std::string(name) + ": expected an integer 1.." + std::to_string(layout::max_candidates));
    }
    *slot = static_cast<size_t>(k->as_number());
  }
  if (const value* k = doc.find("kept"); k != nullptr && !k->is_null()) {
    if (!whole(k, 0) || k->as_number() >= static_cast<double>(layout::max_candidates)) {
      return fail(error_code::invalid_value, "kept: expected an integer 0.." + std::to_string(layout::max_candidates - 1));
    }
    kept = static_cast<int>(k->as_number());
  }
  if ((candidates != 0) + (choose != 0) + decide > 1) {
    return fail(error_code::invalid_value, "request: at most one of \"decide\", \"candidates\" and \"choose\"");
  }
  if (kept >= 0 && choose == 0) return fail(error_code::invalid_value, "kept: only with \"choose\"");
  const auto number = static_cast<uint64_t>(version->as_number());
  std::shared_ptr<const config::vendor_config> config = configs.get(slug->as_string(), number);
  if (config == nullptr) {
    return fail(error_code::not_found, "config " + slug->as_string() + " v" + std::to_string(number) + " is not cached");
  }
  const std::shared_ptr<const layout::prepared> prep = prepared.get(config);
  opts.precomputed = prep.get();
  opts.behaviour_rules = config->behaviour_rules();
  std::string out;
  if (candidates != 0) {
    WHALE_TRY_VOID(layout::decide_candidates(*config, number, page->as_string(), *attributes, now, opts, candidates, out));
    return out;
  }
  if (choose != 0) {
    WHALE_TRY_VOID(layout::choose_candidate(*config, number, page->as_string(), *attributes, now, opts, choose, kept, out));
    return out;
  }
  const auto run = decide ? layout::decide_layout : layout::render_layout;
  WHALE_TRY_VOID(run(*config, number, page->as_string(), *attributes, now, opts, out));
  return out;
}

}  // namespace whale::api
