// The self-optimizer's model: a log-odds additive model with pairwise synergies fitted by MAP,
// per-component Beta rates and the Beta quantiles behind their intervals. See
// include/whale/learn/optimizer.h and docs/optimizer.md.
#include "whale/learn/optimizer.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <utility>

#include "whale/bandit.h"
#include "whale/learn/srm.h"

#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace whale::optimizer {

namespace {

using bandit::detail::det_exp;
using bandit::detail::det_log;

constexpr double z95 = 1.959963984540054;  // the standard normal's 97.5% quantile

double sigmoid(double x) {
  if (x >= 0) return 1 / (1 + det_exp(-x));
  const double e = det_exp(x);
  return e / (1 + e);
}

// log(1 + e^x) without overflow.
double log1pexp(double x) {
  if (x > 0) return x + det_log(1 + det_exp(-x));
  return det_log(1 + det_exp(x));
}

// logit of the pooled rate with half a pseudo-count on each side (finite for 0 or all converted).
double pooled_logit(double conversions, double units) {
  const double p = (conversions + 0.5) / (units + 1);
  return det_log(p) - det_log(1 - p);
}

bool good_count(double x) { return std::isfinite(x) && x >= 0; }

result<void> check_arm(const arm& a) {
  if (!good_count(a.units) || !good_count(a.conversions) || a.conversions > a.units) {
    return fail(error_code::invalid_value,
                "arm of \"" + a.experiment + "\": expected finite counts with 0 <= conversions <= units");
  }
  return {};
}

std::vector<std::string> key_set(const std::vector<std::string>& keys) {
  std::vector<std::string> out = keys;
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

struct tally {
  double units = 0;
  double conversions = 0;
  size_t arms = 0;
  void add(const arm& a) {
    units += a.units;
    conversions += a.conversions;
    ++arms;
  }
};

using pair_key = std::pair<std::string, std::string>;

// The design: each arm's parameter indexes (its experiment, its components, its pairs) and
// every parameter's Gaussian prior.
struct design {
  std::vector<std::vector<size_t>> rows;
  std::vector<double> units, conversions;
  std::vector<double> prior_mean, prior_var;
};

// Symmetric positive definite `h` (d x d, row-major) into its Cholesky factor (lower, in place);
// false when a pivot is not positive.
bool cholesky(std::vector<double>& h, size_t d) {
  for (size_t j = 0; j < d; ++j) {
    double s = h[j * d + j];
    for (size_t k = 0; k < j; ++k) s -= h[j * d + k] * h[j * d + k];
    if (!(s > 0)) return false;
    const double l = std::sqrt(s);
    h[j * d + j] = l;
    for (size_t i = j + 1; i < d; ++i) {
      double t = h[i * d + j];
      for (size_t k = 0; k < j; ++k) t -= h[i * d + k] * h[j * d + k];
      h[i * d + j] = t / l;
    }
  }
  return true;
}

// Solves L L^T x = b with the factor from cholesky().
std::vector<double> cholesky_solve(const std::vector<double>& l, size_t d, std::vector<double> b) {
  for (size_t i = 0; i < d; ++i) {
    double s = b[i];
    for (size_t k = 0; k < i; ++k) s -= l[i * d + k] * b[k];
    b[i] = s / l[i * d + i];
  }
  for (size_t i = d; i-- > 0;) {
    double s = b[i];
    for (size_t k = i + 1; k < d; ++k) s -= l[k * d + i] * b[k];
    b[i] = s / l[i * d + i];
  }
  return b;
}

// The negative Hessian of the log posterior, X^T W X + prior precisions (row-major).
std::vector<double> information_matrix(const design& x, const std::vector<double>& theta) {
  const size_t d = theta.size();
  std::vector<double> h(d * d, 0.0);
  for (size_t j = 0; j < d; ++j) h[j * d + j] = 1 / x.prior_var[j];
  for (size_t i = 0; i < x.rows.size(); ++i) {
    double eta = 0;
    for (size_t j : x.rows[i]) eta += theta[j];
    const double p = sigmoid(eta);
    const double w = x.units[i] * p * (1 - p);
    for (size_t j : x.rows[i]) {
      for (size_t k : x.rows[i]) h[j * d + k] += w;
    }
  }
  return h;
}

double log_posterior(const design& x, const std::vector<double>& theta) {
  double f = 0;
  for (size_t i = 0; i < x.rows.size(); ++i) {
    double eta = 0;
    for (size_t j : x.rows[i]) eta += theta[j];
    f += x.conversions[i] * eta - x.units[i] * log1pexp(eta);
  }
  for (size_t j = 0; j < theta.size(); ++j) {
    const double z = theta[j] - x.prior_mean[j];
    f -= 0.5 * z * z / x.prior_var[j];
  }
  return f;
}

std::vector<double> gradient(const design& x, const std::vector<double>& theta) {
  std::vector<double> g(theta.size(), 0.0);
  for (size_t i = 0; i < x.rows.size(); ++i) {
    double eta = 0;
    for (size_t j : x.rows[i]) eta += theta[j];
    const double residual = x.conversions[i] - x.units[i] * sigmoid(eta);
    for (size_t j : x.rows[i]) g[j] += residual;
  }
  for (size_t j = 0; j < theta.size(); ++j) g[j] -= (theta[j] - x.prior_mean[j]) / x.prior_var[j];
  return g;
}

result<void> check_options(const options& o) {
  const auto positive = [](double v) { return std::isfinite(v) && v > 0; };
  if (!positive(o.baseline_sd) || !positive(o.component_sd) || !positive(o.pair_sd) || !positive(o.tolerance) ||
      o.max_iterations == 0 || o.max_parameters == 0) {
    return fail(error_code::invalid_value,
                "optimizer options: sds and tolerance must be finite and > 0, "
                "max_iterations and max_parameters >= 1");
  }
  return {};
}

const effect* find_effect(const std::vector<effect>& effects, const std::string& a, const std::string& b) {
  const auto it = std::lower_bound(
      effects.begin(), effects.end(), std::make_pair(a, b),
      [](const effect& e, const pair_key& k) { return std::tie(e.a, e.b) < std::tie(k.first, k.second); });
  return it != effects.end() && it->a == a && it->b == b ? &*it : nullptr;
}

}  // namespace

result<model> fit(const std::vector<arm>& arms, const options& opts) {
  WHALE_TRY_VOID(check_options(opts));
  if (arms.size() > max_arms) return fail(error_code::too_large, "more than 100000 arms");
  std::map<std::string, tally> baselines;
  std::map<std::string, tally> components;
  std::map<pair_key, tally> pairs;
  std::vector<const arm*> used;
  std::vector<std::vector<std::string>> sets;
  tally all;
  for (const arm& a : arms) {
    WHALE_TRY_VOID(check_arm(a));
    if (a.units == 0) continue;
    used.push_back(&a);
    sets.push_back(key_set(a.components));
    const std::vector<std::string>& s = sets.back();
    baselines[a.experiment].add(a);
    all.add(a);
    for (size_t i = 0; i < s.size(); ++i) {
      components[s[i]].add(a);
      for (size_t j = i + 1; j < s.size(); ++j) pairs[{s[i], s[j]}].add(a);
    }
  }
  if (baselines.size() + components.size() > opts.max_parameters) {
    return fail(error_code::too_large, "more experiments and components than max_parameters");
  }
  // A pair whose components never appear apart has the same column as each of them: it cannot
  // be told from their effects and gets no parameter. Within the budget, the pairs seen on the
  // most units (ties: in key order).
  std::vector<std::pair<const pair_key*, const tally*>> ranked;
  size_t confounded = 0;
  for (const auto& [k, t] : pairs) {
    if (components[k.first].arms == t.arms || components[k.second].arms == t.arms) {
      ++confounded;
      continue;
    }
    ranked.emplace_back(&k, &t);
  }
  std::stable_sort(ranked.begin(), ranked.end(),
                   [](const auto& x, const auto& y) { return x.second->units > y.second->units; });
  const size_t room = opts.max_parameters - baselines.size() - components.size();
  std::set<pair_key> kept;
  for (size_t i = 0; i < ranked.size() && i < room; ++i) kept.insert(*ranked[i].first);

  model m;
  m.confounded_pairs = confounded;
  m.dropped_pairs = ranked.size() - kept.size();
  m.base = pooled_logit(all.conversions, all.units);
  design x;
  std::map<std::string, size_t> index_of_experiment;
  std::map<std::string, size_t> index_of_component;
  std::map<pair_key, size_t> index_of_pair;
  for (const auto& [k, t] : baselines) {
    index_of_experiment[k] = x.prior_mean.size();
    x.prior_mean.push_back(pooled_logit(t.conversions, t.units));
    x.prior_var.push_back(opts.baseline_sd * opts.baseline_sd);
  }
  for (const auto& [k, t] : components) {
    index_of_component[k] = x.prior_mean.size();
    x.prior_mean.push_back(0);
    x.prior_var.push_back(opts.component_sd * opts.component_sd);
  }
  for (const pair_key& k : kept) {
    index_of_pair[k] = x.prior_mean.size();
    x.prior_mean.push_back(0);
    x.prior_var.push_back(opts.pair_sd * opts.pair_sd);
  }
  for (size_t i = 0; i < used.size(); ++i) {
    std::vector<size_t> row{index_of_experiment[used[i]->experiment]};
    const std::vector<std::string>& s = sets[i];
    for (size_t a = 0; a < s.size(); ++a) {
      row.push_back(index_of_component[s[a]]);
      for (size_t b = a + 1; b < s.size(); ++b) {
        const auto p = index_of_pair.find({s[a], s[b]});
        if (p != index_of_pair.end()) row.push_back(p->second);
      }
    }
    x.rows.push_back(std::move(row));
    x.units.push_back(used[i]->units);
    x.conversions.push_back(used[i]->conversions);
  }

  const size_t d = x.prior_mean.size();
  std::vector<double> theta = x.prior_mean;
  double f = log_posterior(x, theta);
  for (m.iterations = 0; m.iterations < opts.max_iterations && d > 0;) {
    ++m.iterations;
    std::vector<double> h = information_matrix(x, theta);
    if (!cholesky(h, d)) return fail(error_code::internal, "optimizer: information matrix not positive definite");
    const std::vector<double> step = cholesky_solve(h, d, gradient(x, theta));
    // Step halving: the log posterior is concave, so a shorter Newton step improves it.
    double t = 1;
    std::vector<double> next(d);
    double f_next = f;
    for (int halvings = 0; halvings < 30; ++halvings, t *= 0.5) {
      for (size_t j = 0; j < d; ++j) next[j] = theta[j] + t * step[j];
      f_next = log_posterior(x, next);
      if (f_next >= f - 1e-12 * (1 + std::fabs(f))) break;
    }
    double largest = 0;
    for (size_t j = 0; j < d; ++j) largest = std::max(largest, std::fabs(next[j] - theta[j]));
    theta = next;
    f = f_next;
    if (largest < opts.tolerance) {
      m.converged = true;
      break;
    }
  }
  if (d == 0) m.converged = true;

  // Posterior variances: the diagonal of the inverse information, ||L^-1 e_j||^2.
  std::vector<double> variance(d, 0.0);
  if (d > 0) {
    std::vector<double> l = information_matrix(x, theta);
    if (!cholesky(l, d)) return fail(error_code::internal, "optimizer: information matrix not positive definite");
    std::vector<double> y(d);
    for (size_t j = 0; j < d; ++j) {
      double sum = 0;
      for (size_t i = j; i < d; ++i) {
        double s = i == j ? 1.0 : 0.0;
        for (size_t k = j; k < i; ++k) s -= l[i * d + k] * y[k];
        y[i] = s / l[i * d + i];
        sum += y[i] * y[i];
      }
      variance[j] = sum;
    }
  }
  const auto fill = [&](effect& e, size_t j, const tally& t) {
    e.mean = theta[j];
    e.sd = std::sqrt(variance[j]);
    e.low = e.mean - z95 * e.sd;
    e.high = e.mean + z95 * e.sd;
    e.information = std::min(1.0, std::max(0.0, 1 - variance[j] / x.prior_var[j]));
    e.units = t.units;
    e.conversions = t.conversions;
    e.arms = t.arms;
  };
  for (const auto& [k, t] : baselines) {
    const size_t j = index_of_experiment[k];
    m.experiments.push_back({k, theta[j], std::sqrt(variance[j]), t.units, t.conversions, t.arms});
  }
  for (const auto& [k, t] : components) {
    effect e;
    e.a = k;
    fill(e, index_of_component[k], t);
    e.uplift = sigmoid(m.base + e.mean) / sigmoid(m.base) - 1;
    m.components.push_back(std::move(e));
  }
  for (const pair_key& k : kept) {
    effect e;
    e.a = k.first;
    e.b = k.second;
    fill(e, index_of_pair[k], pairs[k]);
    const double apart = m.base + theta[index_of_component[k.first]] + theta[index_of_component[k.second]];
    e.uplift = sigmoid(apart + e.mean) / sigmoid(apart) - 1;
    m.pairs.push_back(std::move(e));
  }
  return m;
}

double score(const model& m, const std::vector<std::string>& components) {
  const std::vector<std::string> s = key_set(components);
  double total = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (const effect* e = find_effect(m.components, s[i], "")) total += e->mean;
    for (size_t j = i + 1; j < s.size(); ++j) {
      if (const effect* e = find_effect(m.pairs, s[i], s[j])) total += e->mean;
    }
  }
  return total;
}

