// Tests of whale::optimizer: the log-odds model recovers known effects and synergies from a
// factorial, reports unidentified pairs as uninformed and components shown in every arm as
// neutral; Beta CDF and quantiles against closed forms; component rates; the layout view of the
// fixture configs; proposals (a never-served combination, a synergy partner from another page,
// conflicts respected) and the proposal as a config the parser accepts.
#include "whale/learn/optimizer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "test_util.h"
#include "whale/config.h"

namespace {

using whale::error_code;
namespace opt = whale::optimizer;
using whale::json::value;

double sigmoid(double x) { return 1 / (1 + std::exp(-x)); }

// An arm with the conversions the true log-odds `eta` gives on `units` (rounded): no noise.
opt::arm exact(const std::string& experiment, std::vector<std::string> components, double units, double eta) {
  return {experiment, std::move(components), units, std::round(units * sigmoid(eta))};
}

const opt::effect& component(const opt::model& m, const std::string& key) {
  for (const opt::effect& e : m.components) {
    if (e.a == key) return e;
  }
  ADD_FAILURE() << "no component " << key;
  static opt::effect none;
  return none;
}

const opt::effect& pair(const opt::model& m, const std::string& a, const std::string& b) {
  for (const opt::effect& e : m.pairs) {
    if (e.a == a && e.b == b) return e;
  }
  ADD_FAILURE() << "no pair " << a << "+" << b;
  static opt::effect none;
  return none;
}

// A 2x2 factorial of components A and B in one experiment, plus a header shown in every arm.
std::vector<opt::arm> factorial(double base, double a, double b, double synergy, double units) {
  return {exact("exp", {"header"}, units, base), exact("exp", {"header", "A"}, units, base + a),
          exact("exp", {"header", "B"}, units, base + b),
          exact("exp", {"header", "A", "B"}, units, base + a + b + synergy)};
}

TEST(OptimizerModel, RecoversEffectsAndSynergyFromAFactorial) {
  auto m = opt::fit(factorial(-3, 0.4, -0.2, 0.5, 2e6));
  ASSERT_TRUE(m.ok()) << m.message();
  EXPECT_TRUE(m->converged);
  EXPECT_NEAR(component(*m, "A").mean, 0.4, 0.01);
  EXPECT_NEAR(component(*m, "B").mean, -0.2, 0.01);
  const opt::effect& ab = pair(*m, "A", "B");
  EXPECT_NEAR(ab.mean, 0.5, 0.01);
  EXPECT_GT(ab.information, 0.99);
  EXPECT_LT(ab.low, 0.5);
  EXPECT_GT(ab.high, 0.5);
  EXPECT_EQ(ab.arms, 1u);
  // The uplift of the pair: the rate with both over the rate the two effects alone predict.
  const double apart = m->base + component(*m, "A").mean + component(*m, "B").mean;
  EXPECT_NEAR(ab.uplift, sigmoid(apart + ab.mean) / sigmoid(apart) - 1, 1e-12);
  EXPECT_GT(ab.uplift, 0.5);
  // Shown in every arm of its experiment: absorbed by the baseline, no effect of its own (but
  // for the weak baseline prior's pull: about 1% of the gap between the pooled and base logits).
  EXPECT_NEAR(component(*m, "header").mean, 0, 0.005);
  EXPECT_LT(component(*m, "header").information, 0.05);
  ASSERT_EQ(m->experiments.size(), 1u);
  EXPECT_NEAR(m->experiments[0].mean, -3, 0.01);
  EXPECT_NEAR(opt::score(*m, {"B", "A", "A"}), component(*m, "A").mean + component(*m, "B").mean + ab.mean, 1e-12);
  EXPECT_EQ(opt::score(*m, {"unknown"}), 0);
}

TEST(OptimizerModel, APairNeverSeenApartGetsNoSynergy) {
  // A and B always together: only their sum is identified, the prior splits it evenly, and the
  // pair has no parameter of its own (its column would be A's and B's).
  const std::vector<opt::arm> arms{exact("exp", {}, 1e6, -3), exact("exp", {"A", "B"}, 1e6, -3 + 0.9)};
  auto m = opt::fit(arms);
  ASSERT_TRUE(m.ok()) << m.message();
  EXPECT_TRUE(m->pairs.empty());
  EXPECT_EQ(m->confounded_pairs, 1u);
  EXPECT_NEAR(component(*m, "A").mean, 0.45, 0.01);
  EXPECT_NEAR(component(*m, "B").mean, 0.45, 0.01);
  // Each alone is half-known: the data pin the sum, not the split (posterior var 1/2 of prior).
  EXPECT_NEAR(component(*m, "A").information, 0.5, 0.01);
  EXPECT_NEAR(opt::score(*m, {"A", "B"}), 0.9, 0.01);
}

TEST(OptimizerModel, IsDeterministicAndKeepsExperimentsApart) {
  std::vector<opt::arm> arms = factorial(-3, 0.3, 0.1, 0.2, 5000);
  // A second experiment at a much higher baseline showing A in one arm only.
  arms.push_back(exact("cart", {"cart"}, 3000, -1));
  arms.push_back(exact("cart", {"cart", "A"}, 3000, -0.7));
  auto first = opt::fit(arms);
  auto second = opt::fit(arms);
  ASSERT_TRUE(first.ok() && second.ok());
  ASSERT_EQ(first->components.size(), second->components.size());
  for (size_t i = 0; i < first->components.size(); ++i) {
    EXPECT_EQ(std::memcmp(&first->components[i].mean, &second->components[i].mean, sizeof(double)), 0);
    EXPECT_EQ(std::memcmp(&first->components[i].sd, &second->components[i].sd, sizeof(double)), 0);
  }
  EXPECT_EQ(first->experiments.size(), 2u);
  // Both experiments say A helps; the cart baseline does not leak into A.
  EXPECT_GT(component(*first, "A").mean, 0.1);
  EXPECT_LT(component(*first, "A").mean, 0.6);
}

TEST(OptimizerModel, BudgetDropsThePairsSeenOnFewestUnits) {
  std::vector<opt::arm> arms{exact("e", {"a", "b"}, 100, -2), exact("e", {"a", "c"}, 50, -2),
                             exact("e", {"a"}, 100, -2), exact("e", {"b"}, 100, -2), exact("e", {"c"}, 100, -2)};
  opt::options o;
  o.max_parameters = 5;  // 1 experiment + 3 components + 1 pair
  auto m = opt::fit(arms, o);
  ASSERT_TRUE(m.ok()) << m.message();
  ASSERT_EQ(m->pairs.size(), 1u);
  EXPECT_EQ(m->pairs[0].a + "+" + m->pairs[0].b, "a+b");
  EXPECT_EQ(m->dropped_pairs, 1u);
  o.max_parameters = 3;
  EXPECT_EQ(opt::fit(arms, o).code(), error_code::too_large);
}

TEST(OptimizerModel, RefusesBadInput) {
  EXPECT_EQ(opt::fit({{"e", {"a"}, 10, 11}}).code(), error_code::invalid_value);
  EXPECT_EQ(opt::fit({{"e", {"a"}, std::nan(""), 1}}).code(), error_code::invalid_value);
  EXPECT_EQ(opt::fit({{"e", {"a"}, -1, 0}}).code(), error_code::invalid_value);
  opt::options o;
  o.pair_sd = 0;
  EXPECT_EQ(opt::fit({}, o).code(), error_code::invalid_value);
  auto empty = opt::fit({{"e", {"a"}, 0, 0}});
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->components.empty());
  EXPECT_TRUE(empty->converged);
}

