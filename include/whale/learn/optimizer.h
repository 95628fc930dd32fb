// whale::optimizer: the self-optimizer's math, used by the origin. From the results of
// served variations (units and conversions of each arm, each arm showing a set of component
// keys) it learns every component's effect and every pair's synergy on the log-odds of
// converting, reports per-component conversion rates with credible intervals, and searches a
// section's component sets for a better layout. Method and definitions: docs/optimizer.md.
//
// Deterministic on every target: IEEE basic operations, std::sqrt and the core's own log/exp
// (whale::bandit::detail), fixed iteration orders, built with -ffp-contract=off.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "whale/json.h"
#include "whale/result.h"

namespace whale::optimizer {

// ---- the model ------------------------------------------------------------------------------

// One served variation: the experiment it belongs to (arms of one experiment share a baseline),
// the component keys it showed (a set: order and duplicates do not matter) and its counts.
struct arm {
  std::string experiment;
  std::vector<std::string> components;
  double units = 0;
  double conversions = 0;
};

struct options {
  double baseline_sd = 10;        // prior sd of an experiment's baseline log-odds, around its pooled rate (weak)
  double component_sd = 1;        // prior sd of a component's effect (a factor e≈2.7 on the odds is 1 sd)
  double pair_sd = 0.5;           // prior sd of a synergy: interactions are a priori smaller than main effects
  uint32_t max_iterations = 100;  // Newton steps
  double tolerance = 1e-9;        // converged when the largest step (log-odds) is below this
  size_t max_parameters = 400;    // experiments + components + pairs (pairs with fewest units dropped first)
};

// A component's effect (b empty) or a pair's synergy (a < b), in log-odds.
struct effect {
  std::string a;
  std::string b;
  double mean = 0;  // posterior mode
  double sd = 0;    // posterior sd (Laplace approximation at the mode)
  double low = 0;   // mean -/+ 1.96 sd: a 95% credible interval
  double high = 0;
  // 1 - sd² / prior sd²: 0 when the data say nothing about it (e.g. two components that always
  // appear together inside every experiment), towards 1 as they pin it down.
  double information = 0;
  // Relative change of the conversion rate at the pooled baseline rate: for a component,
  // σ(base + mean) / σ(base) - 1; for a pair, σ(base + βa + βb + γ) / σ(base + βa + βb) - 1.
  double uplift = 0;
  double units = 0;  // summed over the arms showing it (both components, for a pair)
  double conversions = 0;
  size_t arms = 0;
};

struct baseline {
  std::string experiment;
  double mean = 0;  // log-odds of an arm of this experiment that shows no component effect
  double sd = 0;
  double units = 0;
  double conversions = 0;
  size_t arms = 0;
};

struct model {
  std::vector<baseline> experiments;  // sorted by key
  std::vector<effect> components;     // sorted by key
  // Pairs that appeared together in at least one arm and apart (one without the other) in
  // another, sorted by (a, b).
  std::vector<effect> pairs;
  double base = 0;  // logit of the pooled rate of all arms, (C + 0.5) / (N + 1)
  uint32_t iterations = 0;
  bool converged = false;
  size_t confounded_pairs = 0;  // pairs never seen apart: no parameter (their effect is their components')
  size_t dropped_pairs = 0;     // pairs left out to stay within max_parameters
};

// Largest input accepted.
inline constexpr size_t max_arms = 100'000;

// Fits the log-odds additive model with pairwise synergies by maximum a posteriori (Newton's
// method with step halving). Arms with no units are ignored. Errors: invalid_value for counts
// that are not finite, negative or conversions > units, or bad options; too_large for more than
// max_arms arms or more experiments + components than max_parameters.
result<model> fit(const std::vector<arm>& arms, const options& opts = {});

// The predicted log-odds lift of showing `components` (a set) over an experiment's baseline:
// the sum of their effects and of the synergies of every pair among them. Unknown keys add 0.
double score(const model& m, const std::vector<std::string>& components);

// ---- per-component rates --------------------------------------------------------------------

// Conversion of the arms showing a component, pooled: posterior Beta(1 + C, 1 + N - C).
struct component_rate {
  std::string key;
  double units = 0;
  double conversions = 0;
  size_t arms = 0;
  size_t experiments = 0;
  double mean = 0;  // posterior mean
  double low = 0;   // equal-tailed credible interval at `level`
  double high = 0;
};

// One row per component key, best first: by the interval's lower end (a small sample with a
// lucky rate does not lead), then by key. invalid_value for bad counts or level not in (0, 1).
result<std::vector<component_rate>> component_rates(const std::vector<arm>& arms, double level = 0.95);

// The regularized incomplete beta function I_x(a, b) (the Beta(a, b) CDF) for a, b > 0 and
// x in [0, 1] (continued fraction, relative accuracy about 1e-12); NaN for bad arguments.
double beta_cdf(double x, double a, double b);
// Its inverse in x by bisection to 1e-12; NaN for bad arguments.
double beta_quantile(double p, double a, double b);

// ---- layouts: from a config to arms, and back to a proposal ---------------------------------

// One variation of an experiment rule and what it shows.
struct variation {
  std::string meta_key;                 // meta[i].key, "" when absent
  std::vector<std::string> components;  // component keys shown, in order (see experiments())
};

// An experiment rule of a config (a rule with `variations`).
struct experiment {
  std::string feature;
  size_t rule = 0;  // index in the feature's rules
  std::string key;  // the rule's `key`, else the feature id
  // The experiment's component key (for collective priors): `bandit.component` when it names a
  // component, else the first component of the first section the feature drives, else the
  // longest component key the feature id equals or starts with followed by '-', else "".
  std::string component;
  bool layout = false;  // the feature drives at least one page section
  std::vector<variation> variations;
  json::value condition;  // the rule's targeting condition (an object), null when it has none
};

// The experiment rules of a config, in document order. A layout experiment's variation shows the
// instances of every section its feature drives, as the layout renderer builds them (null: as
// written; {"components"}: replaced; {"props"}: patched); any other experiment shows its
// `component` in every variation (nothing when it has none).
std::vector<experiment> experiments(const json::value& config);

// The instances a section shows under one of its feature's values (null: as written;
// {"components"}: replaced; {"props"}: patched), as the layout renderer builds them.
std::vector<json::value> section_instances(const json::value& section, const json::value& variant);

// The arm a stored variation names: its decimal index or its meta key; -1 when neither.
int variation_index(const experiment& e, const std::string& stored);

struct proposal_options {
  size_t max_candidates = 12;  // components considered per section (2^12 subsets)
  double min_gain = 0.01;      // log-odds a proposal must beat the section as written by
  std::string page;            // only this page's sections ("" for every page)
  std::string section;         // only sections with this id ("" for every section)
};

struct proposal {
  std::string page;
  std::string section;
  std::string feature;               // the section's feature now ("" when none)
  std::vector<std::string> control;  // the section's component keys as written
  std::vector<std::string> variant;  // the proposed component keys
  json::value instances;             // the proposed instances (an array)
  double control_score = 0;
  double variant_score = 0;
  double gain = 0;  // variant_score - control_score (log-odds)
  // For a segment (config `segments`): its name and condition; apply() targets the experiment at
  // it. Empty / null: every visitor.
  std::string segment;
  json::value condition;
};

// The best proposal over every section of every page: for each section, the candidates are the
// components it shows as written, those its feature's variations show, and components with a
// positive synergy with one of those (placed elsewhere in the config, not on this page);
// every conflict-free non-empty subset is scored and the best kept. The section whose best
// subset beats its written components by the most (at least min_gain) wins; nullopt when none.
std::optional<proposal> propose(const json::value& config, const model& m, const proposal_options& opts = {});

// The config with the proposal as a new experiment: a feature `key` (a 50/50 bandit rule,
// variations [null, {"components": instances}], meta keys control / optimized) that the
// section now names. A segment's proposal is a rule with the segment's condition, put first in
// the section's feature when it has one (others keep what they saw), else in a new feature `key`.
// not_found when the page or section is gone; invalid_value when `key` exists.
result<json::value> apply(const json::value& config, const proposal& p, const std::string& key);

// The proposal as JSON (what the origin stores and serves), and back.
json::value to_json(const proposal& p);
result<proposal> proposal_from_json(const json::value& v);

}  // namespace whale::optimizer
