// whale::priors: platform-wide empirical-Bayes Beta priors per (component key, vertical),
// estimated from the arm results of many experiments, used to start new bandit experiments.
// Method, formulas, thresholds and fallbacks: docs/priors.md.
//
// Moments only: IEEE basic operations (+ - * /), no libm, summed in a fixed order (groups sorted
// by key, arms in input order), so every target returns the same bits for the same input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "whale/result.h"

namespace whale::priors {

// One arm of one past experiment: which component it showed, in which vertical, and its counts.
struct arm_result {
  std::string component;
  std::string vertical;
  double conversions = 0;
  double units = 0;
};

// Where a prior came from: its own (component, vertical) group, the vertical-wide pool (the group
// had too few arms), or the flat Beta(1, 1) (the vertical had too few arms as well).
enum class source : uint8_t { component = 0, vertical = 1, uniform = 2 };

const char* source_name(source s) noexcept;

struct options {
  // Arms a (component, vertical) group needs for its own prior; below it, the vertical's prior.
  size_t min_arms = 10;
  // Arms a vertical needs (all its components pooled) for a vertical-wide prior; below it, Beta(1,1).
  size_t min_vertical_arms = 10;
  // Cap on the prior strength alpha + beta (a prior worth that many visitors). The default equals
  // the origin's minimum units per arm before the first reweight: by then the arm's own data
  // weighs at least as much as the prior. Must be >= min_strength.
  double max_strength = 100;
  // Floor on alpha + beta when the arms' rates are almost as spread as 0/1 outcomes.
  double min_strength = 2;
};

struct prior {
  std::string component;  // empty in a vertical-wide row
  std::string vertical;
  double alpha = 1;
  double beta = 1;
  source from = source::uniform;
  // The group's own data (even when it fell back): arms with units >= 2 that entered the moments,
  // and their summed conversions and units.
  size_t arms = 0;
  double conversions = 0;
  double units = 0;
  // The group's moments (0 when it had fewer than 2 usable arms): mean of the arms' rates, their
  // observed variance, the mean binomial sampling variance removed from it, and the between-arm
  // variance that is left (after the clamps).
  double mean_rate = 0;
  double observed_variance = 0;
  double sampling_variance = 0;
  double between_variance = 0;
};

struct table {
  // One row per (component, vertical) seen in the input, sorted by (vertical, component).
  std::vector<prior> components;
  // One row per vertical, sorted by vertical (component empty).
  std::vector<prior> verticals;
};

// Largest input accepted (about 10^7 arms is a few seconds of work).
inline constexpr size_t max_input_arms = 10'000'000;

// Estimates the table. Arms with fewer than 2 units carry no variance information and are skipped
// (not an error). Errors: invalid_value for a count that is not finite or < 0, conversions >
// units, or options out of range (min_strength <= 0, max_strength < min_strength, non-finite);
// too_large for more than max_input_arms arms.
result<table> estimate(const std::vector<arm_result>& arms, const options& opts = {});

// The prior to start an experiment on (component, vertical) with: the component row if the table
// has one (already resolved to its fallback), else the vertical row, else Beta(1, 1).
prior lookup(const table& t, std::string_view component, std::string_view vertical);

}  // namespace whale::priors