TEST(OptimizerBeta, CdfAndQuantileMatchClosedForms) {
  for (double x : {0.0, 0.1, 0.37, 0.5, 0.9, 1.0}) {
    EXPECT_NEAR(opt::beta_cdf(x, 1, 1), x, 1e-12);
    EXPECT_NEAR(opt::beta_cdf(x, 2, 1), x * x, 1e-12);
    EXPECT_NEAR(opt::beta_cdf(x, 1, 2), 1 - (1 - x) * (1 - x), 1e-12);
    EXPECT_NEAR(opt::beta_cdf(x, 2, 2), 3 * x * x - 2 * x * x * x, 1e-12);
    EXPECT_NEAR(opt::beta_cdf(x, 1, 5), 1 - std::pow(1 - x, 5), 1e-12);
  }
  EXPECT_NEAR(opt::beta_quantile(0.25, 2, 1), 0.5, 1e-10);
  EXPECT_NEAR(opt::beta_quantile(0.5, 2, 2), 0.5, 1e-10);
  for (double p : {0.025, 0.5, 0.975}) {
    const double q = opt::beta_quantile(p, 61, 941);
    EXPECT_NEAR(opt::beta_cdf(q, 61, 941), p, 1e-9);
  }
  // Large counts: close to the normal approximation.
  const double a = 5001, b = 95001, mean = a / (a + b), sd = std::sqrt(a * b / ((a + b) * (a + b) * (a + b + 1)));
  EXPECT_NEAR(opt::beta_quantile(0.975, a, b), mean + 1.959964 * sd, 2e-5);
  EXPECT_TRUE(std::isnan(opt::beta_cdf(0.5, 0, 1)));
  EXPECT_TRUE(std::isnan(opt::beta_cdf(1.5, 1, 1)));
  EXPECT_TRUE(std::isnan(opt::beta_quantile(-0.1, 1, 1)));
}

