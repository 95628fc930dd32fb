// Tests of whale::priors: recovery of known Beta(a, b) parameters from simulated arms (true rates
// drawn with whale::bandit's seeded sampler, conversions by Bernoulli draws), the sampling-noise
// correction, the strength cap, the fallbacks, lookup and bad input.
#include "whale/learn/priors.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "whale/bandit.h"

namespace {

using whale::error_code;
using whale::priors::arm_result;
using whale::priors::estimate;
using whale::priors::lookup;
using whale::priors::options;
using whale::priors::prior;
using whale::priors::source;

// Binomial(n, p) by n Bernoulli draws: slow but exact, and n is at most a few thousand here.
double binomial(whale::bandit::rng& r, uint32_t n, double p) {
  uint32_t k = 0;
  for (uint32_t i = 0; i < n; ++i) k += r.next_double() < p ? 1 : 0;
  return k;
}

// `count` arms with true rates ~ Beta(a, b) and units spread over [min_units, 2 * min_units).
std::vector<arm_result> simulate(uint64_t seed, const std::string& component, const std::string& vertical,
                                 double a, double b, size_t count, uint32_t min_units) {
  whale::bandit::rng r(seed);
  std::vector<arm_result> arms;
  for (size_t i = 0; i < count; ++i) {
    const double p = whale::bandit::sample_beta(r, a, b);
    const uint32_t n = min_units + static_cast<uint32_t>(r.next_double() * min_units);
    arms.push_back({component, vertical, binomial(r, n, p), static_cast<double>(n)});
  }
  return arms;
}

const prior& row(const whale::priors::table& t, const std::string& component, const std::string& vertical) {
  for (const prior& p : t.components) {
    if (p.component == component && p.vertical == vertical) return p;
  }
  ADD_FAILURE() << "no row for " << component << "/" << vertical;
  static prior none;
  return none;
}

void expect_recovers(double a, double b, uint32_t min_units, uint64_t seed) {
  const auto arms = simulate(seed, "hero", "fashion", a, b, 1500, min_units);
  options opts;
  opts.max_strength = 1000;  // above the true strength: test the estimator, not the cap
  auto t = estimate(arms, opts);
  ASSERT_TRUE(t.ok()) << t.message();
  const prior& p = row(*t, "hero", "fashion");
  EXPECT_EQ(p.from, source::component);
  EXPECT_EQ(p.arms, 1500u);
  const double mean = a / (a + b);
  EXPECT_NEAR(p.alpha / (p.alpha + p.beta), mean, 0.05 * mean) << "a=" << a << " b=" << b;
  EXPECT_NEAR(p.alpha + p.beta, a + b, 0.2 * (a + b)) << "a=" << a << " b=" << b;
  EXPECT_NEAR(p.alpha, a, 0.2 * a);
  EXPECT_NEAR(p.beta, b, 0.2 * b);
}

TEST(Priors, RecoversKnownBetaFromSimulatedArms) {
  expect_recovers(2, 38, 2000, 1);   // mean 5%, weak prior, little sampling noise
  expect_recovers(4, 76, 200, 2);    // mean 5%, sampling noise ~20% of the observed variance
  expect_recovers(12, 48, 500, 3);   // mean 20%
  expect_recovers(1.5, 8.5, 300, 4); // mean 15%, very spread
}

TEST(Priors, SamplingNoiseCorrectionMatters) {
  // Small arms: without the correction the spread would look larger and the prior too weak.
  const auto arms = simulate(7, "hero", "fashion", 4, 76, 1500, 200);
  options opts;
  opts.max_strength = 1000;
  auto t = estimate(arms, opts);
  ASSERT_TRUE(t.ok());
  const prior& p = row(*t, "hero", "fashion");
  EXPECT_GT(p.sampling_variance, 0.15 * p.observed_variance);
  const double m = p.mean_rate;
  const double naive_strength = m * (1 - m) / p.observed_variance - 1;
  EXPECT_LT(naive_strength, 0.8 * 80);                     // naive is well off
  EXPECT_NEAR(p.alpha + p.beta, 80, 0.2 * 80);             // corrected is close
}

TEST(Priors, StrengthIsCappedWhenArmsAgree) {
  // Every arm has the same true rate: the between-arm variance is ~0 (often negative after the
  // correction), which would give an infinitely strong prior. It is clamped to the cap.
  whale::bandit::rng r(11);
  std::vector<arm_result> arms;
  for (int i = 0; i < 200; ++i) arms.push_back({"cta", "food", binomial(r, 3000, 0.05), 3000});
  auto t = estimate(arms);
  ASSERT_TRUE(t.ok());
  const prior& p = row(*t, "cta", "food");
  EXPECT_EQ(p.from, source::component);
  EXPECT_NEAR(p.alpha + p.beta, options{}.max_strength, 1e-9);
  EXPECT_NEAR(p.alpha / (p.alpha + p.beta), 0.05, 0.002);
  EXPECT_GT(p.between_variance, 0);
}

TEST(Priors, FallsBackToVerticalThenUniform) {
  auto arms = simulate(21, "hero", "fashion", 3, 57, 40, 1000);
  const auto few = simulate(22, "badge", "fashion", 3, 57, 4, 1000);   // too few arms of its own
  const auto lone = simulate(23, "hero", "garden", 3, 57, 6, 1000);    // too few in the vertical
  arms.insert(arms.end(), few.begin(), few.end());
  arms.insert(arms.end(), lone.begin(), lone.end());
  arms.push_back({"empty", "fashion", 0, 1});  // units < 2: skipped, but the key gets a row
  auto t = estimate(arms);
  ASSERT_TRUE(t.ok()) << t.message();

  ASSERT_EQ(t->verticals.size(), 2u);
  const prior& fashion = t->verticals[0];
  EXPECT_EQ(fashion.vertical, "fashion");
  EXPECT_EQ(fashion.from, source::vertical);
  EXPECT_EQ(fashion.arms, 44u);
  const prior& garden = t->verticals[1];
  EXPECT_EQ(garden.from, source::uniform);
  EXPECT_EQ(garden.alpha, 1);
  EXPECT_EQ(garden.beta, 1);

  // Rows sorted by (vertical, component).
  ASSERT_EQ(t->components.size(), 4u);
  EXPECT_EQ(t->components[0].component, "badge");
  EXPECT_EQ(t->components[1].component, "empty");
  EXPECT_EQ(t->components[2].component, "hero");
  EXPECT_EQ(t->components[3].vertical, "garden");

  const prior& badge = row(*t, "badge", "fashion");
  EXPECT_EQ(badge.from, source::vertical);
  EXPECT_EQ(badge.arms, 4u);
  EXPECT_EQ(badge.alpha, fashion.alpha);
  EXPECT_EQ(badge.beta, fashion.beta);
  const prior& empty = row(*t, "empty", "fashion");
  EXPECT_EQ(empty.arms, 0u);
  EXPECT_EQ(empty.from, source::vertical);
  EXPECT_EQ(row(*t, "hero", "fashion").from, source::component);
  const prior& lone_row = row(*t, "hero", "garden");
  EXPECT_EQ(lone_row.from, source::uniform);
  EXPECT_EQ(lone_row.alpha, 1);

  // lookup: the row, else the vertical, else Beta(1, 1).
  EXPECT_EQ(lookup(*t, "hero", "fashion").from, source::component);
  const prior unknown = lookup(*t, "carousel", "fashion");
  EXPECT_EQ(unknown.from, source::vertical);
  EXPECT_EQ(unknown.alpha, fashion.alpha);
  const prior nowhere = lookup(*t, "hero", "toys");
  EXPECT_EQ(nowhere.from, source::uniform);
  EXPECT_EQ(nowhere.alpha, 1);
  EXPECT_EQ(nowhere.beta, 1);
  EXPECT_STREQ(whale::priors::source_name(source::vertical), "vertical");
}

TEST(Priors, NoConversionsStillGivesAValidPrior) {
  std::vector<arm_result> arms;
  for (int i = 0; i < 20; ++i) arms.push_back({"x", "v", 0, 500});
  auto t = estimate(arms);
  ASSERT_TRUE(t.ok());
  const prior& p = row(*t, "x", "v");
  EXPECT_GT(p.alpha, 0);
  EXPECT_GT(p.beta, 0);
  EXPECT_LE(p.alpha + p.beta, 100 + 1e-9);
}

TEST(Priors, EmptyInputIsAnEmptyTable) {
  auto t = estimate({});
  ASSERT_TRUE(t.ok());
  EXPECT_TRUE(t->components.empty());
  EXPECT_TRUE(t->verticals.empty());
}

TEST(Priors, Deterministic) {
  const auto arms = simulate(31, "hero", "fashion", 2, 38, 300, 500);
  auto a = estimate(arms);
  auto b = estimate(arms);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->components[0].alpha, b->components[0].alpha);
  EXPECT_EQ(a->components[0].beta, b->components[0].beta);
}

TEST(Priors, BadInput) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  const std::vector<std::vector<arm_result>> bad = {
      {{"a", "v", -1, 10}},
      {{"a", "v", 1, -10}},
      {{"a", "v", 11, 10}},
      {{"a", "v", nan, 10}},
      {{"a", "v", 1, inf}},
      {{"a", "v", 1, 10}, {"a", "v", 5, 4}},
  };
  for (const auto& arms : bad) {
    auto t = estimate(arms);
    EXPECT_EQ(t.code(), error_code::invalid_value);
    EXPECT_FALSE(t.message().empty());
  }
  options o;
  o.max_strength = 1;  // below min_strength
  EXPECT_EQ(estimate({}, o).code(), error_code::invalid_value);
  o = options{};
  o.min_strength = 0;
  EXPECT_EQ(estimate({}, o).code(), error_code::invalid_value);
  o = options{};
  o.max_strength = inf;
  EXPECT_EQ(estimate({}, o).code(), error_code::invalid_value);
}

}  // namespace
