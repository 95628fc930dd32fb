#include <gtest/gtest.h>

#include <cmath>

#include "whale/learn/srm.h"

using whale::srm::chi_square_sf;
using whale::srm::log_gamma;
using whale::srm::srm_test;

TEST(Srm, LogGamma) {
  EXPECT_NEAR(log_gamma(1), 0, 1e-14);
  EXPECT_NEAR(log_gamma(2), 0, 1e-14);
  EXPECT_NEAR(log_gamma(0.5), 0.5723649429247001, 1e-13);  // ln sqrt(pi)
  EXPECT_NEAR(log_gamma(10), 12.801827480081469, 1e-12);   // ln 9!
  EXPECT_NEAR(log_gamma(0.1), 2.252712651734206, 1e-12);
  EXPECT_TRUE(std::isnan(log_gamma(0)));
}

TEST(Srm, ChiSquareSurvivalMatchesReferenceValues) {
  // Reference values from scipy.stats.chi2.sf.
  EXPECT_NEAR(chi_square_sf(3.841458820694124, 1), 0.05, 1e-12);
  EXPECT_NEAR(chi_square_sf(10.827566170662733, 1), 0.001, 1e-13);
  EXPECT_NEAR(chi_square_sf(13.815510557964274, 2), 0.001, 1e-13);  // exp(-x/2) for dof 2
  EXPECT_NEAR(chi_square_sf(2, 2), std::exp(-1.0), 1e-14);
  EXPECT_NEAR(chi_square_sf(1, 1), 0.31731050786291415, 1e-12);
  EXPECT_NEAR(chi_square_sf(5, 3), 0.17179714429673336, 1e-12);
  EXPECT_NEAR(chi_square_sf(100, 1), 1.5239706048320995e-23, 1e-33);
  EXPECT_NEAR(chi_square_sf(20, 10), 0.029252688076961127, 1e-12);
  EXPECT_EQ(chi_square_sf(0, 1), 1);
  EXPECT_EQ(chi_square_sf(-1, 4), 1);
  EXPECT_TRUE(std::isnan(chi_square_sf(1, 0)));
}

TEST(Srm, IsDeterministicAndMonotone) {
  double previous = 1;
  for (double x = 0.5; x < 60; x += 0.5) {
    const double p = chi_square_sf(x, 2);
    EXPECT_LE(p, previous);
    EXPECT_EQ(p, chi_square_sf(x, 2));
    previous = p;
  }
}

TEST(Srm, TestOfCounts) {
  auto balanced = srm_test({500, 510}, {0.5, 0.5});
  ASSERT_TRUE(balanced);
  EXPECT_GT(balanced->p, 0.5);
  auto skewed = srm_test({300, 100}, {0.5, 0.5});
  ASSERT_TRUE(skewed);
  EXPECT_NEAR(skewed->chi2, 100, 1e-9);
  EXPECT_EQ(skewed->dof, 1);
  EXPECT_LT(skewed->p, 0.001);
  auto weighted = srm_test({900, 100}, {0.9, 0.1});
  ASSERT_TRUE(weighted);
  EXPECT_NEAR(weighted->chi2, 0, 1e-9);
  EXPECT_EQ(weighted->p, 1);
  EXPECT_FALSE(srm_test({1}, {1}));
  EXPECT_FALSE(srm_test({1, 2}, {0.5}));
  EXPECT_FALSE(srm_test({1, 2}, {0, 0}));
}
