// Multi-armed-bandit primitives with the same bits on every target: see include/whale/bandit.h.
// Every floating-point step is an IEEE basic operation or std::sqrt. The series coefficients are
// hex literals (correctly rounded values, computed once from exact rationals).
#include "whale/bandit.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <string>

// Keep a * b + c as two roundings even where the build forgets -ffp-contract=off: an FMA
// (x86-64 with -march=native, arm64) would otherwise change the last bits.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace whale::bandit {

namespace {

uint64_t to_bits(double x) {
  uint64_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  return bits;
}

double from_bits(uint64_t bits) {
  double x;
  std::memcpy(&x, &bits, sizeof x);
  return x;
}

uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

// One step of splitmix64 (Steele, Lea & Flood): spreads a seed over the xoshiro state.
uint64_t splitmix64(uint64_t& x) {
  x += 0x9e3779b97f4a7c15ULL;
  uint64_t z = x;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t fnv1a64(std::string_view bytes) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (unsigned char c : bytes) {
    hash ^= c;
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// ln 2 split in two: kLn2Hi has 32 significant bits, so k * kLn2Hi is exact for |k| < 2^21.
constexpr double kLn2Hi = 0x1.62e42feep-1;
constexpr double kLn2Lo = 0x1.a39ef35793c76p-33;  // ln 2 - kLn2Hi, rounded
constexpr double kInvLn2 = 0x1.71547652b82fep+0;
constexpr double kSqrt2 = 0x1.6a09e667f3bcdp+0;

// 2/3, 2/5, ..., 2/21: atanh series, 2 atanh(s) = 2s + s * z * sum(c_k z^(k-1)), z = s^2.
// With |s| <= 0.172 the first omitted term is below 1e-17 of the result.
constexpr double kLogCoeffs[] = {
    0x1.5555555555555p-1, 0x1.999999999999ap-2, 0x1.2492492492492p-2, 0x1.c71c71c71c71cp-3,
    0x1.745d1745d1746p-3, 0x1.3b13b13b13b14p-3, 0x1.1111111111111p-3, 0x1.e1e1e1e1e1e1ep-4,
    0x1.af286bca1af28p-4, 0x1.8618618618618p-4,
};

// 1/2!, 1/3!, ..., 1/14!: Taylor series of e^r; with |r| <= 0.347 the first omitted term
// (r^15/15!) is below 1e-19.
constexpr double kExpCoeffs[] = {
    0x1.0000000000000p-1, 0x1.5555555555555p-3, 0x1.5555555555555p-5, 0x1.1111111111111p-7,
    0x1.6c16c16c16c17p-10, 0x1.a01a01a01a01ap-13, 0x1.a01a01a01a01ap-16, 0x1.71de3a556c734p-19,
    0x1.27e4fb7789f5cp-22, 0x1.ae64567f544e4p-26, 0x1.1eed8eff8d898p-29, 0x1.6124613a86d09p-33,
    0x1.93974a8c07c9dp-37,
};

// c[0] + c[1] z + c[2] z^2 + ..., by Horner from the highest term.
template <size_t N>
double polynomial(const double (&c)[N], double z) {
  double sum = c[N - 1];
  for (size_t i = N - 1; i > 0; --i) sum = c[i - 1] + z * sum;
  return sum;
}

// 2^n for n in [-1022, 1023], built from its bits.
double pow2(int n) { return from_bits(static_cast<uint64_t>(n + 1023) << 52); }

struct split_double {
  double mantissa;  // in [sqrt(2)/2, sqrt(2)]
  int exponent;
};

// x = mantissa * 2^exponent for a positive finite x, subnormals included.
split_double split_exponent(double x) {
  int exponent = 0;
  if (x < 0x1p-1022) {
    x *= 0x1p54;  // exact: lifts a subnormal into the normal range
    exponent = -54;
  }
  const uint64_t bits = to_bits(x);
  exponent += static_cast<int>(bits >> 52) - 1023;
  double mantissa = from_bits((bits & 0x000fffffffffffffULL) | (uint64_t{1023} << 52));
  if (mantissa > kSqrt2) {
    mantissa *= 0.5;
    exponent += 1;
  }
  return {mantissa, exponent};
}

// y * 2^k for y in [0.5, 2] and k in [-1100, 1024], rounding once.
double scale_by_pow2(double y, int k) {
  if (k > 1023) return (y * 2.0) * pow2(k - 1);
  if (k < -1022) return (y * pow2(k + 1000)) * 0x1p-1000;  // the first product is exact
  return y * pow2(k);
}

}  // namespace

namespace detail {

// log x = e ln 2 + log(1 + f) with x = (1 + f) 2^e; log(1 + f) = 2 atanh(s), s = f / (2 + f),
// arranged as f - (f^2/2 - s (f^2/2 + R)) so the large term f is added last.
double det_log(double x) {
  if (x != x || x < 0.0) return kNaN;
  if (x == 0.0) return -kInf;
  if (x == kInf) return kInf;
  const split_double parts = split_exponent(x);
  const double f = parts.mantissa - 1.0;  // exact (Sterbenz)
  const double s = f / (2.0 + f);
  const double z = s * s;
  const double r = z * polynomial(kLogCoeffs, z);
  const double half_f2 = 0.5 * f * f;
  const double k = parts.exponent;
  return k * kLn2Hi - ((half_f2 - (s * (half_f2 + r) + k * kLn2Lo)) - f);
}

// e^x = 2^k e^r with k = round(x / ln 2) and |r| <= ln 2 / 2, e^r by its Taylor series with
// the rounding error of 1 + r carried into the tail.
double det_exp(double x) {
  if (x != x) return x;
  if (x > 709.8) return kInf;  // log(DBL_MAX) = 709.78...; closer values overflow below
  if (x < -745.2) return 0.0;  // below log(2^-1075): rounds to 0
  const double t = x * kInvLn2;
  const int k = static_cast<int>(t < 0.0 ? t - 0.5 : t + 0.5);
  const double r = (x - k * kLn2Hi) - k * kLn2Lo;
  const double head = 1.0 + r;
  const double head_error = (1.0 - head) + r;  // exact (Fast2Sum, |r| < 1)
  const double e_r = head + (head_error + r * r * polynomial(kExpCoeffs, r));
  return scale_by_pow2(e_r, k);
}

}  // namespace detail

using detail::det_exp;
using detail::det_log;

rng::rng(uint64_t seed) noexcept {
  for (uint64_t& word : state_) word = splitmix64(seed);
}

rng rng::from_seed(std::string_view seed) noexcept { return rng(fnv1a64(seed)); }

uint64_t rng::next_u64() noexcept {
  const uint64_t out = rotl(state_[1] * 5, 7) * 9;
  const uint64_t t = state_[1] << 17;
  state_[2] ^= state_[0];
  state_[3] ^= state_[1];
  state_[1] ^= state_[2];
  state_[0] ^= state_[3];
  state_[2] ^= t;
  state_[3] = rotl(state_[3], 45);
  return out;
}

double rng::next_double() noexcept { return static_cast<double>(next_u64() >> 11) * 0x1p-53; }

double sample_normal(rng& r) {
  for (;;) {
    const double u = 2.0 * r.next_double() - 1.0;
    const double v = 2.0 * r.next_double() - 1.0;
    const double s = u * u + v * v;
    if (s > 0.0 && s < 1.0) return u * std::sqrt(-2.0 * det_log(s) / s);
  }
}

namespace {

bool valid_shape(double shape) { return std::isfinite(shape) && shape > 0.0; }

// Marsaglia & Tsang (2000) for shape >= 1: d v with v = (1 + c x)^3, x normal, accepted by a
// cheap squeeze first and the exact log test second.
double gamma_at_least_one(rng& r, double shape) {
  const double d = shape - 1.0 / 3.0;
  const double c = 1.0 / std::sqrt(9.0 * d);
  for (;;) {
    const double x = sample_normal(r);
    double v = 1.0 + c * x;
    if (v <= 0.0) continue;
    v = v * v * v;
    const double u = r.next_double();
    const double x2 = x * x;
    if (u < 1.0 - 0.0331 * (x2 * x2)) return d * v;
    if (det_log(u) < 0.5 * x2 + d * (1.0 - v + det_log(v))) return d * v;
  }
}

// log of a Gamma(shape) sample; for shape < 1, log Gamma(shape + 1) + log(U) / shape, which
// stays finite where the sample itself would underflow to 0.
double log_gamma_sample(rng& r, double shape) {
  if (shape >= 1.0) return det_log(gamma_at_least_one(r, shape));
  const double g = gamma_at_least_one(r, shape + 1.0);
  return det_log(g) + det_log(r.next_double()) / shape;
}

}  // namespace

double sample_gamma(rng& r, double shape) {
  if (!valid_shape(shape)) return kNaN;
  if (shape >= 1.0) return gamma_at_least_one(r, shape);
  const double g = gamma_at_least_one(r, shape + 1.0);
  return g * det_exp(det_log(r.next_double()) / shape);
}

double sample_beta(rng& r, double alpha, double beta) {
  if (!valid_shape(alpha) || !valid_shape(beta)) return kNaN;
  if (alpha >= 1.0 && beta >= 1.0) {
    const double x = gamma_at_least_one(r, alpha);
    const double y = gamma_at_least_one(r, beta);
    return x / (x + y);
  }
  const double log_x = log_gamma_sample(r, alpha);
  const double log_y = log_gamma_sample(r, beta);
  if (log_x == log_y) return 0.5;  // also both -inf (U = 0 twice), which would give NaN below
  return 1.0 / (1.0 + det_exp(log_y - log_x));
}

namespace {

result<void> check_arms(const std::vector<beta_arm>& arms) {
  if (arms.empty()) return fail(error_code::invalid_value, "bandit: no arms");
  if (arms.size() > max_arms) {
    return fail(error_code::too_large,
                "bandit: " + std::to_string(arms.size()) + " arms, limit " + std::to_string(max_arms));
  }
  for (size_t i = 0; i < arms.size(); ++i) {
    if (!valid_shape(arms[i].alpha) || !valid_shape(arms[i].beta)) {
      return fail(error_code::invalid_value,
                  "bandit: arm " + std::to_string(i) + " needs finite alpha > 0 and beta > 0");
    }
  }
  return {};
}

result<void> check_options(const weights_options& options, size_t arm_count) {
  if (options.draws == 0) return fail(error_code::invalid_value, "bandit: draws must be >= 1");
  if (options.draws > max_draws) {
    return fail(error_code::too_large, "bandit: draws " + std::to_string(options.draws) + ", limit " +
                                           std::to_string(max_draws));
  }
  if (static_cast<uint64_t>(options.draws) * arm_count > max_samples) {
    return fail(error_code::too_large,
                "bandit: draws * arms exceeds " + std::to_string(max_samples) + " samples");
  }
  const double floor = options.floor;
  if (!std::isfinite(floor) || floor < 0.0 || static_cast<double>(arm_count) * floor > 1.0) {
    return fail(error_code::invalid_value, "bandit: floor must be in [0, 1/arms]");
  }
  return {};
}

struct ranking {
  size_t best;
  size_t runner_up;  // equals best when there is a single arm
};

// One Beta draw per arm, in index order; ties rank the lower index first.
ranking rank_one_draw(const std::vector<beta_arm>& arms, rng& r) {
  ranking rank{0, 0};
  double best = -kInf;
  double second = -kInf;
  for (size_t i = 0; i < arms.size(); ++i) {
    const double x = sample_beta(r, arms[i].alpha, arms[i].beta);
    if (x > best) {
      rank.runner_up = rank.best;
      second = best;
      rank.best = i;
      best = x;
    } else if (x > second) {
      rank.runner_up = i;
      second = x;
    }
  }
  return rank;
}

}  // namespace

result<size_t> thompson_choose(const std::vector<beta_arm>& arms, rng& r) {
  WHALE_TRY_VOID(check_arms(arms));
  return rank_one_draw(arms, r).best;
}

result<std::vector<double>> bandit_weights(const std::vector<beta_arm>& arms, const weights_options& options,
                                           rng& r) {
  WHALE_TRY_VOID(check_arms(arms));
  WHALE_TRY_VOID(check_options(options, arms.size()));
  const size_t n = arms.size();
  std::vector<uint32_t> wins(n, 0);
  std::vector<uint32_t> runner_ups(n, 0);
  for (uint32_t draw = 0; draw < options.draws; ++draw) {
    const ranking rank = rank_one_draw(arms, r);
    ++wins[rank.best];
    ++runner_ups[rank.runner_up];
  }
  const double draws = options.draws;
  const double spread = 1.0 - static_cast<double>(n) * options.floor;
  std::vector<double> weights(n);
  for (size_t i = 0; i < n; ++i) {
    const double w = options.top_two ? (wins[i] + static_cast<double>(runner_ups[i])) / (2.0 * draws)
                                     : wins[i] / draws;
    weights[i] = options.floor + spread * w;
  }
  return weights;
}

}  // namespace whale::bandit
