// whale::layout: the page a visitor should see, rendered as layout JSON the
// storefront turns into HTML. One call evaluates the page's section variants (the assignment
// engine), visibility conditions, schedules in the vendor's time zone, the component graph
// (conflicts by priority, dependencies pulled in and ordered), the behaviour adaptations and
// the product grids' inventory forecasts. The rules are in docs/layout.md.
//
// Deterministic: the same config, version, page, attributes, time and options give the same
// bytes on every target. The output holds no time of its own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "whale/behaviour.h"
#include "whale/config.h"
#include "whale/inventory.h"
#include "whale/json.h"
#include "whale/result.h"
#include "whale/tz.h"

namespace whale::layout {

// What rendering needs from a config that does not depend on the request: the vendor's zone
// rule and every product's stockout forecast (fitting them is far slower than a render). Build
// once per parsed config and keep it beside it; it holds no pointer into the config.
class prepared {
 public:
  explicit prepared(const config::vendor_config& config);

  const tz::rule& zone() const noexcept { return zone_; }
  // False when vendor.timezone is not in the zone table: the layout then uses UTC.
  bool zone_known() const noexcept { return zone_known_; }
  // By index into catalog().products.
  const inventory::forecast& forecast(size_t product) const noexcept { return forecasts_[product]; }
  // Units sold over the last bestselling_days of a product's history ("bestselling" sort).
  double recent_sales(size_t product) const noexcept { return recent_sales_[product]; }
  // A product's JSON in a grid, precomputed: {"sku","name","price"[,"image"][,"url"] (open),
  // and its ,"urgency","sellsOutBy" members.
  std::string_view product_json(size_t product) const noexcept { return product_json_[product]; }
  std::string_view urgency_json(size_t product) const noexcept { return urgency_json_[product]; }
  // An instance as written, precomputed: {"id","key","props":{...} (open), a grid's products
  // inside its props. By index into pages(), the page's sections and the section's components.
  std::string_view instance_json(size_t page, size_t section, size_t index) const noexcept {
    return instance_json_[page][section][index];
  }
  // Whether a component takes part in any conflict (lists one, or is listed by another): the
  // others need no conflict check.
  bool in_conflicts(size_t component) const noexcept { return in_conflicts_[component] != 0; }
  // Whether a component is a product grid (its products are written into its props; for an
  // instance as written they are in instance_json already).
  bool is_grid(size_t component) const noexcept { return is_grid_[component] != 0; }
  // Bytes to reserve for a layout of this config (its largest page plus every product once).
  size_t size_hint() const noexcept { return size_hint_; }

  static constexpr size_t bestselling_days = 28;

