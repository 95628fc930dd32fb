// Bandit reweighting at the origin (docs/bandits.md): for every rule of the vendor's latest
// snapshot that carries a `bandit` member, Beta-Bernoulli posteriors per arm from the stored
// events (starting from the rule's bandit.prior, else the collective prior of its component and
// vertical, docs/priors.md), P(best) traffic weights (whale::bandit::bandit_weights, floor, optional top-two), a
// sample-ratio-mismatch test, and a new signed version carrying the new `weights`.
#pragma once

#include <string>
#include <vector>

#include "store.h"
#include "whale/result.h"

namespace whale::origin {

struct reweight_outcome {
  std::string response;               // JSON answer of POST /v1/vendors/{slug}/reweight
  bool published = false;             // a new version was published
  snapshot published_snapshot;        // when published
  std::vector<std::string> statuses;  // one per bandit experiment, for the metrics
};

// not_found when the vendor has published nothing.
result<reweight_outcome> reweight_vendor(store& db, const std::string& slug, const std::string& now,
                                         const snapshot_finisher& finish);

}  // namespace whale::origin