// ---- Beta distribution ----------------------------------------------------------------------

namespace {

// The continued fraction of I_x(a, b) (x below the mean-ish split point), by Lentz's method:
// 1 + d1 / (1 + d2 / (1 + ...)) with d(2m+1) = -(a+m)(a+b+m)x / ((a+2m)(a+2m+1)) and
// d(2m) = m(b-m)x / ((a+2m-1)(a+2m)).
double beta_fraction(double x, double a, double b) {
  constexpr double tiny = 1e-300;
  constexpr double epsilon = 1e-15;
  double f = 1, c = 1, d = 0;
  for (int j = 1; j <= 200000; ++j) {
    const double m = static_cast<double>(j / 2);
    const double coefficient = (j % 2 == 1) ? -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
                                            : m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m));
    d = 1 + coefficient * d;
    if (std::fabs(d) < tiny) d = tiny;
    c = 1 + coefficient / c;
    if (std::fabs(c) < tiny) c = tiny;
    d = 1 / d;
    const double delta = c * d;
    f *= delta;
    if (std::fabs(delta - 1) < epsilon) break;
  }
  return f;
}

}  // namespace

double beta_cdf(double x, double a, double b) {
  if (!std::isfinite(x) || !std::isfinite(a) || !std::isfinite(b) || a <= 0 || b <= 0 || x < 0 || x > 1) {
    return std::nan("");
  }
  if (x == 0) return 0;
  if (x == 1) return 1;
  const double log_beta = srm::log_gamma(a) + srm::log_gamma(b) - srm::log_gamma(a + b);
  const double front = det_exp(a * det_log(x) + b * det_log(1 - x) - log_beta);
  if (x < (a + 1) / (a + b + 2)) return front / (a * beta_fraction(x, a, b));
  return 1 - front / (b * beta_fraction(1 - x, b, a));
}

