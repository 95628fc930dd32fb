// whale::behaviour: behaviour-driven adaptation, without a model call per request.
//
// The browser glue summarizes a visit into a compact string (header `X-Whale-Behaviour` or
// cookie `whale_bx`), e.g. "v1;rc=3;bo=1;sd=45;dw=120;ph=2;ca=0". The core parses it strictly,
// classifies it into states by the vendor's rules (GrowthBook conditions over the signals, with
// documented defaults) and returns the adaptations the vendor declared for those states, as
// data the layout renderer applies. Formats and the default table: docs/behaviour.md.
//
// The rules come from the vendor config's `x-behaviour` member, handed over as a json::value
// (the config format keeps x- members opaque to the core's typed config).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "whale/json.h"
#include "whale/result.h"

namespace whale::behaviour {

// Summaries longer than this are refused with too_large.
inline constexpr size_t max_summary_bytes = 128;
// Every count is at most this (a larger number is invalid_value); scroll depth at most 100.
inline constexpr uint32_t max_signal_value = 1000000;
// An x-behaviour object declares at most this many adaptations (too_large).
inline constexpr size_t max_adaptations = 64;

// The signals of one visit. Absent keys in a summary read as 0.
struct signals {
  uint32_t rapid_clicks = 0;   // rc: bursts of 3+ clicks on one spot within a second
  uint32_t back_outs = 0;      // bo: returns to the previous page within 10 s of arriving
  uint32_t scroll_depth = 0;   // sd: deepest scroll on the current page, percent 0..100
  uint32_t dwell_seconds = 0;  // dw: seconds on site in this session
  uint32_t price_hovers = 0;   // ph: hovers of 500 ms+ on a price
  uint32_t cart_adds = 0;      // ca: add-to-cart actions in this session
};

// Parses "v1;key=value;..." (keys rc bo sd dw ph ca, any order, each at most once; values
// decimal without sign or leading zeros). Errors: too_large, invalid_value (naming the part).
result<signals> parse_summary(std::string_view text);
// The canonical summary of signals (all six keys, in the order above).
std::string format_summary(const signals& s);
// {"rapidClicks":..,"backOuts":..,"scrollDepth":..,"dwellSeconds":..,"priceHovers":..,
//  "cartAdds":..}: the attributes the state conditions are evaluated against.
json::value to_attributes(const signals& s);

// The states, as bits (a visit can be in several at once).
enum state : uint8_t {
  confused = 1,          // "confused"
  frustrated = 2,        // "frustrated"
  engaged = 4,           // "engaged"
  ready_to_buy = 8,      // "ready_to_buy"
  price_sensitive = 16,  // "price_sensitive"
};
using state_set = uint8_t;  // a union of state bits
inline constexpr size_t state_count = 5;
// All states in their fixed order (the order of state_names and of classify's output).
inline constexpr state all_states[state_count] = {confused, frustrated, engaged, ready_to_buy,
                                                  price_sensitive};
// "confused", ...; nullptr for a value that is not a single state bit.
const char* state_name(state s) noexcept;
// The names of the states in a set, in all_states order.
std::vector<std::string> state_names(state_set set);

enum class action : uint8_t {
  add,      // insert `component` (a new instance) into `section` at `position`
  replace,  // replace instance `target` of `section` with `component`
  props,    // shallow-merge `props` into the props of instance `target` of `section`
};
const char* action_name(action a) noexcept;  // "add", "replace", "props"

enum class position : uint8_t { start, end };  // where an `add` goes in its section

// One adaptation the vendor declared: data the renderer applies when `when` is active.
struct adaptation {
  state when = confused;
  action act = action::add;
  std::string page;       // a page id; empty: every page
  std::string section;    // section id on the page (required)
  std::string target;     // replace, props: an instance id in the section
  std::string id;         // add, replace: the new instance's id
  std::string component;  // add, replace: a component key of the registry
  json::value props;      // add, replace: the new instance's props; props: the patch (an object)
  position at = position::end;  // add only
};

// The vendor's rules: per state one condition over to_attributes(), and the adaptations.
class rules {
 public:
  // The default table (docs/behaviour.md), no adaptations.
  static const rules& defaults();
  // Reads an x-behaviour object: {"states": {name: condition, ...}, "adaptations": [...]}.
  // A state named in "states" replaces its default condition (null disables the state); states
  // not named keep their defaults. null or an absent member means defaults. Errors name the
  // path, e.g. "x-behaviour.adaptations[2].action: expected one of add, replace, props".
  static result<rules> from_json(const json::value& x_behaviour);

  // The states whose condition holds for these signals.
  state_set classify(const signals& s) const;
  // The adaptations for the states in `active` that apply to `page_id`, in declaration order
  // (the renderer applies them in that order; pointers into this object).
  std::vector<const adaptation*> adaptations_for(state_set active, std::string_view page_id) const;

  const json::value& condition(state s) const noexcept;  // null: the state is disabled
  const std::vector<adaptation>& adaptations() const noexcept { return adaptations_; }

 private:
  json::value conditions_[state_count];
  std::vector<adaptation> adaptations_;
};

// classify + adaptations_for on a raw summary; an invalid summary gives no states (the visit
// is served the unadapted page) and the parse error.
struct decision {
  state_set states = 0;
  std::vector<const adaptation*> adaptations;
};
result<decision> decide(const rules& r, std::string_view summary, std::string_view page_id);

}  // namespace whale::behaviour
