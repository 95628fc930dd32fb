// Vendor configs: the storefront configuration a vendor publishes, parsed once into an
// immutable, indexed form, validated with errors that name the JSON path and the rule, and
// cached by (vendor, version) under a byte budget. The format is documented in docs/config.md
// and fixtures/config.schema.json.
//
// Thread safety: parse() may run on several threads at once (each thread keeps its own
// simdjson parser). A parsed vendor_config is immutable and may be shared freely. A cache is
// not synchronized: one per thread, or a lock around it (the edge has one thread per isolate).
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "whale/assign.h"
#include "whale/behaviour.h"
#include "whale/json.h"
#include "whale/regex.h"
#include "whale/result.h"

namespace whale::config {

// Inputs larger than this are refused with too_large (the origin answers 413). The parser's
// buffers take about five times the input (simdjson's structural index is 4 bytes per input
// byte), and a wasm memory never shrinks: 4 MiB keeps the high-water mark near 20 MB.
inline constexpr size_t max_config_bytes = 4 * 1024 * 1024;
// Objects and arrays nest at most this many levels (too_deep). Conditions inside features and
// visibility rules have their own, lower limit (assign::max_condition_depth).
inline constexpr size_t max_depth = 128;

struct vendor_info {
  std::string id;
  std::string slug;  // ^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$: it appears in every URL
  std::string name;
  std::string vertical;  // e.g. "cannabis", "grocery"
  std::string timezone;  // IANA name, e.g. "America/Los_Angeles" (dayparts are local to it)
  std::string region;    // e.g. "us-west": where the vendor's primary origin lives
};

// ---- Component props schemas: a subset of JSON Schema ----------------------------------------

// JSON types a schema's "type" admits (a bit set; none set admits every type).
enum type_bits : uint8_t {
  type_null = 1,
  type_boolean = 2,
  type_integer = 4,  // a number without a fractional part
  type_number = 8,   // any number (integers included)
  type_string = 16,
  type_array = 32,
  type_object = 64,
};

// Keywords: type, properties, required, additionalProperties (boolean), items (one schema),
// enum, minimum, maximum, minLength, maxLength (in code points), minItems, maxItems, pattern
// (a JavaScript RegExp, unanchored, as JSON Schema specifies), default; annotations title,
// description and $comment are accepted and ignored.
struct prop_schema {
  uint8_t types = 0;
  std::vector<std::pair<std::string, prop_schema>> properties;  // in document order
  std::vector<std::string> required;
  bool additional_properties = true;
  std::vector<prop_schema> items;        // empty, or the one schema every item must satisfy
  std::vector<json::value> enum_values;  // empty: no enum
  std::optional<double> minimum;
  std::optional<double> maximum;
  std::optional<uint64_t> min_length;
  std::optional<uint64_t> max_length;
  std::optional<uint64_t> min_items;
  std::optional<uint64_t> max_items;
  std::string pattern_source;
  std::optional<regex::pattern> pattern;
  std::optional<json::value> default_value;

