// The vendor dashboard (docs/bandits.md, "Dashboard"): GET /admin serves a static page (plain
// ES modules embedded in the binary) and GET /admin/api/... answers its data calls, each behind
// the vendor's bearer token.
#pragma once

#include <httplib.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace whale::origin {

class store;

// Per-variation aggregates of one experiment, as the event pipeline stores them.
struct arm_counts {
  uint64_t units = 0;
  uint64_t conversions = 0;
};

struct experiment_counts {
  std::vector<arm_counts> arms;  // by variation index; missing arms count 0
  bool srm = false;              // flagged by the reweighting job (the dashboard also tests itself)
};

// Reads the aggregates of (vendor slug, experiment key); empty until events exist.
using counts_source = std::function<experiment_counts(const std::string& slug, const std::string& experiment)>;

struct admin_route {
  const char* pattern;  // a regex for httplib's Get
  const char* route;    // its name in metrics and logs
  std::function<void(const httplib::Request&, httplib::Response&)> handle;
};

// The dashboard's GET routes. `counts` may be empty (every experiment then shows no data).
std::vector<admin_route> admin_routes(store& db, counts_source counts = {});

}  // namespace whale::origin