TEST(OptimizerRates, PoolArmsPerComponentAndRankByTheLowerBound) {
  const std::vector<opt::arm> arms{{"e1", {"hero", "promo"}, 1000, 50},
                                   {"e1", {"hero"}, 1000, 30},
                                   {"e2", {"promo", "promo"}, 4, 3},
                                   {"e2", {"grid"}, 0, 0}};
  auto rates = opt::component_rates(arms);
  ASSERT_TRUE(rates.ok()) << rates.message();
  ASSERT_EQ(rates->size(), 2u);  // grid was never shown to anyone
  const opt::component_rate& promo = (*rates)[0];
  const opt::component_rate& hero = (*rates)[1];
  EXPECT_EQ(promo.key, "promo");
  EXPECT_EQ(promo.units, 1004);
  EXPECT_EQ(promo.conversions, 53);
  EXPECT_EQ(promo.arms, 2u);
  EXPECT_EQ(promo.experiments, 2u);
  EXPECT_EQ(hero.key, "hero");
  EXPECT_EQ(hero.units, 2000);
  EXPECT_NEAR(hero.mean, 81.0 / 2002, 1e-15);
  EXPECT_NEAR(opt::beta_cdf(hero.low, 81, 1921), 0.025, 1e-9);
  EXPECT_NEAR(opt::beta_cdf(hero.high, 81, 1921), 0.975, 1e-9);
  EXPECT_GT(promo.low, hero.low);
  EXPECT_EQ(opt::component_rates(arms, 1).code(), error_code::invalid_value);
}

value fixture_config(const std::string& slug) {
  auto v = whale::json::parse(whale::testing::read_fixture("vendors/" + slug + "/config.json"));
  EXPECT_TRUE(v.ok()) << v.message();
  return v.ok() ? *v : value();
}

const opt::experiment& experiment_of(const std::vector<opt::experiment>& all, const std::string& key) {
  for (const opt::experiment& e : all) {
    if (e.key == key) return e;
  }
  ADD_FAILURE() << "no experiment " << key;
  static opt::experiment none;
  return none;
}

std::vector<std::string> keys(std::initializer_list<const char*> xs) { return {xs.begin(), xs.end()}; }

