// The stored results seen through a config: each experiment rule's variations with their
// counts (arm_stats, docs/bandits.md), the collective priors estimated from every vendor's
// results (docs/priors.md), and the optimizer's arms (docs/optimizer.md).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "store.h"
#include "whale/json.h"
#include "whale/learn/optimizer.h"
#include "whale/learn/priors.h"
#include "whale/result.h"

namespace whale::origin {

struct variation_counts {
  uint64_t units = 0;
  uint64_t conversions = 0;
};

// One vendor's experiments (from one config) and the counts of their variations.
struct vendor_results {
  std::string slug;
  std::string vertical;
  std::vector<optimizer::experiment> experiments;
  std::vector<std::vector<variation_counts>> counts;  // [experiment][variation]
};

// How many published versions back the experiments are looked up.
inline constexpr uint64_t max_result_versions = 50;

// The experiments of `config` (the vendor's latest version, `version`) and of its earlier
// versions (at most max_result_versions in all), with the vendor's stored counts. An experiment
// takes its newest definition, except that one driving a page section beats one that does not:
// the data were collected while it drove the section (an optimizer proposal re-points the
// section to a new experiment). A stored variation names its arm by index or meta key; others
// are ignored.
vendor_results results_of(store& db, const std::string& slug, const json::value& config, uint64_t version);

// Every vendor's results as of its latest published version.
std::vector<vendor_results> platform_results(store& db);

// results_of without the counts: the experiments of `config` and of the earlier versions.
vendor_results experiments_of_versions(store& db, const std::string& slug, const json::value& config,
                                       uint64_t version);
// Fills r.counts from the stored aggregates (cheap: no config is parsed).
void read_counts(store& db, vendor_results& r);

// The experiments of each vendor's latest version, parsed once per (vendor, version): published
// versions never change, so only a new version replaces an entry; the counts are read per call.
// One entry per vendor. Thread-safe.
class results_cache {
 public:
  // experiments_of_versions for published `version` of `slug` (counts empty); nullptr when it
  // is not stored.
  std::shared_ptr<const vendor_results> experiments(store& db, const std::string& slug, uint64_t version);
  // platform_results, each vendor's experiments from the cache.
  std::vector<vendor_results> platform(store& db);

 private:
  std::mutex mutex_;
  std::map<std::string, std::pair<uint64_t, std::shared_ptr<const vendor_results>>> entries_;  // slug -> version, experiments
};

// The Beta prior a rule starts from.
struct resolved_prior {
  double alpha = 1;
  double beta = 1;
  std::string source = "uniform";  // "config", or the collective level: "component", "vertical", "uniform"
  std::string component;           // the experiment's component key ("" when it has none)
};

// The collective prior of an experiment: estimated from every vendor's arms except the
// experiment's own (so its data do not count twice), looked up by its component key and the
// vendor's vertical. Arms of experiments with no component key are left out.
result<resolved_prior> collective_prior(const std::vector<vendor_results>& platform, const std::string& slug,
                                        const std::string& vertical, const optimizer::experiment& e);

// The arms the optimizer learns from: one per variation with units.
std::vector<optimizer::arm> optimizer_arms(const vendor_results& r);
// Those of the experiments targeted at exactly `condition` (a segment's): its own results.
std::vector<optimizer::arm> optimizer_arms(const vendor_results& r, const json::value& condition);

// The vendor's vertical (vendor.vertical), "" when absent.
std::string vertical_of(const json::value& config);

}  // namespace whale::origin
