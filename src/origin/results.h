// The stored results seen through a config: each experiment rule's variations with their
// counts (arm_stats, docs/bandits.md), the collective priors estimated from every vendor's
// results (docs/priors.md), and the optimizer's arms (docs/optimizer.md).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "store.h"
#include "whale/json.h"
#include "whale/optimizer.h"
#include "whale/priors.h"
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

// The vendor's vertical (vendor.vertical), "" when absent.
std::string vertical_of(const json::value& config);

}  // namespace whale::origin