TEST(OptimizerLayout, ExperimentsShowTheComponentsOfTheirSections) {
  const std::vector<opt::experiment> gh = opt::experiments(fixture_config("green-harbor"));
  const opt::experiment& hero = experiment_of(gh, "gh-home-hero");
  EXPECT_TRUE(hero.layout);
  EXPECT_EQ(hero.component, "hero-banner");
  ASSERT_EQ(hero.variations.size(), 3u);
  EXPECT_EQ(hero.variations[0].components, keys({"hero-banner", "promo-strip"}));
  EXPECT_EQ(hero.variations[1].components, keys({"hero-banner", "promo-strip"}));  // a props patch
  EXPECT_EQ(hero.variations[2].components, keys({"hero-video"}));
  EXPECT_EQ(hero.variations[2].meta_key, "treatment-2");
  EXPECT_EQ(opt::variation_index(hero, "2"), 2);
  EXPECT_EQ(opt::variation_index(hero, "treatment-1"), 1);
  EXPECT_EQ(opt::variation_index(hero, "7"), -1);
  EXPECT_EQ(opt::variation_index(hero, "other"), -1);
  EXPECT_EQ(experiment_of(gh, "gh-deals-layout").variations[1].components, keys({"product-carousel", "product-grid"}));

  // Not a layout experiment: the component its feature is named after, in every variation.
  const std::vector<opt::experiment> flora = opt::experiments(fixture_config("flora-distro"));
  const opt::experiment& copy = experiment_of(flora, "hero-copy-q3");
  EXPECT_FALSE(copy.layout);
  EXPECT_EQ(copy.component, "hero-banner");
  EXPECT_EQ(copy.variations[2].components, keys({"hero-banner"}));
  EXPECT_EQ(experiment_of(flora, "promo-strip-copy").component, "promo-strip");
  const opt::experiment& color = experiment_of(flora, "checkout-btn-color");
  EXPECT_EQ(color.component, "");
  EXPECT_TRUE(color.variations[0].components.empty());
}

// Arms of a factorial experiment "x" on hero-video and promo-strip (the pair was never served
// in a layout) with a strong synergy, plus the fixture's own hero experiment.
std::vector<opt::arm> hero_arms(double synergy) {
  return {exact("x", {}, 1e5, -3),
          exact("x", {"hero-video"}, 1e5, -3 + 0.3),
          exact("x", {"promo-strip"}, 1e5, -3 + 0.1),
          exact("x", {"hero-video", "promo-strip"}, 1e5, -3 + 0.4 + synergy),
          exact("gh-home-hero", {"hero-banner", "promo-strip"}, 1e5, -3),
          exact("gh-home-hero", {"hero-video"}, 1e5, -3 + 0.3 - 0.1)};
}

TEST(OptimizerProposal, CombinesTheBestComponentsOfASection) {
  const value config = fixture_config("green-harbor");
  auto m = opt::fit(hero_arms(0.6));
  ASSERT_TRUE(m.ok()) << m.message();
  const std::optional<opt::proposal> p = opt::propose(config, *m);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->page, "home");
  EXPECT_EQ(p->section, "hero");
  EXPECT_EQ(p->feature, "gh-home-hero");
  EXPECT_EQ(p->control, keys({"hero-banner", "promo-strip"}));
  // hero-banner conflicts with hero-video: never both.
  EXPECT_EQ(p->variant, keys({"promo-strip", "hero-video"}));
  EXPECT_NEAR(p->gain, p->variant_score - p->control_score, 1e-15);
  EXPECT_NEAR(p->variant_score, opt::score(*m, p->variant), 1e-15);
  ASSERT_EQ(p->instances.items().size(), 2u);
  EXPECT_EQ(p->instances.items()[0].find("id")->as_string(), "promo");
  EXPECT_EQ(p->instances.items()[1].find("id")->as_string(), "hero-video");

  // As a new experiment: the parser accepts it and the section now names it.
  auto applied = opt::apply(config, *p, "opt-home-hero-1");
  ASSERT_TRUE(applied.ok()) << applied.message();
  auto parsed = whale::config::parse(whale::json::to_string(*applied));
  ASSERT_TRUE(parsed.ok()) << parsed.message();
  const std::vector<opt::experiment> after = opt::experiments(*applied);
  const opt::experiment& e = experiment_of(after, "opt-home-hero-1");
  EXPECT_TRUE(e.layout);
  ASSERT_EQ(e.variations.size(), 2u);
  EXPECT_EQ(e.variations[0].components, keys({"hero-banner", "promo-strip"}));
  EXPECT_EQ(e.variations[1].components, keys({"promo-strip", "hero-video"}));
  EXPECT_EQ(e.variations[1].meta_key, "optimized");
  EXPECT_EQ(opt::apply(*applied, *p, "opt-home-hero-1").code(), error_code::invalid_value);
  opt::proposal gone = *p;
  gone.section = "nope";
  EXPECT_EQ(opt::apply(config, gone, "opt-x").code(), error_code::not_found);

  // Round trip through JSON.
  auto back = opt::proposal_from_json(opt::to_json(*p));
  ASSERT_TRUE(back.ok()) << back.message();
  EXPECT_EQ(back->variant, p->variant);
  EXPECT_TRUE(whale::json::equal(back->instances, p->instances));
  EXPECT_EQ(back->gain, p->gain);
}

