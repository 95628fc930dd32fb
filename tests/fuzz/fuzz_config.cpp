// The vendor config parser on arbitrary bytes: never a crash, a hang or a leak, and it agrees
// with the DOM parser (json::parse) it does not use: whatever the On-Demand pass accepts must
// be well-formed JSON with the same features. Accepted configs also keep their invariants.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "whale/config.h"
#include "whale/layout.h"

namespace {

void require(bool condition) {
  if (!condition) std::abort();
}

void check_invariants(const whale::config::vendor_config& c) {
  for (const whale::config::page& p : c.pages()) {
    require(c.find_page(p.id) == &p);
    for (const whale::config::section& s : p.sections) {
      for (const whale::config::instance& i : s.components) {
        require(i.component < c.components().size());
        // Defaults satisfy their schema, so filled-in props still validate.
        require(whale::config::validate(c.components()[i.component].props, i.props, "props").ok());
      }
    }
  }
  for (const whale::config::product& p : c.catalog().products) require(c.find_product(p.sku) == &p);
  // Multi-variant pages: every candidate decides, and a behaviour picks one of those served.
  static const whale::json::value attributes = whale::json::parse(R"({"id":"fuzz"})").value();
  for (const whale::config::page& p : c.pages()) {
    if (p.candidates.empty()) continue;
    require(p.candidates.strategies.size() <= whale::layout::max_candidates);
    require(p.candidates.watch_ms >= 1000 && p.candidates.watch_ms <= 60000);
    std::string out;
    require(whale::layout::decide_candidates(c, 1, p.id, attributes, 0, {}, whale::layout::max_candidates, out).ok());
    auto doc = whale::json::parse(out);
    require(doc.ok() && doc->find("candidates")->items().size() == p.candidates.strategies.size());
    whale::layout::options opts;
    opts.behaviour = "v1;rc=5;sd=60;dw=60;ca=1;ph=3";
    out.clear();
    require(whale::layout::choose_candidate(c, 1, p.id, attributes, 0, opts, 2, -1, out).ok());
    auto choice = whale::json::parse(out);
    require(choice.ok() && choice->find("chosen")->as_number() < 2);
  }
  require(c.memory_bytes() > 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto parsed = whale::config::parse(input);
  if (!parsed.ok()) return 0;
  const auto& config = *parsed.value();

  auto dom = whale::json::parse(input);
  require(dom.ok());
  const whale::json::value* features = dom->find("features");
  require(whale::json::equal(config.assignments().features, features ? *features : whale::json::value::object()));
  check_invariants(config);

  // A second parse of the same bytes (the parser's buffers are reused) says the same.
  auto again = whale::config::parse(input);
  require(again.ok() && whale::config::summary(*again.value()) == whale::config::summary(config));

  whale::config::cache cache(config.memory_bytes() * 2 + 1024);
  cache.put(config.vendor().slug, 1, parsed.value());
  cache.put(config.vendor().slug, 2, again.value());
  require(cache.counters().bytes <= cache.counters().budget);
  (void)cache.get(config.vendor().slug, 1);
  return 0;
}