double beta_quantile(double p, double a, double b) {
  if (!std::isfinite(p) || p < 0 || p > 1 || !std::isfinite(a) || !std::isfinite(b) || a <= 0 || b <= 0) {
    return std::nan("");
  }
  double lo = 0, hi = 1;
  while (hi - lo > 1e-12) {
    const double mid = lo + (hi - lo) / 2;
    if (beta_cdf(mid, a, b) < p) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return lo + (hi - lo) / 2;
}

result<std::vector<component_rate>> component_rates(const std::vector<arm>& arms, double level) {
  if (!(level > 0 && level < 1)) return fail(error_code::invalid_value, "level: expected a number in (0, 1)");
  struct seen {
    tally t;
    std::set<std::string> experiments;
  };
  std::map<std::string, seen> by_key;
  for (const arm& a : arms) {
    WHALE_TRY_VOID(check_arm(a));
    if (a.units == 0) continue;
    for (const std::string& k : key_set(a.components)) {
      seen& s = by_key[k];
      s.t.add(a);
      s.experiments.insert(a.experiment);
    }
  }
  std::vector<component_rate> out;
  for (const auto& [key, s] : by_key) {
    component_rate r;
    r.key = key;
    r.units = s.t.units;
    r.conversions = s.t.conversions;
    r.arms = s.t.arms;
    r.experiments = s.experiments.size();
    const double alpha = 1 + s.t.conversions;
    const double beta = 1 + s.t.units - s.t.conversions;
    r.mean = alpha / (alpha + beta);
    r.low = beta_quantile((1 - level) / 2, alpha, beta);
    r.high = beta_quantile((1 + level) / 2, alpha, beta);
    out.push_back(std::move(r));
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const component_rate& x, const component_rate& y) { return x.low > y.low; });
  return out;
}

}  // namespace whale::optimizer
