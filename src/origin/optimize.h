// The self-optimizer at the origin (docs/optimizer.md): the model of a vendor's results
// (whale::optimizer), proposals stored as drafts, published through the usual publish path only
// for vendors who opted in, or applied to the vendor's config draft on request.
#pragma once

#include <string>

#include "results.h"
#include "store.h"
#include "whale/result.h"

namespace whale::origin {

// GET /v1/vendors/{slug}/optimizer: component effects, synergies, the proposal the current
// results give (not stored), the stored proposals and the setting. not_found when the vendor
// has published nothing.
result<std::string> optimizer_report(store& db, const std::string& slug);

struct propose_request {
  std::string page;     // only this page ("" for all)
  std::string section;  // only sections with this id ("" for all)
  std::string segment;  // for this segment of the config's `segments` ("" for every visitor)
  bool segments = false;  // one proposal per segment (docs/optimizer.md#segments)
};

struct propose_outcome {
  std::string response;  // the JSON answer
  bool created = false;  // a new proposal was stored
  bool published = false;
  snapshot published_snapshot;  // when published
};

// POST /v1/vendors/{slug}/optimizer/propose: computes the best proposal, stores it as a draft
// unless the section's latest proposal already proposes the same components, and publishes it
// when the vendor opted in. not_found when the vendor has published nothing.
result<propose_outcome> propose_layout(store& db, const std::string& slug, const propose_request& request,
                                       const std::string& now, const snapshot_finisher& finish);

// Whether the timer may propose for the vendor: it opted in, and its last published proposal's
// experiment is no longer served or has at least `min_units` units on every arm.
bool ready_to_propose(store& db, const std::string& slug, uint64_t min_units);

// POST /v1/vendors/{slug}/optimizer/proposals/{id}/apply: writes a draft proposal into the
// vendor's config draft (published by the vendor's next revalidate). not_found for an unknown
// proposal; invalid_value when it is not a draft or no longer fits the config draft.
result<std::string> apply_proposal(store& db, const std::string& slug, uint64_t id, const std::string& now);

// The vendor's components ranked by conversion (docs/optimizer.md, "Top components"): a JSON
// array of at most `limit` rows for the dashboard, from the vendor's results (results_of).
std::string top_components_json(const vendor_results& results, size_t limit);

}  // namespace whale::origin