TEST(OptimizerProposal, ASegmentsProposalIsARuleTargetedAtIt) {
  const value config = fixture_config("green-harbor");
  auto m = opt::fit(hero_arms(0.6));
  ASSERT_TRUE(m.ok()) << m.message();
  std::optional<opt::proposal> p = opt::propose(config, *m);
  ASSERT_TRUE(p.has_value());
  p->segment = "mobile";
  p->condition = *whale::json::parse(R"({"device":"mobile"})");
  auto applied = opt::apply(config, *p, "opt-mobile-home-hero-3");
  ASSERT_TRUE(applied.ok()) << applied.message();
  ASSERT_TRUE(whale::config::parse(whale::json::to_string(*applied)).ok());
  // First among the section's feature's rules, with the segment's condition; the section keeps
  // its feature, so visitors outside the segment see what they saw.
  const value* rules = applied->find("features")->find("gh-home-hero")->find("rules");
  ASSERT_EQ(rules->items().size(), 2u);
  EXPECT_EQ(rules->items()[0].find("key")->as_string(), "opt-mobile-home-hero-3");
  EXPECT_EQ(whale::json::to_string(*rules->items()[0].find("condition")), R"({"device":"mobile"})");
  EXPECT_EQ(rules->items()[1].find("key")->as_string(), "gh-home-hero");
  EXPECT_EQ(applied->find("features")->find("opt-mobile-home-hero-3"), nullptr);
  const std::vector<opt::experiment> all = opt::experiments(*applied);
  const opt::experiment& e = experiment_of(all, "opt-mobile-home-hero-3");
  EXPECT_TRUE(e.layout);
  EXPECT_EQ(whale::json::to_string(e.condition), R"({"device":"mobile"})");
  auto back = opt::proposal_from_json(opt::to_json(*p));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->segment, "mobile");
  EXPECT_TRUE(whale::json::equal(back->condition, p->condition));
}

TEST(OptimizerProposal, BringsInASynergyPartnerFromAnotherPage) {
  const value config = fixture_config("green-harbor");
  // live-chat (on the deals page) works well with hero-video, which beats the hero banner.
  std::vector<opt::arm> arms = hero_arms(0);
  arms.push_back(exact("y", {"hero-video"}, 1e5, -3));
  arms.push_back(exact("y", {"hero-video", "live-chat"}, 1e5, -3 + 0.8));
  arms.push_back(exact("y", {"live-chat"}, 1e5, -3 - 0.2));
  auto m = opt::fit(arms);
  ASSERT_TRUE(m.ok()) << m.message();
  opt::proposal_options only;
  only.page = "home";
  only.section = "hero";
  const std::optional<opt::proposal> p = opt::propose(config, *m, only);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->section, "hero");
  EXPECT_EQ(p->variant, keys({"promo-strip", "hero-video", "live-chat"}));
  EXPECT_EQ(p->instances.items().back().find("id")->as_string(), "chat");
  auto applied = opt::apply(config, *p, "opt-home-hero-2");
  ASSERT_TRUE(applied.ok());
  EXPECT_TRUE(whale::config::parse(whale::json::to_string(*applied)).ok());
}

TEST(OptimizerProposal, NothingWhenTheWrittenSectionsAreBest) {
  const value config = fixture_config("green-harbor");
  const std::vector<opt::arm> arms{exact("gh-home-hero", {"hero-banner", "promo-strip"}, 1e5, -3),
                                   exact("gh-home-hero", {"hero-video"}, 1e5, -3.5)};
  auto m = opt::fit(arms);
  ASSERT_TRUE(m.ok());
  EXPECT_FALSE(opt::propose(config, *m).has_value());
  auto none = opt::fit({});
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(opt::propose(config, *none).has_value());
}

}  // namespace
