// Vendor configs: the storefront configuration a vendor publishes, parsed once into an
// immutable, indexed form, validated with errors that name the JSON path and the rule, and
// cached by (vendor, version) under a byte budget. The format is documented in docs/config.md
// and fixtures/config.schema.json.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "whale/assign.h"
#include "whale/json.h"
#include "whale/result.h"

namespace whale::config {

// Inputs larger than this are refused with too_large (the origin answers 413).
inline constexpr size_t max_config_bytes = 8 * 1024 * 1024;

struct vendor_info {
  std::string id;
  std::string slug;
  std::string name;
  std::string vertical;
  std::string timezone;  // IANA name, e.g. "America/Los_Angeles"
  std::string region;    // e.g. "us-west"
};

// One vendor's config. Immutable once parsed; shared by every request that uses it.
class vendor_config {
 public:
  const vendor_info& vendor() const noexcept;
  // The assignment engine's part: GrowthBook's payload {features, savedGroups}.
  const assign::payload& assignments() const noexcept;
  const json::value& components() const noexcept;  // component registry (layout issue)
  const json::value& pages() const noexcept;       // pages (layout issue)
  const json::value& media() const noexcept;       // media settings (image issue)
  // Approximate bytes this config holds in memory (the cache's budget unit).
  size_t memory_bytes() const noexcept;

  struct impl;
  explicit vendor_config(std::unique_ptr<impl> p);
  ~vendor_config();

 private:
  std::unique_ptr<impl> impl_;
};

// Parses and validates. Errors name the path and the rule, e.g.
// "pages[2].sections[0].components[3].props.title: expected string" (wrong_type),
// "features.banner.rules[1].weights: expected non-negative numbers" (invalid_value).
result<std::shared_ptr<const vendor_config>> parse(std::string_view json);

// An LRU cache of parsed configs keyed by (vendor slug, version), bounded in bytes.
class cache {
 public:
  static constexpr size_t default_budget = 16 * 1024 * 1024;  // the edge's default
  explicit cache(size_t budget_bytes = default_budget);
  ~cache();

  // nullptr on a miss. A hit makes the entry the most recently used.
  std::shared_ptr<const vendor_config> get(std::string_view slug, uint64_t version);
  // Inserts (or replaces) and evicts least recently used entries until within budget. An
  // entry larger than the whole budget is not kept.
  void put(std::string_view slug, uint64_t version, std::shared_ptr<const vendor_config> config);

  struct stats {
    uint64_t hits = 0;
    uint64_t misses = 0;
    uint64_t evictions = 0;
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
