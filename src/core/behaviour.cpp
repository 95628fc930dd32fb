// Behaviour summaries, their classification by GrowthBook conditions, and the vendor's
// adaptations (docs/behaviour.md).
#include "whale/behaviour.h"

#include <utility>

#include "whale/assign.h"

namespace whale::behaviour {
namespace {

using json::value;

// Keys of the summary and of the condition attributes, in format_summary's order.
struct signal_key {
  const char* code;  // in the summary
  const char* name;  // in the attributes conditions read
  uint32_t signals::*field;
  uint32_t max;
};
constexpr signal_key signal_keys[] = {
    {"rc", "rapidClicks", &signals::rapid_clicks, max_signal_value},
    {"bo", "backOuts", &signals::back_outs, max_signal_value},
    {"sd", "scrollDepth", &signals::scroll_depth, 100},
    {"dw", "dwellSeconds", &signals::dwell_seconds, max_signal_value},
    {"ph", "priceHovers", &signals::price_hovers, max_signal_value},
    {"ca", "cartAdds", &signals::cart_adds, max_signal_value},
};
constexpr size_t signal_count = sizeof(signal_keys) / sizeof(signal_keys[0]);

constexpr const char* state_labels[state_count] = {"confused", "frustrated", "engaged", "ready_to_buy",
                                                   "price_sensitive"};

// The default table; docs/behaviour.md states it and tests/native/behaviour_test.cpp checks it row by row.
constexpr const char* default_states_json = R"({
  "confused": {"$or": [{"backOuts": {"$gte": 2}, "cartAdds": 0},
                       {"dwellSeconds": {"$gte": 90}, "scrollDepth": {"$lt": 25}, "cartAdds": 0}]},
  "frustrated": {"$or": [{"rapidClicks": {"$gte": 5}},
                         {"rapidClicks": {"$gte": 3}, "backOuts": {"$gte": 1}}]},
  "engaged": {"scrollDepth": {"$gte": 50}, "dwellSeconds": {"$gte": 60},
              "rapidClicks": {"$lt": 3}, "backOuts": {"$lt": 2}},
  "ready_to_buy": {"cartAdds": {"$gte": 1}, "backOuts": {"$lt": 2}},
  "price_sensitive": {"priceHovers": {"$gte": 3}}
})";

failure invalid(std::string message) { return fail(error_code::invalid_value, std::move(message)); }

int state_index(std::string_view name) noexcept {
  for (size_t i = 0; i < state_count; ++i) {
    if (name == state_labels[i]) return static_cast<int>(i);
  }
  return -1;
}

std::string quoted(std::string_view s) {
  std::string out;
  json::write_string(s.substr(0, 32), out);
  return out;
}

// ---- Summary ----------------------------------------------------------------------------------

const signal_key* find_signal(std::string_view code) noexcept {
  for (const auto& k : signal_keys) {
    if (code == k.code) return &k;
  }
  return nullptr;
}

// A decimal without sign or leading zeros, at most 7 digits (max_signal_value has 7).
bool parse_count(std::string_view digits, uint32_t& out) noexcept {
  if (digits.empty() || digits.size() > 7 || (digits.size() > 1 && digits[0] == '0')) return false;
  uint32_t v = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  out = v;
  return true;
}

result<void> parse_pair(std::string_view part, signals& s, uint32_t& seen) {
  size_t eq = part.find('=');
  if (eq == std::string_view::npos) return invalid("behaviour summary: expected key=value, got " + quoted(part));
  std::string_view code = part.substr(0, eq);
  const signal_key* key = find_signal(code);
  if (key == nullptr) return invalid("behaviour summary: unknown key " + quoted(code));
  auto bit = 1u << static_cast<uint32_t>(key - signal_keys);
  if ((seen & bit) != 0) return invalid("behaviour summary: duplicate key " + quoted(code));
  seen |= bit;
  uint32_t v = 0;
  if (!parse_count(part.substr(eq + 1), v) || v > key->max) {
    return invalid("behaviour summary: " + std::string(code) + ": expected an integer 0.." + std::to_string(key->max));
  }
  s.*(key->field) = v;
  return {};
}

// ---- Rules --------------------------------------------------------------------------------------

result<std::string> read_string(const value& obj, std::string_view key, const std::string& path, bool required) {
  const value* v = obj.find(key);
  if (v == nullptr) {
    if (required) return fail(error_code::wrong_type, path + "." + std::string(key) + ": missing required field");
    return std::string();
  }
  if (!v->is_string()) return fail(error_code::wrong_type, path + "." + std::string(key) + ": expected string");
  if (v->as_string().empty()) return invalid(path + "." + std::string(key) + ": expected a non-empty string");
  return v->as_string();
}

