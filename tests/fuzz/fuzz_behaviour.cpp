// Behaviour summaries and x-behaviour rules on arbitrary bytes: never a crash, a hang or a leak.
// The input is a summary, optionally followed by a newline and an x-behaviour JSON document.
// A summary that parses must survive format_summary and parse again to the same signals.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "whale/behaviour.h"
#include "whale/json.h"

namespace {

namespace bh = whale::behaviour;

bool same(const bh::signals& a, const bh::signals& b) {
  return a.rapid_clicks == b.rapid_clicks && a.back_outs == b.back_outs && a.scroll_depth == b.scroll_depth &&
         a.dwell_seconds == b.dwell_seconds && a.price_hovers == b.price_hovers && a.cart_adds == b.cart_adds;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  size_t newline = input.find('\n');
  std::string_view summary = input.substr(0, newline);
  std::string_view rules_text = newline == std::string_view::npos ? std::string_view() : input.substr(newline + 1);

  auto parsed = bh::parse_summary(summary);
  if (parsed.ok()) {
    auto again = bh::parse_summary(bh::format_summary(*parsed));
    if (!again.ok() || !same(*parsed, *again)) std::abort();
  }

  const bh::rules* rules = &bh::rules::defaults();
  bh::rules vendor;
  if (!rules_text.empty()) {
    auto doc = whale::json::parse(rules_text);
    if (doc.ok()) {
      auto r = bh::rules::from_json(*doc);
      if (r.ok()) {
        vendor = std::move(r).value();
        rules = &vendor;
      }
    }
  }
  auto d = bh::decide(*rules, summary, "home");
  if (d.ok() != (summary.empty() || parsed.ok())) std::abort();
  if (d.ok()) {
    for (const auto* a : d->adaptations) {
      if ((a->when & d->states) == 0) std::abort();
    }
  }
  return 0;
}