  const prop_schema* property(std::string_view name) const noexcept;
};

// Compiles a schema; errors name `path` (e.g. "components.hero.props.properties.title.maxLength").
result<prop_schema> compile_schema(const json::value& schema, const std::string& path);
// Checks a value against a schema. Errors name the path below `path` and the rule, e.g.
// "pages[2].sections[0].components[3].props.title: expected string" (wrong_type),
// "...props.limit: expected at most 48" (invalid_value).
result<void> validate(const prop_schema& schema, const json::value& v, const std::string& path);
// Adds the default of every absent property that has one, in objects at any depth (arrays'
// items included). Run after validate: "required" is checked against what the vendor wrote.
void fill_defaults(const prop_schema& schema, json::value& v);

// ---- Component registry ------------------------------------------------------------------------

struct component {
  std::string key;
  std::string kind;  // free-form role, e.g. "product-grid", "banner", "navigation", "chat"
  prop_schema props;  // the schema of an instance's props (an object schema)
  // Indexes into vendor_config::components().
  std::vector<uint32_t> dependencies;  // must be on the page too; pulled in by the layout
  std::vector<uint32_t> conflicts;     // cannot share a page; the lower priority is dropped
  std::vector<uint32_t> synergies;     // placed next to each other when both are present
  int32_t priority = 0;               // higher wins a conflict
  // Generated components (docs/components.md): a definition's version (1 when not given), whether it
  // is still experimental, and its declarative template (null: the storefront has its own view).
  uint32_t version = 1;
  bool experimental = false;
  json::value view;
};

// ---- Pages ---------------------------------------------------------------------------------------

// Parts of the day in the vendor's time zone, [start, end) local hours: morning 05-12,
// afternoon 12-17, evening 17-22, night 22-05.
enum daypart_bits : uint8_t { daypart_morning = 1, daypart_afternoon = 2, daypart_evening = 4, daypart_night = 8 };
// Days of the week in the vendor's time zone: bit 0 Monday ... bit 6 Sunday.

// When an instance is shown: inside [start, end) (Unix seconds, UTC) and, when the bit sets
// are not empty, during one of the dayparts on one of the days. An empty schedule always shows.
struct schedule {
  int64_t start = std::numeric_limits<int64_t>::min();
  int64_t end = std::numeric_limits<int64_t>::max();
  uint8_t dayparts = 0;  // daypart_bits; 0: all day
  uint8_t days = 0;      // 1 << (0 = Monday .. 6 = Sunday); 0: every day
};

struct instance {
  std::string id;          // unique within its page
  uint32_t component = 0;  // index into vendor_config::components()
  json::value props;       // validated against the component's schema, defaults filled in
  json::value visibility;  // a condition over the request's attributes; null: always visible
  std::optional<schedule> when;
};

struct section {
  std::string id;  // unique within its page
  // A feature (in features) whose value, per request, may replace this section's components
  // ({"components": [instances]}) or patch their props ({"props": {instanceId: {...}}}); null
  // keeps the section as written. Empty: no feature.
  std::string feature;
  std::vector<instance> components;
};

// One candidate layout of a multi-variant page (docs/layout.md#candidates): the page with some
// experiments forced to a variation, and the behaviour states that choose it.
struct candidate {
  std::string name;
  std::vector<std::pair<std::string, uint32_t>> force;  // experiment key -> variation index
  behaviour::state_set states = 0;
};

// A page's `candidates`: either the arms of one experiment (`experiment`, one candidate per
// variation, named by its meta key) or strategies the vendor declares. Empty: the page has none.
struct page_candidates {
  std::string experiment;             // arms mode: the experiment's key; empty: strategies
  std::vector<candidate> strategies;  // in arms mode, one per variation, in variation order
  uint32_t watch_ms = 10000;          // how long the browser watches before the edge chooses
  bool empty() const noexcept { return strategies.empty(); }
};

struct page {
  std::string id;    // same pattern as a vendor slug: it appears in URLs
  std::string path;  // the storefront path, e.g. "/" or "/shop/flower"
  std::string title;
  std::vector<section> sections;
  page_candidates candidates;
};

// ---- Media (the image module) ------------------------------------------------------------------

enum format_bits : uint8_t { format_jpeg = 1, format_png = 2, format_webp = 4, format_avif = 8 };

struct media_settings {
  // URL prefixes images may come from, e.g. "https://cdn.example.com/products/": scheme, host,
  // optional port and path prefix; no query, fragment or user info.
  std::vector<std::string> allowed_sources;
  // Outputs allowed (format=auto picks among them). AVIF only when listed: each costs a few hundred
  // milliseconds of CPU and avif.wasm in the worker (docs/images.md#avif).
  uint8_t formats = format_jpeg | format_png | format_webp;
  uint32_t max_width = 4096;   // output, 1..4096
  uint32_t max_height = 4096;  // output, 1..4096
  uint32_t quality = 85;       // default quality, 1..100
  std::vector<uint32_t> widths;  // when not empty, the only output widths allowed (ascending)
  uint64_t max_input_bytes = 25u * 1024 * 1024;
  uint64_t max_input_pixels = 4096u * 4096;  // 16.8 MP
  bool signed_urls = false;  // require an HMAC signature (the key lives in the worker, not here)
};

// ---- Consent (who the storefront keeps out of experiments) -------------------------------------

// A visitor kept out gets the control layout, no visitor id and no exposure (docs/config.md).
struct consent_settings {
  bool global_privacy_control = true;  // a request with `Sec-GPC: 1` is kept out
  std::string cookie;                  // the vendor's consent cookie; empty: none
  std::vector<std::string> granted;    // not empty: in only when the cookie holds one of these (opt-in)
  std::vector<std::string> denied;     // not empty: out when the cookie holds one of these (opt-out)
};

// ---- Theme (the storefront's look, docs/config.md) -----------------------------------------------

// Colours as #rgb or #rrggbb, a CSS font stack, a corner radius: rendered layouts carry what is
// given (the browser glue's renderStorefront applies it). Empty / -1: not given.
struct theme_settings {
  std::string primary, accent, background, text, muted, font;
  int32_t radius = -1;
  bool any() const noexcept {
    return !primary.empty() || !accent.empty() || !background.empty() || !text.empty() || !muted.empty() ||
           !font.empty() || radius >= 0;
  }
};

// ---- Segments (the optimizer proposes a layout per segment, docs/optimizer.md) -----------------

// A named group of visitors: a condition over the request's attributes (the assignment engine's
// language, as visibility conditions).
struct segment {
  std::string name;         // 1-64 of a-z 0-9 '-', unique
  std::string description;  // free text, may be empty
  json::value condition;    // an object
};

// ---- Catalog (the layout's product grids and inventory forecasts) ------------------------------

// A read-only view of numbers owned by the config.
struct series {
  const double* data = nullptr;
  size_t size = 0;
  const double* begin() const noexcept { return data; }
  const double* end() const noexcept { return data + size; }
  double operator[](size_t i) const noexcept { return data[i]; }
  bool empty() const noexcept { return size == 0; }
};

struct product {
  // Views of strings owned by the config (its arena): valid as long as the config.
  std::string_view sku;  // unique within the catalog
  std::string_view name;
  std::string_view category;
  std::string_view image;  // URL
  std::string_view url;    // storefront path or URL
  double price = 0;
  double on_hand = 0;  // units (or grams) in stock now
  series daily_sales;  // units sold per day, oldest first; the last entry is catalog.sales_through
  json::value attributes;  // free-form vendor fields (an object), null when absent
};

enum class sold_out_policy : uint8_t { mark, hide, show };

struct product_catalog {
  std::string currency = "USD";     // ISO 4217
  std::optional<int32_t> sales_through;  // days since 1970-01-01 of the last daily_sales entry
  sold_out_policy sold_out = sold_out_policy::mark;
  double urgency_days = 7;  // forecast stockouts within this many days are urgent
  bool order_by_urgency = false;
  std::vector<product> products;
};

// ---- The config ---------------------------------------------------------------------------------

// One vendor's config. Immutable once parsed; shared by every request that uses it.
class vendor_config {
 public:
  const vendor_info& vendor() const noexcept;
  // The assignment engine's part: GrowthBook's payload {features, savedGroups}.
  const assign::payload& assignments() const noexcept;
  const std::vector<component>& components() const noexcept;  // registry, in document order
  const component* find_component(std::string_view key) const noexcept;
  const std::vector<page>& pages() const noexcept;
  const page* find_page(std::string_view id) const noexcept;
  const page* find_page_by_path(std::string_view path) const noexcept;
  const media_settings& media() const noexcept;
  const consent_settings& consent() const noexcept;
  const theme_settings& theme() const noexcept;
  // The vendor's segments (config `segments`), in document order.
  const std::vector<segment>& segments() const noexcept;
  const product_catalog& catalog() const noexcept;
  const product* find_product(std::string_view sku) const noexcept;
  // Approximate bytes this config holds in memory (the cache's budget unit).
  size_t memory_bytes() const noexcept;
  // The vendor's behaviour rules and adaptations ("x-behaviour", docs/behaviour.md), checked at
  // parse time; nullptr when the config has none (the renderer then uses the defaults).
  const behaviour::rules* behaviour_rules() const noexcept;