bool is_extension(std::string_view key) noexcept { return key.size() > 2 && key.substr(0, 2) == "x-"; }

result<void> check_members(const value& obj, const std::string& path, std::initializer_list<std::string_view> allowed) {
  for (const auto& [key, v] : obj.members()) {
    bool ok = is_extension(key);
    for (auto a : allowed) ok = ok || key == a;
    if (!ok) return invalid(path + ": unknown field " + quoted(key));
  }
  return {};
}

result<action> read_action(const value& obj, const std::string& path) {
  WHALE_TRY(std::string name, read_string(obj, "action", path, true));
  if (name == "add") return action::add;
  if (name == "replace") return action::replace;
  if (name == "props") return action::props;
  return invalid(path + ".action: expected one of add, replace, props");
}

result<void> read_component(const value& obj, const std::string& path, adaptation& a) {
  const value* c = obj.find("component");
  if (c == nullptr) return fail(error_code::wrong_type, path + ".component: missing required field");
  std::string cpath = path + ".component";
  if (!c->is_object()) return fail(error_code::wrong_type, cpath + ": expected object");
  WHALE_TRY_VOID(check_members(*c, cpath, {"key", "id", "props"}));
  WHALE_TRY(a.component, read_string(*c, "key", cpath, true));
  WHALE_TRY(a.id, read_string(*c, "id", cpath, true));
  const value* props = c->find("props");
  if (props != nullptr && !props->is_object()) return fail(error_code::wrong_type, cpath + ".props: expected object");
  a.props = props != nullptr ? *props : value::object();
  return {};
}

result<adaptation> read_adaptation(const value& obj, const std::string& path) {
  if (!obj.is_object()) return fail(error_code::wrong_type, path + ": expected object");
  WHALE_TRY_VOID(check_members(obj, path, {"state", "action", "page", "section", "target", "component", "props", "position"}));
  adaptation a;
  WHALE_TRY(std::string state_label, read_string(obj, "state", path, true));
  int index = state_index(state_label);
  if (index < 0) return invalid(path + ".state: unknown state " + quoted(state_label));
  a.when = all_states[index];
  WHALE_TRY(a.act, read_action(obj, path));
  WHALE_TRY(a.page, read_string(obj, "page", path, false));
  WHALE_TRY(a.section, read_string(obj, "section", path, true));
  bool is_add = a.act == action::add;
  bool is_props = a.act == action::props;
  WHALE_TRY(a.target, read_string(obj, "target", path, !is_add));
  if (is_add && obj.find("target") != nullptr) return invalid(path + ".target: not allowed for action add");
  if (!is_add && obj.find("position") != nullptr) return invalid(path + ".position: only for action add");
  if (is_props) {
    if (obj.find("component") != nullptr) return invalid(path + ".component: not allowed for action props");
    const value* patch = obj.find("props");
    if (patch == nullptr) return fail(error_code::wrong_type, path + ".props: missing required field");
    if (!patch->is_object()) return fail(error_code::wrong_type, path + ".props: expected object");
    a.props = *patch;
  } else {
    if (obj.find("props") != nullptr) return invalid(path + ".props: only for action props (use component.props)");
    WHALE_TRY_VOID(read_component(obj, path, a));
  }
  WHALE_TRY(std::string where, read_string(obj, "position", path, false));
  if (where == "start") a.at = position::start;
  else if (!where.empty() && where != "end") return invalid(path + ".position: expected start or end");
  return a;
}

result<void> read_condition(const value& cond, const std::string& path) {
  if (cond.is_null()) return {};
  if (!cond.is_object()) return fail(error_code::wrong_type, path + ": expected object or null");
  auto depth = assign::validate_condition(cond);
  if (!depth) return fail(depth.code(), path + ": " + depth.message());
  auto patterns = assign::validate_patterns(cond);
  if (!patterns) return fail(patterns.code(), path + ": " + patterns.message());
  return {};
}

const value& no_saved_groups() {
  static const value empty = value::object();
  return empty;
}

}  // namespace

// ---- Public: summary ---------------------------------------------------------------------------

result<signals> parse_summary(std::string_view text) {
  if (text.size() > max_summary_bytes) {
    return fail(error_code::too_large, "behaviour summary: longer than " + std::to_string(max_summary_bytes) + " bytes");
  }
  size_t end = text.find(';');
  std::string_view version = text.substr(0, end);
  if (version != "v1") return invalid("behaviour summary: expected version v1, got " + quoted(version));
  signals s;
  uint32_t seen = 0;
  while (end != std::string_view::npos) {
    size_t start = end + 1;
    end = text.find(';', start);
    std::string_view part = text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    WHALE_TRY_VOID(parse_pair(part, s, seen));
  }
  return s;
}

