#include "whale/learn/srm.h"

#include <cmath>
#include <limits>

#include "whale/bandit.h"

namespace whale::srm {

namespace {
using bandit::detail::det_exp;
using bandit::detail::det_log;
constexpr double nan = std::numeric_limits<double>::quiet_NaN();
constexpr int max_iterations = 10000;
constexpr double epsilon = 1e-15;
}  // namespace

double log_gamma(double a) {
  if (!(a > 0) || a == std::numeric_limits<double>::infinity()) return nan;
  static constexpr double g = 7;
  static constexpr double c[9] = {0.99999999999980993,  676.5203681218851,     -1259.1392167224028,
                                  771.32342877765313,   -176.61502916214059,   12.507343278686905,
                                  -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7};
  if (a < 0.5) {
    // Reflection: Gamma(a) Gamma(1 - a) = pi / sin(pi a); for 0 < a < 0.5 use Gamma(a) = Gamma(a + 1) / a.
    return log_gamma(a + 1) - det_log(a);
  }
  const double x = a - 1;
  double sum = c[0];
  for (int i = 1; i < 9; ++i) sum += c[i] / (x + i);
  const double t = x + g + 0.5;
  constexpr double half_log_two_pi = 0.91893853320467274178;
  return half_log_two_pi + (x + 0.5) * det_log(t) - t + det_log(sum);
}

namespace {

// P(a, x) by its series, for x < a + 1.
double lower_series(double a, double x) {
  double term = 1 / a;
  double sum = term;
  for (int n = 1; n < max_iterations; ++n) {
    term *= x / (a + n);
    sum += term;
    if (std::fabs(term) < std::fabs(sum) * epsilon) break;
  }
  return sum * det_exp(-x + a * det_log(x) - log_gamma(a));
}

// Q(a, x) by the continued fraction (modified Lentz), for x >= a + 1.
double upper_fraction(double a, double x) {
  constexpr double tiny = 1e-300;
  double b = x + 1 - a;
  double c = 1 / tiny;
  double d = 1 / b;
  double h = d;
  for (int i = 1; i < max_iterations; ++i) {
    const double an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (std::fabs(d) < tiny) d = tiny;
    c = b + an / c;
    if (std::fabs(c) < tiny) c = tiny;
    d = 1 / d;
    const double delta = d * c;
    h *= delta;
    if (std::fabs(delta - 1) < epsilon) break;
  }
  return det_exp(-x + a * det_log(x) - log_gamma(a)) * h;
}

}  // namespace

double chi_square_sf(double x, double dof) {
  if (std::isnan(x) || !(dof > 0) || std::isinf(dof)) return nan;
  if (x <= 0) return 1;
  if (std::isinf(x)) return 0;
  const double a = dof / 2;
  const double half = x / 2;
  double q = half < a + 1 ? 1 - lower_series(a, half) : upper_fraction(a, half);
  if (q < 0) q = 0;
  if (q > 1) q = 1;
  return q;
}

result<srm_result> srm_test(const std::vector<uint64_t>& observed, const std::vector<double>& shares) {
  if (observed.size() != shares.size() || observed.size() < 2) {
    return fail(error_code::invalid_value, "srm: expected as many shares as counts, at least 2");
  }
  double share_sum = 0;
  double total = 0;
  for (size_t i = 0; i < shares.size(); ++i) {
    if (!(shares[i] >= 0) || std::isinf(shares[i])) return fail(error_code::invalid_value, "srm: bad share");
    share_sum += shares[i];
    total += static_cast<double>(observed[i]);
  }
  if (!(share_sum > 0)) return fail(error_code::invalid_value, "srm: shares sum to 0");
  srm_result out;
  int cells = 0;
  for (size_t i = 0; i < shares.size(); ++i) {
    const double expected = total * (shares[i] / share_sum);
    const double o = static_cast<double>(observed[i]);
    if (expected == 0) {
      if (o > 0) {
        out.chi2 = std::numeric_limits<double>::infinity();
        out.p = 0;
        out.dof = static_cast<double>(shares.size() - 1);
        return out;
      }
      continue;
    }
    const double diff = o - expected;
    out.chi2 += diff * diff / expected;
    ++cells;
  }
  out.dof = cells > 1 ? cells - 1 : 1;
  out.p = total == 0 ? 1 : chi_square_sf(out.chi2, out.dof);
  return out;
}

}  // namespace whale::srm