  struct impl;
  explicit vendor_config(std::unique_ptr<impl> p);
  ~vendor_config();
  vendor_config(const vendor_config&) = delete;
  vendor_config& operator=(const vendor_config&) = delete;

 private:
  std::unique_ptr<impl> impl_;
};

// Parses and validates. Errors name the path and the rule, e.g.
// "pages[2].sections[0].components[3].props.title: expected string" (wrong_type),
// "features.banner.rules[1].weights: expected non-negative numbers" (invalid_value).
// Codes: too_large, invalid_utf8, invalid_json (syntax, duplicate keys), too_deep, wrong_type
// (a wrong type or a missing required field), invalid_value (a rule broken: pattern, range,
// unknown field, duplicate id, dependency cycle), not_found (a reference to a component or
// feature that does not exist), invalid_regex. See docs/config.md.
result<std::shared_ptr<const vendor_config>> parse(std::string_view json);

// A compact JSON summary: {"vendor":slug,"name","components","pages","sections","instances",
// "products","features","experiments","memoryBytes"}.
std::string summary(const vendor_config& config);

// An LRU cache of parsed configs keyed by (vendor slug, version), bounded in bytes.
class cache {
 public:
  static constexpr size_t default_budget = 16 * 1024 * 1024;  // the edge's default
  explicit cache(size_t budget_bytes = default_budget);
  ~cache();
  cache(const cache&) = delete;
  cache& operator=(const cache&) = delete;

  // nullptr on a miss. A hit makes the entry the most recently used.
  std::shared_ptr<const vendor_config> get(std::string_view slug, uint64_t version);
  // Inserts (or replaces) and evicts least recently used entries until within budget. An
  // entry larger than the whole budget is not kept (and drops what that key held before).
  void put(std::string_view slug, uint64_t version, std::shared_ptr<const vendor_config> config);
  // Drops one entry; false when it was not there. Not counted as an eviction.
  bool erase(std::string_view slug, uint64_t version);

  struct stats {
    uint64_t hits = 0;
    uint64_t misses = 0;
    uint64_t evictions = 0;  // entries dropped to stay within the budget
    size_t entries = 0;
    size_t bytes = 0;
    size_t budget = 0;
  };
  stats counters() const noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace whale::config
