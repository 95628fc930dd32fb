// whale::bandit: seeded multi-armed-bandit primitives (Thompson sampling over Beta posteriors).
//
// Bit-for-bit reproducible: for the same seed and inputs, the native, wasm32-wasi and emscripten
// builds return the same doubles. To get there the code uses only IEEE-754 basic operations
// (+ - * /, std::sqrt), which are correctly rounded on every target, and its own log/exp
// (detail::det_log, detail::det_exp) instead of libm, whose last bit differs between libcs.
// Build with -ffp-contract=off so that no compiler fuses a*b+c into one rounding.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "whale/result.h"

namespace whale::bandit {

// xoshiro256** (Blackman & Vigna), its 256-bit state filled from the seed by splitmix64.
// Not cryptographic: it decides traffic splits, not secrets.
class rng {
 public:
  explicit rng(uint64_t seed) noexcept;
  // Seeds from the 64-bit FNV-1a hash of the bytes, e.g. an experiment id plus a user id.
  static rng from_seed(std::string_view seed) noexcept;

  uint64_t next_u64() noexcept;
  // Uniform in [0, 1): the top 53 bits of next_u64() times 2^-53.
  double next_double() noexcept;

 private:
  uint64_t state_[4];
};

// Standard normal by the Marsaglia polar method. Each call takes the first of the pair and
// drops the second, so that a sample depends only on the rng state, never on a cache.
double sample_normal(rng& r);

// Gamma(shape, scale 1) by Marsaglia & Tsang (2000). For shape < 1 it returns
// Gamma(shape + 1) * U^(1/shape); that may underflow to 0 for very small shapes.
// NaN when shape is not finite or <= 0.
double sample_gamma(rng& r, double shape);

// Beta(alpha, beta) as X / (X + Y) with X ~ Gamma(alpha), Y ~ Gamma(beta). When a shape is < 1
// the ratio is formed from the gammas' logarithms, so that two underflowed gammas cannot make
// 0/0. NaN when a parameter is not finite or <= 0.
double sample_beta(rng& r, double alpha, double beta);

// Beta posterior of one arm, e.g. alpha = 1 + conversions, beta = 1 + non-conversions.
struct beta_arm {
  double alpha;
  double beta;
};

// Limits that keep one request bounded in time.
inline constexpr size_t max_arms = 1000;
inline constexpr uint32_t max_draws = 1'000'000;
// Bound on draws * arms: each is one sample_beta call (about 10^7 per second natively).
inline constexpr uint64_t max_samples = 10'000'000;

// Thompson sampling: one Beta draw per arm, in index order; returns the index of the largest
// draw (ties go to the lowest index). invalid_value for no arms or a parameter that is not
// finite or <= 0; too_large for more than max_arms arms.
result<size_t> thompson_choose(const std::vector<beta_arm>& arms, rng& r);

struct weights_options {
  uint32_t draws = 10000;  // Monte-Carlo draws, 1..max_draws
  double floor = 0.0;      // minimum weight of every arm, 0 <= floor <= 1/arms
  bool top_two = false;    // top-two Thompson sampling weights, see bandit_weights
};

// Traffic weights, one per arm, summing to 1 (within rounding).
//
// Each draw samples every arm once (in index order) and notes the winner (largest, ties to the
// lowest index) and the runner-up (second largest, same tie rule).
//  - Plain: w_i = wins_i / draws, the Monte-Carlo estimate of P(arm i is best).
//  - top_two: top-two Thompson sampling (Russo 2016) with beta = 0.5:
//      w_i = 0.5 * P(i is best) + 0.5 * P(i is the runner-up),
//    both estimated from the same draws. Half the traffic goes to the likely best arm and half
//    to its closest challenger, which keeps measuring the contenders once one arm leads.
//    Note: Russo's challenger is re-drawn until it differs from the leader; taking the
//    runner-up of the same draw is the common one-pass approximation of it. With two arms
//    every arm is either best or runner-up, so both weights are exactly 0.5.
// Then the additive floor: p_i = floor + (1 - n * floor) * w_i for n arms.
//
// Errors: invalid_value for no arms, a bad parameter (see thompson_choose), draws == 0, or a
// floor that is not finite, < 0 or > 1/n; too_large for more than max_arms arms, more than
// max_draws draws, or draws * arms > max_samples.
result<std::vector<double>> bandit_weights(const std::vector<beta_arm>& arms, const weights_options& options,
                                           rng& r);

namespace detail {
// Natural log from IEEE basic operations only; relative error below 1e-15.
// det_log(1) = 0, det_log(0) = -inf, det_log(+inf) = +inf, NaN for x < 0 or NaN.
double det_log(double x);
// e^x from IEEE basic operations only; relative error below 1e-15 for normal results.
// +inf for x > log(DBL_MAX), 0 below the subnormal range, NaN for NaN.
double det_exp(double x);
}  // namespace detail

}  // namespace whale::bandit
