// Empirical-Bayes Beta priors by the method of moments: see include/whale/learn/priors.h and
// docs/priors.md. Only IEEE basic operations, summed in a fixed order.
#include "whale/learn/priors.h"

#include <cmath>
#include <map>
#include <string>
#include <utility>

#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace whale::priors {

const char* source_name(source s) noexcept {
  switch (s) {
    case source::component:
      return "component";
    case source::vertical:
      return "vertical";
    case source::uniform:
      return "uniform";
  }
  return "uniform";
}

namespace {

bool finite(double x) { return std::isfinite(x); }

// Moments of one group (arms in input order) into p; returns whether there were >= 2 arms.
void moments(const std::vector<const arm_result*>& arms, prior& p) {
  double sum_rate = 0;
  for (const arm_result* a : arms) {
    p.conversions += a->conversions;
    p.units += a->units;
    sum_rate += a->conversions / a->units;
  }
  p.arms = arms.size();
  if (arms.size() < 2) return;
  const double k = static_cast<double>(arms.size());
  const double m = sum_rate / k;
  double squares = 0;
  double sampling = 0;
  for (const arm_result* a : arms) {
    const double r = a->conversions / a->units;
    const double d = r - m;
    squares += d * d;
    // r(1 - r) / (n - 1) is unbiased for the binomial variance p(1 - p) / n of the rate.
    sampling += r * (1 - r) / (a->units - 1);
  }
  p.mean_rate = m;
  p.observed_variance = squares / (k - 1);
  p.sampling_variance = sampling / k;
  p.between_variance = p.observed_variance - p.sampling_variance;
}

// alpha and beta from the moments, with the strength clamped to [min, max].
void fit(prior& p, const options& opts) {
  double m = p.mean_rate;
  // No conversions at all (or all converted): alpha or beta would be 0. Use the pooled rate
  // with half a pseudo-count each side (Jeffreys), which is inside (0, 1).
  if (!(m > 0 && m < 1)) m = (p.conversions + 0.5) / (p.units + 1);
  const double v = m * (1 - m);
  // strength = v / tau2 - 1, so the cap on the strength is a floor on tau2 and vice versa.
  const double tau2_min = v / (opts.max_strength + 1);
  const double tau2_max = v / (opts.min_strength + 1);
  double tau2 = p.between_variance;
  if (!(tau2 >= tau2_min)) tau2 = tau2_min;
  if (tau2 > tau2_max) tau2 = tau2_max;
  p.between_variance = tau2;
  const double strength = v / tau2 - 1;
  p.alpha = m * strength;
  p.beta = (1 - m) * strength;
}

void take_prior(prior& to, const prior& from) {
  to.alpha = from.alpha;
  to.beta = from.beta;
  to.from = from.from == source::uniform ? source::uniform : source::vertical;
}

}  // namespace

result<table> estimate(const std::vector<arm_result>& arms, const options& opts) {
  if (!finite(opts.max_strength) || !finite(opts.min_strength) || !(opts.min_strength > 0) ||
      !(opts.max_strength >= opts.min_strength)) {
    return fail(error_code::invalid_value, "options: expected 0 < min_strength <= max_strength, finite");
  }
  if (arms.size() > max_input_arms) {
    return fail(error_code::too_large, "arms: more than " + std::to_string(max_input_arms));
  }
  using key = std::pair<std::string, std::string>;  // (vertical, component)
  std::map<key, std::vector<const arm_result*>> groups;
  std::map<std::string, std::vector<const arm_result*>> verticals;
  std::map<key, bool> seen;
  for (size_t i = 0; i < arms.size(); ++i) {
    const arm_result& a = arms[i];
    if (!finite(a.conversions) || !finite(a.units) || a.conversions < 0 || a.units < 0) {
      return fail(error_code::invalid_value,
                  "arms[" + std::to_string(i) + "]: conversions and units must be finite and >= 0");
    }
    if (a.conversions > a.units) {
      return fail(error_code::invalid_value, "arms[" + std::to_string(i) + "]: conversions > units");
    }
    key k{a.vertical, a.component};
    seen[k] = true;
    verticals[a.vertical];
    if (a.units < 2) continue;  // no information on the spread
    groups[k].push_back(&a);
    verticals[a.vertical].push_back(&a);
  }

  table out;
  std::map<std::string, size_t> vertical_row;
  for (auto& [name, members] : verticals) {
    prior p;
    p.vertical = name;
    moments(members, p);
    if (p.arms >= opts.min_vertical_arms && p.arms >= 2) {
      fit(p, opts);
      p.from = source::vertical;
    }
    vertical_row[name] = out.verticals.size();
    out.verticals.push_back(std::move(p));
  }
  for (const auto& [k, unused] : seen) {
    (void)unused;
    prior p;
    p.vertical = k.first;
    p.component = k.second;
    auto g = groups.find(k);
    if (g != groups.end()) moments(g->second, p);
    if (p.arms >= opts.min_arms && p.arms >= 2) {
      fit(p, opts);
      p.from = source::component;
    } else {
      take_prior(p, out.verticals[vertical_row[k.first]]);
    }
    out.components.push_back(std::move(p));
  }
  return out;
}

prior lookup(const table& t, std::string_view component, std::string_view vertical) {
  for (const prior& p : t.components) {
    if (p.component == component && p.vertical == vertical) return p;
  }
  prior fallback;
  fallback.component = std::string(component);
  fallback.vertical = std::string(vertical);
  for (const prior& p : t.verticals) {
    if (p.vertical == vertical) {
      take_prior(fallback, p);
      break;
    }
  }
  return fallback;
}

}  // namespace whale::priors