std::string format_summary(const signals& s) {
  std::string out = "v1";
  for (const auto& k : signal_keys) {
    out += ';';
    out += k.code;
    out += '=';
    out += std::to_string(s.*(k.field));
  }
  return out;
}

json::value to_attributes(const signals& s) {
  std::vector<json::member> members;
  members.reserve(signal_count);
  for (const auto& k : signal_keys) members.emplace_back(k.name, value::number(static_cast<double>(s.*(k.field))));
  return value::object(std::move(members));
}

const char* state_name(state s) noexcept {
  for (size_t i = 0; i < state_count; ++i) {
    if (s == all_states[i]) return state_labels[i];
  }
  return nullptr;
}

std::vector<std::string> state_names(state_set set) {
  std::vector<std::string> names;
  for (size_t i = 0; i < state_count; ++i) {
    if ((set & all_states[i]) != 0) names.emplace_back(state_labels[i]);
  }
  return names;
}

const char* action_name(action a) noexcept {
  switch (a) {
    case action::add: return "add";
    case action::replace: return "replace";
    case action::props: return "props";
  }
  return "add";
}

// ---- Public: rules -----------------------------------------------------------------------------

const rules& rules::defaults() {
  static const rules table = [] {
    rules r;
    auto parsed = json::parse(default_states_json);
    // The text is a constant checked by the tests; a parse failure would leave every state off.
    if (parsed.ok()) {
      for (size_t i = 0; i < state_count; ++i) {
        const value* cond = parsed->find(state_labels[i]);
        if (cond != nullptr) r.conditions_[i] = *cond;
      }
    }
    return r;
  }();
  return table;
}

result<rules> rules::from_json(const json::value& x_behaviour) {
  rules r = defaults();
  if (x_behaviour.is_null()) return r;
  const std::string path = "x-behaviour";
  if (!x_behaviour.is_object()) return fail(error_code::wrong_type, path + ": expected object");
  WHALE_TRY_VOID(check_members(x_behaviour, path, {"states", "adaptations"}));
  if (const value* states = x_behaviour.find("states")) {
    if (!states->is_object()) return fail(error_code::wrong_type, path + ".states: expected object");
    for (const auto& [name, cond] : states->members()) {
      int index = state_index(name);
      if (index < 0) return invalid(path + ".states: unknown state " + quoted(name));
      WHALE_TRY_VOID(read_condition(cond, path + ".states." + name));
      r.conditions_[index] = cond;
    }
  }
  if (const value* list = x_behaviour.find("adaptations")) {
    if (!list->is_array()) return fail(error_code::wrong_type, path + ".adaptations: expected array");
    if (list->items().size() > max_adaptations) {
      return fail(error_code::too_large, path + ".adaptations: more than " + std::to_string(max_adaptations));
    }
    r.adaptations_.reserve(list->items().size());
    for (size_t i = 0; i < list->items().size(); ++i) {
      WHALE_TRY(adaptation a, read_adaptation(list->items()[i], path + ".adaptations[" + std::to_string(i) + "]"));
      r.adaptations_.push_back(std::move(a));
    }
  }
  return r;
}

state_set rules::classify(const signals& s) const {
  value attributes = to_attributes(s);
  state_set active = 0;
  for (size_t i = 0; i < state_count; ++i) {
    const value& cond = conditions_[i];
    if (!cond.is_null() && assign::eval_condition(attributes, cond, no_saved_groups())) active |= all_states[i];
  }
  return active;
}

std::vector<const adaptation*> rules::adaptations_for(state_set active, std::string_view page_id) const {
  std::vector<const adaptation*> out;
  for (const auto& a : adaptations_) {
    if ((active & a.when) != 0 && (a.page.empty() || a.page == page_id)) out.push_back(&a);
  }
  return out;
}

const json::value& rules::condition(state s) const noexcept {
  static const value none;
  for (size_t i = 0; i < state_count; ++i) {
    if (s == all_states[i]) return conditions_[i];
  }
  return none;
}

result<decision> decide(const rules& r, std::string_view summary, std::string_view page_id) {
  decision d;
  if (summary.empty()) return d;
  WHALE_TRY(signals s, parse_summary(summary));
  d.states = r.classify(s);
  d.adaptations = r.adaptations_for(d.states, page_id);
  return d;
}

}  // namespace whale::behaviour
