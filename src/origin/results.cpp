#include "results.h"

#include <algorithm>

namespace whale::origin {

std::string vertical_of(const json::value& config) {
  const json::value* vendor = config.is_object() ? config.find("vendor") : nullptr;
  const json::value* vertical = vendor != nullptr && vendor->is_object() ? vendor->find("vertical") : nullptr;
  return vertical != nullptr && vertical->is_string() ? vertical->as_string() : std::string();
}

namespace {

// Adds the experiments of one version to `out` (newer versions come first).
void merge_experiments(const json::value& config, std::vector<optimizer::experiment>& out) {
  for (optimizer::experiment& e : optimizer::experiments(config)) {
    auto same = std::find_if(out.begin(), out.end(), [&](const optimizer::experiment& x) { return x.key == e.key; });
    if (same == out.end()) {
      out.push_back(std::move(e));
    } else if (!same->layout && e.layout) {
      *same = std::move(e);
    }
  }
}

}  // namespace

vendor_results experiments_of_versions(store& db, const std::string& slug, const json::value& config,
                                       uint64_t version) {
  vendor_results r;
  r.slug = slug;
  r.vertical = vertical_of(config);
  merge_experiments(config, r.experiments);
  const uint64_t oldest = version > max_result_versions ? version - max_result_versions + 1 : 1;
  for (uint64_t v = version; v-- > oldest;) {
    const result<std::optional<snapshot>> s = db.find_snapshot(slug, v);
    if (!s.ok() || !*s) continue;
    if (result<json::value> earlier = json::parse((*s)->body)) merge_experiments(*earlier, r.experiments);
  }
  return r;
}

void read_counts(store& db, vendor_results& r) {
  r.counts.clear();
  for (const optimizer::experiment& e : r.experiments) {
    std::vector<variation_counts> counts(e.variations.size());
    for (const arm_stat& s : db.arm_stats_of(r.slug, e.key)) {
      const int i = optimizer::variation_index(e, s.variation);
      if (i < 0) continue;
      counts[static_cast<size_t>(i)].units += s.units;
      counts[static_cast<size_t>(i)].conversions += std::min(s.conversions, s.units);
    }
    r.counts.push_back(std::move(counts));
  }
}

vendor_results results_of(store& db, const std::string& slug, const json::value& config, uint64_t version) {
  vendor_results r = experiments_of_versions(db, slug, config, version);
  read_counts(db, r);
  return r;
}

std::vector<vendor_results> platform_results(store& db) {
  std::vector<vendor_results> out;
  for (const change& c : db.published_vendors()) {
    const result<std::optional<snapshot>> latest = db.find_snapshot(c.slug, 0);
    if (!latest.ok() || !*latest) continue;
    result<json::value> config = json::parse((*latest)->body);
    if (!config) continue;
    out.push_back(results_of(db, c.slug, *config, (*latest)->version));
  }
  return out;
}

std::shared_ptr<const vendor_results> results_cache::experiments(store& db, const std::string& slug,
                                                                 uint64_t version) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = entries_.find(slug);
    if (it != entries_.end() && it->second.first == version) return it->second.second;
  }
  // Parsed outside the lock; two requests may both parse a new version once.
  const result<std::optional<snapshot>> s = db.find_snapshot(slug, version);
  if (!s.ok() || !*s) return nullptr;
  result<json::value> config = json::parse((*s)->body);
  if (!config) return nullptr;
  auto computed = std::make_shared<const vendor_results>(experiments_of_versions(db, slug, *config, version));
  std::lock_guard<std::mutex> lock(mutex_);
  entries_[slug] = {version, computed};
  return computed;
}

std::vector<vendor_results> results_cache::platform(store& db) {
  std::vector<vendor_results> out;
  for (const change& c : db.published_vendors()) {
    std::shared_ptr<const vendor_results> shape = experiments(db, c.slug, c.version);
    if (shape == nullptr) continue;
    vendor_results r = *shape;
    read_counts(db, r);
    out.push_back(std::move(r));
  }
  return out;
}

result<resolved_prior> collective_prior(const std::vector<vendor_results>& platform, const std::string& slug,
                                        const std::string& vertical, const optimizer::experiment& e) {
  std::vector<priors::arm_result> arms;
  for (const vendor_results& v : platform) {
    for (size_t x = 0; x < v.experiments.size(); ++x) {
      const optimizer::experiment& other = v.experiments[x];
      if (v.slug == slug && other.key == e.key) continue;
      for (size_t i = 0; i < other.variations.size(); ++i) {
        const std::vector<std::string>& shown = other.variations[i].components;
        const std::string component = shown.empty() ? other.component : shown.front();
        if (component.empty() || v.counts[x][i].units == 0) continue;
        arms.push_back({component, v.vertical, static_cast<double>(v.counts[x][i].conversions),
                        static_cast<double>(v.counts[x][i].units)});
      }
    }
  }
  WHALE_TRY(priors::table table, priors::estimate(arms));
  const priors::prior p = priors::lookup(table, e.component, vertical);
  return resolved_prior{p.alpha, p.beta, priors::source_name(p.from), e.component};
}

namespace {

// The arms of the experiments `take` accepts.
template <class Take>
std::vector<optimizer::arm> arms_of(const vendor_results& r, Take take) {
  std::vector<optimizer::arm> out;
  for (size_t x = 0; x < r.experiments.size(); ++x) {
    if (!take(r.experiments[x])) continue;
    for (size_t i = 0; i < r.experiments[x].variations.size(); ++i) {
      const variation_counts& c = r.counts[x][i];
      if (c.units == 0) continue;
      out.push_back({r.experiments[x].key, r.experiments[x].variations[i].components, static_cast<double>(c.units),
                     static_cast<double>(c.conversions)});
    }
  }
  return out;
}

}  // namespace

std::vector<optimizer::arm> optimizer_arms(const vendor_results& r) {
  return arms_of(r, [](const optimizer::experiment&) { return true; });
}

std::vector<optimizer::arm> optimizer_arms(const vendor_results& r, const json::value& condition) {
  return arms_of(r, [&](const optimizer::experiment& e) {
    return e.condition.is_object() && json::equal(e.condition, condition);
  });
}

}  // namespace whale::origin
