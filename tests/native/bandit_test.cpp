// Tests of whale::bandit: the deterministic log/exp against libm, the samplers' moments against
// the exact distributions, P(best) against its closed form, the weight options, input checks,
// and golden bits that the wasm builds must reproduce (same vectors as fixtures/bandit-golden.json).
#include "whale/bandit.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

namespace {

using whale::error_code;
using whale::bandit::bandit_weights;
using whale::bandit::beta_arm;
using whale::bandit::rng;
using whale::bandit::sample_beta;
using whale::bandit::sample_gamma;
using whale::bandit::sample_normal;
using whale::bandit::thompson_choose;
using whale::bandit::weights_options;
using whale::bandit::detail::det_exp;
using whale::bandit::detail::det_log;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kDenormMin = std::numeric_limits<double>::denorm_min();
constexpr double kMaxRelError = 1e-14;

uint64_t bits_of(double x) {
  uint64_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  return bits;
}

double relative_error(double got, double want) { return std::fabs(got - want) / std::fabs(want); }

// ---------------------------------------------------------------------------------------------
// det_log / det_exp

TEST(DetLog, SpecialValues) {
  EXPECT_EQ(bits_of(det_log(1.0)), bits_of(0.0));  // +0, exactly
  EXPECT_EQ(det_log(0.0), -kInf);
  EXPECT_EQ(det_log(-0.0), -kInf);
  EXPECT_EQ(det_log(kInf), kInf);
  EXPECT_TRUE(std::isnan(det_log(-1.0)));
  EXPECT_TRUE(std::isnan(det_log(-kDenormMin)));
  EXPECT_TRUE(std::isnan(det_log(-kInf)));
  EXPECT_TRUE(std::isnan(det_log(kNaN)));
  EXPECT_EQ(det_log(2.0), 0x1.62e42fefa39efp-1);  // ln 2, correctly rounded
}

TEST(DetLog, MatchesLibmOnChosenValues) {
  const double xs[] = {kDenormMin, 1e-320, 1e-310, std::numeric_limits<double>::min(), 1e-300, 1e-200, 1e-50,
                       1e-10, 0.001, 0.1, 0.5, 0.7071, 0x1.6a09e667f3bccp-1, 0x1.6a09e667f3bcdp+0, 0.9,
                       0.999999, 1.0 - 0x1p-53, 1.0 + 0x1p-52, 1.0001, 1.5, 2.0, 2.718281828459045, 10.0,
                       1e10, 1e100, 1e300, std::numeric_limits<double>::max()};
  for (double x : xs) {
    EXPECT_LE(relative_error(det_log(x), std::log(x)), kMaxRelError) << std::hexfloat << "x = " << x;
  }
}

TEST(DetLog, MatchesLibmAcrossAllExponents) {
  rng r(20240601);
  for (int i = 0; i < 200000; ++i) {
    const int exponent = static_cast<int>(r.next_u64() % 2098) - 1074;  // subnormals to 2^1023
    const double x = std::ldexp(1.0 + r.next_double(), exponent);
    if (x == 0.0 || x == 1.0 || std::isinf(x)) continue;
    ASSERT_LE(relative_error(det_log(x), std::log(x)), kMaxRelError) << std::hexfloat << "x = " << x;
  }
}

TEST(DetLog, AccurateNearOne) {
  rng r(7);
  for (int i = 0; i < 100000; ++i) {
    const double x = 1.0 + (r.next_double() - 0.5) * 1e-3;
    if (x == 1.0) continue;
    ASSERT_LE(relative_error(det_log(x), std::log(x)), kMaxRelError) << std::hexfloat << "x = " << x;
  }
}

TEST(DetExp, SpecialValues) {
  EXPECT_EQ(det_exp(0.0), 1.0);
  EXPECT_EQ(det_exp(-0.0), 1.0);
  EXPECT_EQ(det_exp(kInf), kInf);
  EXPECT_EQ(bits_of(det_exp(-kInf)), bits_of(0.0));
  EXPECT_TRUE(std::isnan(det_exp(kNaN)));
  EXPECT_EQ(det_exp(709.79), kInf);  // log(DBL_MAX) = 709.7827...
  EXPECT_EQ(det_exp(710.0), kInf);
  EXPECT_EQ(det_exp(1e300), kInf);
  EXPECT_TRUE(std::isfinite(det_exp(709.78)));
  EXPECT_EQ(det_exp(-746.0), 0.0);  // below log(2^-1075)
  EXPECT_EQ(det_exp(-1e300), 0.0);
  EXPECT_GT(det_exp(-745.0), 0.0);  // rounds to the smallest subnormal
  EXPECT_EQ(det_exp(1.0), 0x1.5bf0a8b145769p+1);  // e, correctly rounded
}

TEST(DetExp, MatchesLibmOnChosenValues) {
  const double xs[] = {-745.1, -745.0, -740.0, -708.4, -700.0, -100.0, -1.0, -1e-300, -0x1p-60, 1e-300,
                       1e-10, 0.5, 0.6931471805599453, 1.0, 2.0, 10.0, 100.0, 700.0, 709.78};
  for (double x : xs) {
    const double want = std::exp(x);
    const double got = det_exp(x);
    // Subnormal results have fixed absolute precision: allow one unit of the subnormal grid.
    EXPECT_LE(std::fabs(got - want), kMaxRelError * want + kDenormMin) << std::hexfloat << "x = " << x;
  }
}

TEST(DetExp, MatchesLibmAcrossRange) {
  rng r(99);
  for (int i = 0; i < 200000; ++i) {
    const double x = -745.0 + r.next_double() * (709.78 + 745.0);
    const double want = std::exp(x);
    ASSERT_LE(std::fabs(det_exp(x) - want), kMaxRelError * want + kDenormMin) << std::hexfloat << "x = " << x;
  }
  for (int i = 0; i < 100000; ++i) {
    const double x = (r.next_double() - 0.5) * 1e-6;
    ASSERT_LE(relative_error(det_exp(x), std::exp(x)), kMaxRelError) << std::hexfloat << "x = " << x;
  }
}

TEST(DetExp, InvertsDetLog) {
  rng r(3);
  for (int i = 0; i < 10000; ++i) {
    const double x = (r.next_double() - 0.5) * 1400.0;
    ASSERT_LE(std::fabs(det_log(det_exp(x)) - x), 1e-13 * std::fmax(1.0, std::fabs(x))) << "x = " << x;
  }
}

// ---------------------------------------------------------------------------------------------
// rng

TEST(Rng, SameSeedSameSequence) {
  rng a = rng::from_seed("experiment-1:user-42");
  rng b = rng::from_seed("experiment-1:user-42");
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(a.next_u64(), b.next_u64());
  rng c(12345);
  rng d(12345);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(bits_of(sample_beta(c, 0.7, 3.0)), bits_of(sample_beta(d, 0.7, 3.0)));
}

TEST(Rng, DifferentSeedsDiffer) {
  rng a = rng::from_seed("experiment-1:user-42");
  rng b = rng::from_seed("experiment-1:user-43");
  int equal = 0;
  for (int i = 0; i < 1000; ++i) equal += a.next_u64() == b.next_u64();
  EXPECT_EQ(equal, 0);
}

TEST(Rng, FromSeedHashesWithFnv1a) {
  // Published FNV-1a 64 values: "" is the offset basis, "a" and "foobar" are test vectors.
  const struct {
    const char* text;
    uint64_t hash;
  } cases[] = {{"", 0xcbf29ce484222325ULL}, {"a", 0xaf63dc4c8601ec8cULL}, {"foobar", 0x85944171f73967e8ULL}};
  for (const auto& c : cases) {
    rng from_text = rng::from_seed(c.text);
    rng from_hash(c.hash);
    for (int i = 0; i < 8; ++i) ASSERT_EQ(from_text.next_u64(), from_hash.next_u64()) << c.text;
  }
}

TEST(Rng, NextDoubleIsInUnitIntervalOn53BitGrid) {
  rng r(1);
  double sum = 0.0;
  const int n = 100000;
  for (int i = 0; i < n; ++i) {
    const double u = r.next_double();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    const double scaled = u * 0x1p53;
    ASSERT_EQ(scaled, std::floor(scaled));
    sum += u;
  }
  EXPECT_NEAR(sum / n, 0.5, 3.0 * std::sqrt(1.0 / 12.0 / n));
}

// ---------------------------------------------------------------------------------------------
// Moments of the samplers, each within 3 standard errors.

struct sample_moments {
  double mean;
  double variance;  // unbiased
};

template <typename Sampler>
sample_moments moments_of(int n, Sampler sample) {
  std::vector<double> xs(n);
  double sum = 0.0;
  for (double& x : xs) {
    x = sample();
    sum += x;
  }
  const double mean = sum / n;
  double squares = 0.0;
  for (double x : xs) squares += (x - mean) * (x - mean);
  return {mean, squares / (n - 1)};
}

// Checks the sample mean and variance against the exact mean, variance and fourth central
// moment. Var(sample variance) = (mu4 - sigma^4 (n - 3) / (n - 1)) / n, exact for any law.
void expect_moments(const sample_moments& got, int n, double mean, double variance, double mu4) {
  const double mean_se = std::sqrt(variance / n);
  const double variance_se = std::sqrt((mu4 - variance * variance * (n - 3.0) / (n - 1.0)) / n);
  EXPECT_NEAR(got.mean, mean, 3.0 * mean_se);
  EXPECT_NEAR(got.variance, variance, 3.0 * variance_se);
}

TEST(SampleNormal, MeanZeroVarianceOne) {
  rng r(11);
  const int n = 100000;
  expect_moments(moments_of(n, [&] { return sample_normal(r); }), n, 0.0, 1.0, 3.0);
}

TEST(SampleGamma, MomentsMatchGamma) {
  rng r(12);
  const int n = 100000;
  for (double shape : {0.05, 0.3, 1.0, 4.5, 50.0}) {
    SCOPED_TRACE(shape);
    const double mu4 = 3.0 * shape * shape + 6.0 * shape;  // fourth central moment, scale 1
    expect_moments(moments_of(n, [&] { return sample_gamma(r, shape); }), n, shape, shape, mu4);
  }
}

TEST(SampleGamma, InvalidShapeGivesNaN) {
  rng r(1);
  for (double shape : {0.0, -1.0, kInf, kNaN}) EXPECT_TRUE(std::isnan(sample_gamma(r, shape))) << shape;
}

TEST(SampleBeta, MomentsWithinThreeStandardErrors) {
  const struct {
    double alpha;
    double beta;
  } cases[] = {{1, 1}, {0.5, 0.5}, {0.2, 0.7}, {0.3, 3}, {4, 0.6}, {2.5, 7}, {30, 10}, {200, 800}};
  rng r = rng::from_seed("beta-moments");
  const int n = 100000;
  for (const auto& c : cases) {
    SCOPED_TRACE(testing::Message() << "Beta(" << c.alpha << ", " << c.beta << ")");
    const double a = c.alpha;
    const double b = c.beta;
    const double s = a + b;
    const double mean = a / s;
    const double variance = a * b / (s * s * (s + 1.0));
    // Fourth central moment from the exact excess kurtosis of the Beta law.
    const double excess = 6.0 * ((a - b) * (a - b) * (s + 1.0) - a * b * (s + 2.0)) / (a * b * (s + 2.0) * (s + 3.0));
    const double mu4 = (excess + 3.0) * variance * variance;
    expect_moments(moments_of(n, [&] { return sample_beta(r, a, b); }), n, mean, variance, mu4);
  }
}

TEST(SampleBeta, TinyShapesStayInUnitInterval) {
  rng r(5);
  for (int i = 0; i < 100000; ++i) {
    const double x = sample_beta(r, 0.01, 0.01);
    ASSERT_GE(x, 0.0);
    ASSERT_LE(x, 1.0);
  }
}

TEST(SampleBeta, InvalidParametersGiveNaN) {
  rng r(1);
  EXPECT_TRUE(std::isnan(sample_beta(r, 0.0, 1.0)));
  EXPECT_TRUE(std::isnan(sample_beta(r, 1.0, -2.0)));
  EXPECT_TRUE(std::isnan(sample_beta(r, kNaN, 1.0)));
  EXPECT_TRUE(std::isnan(sample_beta(r, 1.0, kInf)));
}

// ---------------------------------------------------------------------------------------------
// bandit_weights and thompson_choose

double log_beta_function(double a, double b) { return std::lgamma(a) + std::lgamma(b) - std::lgamma(a + b); }

// P(Y > X) for X ~ Beta(a1, b1), Y ~ Beta(a2, b2) with integer a2 (Evan Miller's finite sum).
double exact_p_second_beats_first(double a1, double b1, double a2, double b2) {
  double total = 0.0;
  for (int i = 0; i < static_cast<int>(a2); ++i) {
    total += std::exp(log_beta_function(a1 + i, b1 + b2) - std::log(b2 + i) - log_beta_function(1.0 + i, b2) -
                      log_beta_function(a1, b1));
  }
  return total;
}

TEST(BanditWeights, ClosedFormSanity) {
  EXPECT_NEAR(exact_p_second_beats_first(7, 9, 7, 9), 0.5, 1e-12);
  EXPECT_NEAR(exact_p_second_beats_first(3, 7, 2, 3) + exact_p_second_beats_first(2, 3, 3, 7), 1.0, 1e-12);
  EXPECT_NEAR(exact_p_second_beats_first(1, 1, 2, 1), 2.0 / 3.0, 1e-12);  // P(max(U1,U2) > U3)
}

TEST(BanditWeights, TwoArmProbabilityOfBestMatchesClosedForm) {
  const struct {
    beta_arm a;
    beta_arm b;
  } cases[] = {{{10, 20}, {15, 18}}, {{3, 7}, {2, 3}}, {{50, 950}, {60, 940}}, {{1, 1}, {2, 1}}};
  rng r = rng::from_seed("p-best");
  for (const auto& c : cases) {
    SCOPED_TRACE(testing::Message() << "A=(" << c.a.alpha << "," << c.a.beta << ") B=(" << c.b.alpha << ","
                                    << c.b.beta << ")");
    const auto weights = bandit_weights({c.a, c.b}, weights_options{200000, 0.0, false}, r);
    ASSERT_TRUE(weights.ok()) << weights.message();
    const double exact = exact_p_second_beats_first(c.a.alpha, c.a.beta, c.b.alpha, c.b.beta);
    EXPECT_NEAR((*weights)[1], exact, 0.005);
    EXPECT_NEAR((*weights)[0] + (*weights)[1], 1.0, 1e-15);
  }
}

const std::vector<beta_arm> kThreeArms = {{12, 30}, {15, 28}, {9, 33}};

double sum_of(const std::vector<double>& xs) {
  double sum = 0.0;
  for (double x : xs) sum += x;
  return sum;
}

TEST(BanditWeights, SumToOneForAllOptions) {
  const std::vector<beta_arm> arms = {{12, 30}, {15, 28}, {9, 33}, {0.5, 0.5}, {100, 300}};
  for (bool top_two : {false, true}) {
    for (double floor : {0.0, 0.01, 0.1, 0.2}) {
      rng r(42);
      const auto weights = bandit_weights(arms, weights_options{5000, floor, top_two}, r);
      ASSERT_TRUE(weights.ok()) << weights.message();
      ASSERT_EQ(weights->size(), arms.size());
      EXPECT_NEAR(sum_of(*weights), 1.0, 1e-12) << "floor " << floor << " top_two " << top_two;
      for (double w : *weights) EXPECT_GE(w, floor);
    }
  }
}

TEST(BanditWeights, FloorIsAdditive) {
  const double floor = 0.1;
  rng plain_rng(8);
  rng floored_rng(8);
  const auto plain = bandit_weights(kThreeArms, weights_options{20000, 0.0, false}, plain_rng);
  const auto floored = bandit_weights(kThreeArms, weights_options{20000, floor, false}, floored_rng);
  ASSERT_TRUE(plain.ok() && floored.ok());
  for (size_t i = 0; i < kThreeArms.size(); ++i) {
    EXPECT_DOUBLE_EQ((*floored)[i], floor + (1.0 - 3.0 * floor) * (*plain)[i]);
  }
}

TEST(BanditWeights, FloorOfOneOverNIsUniform) {
  const std::vector<beta_arm> arms = {{100, 10}, {10, 100}, {5, 5}, {1, 1}};
  rng r(9);
  const auto weights = bandit_weights(arms, weights_options{1000, 0.25, false}, r);
  ASSERT_TRUE(weights.ok()) << weights.message();
  for (double w : *weights) EXPECT_EQ(w, 0.25);
}

TEST(BanditWeights, TopTwoWithTwoArmsIsHalfEach) {
  rng r(10);
  const auto weights = bandit_weights({{80, 20}, {20, 80}}, weights_options{10000, 0.0, true}, r);
  ASSERT_TRUE(weights.ok()) << weights.message();
  EXPECT_EQ((*weights)[0], 0.5);
  EXPECT_EQ((*weights)[1], 0.5);
}

TEST(BanditWeights, TopTwoGivesHalfToChallengersOfADominantArm) {
  const std::vector<beta_arm> arms = {{1000, 10}, {10, 1000}, {12, 1000}};
  rng plain_rng(11);
  rng top_two_rng(11);
  const auto plain = bandit_weights(arms, weights_options{20000, 0.0, false}, plain_rng);
  const auto top_two = bandit_weights(arms, weights_options{20000, 0.0, true}, top_two_rng);
  ASSERT_TRUE(plain.ok() && top_two.ok());
  EXPECT_EQ((*plain)[0], 1.0);
  EXPECT_EQ((*top_two)[0], 0.5);
  EXPECT_NEAR((*top_two)[1] + (*top_two)[2], 0.5, 1e-15);
  EXPECT_GT((*top_two)[2], (*top_two)[1]);  // Beta(12, 1000) is the likelier runner-up
}

TEST(BanditWeights, SingleArmGetsEverything) {
  for (bool top_two : {false, true}) {
    rng r(12);
    const auto weights = bandit_weights({{3, 4}}, weights_options{100, 0.0, top_two}, r);
    ASSERT_TRUE(weights.ok()) << weights.message();
    ASSERT_EQ(weights->size(), 1u);
    EXPECT_EQ((*weights)[0], 1.0);
  }
}

TEST(BanditWeights, TiesGoToTheLowestIndex) {
  // Beta(1e6, 1e-9) draws are 1.0 exactly (the second gamma underflows far below 2^-53).
  const std::vector<beta_arm> arms = {{1e6, 1e-9}, {1e6, 1e-9}, {1e6, 1e-9}};
  rng probe(13);
  ASSERT_EQ(sample_beta(probe, 1e6, 1e-9), 1.0);
  rng r(13);
  const auto plain = bandit_weights(arms, weights_options{1000, 0.0, false}, r);
  const auto top_two = bandit_weights(arms, weights_options{1000, 0.0, true}, r);
  ASSERT_TRUE(plain.ok() && top_two.ok());
  EXPECT_EQ(*plain, (std::vector<double>{1.0, 0.0, 0.0}));
  EXPECT_EQ(*top_two, (std::vector<double>{0.5, 0.5, 0.0}));
  for (int i = 0; i < 100; ++i) EXPECT_EQ(thompson_choose(arms, r).value(), 0u);
}

void expect_failure(const whale::result<std::vector<double>>& got, error_code code) {
  EXPECT_FALSE(got.ok());
  EXPECT_EQ(got.code(), code);
  EXPECT_FALSE(got.message().empty());
}

TEST(BanditWeights, RejectsBadInputs) {
  rng r(14);
  const weights_options ok_options{};
  expect_failure(bandit_weights({}, ok_options, r), error_code::invalid_value);
  expect_failure(bandit_weights(std::vector<beta_arm>(whale::bandit::max_arms + 1, {1, 1}), ok_options, r),
                 error_code::too_large);
  for (double bad : {0.0, -1.0, kNaN, kInf, -kInf}) {
    expect_failure(bandit_weights({{1, 1}, {bad, 1}}, ok_options, r), error_code::invalid_value);
    expect_failure(bandit_weights({{1, bad}, {1, 1}}, ok_options, r), error_code::invalid_value);
  }
  expect_failure(bandit_weights(kThreeArms, weights_options{0, 0.0, false}, r), error_code::invalid_value);
  expect_failure(bandit_weights(kThreeArms, weights_options{whale::bandit::max_draws + 1, 0.0, false}, r),
                 error_code::too_large);
  // Within both single limits, but draws * arms over max_samples.
  expect_failure(bandit_weights(std::vector<beta_arm>(11, {1, 1}), weights_options{1'000'000, 0.0, false}, r),
                 error_code::too_large);
  for (double floor : {-0.01, 0.34, kNaN, kInf}) {
    expect_failure(bandit_weights(kThreeArms, weights_options{100, floor, false}, r), error_code::invalid_value);
  }
}

TEST(BanditWeights, AcceptsTheLimits) {
  rng r(15);
  const auto many_arms = bandit_weights(std::vector<beta_arm>(whale::bandit::max_arms, {2, 3}),
                                        weights_options{10, 0.001, false}, r);
  ASSERT_TRUE(many_arms.ok()) << many_arms.message();
  EXPECT_NEAR(sum_of(*many_arms), 1.0, 1e-12);
  const auto max_draws = bandit_weights({{2, 3}}, weights_options{whale::bandit::max_draws, 0.0, false}, r);
  ASSERT_TRUE(max_draws.ok()) << max_draws.message();
}

TEST(ThompsonChoose, RejectsBadInputs) {
  rng r(16);
  EXPECT_EQ(thompson_choose({}, r).code(), error_code::invalid_value);
  EXPECT_EQ(thompson_choose({{1, 1}, {0, 1}}, r).code(), error_code::invalid_value);
  EXPECT_EQ(thompson_choose({{kNaN, 1}}, r).code(), error_code::invalid_value);
  EXPECT_EQ(thompson_choose(std::vector<beta_arm>(whale::bandit::max_arms + 1, {1, 1}), r).code(),
            error_code::too_large);
}

TEST(ThompsonChoose, IsOneDrawOfBanditWeights) {
  for (uint64_t seed = 0; seed < 200; ++seed) {
    rng choose_rng(seed);
    rng weights_rng(seed);
    const auto chosen = thompson_choose(kThreeArms, choose_rng);
    const auto weights = bandit_weights(kThreeArms, weights_options{1, 0.0, false}, weights_rng);
    ASSERT_TRUE(chosen.ok() && weights.ok());
    EXPECT_EQ((*weights)[*chosen], 1.0) << "seed " << seed;
    EXPECT_EQ(choose_rng.next_u64(), weights_rng.next_u64());  // same number of rng calls
  }
}

TEST(ThompsonChoose, PicksTheClearWinnerAndSometimesExplores) {
  rng r(17);
  const std::vector<beta_arm> arms = {{5, 95}, {30, 70}, {8, 92}};
  int counts[3] = {0, 0, 0};
  for (int i = 0; i < 2000; ++i) ++counts[thompson_choose(arms, r).value()];
  EXPECT_GT(counts[1], 1990);
  EXPECT_EQ(counts[0] + counts[1] + counts[2], 2000);
  const std::vector<beta_arm> close = {{50, 50}, {51, 50}};
  int first = 0;
  for (int i = 0; i < 2000; ++i) first += thompson_choose(close, r).value() == 0;
  EXPECT_GT(first, 700);  // P(arm 0 best) is about 0.47
  EXPECT_LT(first, 1200);
}

// ---------------------------------------------------------------------------------------------
// Golden bits: computed once by this implementation (native x86-64); the wasm32-wasi and
// emscripten builds must give the same. fixtures/bandit-golden.json holds the same vectors.

TEST(Golden, RngFirstOutputs) {
  rng r = rng::from_seed("whale-rng");
  const uint64_t expected[] = {0x3ea00f2bc886849aULL, 0x7e7bc41295a2b491ULL, 0x5d7368204508390fULL,
                               0xb8872a606e5701c9ULL};
  for (uint64_t want : expected) EXPECT_EQ(r.next_u64(), want);
}

TEST(Golden, DetLogAndDetExp) {
  const struct {
    double x;
    double log;
  } logs[] = {{1e-310, -0x1.64e69394d9508p+9},
              {0.7071, -0x1.62e6b3842a25ep-2},
              {3.14159, 0x1.250cf662abf9ap+0},
              {1e300, 0x1.5963447f87fb5p+9}};
  for (const auto& c : logs) EXPECT_EQ(bits_of(det_log(c.x)), bits_of(c.log)) << c.x;
  const struct {
    double x;
    double exp;
  } exps[] = {{-745.0, 0x0.0000000000001p-1022},
              {-20.5, 0x1.57a3afeed00abp-30},
              {1.0, 0x1.5bf0a8b145769p+1},
              {709.7, 0x1.d75ae7a50ee14p+1023}};
  for (const auto& c : exps) EXPECT_EQ(bits_of(det_exp(c.x)), bits_of(c.exp)) << c.x;
}

TEST(Golden, SampleBetaFirstEight) {
  const struct {
    const char* seed;
    double alpha;
    double beta;
    double samples[8];
  } cases[] = {
      {"whale-golden-1",
       2.5,
       7,
       {0x1.9c741618aef0fp-2, 0x1.f220506247b36p-3, 0x1.267f4afc0c79ep-1, 0x1.a1a5c268619fcp-3, 0x1.b7bb00be896dep-3,
        0x1.b7b94fd8e9d0dp-3, 0x1.acbd60423185dp-4, 0x1.664208194dd85p-4}},
      {"whale-golden-2",
       0.3,
       0.8,
       {0x1.008883663fa2ap-3, 0x1.8ca9c441e40e4p-3, 0x1.6b3a36fa3a2b6p-3, 0x1.9878478ba1b59p-3, 0x1.e0c10ce757087p-6,
        0x1.09f4e997ef808p-7, 0x1.1d4955ef8655bp-1, 0x1.124f67e3b3e8p-6}},
      {"whale-golden-3",
       0.5,
       3,
       {0x1.cee6048746422p-2, 0x1.f4366bb231e97p-3, 0x1.b28685dd8e70dp-8, 0x1.f4dc2a029833cp-7, 0x1.c0677bfbe131dp-2,
        0x1.734358730059bp-5, 0x1.50bb39488d588p-4, 0x1.8db1ba0a87a3p-5}},
      {"experiment-42:user-7",
       200,
       800,
       {0x1.87f7414752e2ep-3, 0x1.c1bef844c0b12p-3, 0x1.8eb77bbf968e4p-3, 0x1.9f1352c7fcdacp-3, 0x1.9f27e2b74d01cp-3,
        0x1.c8a0aa6b376b5p-3, 0x1.aa60a513688afp-3, 0x1.a9224434f862p-3}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.seed);
    rng r = rng::from_seed(c.seed);
    for (double want : c.samples) EXPECT_EQ(bits_of(sample_beta(r, c.alpha, c.beta)), bits_of(want));
  }
}

TEST(Golden, BanditWeights) {
  const std::vector<beta_arm> arms = {{12, 30}, {15, 28}, {9, 33}, {0.5, 0.5}};
  rng plain_rng = rng::from_seed("whale-weights-1");
  const auto plain = bandit_weights(arms, weights_options{10000, 0.05, false}, plain_rng);
  ASSERT_TRUE(plain.ok()) << plain.message();
  const double plain_want[] = {0x1.07f23cc8de2acp-3, 0x1.26d4801f75105p-2, 0x1.05d0fa58f7122p-4, 0x1.09df1172ef0afp-1};
  for (size_t i = 0; i < arms.size(); ++i) EXPECT_EQ(bits_of((*plain)[i]), bits_of(plain_want[i])) << i;

  rng top_two_rng = rng::from_seed("whale-weights-2");
  const auto top_two = bandit_weights(arms, weights_options{10000, 0.0, true}, top_two_rng);
  ASSERT_TRUE(top_two.ok()) << top_two.message();
  const double top_two_want[] = {0x1.c7c84b5dcc63fp-3, 0x1.9573eab367a1p-2, 0x1.e0ded288ce704p-5, 0x1.4a8c154c985fp-2};
  for (size_t i = 0; i < arms.size(); ++i) EXPECT_EQ(bits_of((*top_two)[i]), bits_of(top_two_want[i])) << i;
}

}  // namespace
