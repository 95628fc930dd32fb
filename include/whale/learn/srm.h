// whale::srm: the sample-ratio-mismatch test of a bandit's exposures (docs/bandits.md).
//
// Pearson's chi-square goodness of fit of observed counts against expected shares, and its
// p-value from the chi-square survival function. Deterministic on every target: IEEE basic
// operations plus whale::bandit::detail::det_log/det_exp, no libm.
#pragma once

#include <cstdint>
#include <vector>

#include "whale/result.h"

namespace whale::srm {

// P(X > x) for X ~ chi-square with `dof` degrees of freedom (dof >= 1), i.e. the regularized
// upper incomplete gamma Q(dof/2, x/2). 1 for x <= 0; NaN for a bad argument. Relative
// accuracy about 1e-12 (series below a+1, Lentz continued fraction above).
double chi_square_sf(double x, double dof);

// ln Gamma(a) for a > 0 (Lanczos, g = 7, 9 terms); relative error below 1e-14.
double log_gamma(double a);

struct srm_result {
  double chi2 = 0;
  double dof = 0;
  double p = 1;
};

// Observed counts per arm against expected shares (non-negative, summing to > 0; normalized
// here). Arms with an expected share of 0 and no observations are left out; an observation in
// an arm of share 0 makes p = 0. invalid_value for mismatched sizes, fewer than 2 arms or bad
// shares.
result<srm_result> srm_test(const std::vector<uint64_t>& observed, const std::vector<double>& shares);

}  // namespace whale::srm