 private:
  tz::rule zone_;
  bool zone_known_ = false;
  std::vector<inventory::forecast> forecasts_;
  std::vector<double> recent_sales_;
  std::vector<uint8_t> in_conflicts_;
  std::vector<uint8_t> is_grid_;
  std::vector<std::string> product_json_;
  std::vector<std::string> urgency_json_;
  std::vector<std::vector<std::vector<std::string>>> instance_json_;
  size_t size_hint_ = 0;
};

struct options {
  // The config's precomputation; nullptr builds one for this call (forecasts every product).
  const prepared* precomputed = nullptr;
  // GrowthBook sticky-bucket documents ("attr||value" -> doc); non-null turns sticky bucketing
  // on and the layout then reports the documents it wrote.
  const json::value* sticky_docs = nullptr;
  // The browser's behaviour summary (whale::behaviour, e.g. "v1;rc=3;bo=1"); empty: none.
  std::string_view behaviour;
  // The vendor's classification rules and adaptations; nullptr: behaviour::rules::defaults().
  const behaviour::rules* behaviour_rules = nullptr;
  // False: experiments do not run (GrowthBook's `enabled: false`), so every section shows the
  // value it has without them, its control. For visitors who did not consent to experiments.
  bool experiments = true;
  // False: the layout leaves out "stickyBucketAssignmentDocs" (the caller has them from
  // decide_layout), so that it holds nothing of one visitor beyond what its cacheKey names.
  bool write_sticky_docs = true;
  // Experiment key -> variation index (GrowthBook's forcedVariations): those experiments of the
  // page's sections show that variation, not in the experiment (no exposure, no sticky document).
  // nullptr: none. The candidates of a multi-variant page are decided with these.
  const json::value* forced_variations = nullptr;
};

// Why an instance of the page is not in the layout (the "reason" of `dropped`).
enum class drop_reason : uint8_t {
  hidden,              // its visibility condition is false for these attributes
  off_schedule,        // outside its schedule at this time
  conflict,            // a conflicting component with a higher priority is on the page
  missing_dependency,  // a component it depends on was dropped and cannot be pulled in
  invalid_props,       // an adaptation gave it props that break the component's schema
};
const char* drop_reason_name(drop_reason r) noexcept;  // "hidden", "off-schedule", ...

// Appends the layout of `page` to `out`:
// {"vendor","version","page","assignments":[{"experiment","variation","inExperiment"}],
//  "behaviour"?:[states],"stickyBucketAssignmentDocs"?:{written},
//  "sections":[{"id","components":[{"id","key","props"}]}],"dropped":[{"id","reason",...}],
//  "cacheKey","maxAge","vary":[attribute names]}.
// cacheKey is a 64-bit hash of the page's decisions: each section variant's value and assignment,
// the behaviour states, and which instances the variants, adaptations, visibility conditions and
// schedules kept. Two requests with the same config version and cacheKey get the same layout
// (but for the sticky documents written), so it keys a cache shared by visitors.
// Errors: not_found (no such page), wrong_type (attributes not an object).
result<void> render_layout(const config::vendor_config& config, uint64_t version, std::string_view page,
                           const json::value& attributes, int64_t now_unix_seconds, const options& opts,
                           std::string& out);

// The decisions only, without rendering: {"cacheKey","maxAge","assignments":[...],
// "stickyBucketAssignmentDocs"?:{written},"vary":[...]}, each as render_layout would write it for
// the same inputs. Costs the evaluation, not the writing: an edge asks this first and renders
// only when its cache has no layout under (version, cacheKey).
result<void> decide_layout(const config::vendor_config& config, uint64_t version, std::string_view page,
                           const json::value& attributes, int64_t now_unix_seconds, const options& opts,
                           std::string& out);

// Multi-variant pages (docs/layout.md#candidates). At most this many candidates per answer.
inline constexpr size_t max_candidates = 8;

// The page's first `count` (1..max_candidates) candidate layouts, decided:
// {"watchMs":N,"candidates":[{"name","states":[..],"forcedVariations":{..},"decision":{..}}]},
// each decision as decide_layout writes it with opts plus the candidate's forcedVariations (render
// each with the same). In arms mode the visitor's own arm comes first, then the other arms in
// variation order; strategies come in the order declared. A page without candidates, or
// experiments off (a visitor kept out): one candidate, "default", without forcing, watchMs 0.
result<void> decide_candidates(const config::vendor_config& config, uint64_t version, std::string_view page,
                               const json::value& attributes, int64_t now_unix_seconds, const options& opts,
                               size_t count, std::string& out);

// Which of those candidates the visit keeps: {"chosen":i,"visit":[the visit's states],
// "candidate":{"name","states","forcedVariations"}}.
// kept < 0: chosen by opts.behaviour (classified with opts.behaviour_rules): the first state, in
// behaviour::all_states order, that some candidate lists picks the first candidate listing it;
// none (or no summary, or an invalid one): candidate 0. kept >= 0: that candidate (invalid_value
// when there are not that many). The same inputs as decide_candidates give the same order.
result<void> choose_candidate(const config::vendor_config& config, uint64_t version, std::string_view page,
                              const json::value& attributes, int64_t now_unix_seconds, const options& opts,
                              size_t count, int kept, std::string& out);

// Whether a schedule shows at `utc` in a zone (exposed for the tests).
bool in_schedule(const config::schedule& when, int64_t utc, const tz::rule& zone) noexcept;
// Seconds from `utc` until the schedule's state may change (at most `cap`).
int64_t seconds_until_change(const config::schedule& when, int64_t utc, const tz::rule& zone, int64_t cap) noexcept;

}  // namespace whale::layout
