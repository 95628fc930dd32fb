// Platform intelligence (seed plan 6.4, docs/platform.md): what every vendor's results say
// together, for the platform's operators, and `bootstrap`, a new vendor's starting layout built
// from the winners of its vertical.
#pragma once

#include <string>

#include "store.h"
#include "whale/result.h"

namespace whale::origin {

// GET /v1/platform: {vendors, verticals, topComponents, synergies, layoutsByVertical, perDay,
// timeline} (docs/platform.md).
std::string platform_report(store& db);

// POST /v1/vendors/{slug}/bootstrap: the vendor's draft with each section that its vertical's
// winners know (same page and section ids, from other vendors) replaced by the winning layout,
// component definitions it lacks copied from the winner's config; stored as the draft, never
// published. not_found: no draft; invalid_value: the vendor has published already.
result<std::string> bootstrap_vendor(store& db, const std::string& slug, const std::string& now);

}  // namespace whale::origin
