// The second pass over a vendor config: checks each section's shape and rules, resolves
// references between sections (instances to components, sections to features) and builds the
// indexes. Every error names its JSON path.
#include <cctype>
#include <cmath>
#include <initializer_list>
#include <string>
#include <unordered_map>

#include "config_util.h"
#include "whale/template.h"
#include "whale/tz.h"
#include "whale/config.h"

namespace whale::config {

using json::value;

namespace {

// ---- shapes of the JSON tree ----

const char* kind_name(json::kind k) {
  switch (k) {
    case json::kind::null: return "null";
    case json::kind::boolean: return "boolean";
    case json::kind::number: return "number";
    case json::kind::string: return "string";
    case json::kind::array: return "array";
    case json::kind::object: return "object";
  }
  return "?";
}

result<void> expect(const value& v, json::kind k, const path_ref& path) {
  if (v.type() != k) return path.fail(error_code::wrong_type, std::string("expected ") + kind_name(k));
  return {};
}

// An object whose members must be among `names` (or be "x-..." extensions).
result<void> object_of(const value& v, const path_ref& path, std::initializer_list<std::string_view> names) {
  WHALE_TRY_VOID(expect(v, json::kind::object, path));
  for (const json::member& m : v.members()) {
    bool known = is_extension(m.first);
    for (std::string_view name : names) known = known || name == m.first;
    if (!known) return path_ref(path, m.first).fail(error_code::invalid_value, "unknown field");
  }
  return {};
}

// A member of kind k; nullptr when absent and optional.
result<const value*> member(const value& obj, const path_ref& path, std::string_view key, json::kind k,
                            bool required) {
  const value* v = obj.find(key);
  if (v == nullptr) {
    if (required) return path_ref(path, key).fail(error_code::wrong_type, "missing required field");
    return static_cast<const value*>(nullptr);
  }
  WHALE_TRY_VOID(expect(*v, k, path_ref(path, key)));
  return v;
}

result<std::string> text(const value& obj, const path_ref& path, std::string_view key, bool required) {
  WHALE_TRY(const value* v, member(obj, path, key, json::kind::string, required));
  if (v == nullptr) return std::string();
  if (required && v->as_string().empty()) {
    return path_ref(path, key).fail(error_code::invalid_value, "expected a non-empty string");
  }
  return v->as_string();
}

result<std::optional<double>> whole_number(const value& obj, const path_ref& path, std::string_view key,
                                           double min, double max) {
  WHALE_TRY(const value* v, member(obj, path, key, json::kind::number, false));
  if (v == nullptr) return std::optional<double>();
  const double n = v->as_number();
  if (!(n >= min && n <= max) || n != std::floor(n)) {
    return path_ref(path, key).fail(error_code::invalid_value, "expected an integer from " +
                                               json::number_to_string(min) + " to " + json::number_to_string(max));
  }
  return std::optional<double>(n);
}

template <typename T>
result<void> set_integer(const value& obj, const path_ref& path, std::string_view key, double min, double max,
                         T& out) {
  WHALE_TRY(std::optional<double> n, whole_number(obj, path, key, min, max));
  if (n) out = static_cast<T>(*n);
  return {};
}

result<void> set_bool(const value& obj, const path_ref& path, std::string_view key, bool& out) {
  WHALE_TRY(const value* v, member(obj, path, key, json::kind::boolean, false));
  if (v != nullptr) out = v->as_bool();
  return {};
}

// Index of `s` in `names`, or -1.
int one_of(std::string_view s, std::initializer_list<std::string_view> names) {
  int i = 0;
  for (std::string_view name : names) {
    if (name == s) return i;
    ++i;
  }
  return -1;
}

// An array of strings from a fixed list, as a bit set in list order.
result<uint8_t> flag_list(const value& obj, const path_ref& path, std::string_view key,
                          std::initializer_list<std::string_view> names, const char* expected) {
  WHALE_TRY(const value* v, member(obj, path, key, json::kind::array, false));
  if (v == nullptr) return uint8_t{0};
  uint8_t bits = 0;
  const path_ref at(path, key);
  for (size_t i = 0; i < v->items().size(); ++i) {
    const value& item = v->items()[i];
    const int bit = item.is_string() ? one_of(item.as_string(), names) : -1;
    if (!item.is_string()) return path_ref(at, i).fail(error_code::wrong_type, "expected string");
    if (bit < 0) return path_ref(at, i).fail(error_code::invalid_value, std::string("expected one of ") + expected);
    bits |= static_cast<uint8_t>(1u << bit);
  }
  return bits;
}

// ---- lexical rules ----

bool lower_or_digit(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool alnum(char c) { return lower_or_digit(c) || (c >= 'A' && c <= 'Z'); }

// ^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$
bool is_slug(std::string_view s) {
  if (s.empty() || s.size() > 64 || s.front() == '-' || s.back() == '-') return false;
  for (char c : s) {
    if (!lower_or_digit(c) && c != '-') return false;
  }
  return true;
}

// Ids of sections and instances, component keys: 1-128 of [A-Za-z0-9_.:-].
bool is_identifier(std::string_view s) {
  if (s.empty() || s.size() > 128) return false;
  for (char c : s) {
    if (!alnum(c) && c != '_' && c != '-' && c != '.' && c != ':') return false;
  }
  return true;
}

// An IANA zone the core knows (the compiled table of whale::tz), so schedules can use it.
bool is_timezone(std::string_view s) { return s.size() <= 64 && !tz::find_zone(s).empty(); }

bool is_page_path(std::string_view s) {
  if (s.empty() || s.front() != '/' || s.size() > 2048) return false;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= ' ' || u == 0x7f || c == '?' || c == '#' || c == '\\') return false;
  }
  return true;
}

// http(s)://host[:port][/path-prefix], host a name, an IPv4 address or a bracketed IPv6 one.
bool is_source_prefix(std::string_view s) {
  size_t at = 0;
  if (s.substr(0, 8) == "https://") {
    at = 8;
  } else if (s.substr(0, 7) == "http://") {
    at = 7;
  } else {
    return false;
  }
  const size_t host_end = s.find('/', at);
  std::string_view authority = s.substr(at, host_end == std::string_view::npos ? std::string_view::npos : host_end - at);
  std::string_view path = host_end == std::string_view::npos ? std::string_view() : s.substr(host_end);
  std::string_view host = authority;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return false;
    host = authority.substr(0, close + 1);
    std::string_view rest = authority.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') return false;
    if (!rest.empty()) port = rest.substr(1);
    for (char c : host.substr(1, host.size() - 2)) {
      if (!alnum(c) && c != ':' && c != '.') return false;
    }
    if (host.size() < 3) return false;
  } else {
    const size_t colon = authority.find(':');
    if (colon != std::string_view::npos) {
      host = authority.substr(0, colon);
      port = authority.substr(colon + 1);
      if (port.empty()) return false;
    }
    if (host.empty() || host.front() == '.' || host.front() == '-') return false;
    for (char c : host) {
      if (!alnum(c) && c != '.' && c != '-') return false;
    }
  }
  if (!port.empty()) {
    if (port.size() > 5) return false;
    unsigned n = 0;
    for (char c : port) {
      if (c < '0' || c > '9') return false;
      n = n * 10 + static_cast<unsigned>(c - '0');
    }
    if (n == 0 || n > 65535) return false;
  }
  for (char c : path) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= ' ' || u == 0x7f || c == '?' || c == '#' || c == '\\') return false;
  }
  return true;
}

// ---- schedules ----

result<schedule> read_schedule(const value& v, const path_ref& path) {
  WHALE_TRY_VOID(object_of(v, path, {"start", "end", "dayparts", "days"}));
  schedule out;
  static const char* const time_example = "expected an RFC 3339 time such as \"2025-11-28T08:00:00Z\"";
  for (const char* key : {"start", "end"}) {
    WHALE_TRY(const value* t, member(v, path, key, json::kind::string, false));
    if (t == nullptr) continue;
    int64_t seconds = 0;
    if (!tz::parse_rfc3339(t->as_string(), seconds)) return path_ref(path, key).fail(error_code::invalid_value, time_example);
    (key[0] == 's' ? out.start : out.end) = seconds;
  }
  if (out.start >= out.end) return path_ref(path, "end").fail(error_code::invalid_value, "expected a time after start");
  WHALE_TRY(out.dayparts, flag_list(v, path, "dayparts", {"morning", "afternoon", "evening", "night"},
                                    "\"morning\", \"afternoon\", \"evening\", \"night\""));
  WHALE_TRY(out.days, flag_list(v, path, "days", {"mon", "tue", "wed", "thu", "fri", "sat", "sun"},
                                "\"mon\" ... \"sun\""));
  return out;
}

// ---- instances, sections, pages ----

result<void> read_instance(value& v, const path_ref& path, const vendor_config::impl& config, instance& out) {
  WHALE_TRY_VOID(object_of(v, path, {"id", "key", "props", "visibility", "schedule"}));
  WHALE_TRY(out.id, text(v, path, "id", true));
  if (!is_identifier(out.id)) {
    return path_ref(path, "id").fail(error_code::invalid_value, "expected 1-128 letters, digits, '_', '-', '.' or ':'");
  }
  WHALE_TRY(std::string key, text(v, path, "key", true));
  const auto found = config.component_index.find(key);
  if (found == config.component_index.end()) {
    return path_ref(path, "key").fail(error_code::not_found, "unknown component \"" + key + "\"");
  }
  out.component = found->second;
  const component& c = config.components[out.component];
  const path_ref props_path(path, "props");
  if (value* props = v.find("props")) {
    WHALE_TRY_VOID(expect(*props, json::kind::object, props_path));
    out.props = std::move(*props);
  } else {
    out.props = value::object();
  }
  WHALE_TRY_VOID(check_value(c.props, out.props, props_path));
  fill_defaults(c.props, out.props);
  if (value* visibility = v.find("visibility"); visibility != nullptr && !visibility->is_null()) {
    const path_ref at(path, "visibility");
    if (!visibility->is_object()) return at.fail(error_code::wrong_type, "expected object or null");
    auto checked = assign::validate_condition(*visibility);
    if (checked) checked = assign::validate_patterns(*visibility);
    if (!checked) return at.fail(checked.code(), checked.message());
    out.visibility = std::move(*visibility);
  }
  if (const value* when = v.find("schedule")) {
    WHALE_TRY(out.when, read_schedule(*when, path_ref(path, "schedule")));
  }
  return {};
}

// Where each instance id of a page is: (section, index in section).
using id_map = std::unordered_map<std::string_view, std::pair<size_t, size_t>>;

std::string instance_path(const path_ref& page_path, size_t section, size_t index) {
  const path_ref sections(page_path, "sections");
  const path_ref s(sections, section);
  const path_ref components(s, "components");
  return path_ref(components, index).str();
}

// A feature value bound to a section: null, {"components": [...]} or {"props": {id: patch}}.
result<void> check_variant(const value& v, const path_ref& path, const vendor_config::impl& config, const page& p,
                           const path_ref& page_path, size_t section_index, const id_map& ids) {
  if (v.is_null()) return {};
  const path_ref sections(page_path, "sections");
  const path_ref section_path(sections, section_index);
  if (!v.is_object()) {
    return path.fail(error_code::wrong_type, "expected object or null (a variant of " + section_path.str() + ")");
  }
  WHALE_TRY_VOID(object_of(v, path, {"components", "props"}));
  WHALE_TRY(const value* components, member(v, path, "components", json::kind::array, false));
  if (components != nullptr) {
    const path_ref list_path(path, "components");
    std::vector<instance> replaced(components->items().size());
    for (size_t i = 0; i < replaced.size(); ++i) {
      value copy = components->items()[i];
      const path_ref at(list_path, i);
      WHALE_TRY_VOID(read_instance(copy, at, config, replaced[i]));
      const auto other = ids.find(replaced[i].id);
      if (other != ids.end() && other->second.first != section_index) {
        return path_ref(at, "id").fail(error_code::invalid_value,
                                       "duplicate id \"" + replaced[i].id + "\" (also at " +
                                           instance_path(page_path, other->second.first, other->second.second) + ")");
      }
      for (size_t j = 0; j < i; ++j) {
        if (replaced[j].id == replaced[i].id) {
          return path_ref(at, "id").fail(error_code::invalid_value, "duplicate id \"" + replaced[i].id + "\"");
        }
      }
    }
  }
  WHALE_TRY(const value* patches, member(v, path, "props", json::kind::object, false));
  if (patches == nullptr) return {};
  const section& s = p.sections[section_index];
  const path_ref props_path(path, "props");
  for (const json::member& m : patches->members()) {
    const path_ref at(props_path, m.first);
    const instance* target = nullptr;
    for (const instance& i : s.components) {
      if (i.id == m.first) target = &i;
    }
    if (target == nullptr) {
      return at.fail(error_code::not_found, "no instance \"" + m.first + "\" in " + section_path.str());
    }
    WHALE_TRY_VOID(expect(m.second, json::kind::object, at));
    value merged = target->props;
    for (const json::member& field : m.second.members()) merged.set(field.first, field.second);
    WHALE_TRY_VOID(check_value(config.components[target->component].props, merged, at));
  }
  return {};
}

// Every value the section's feature can take: its default, each force and each variation.
result<void> check_variants(const vendor_config::impl& config, const page& p, const path_ref& page_path,
                            size_t section_index, const id_map& ids) {
  const section& s = p.sections[section_index];
  const assign::feature_index* f = config.assignments.find(s.feature);
  const path_ref features("features");
  const path_ref base(features, s.feature);
  const auto check = [&](const value& v, const path_ref& at) {
    return check_variant(v, at, config, p, page_path, section_index, ids);
  };
  if (const value* d = f->feature->find("defaultValue")) WHALE_TRY_VOID(check(*d, path_ref(base, "defaultValue")));
  const value* rules = f->feature->find("rules");
  if (rules == nullptr || !rules->is_array()) return {};
  const path_ref rules_path(base, "rules");
  for (size_t i = 0; i < rules->items().size(); ++i) {
    const value& rule = rules->items()[i];
    const path_ref at(rules_path, i);
    if (const value* force = rule.find("force")) WHALE_TRY_VOID(check(*force, path_ref(at, "force")));
    const value* variations = rule.find("variations");
    if (variations == nullptr || !variations->is_array()) continue;
    const path_ref variations_path(at, "variations");
    for (size_t j = 0; j < variations->items().size(); ++j) {
      WHALE_TRY_VOID(check(variations->items()[j], path_ref(variations_path, j)));
    }
  }
  return {};
}

result<void> read_section(value& v, const path_ref& path, const vendor_config::impl& config, section& out) {
  WHALE_TRY_VOID(object_of(v, path, {"id", "components", "feature"}));
  WHALE_TRY(out.id, text(v, path, "id", true));
  if (!is_identifier(out.id)) {
    return path_ref(path, "id").fail(error_code::invalid_value, "expected 1-128 letters, digits, '_', '-', '.' or ':'");
  }
  WHALE_TRY(out.feature, text(v, path, "feature", v.find("feature") != nullptr));
  if (!out.feature.empty() && config.assignments.find(out.feature) == nullptr) {
    return path_ref(path, "feature").fail(error_code::not_found, "unknown feature \"" + out.feature + "\"");
  }
  WHALE_TRY_VOID(member(v, path, "components", json::kind::array, true));
  std::vector<value>& items = v.find("components")->items();
  out.components.resize(items.size());
  const path_ref list_path(path, "components");
  for (size_t i = 0; i < items.size(); ++i) {
    WHALE_TRY_VOID(read_instance(items[i], path_ref(list_path, i), config, out.components[i]));
  }
  return {};
}

// ---- candidates (multi-variant pages) ----

constexpr size_t max_candidates = 8;

// An experiment rule of the payload by its key (GrowthBook: the rule's "key", else the feature's).
const assign::rule_index* find_experiment(const assign::payload& data, std::string_view key) {
  for (const assign::feature_index& feature : data.index) {
    for (const assign::rule_index& rule : feature.rules) {
      if (!rule.experiment) continue;
      const value* k = rule.fields.key;
      const std::string_view name = k != nullptr && k->is_string() ? std::string_view(k->as_string()) : feature.key;
      if (name == key) return &rule;
    }
  }
  return nullptr;
}

size_t variation_count(const assign::rule_index& rule) {
  const value* v = rule.fields.variations;
  return v != nullptr && v->is_array() ? v->items().size() : 0;
}

result<behaviour::state> state_named(const value& v, const path_ref& path) {
  if (v.is_string()) {
    for (behaviour::state s : behaviour::all_states) {
      if (v.as_string() == behaviour::state_name(s)) return s;
    }
  }
  return path.fail(error_code::invalid_value,
                   "expected a behaviour state: confused, frustrated, engaged, ready_to_buy or price_sensitive");
}

result<void> read_strategy(const value& v, const path_ref& path, const vendor_config::impl& config, candidate& out) {
  WHALE_TRY_VOID(object_of(v, path, {"name", "force", "states"}));
  WHALE_TRY(out.name, text(v, path, "name", true));
  if (!is_identifier(out.name)) {
    return path_ref(path, "name").fail(error_code::invalid_value, "expected 1-128 letters, digits, '_', '-', '.' or ':'");
  }
  WHALE_TRY(const value* force, member(v, path, "force", json::kind::object, true));
  const path_ref force_path(path, "force");
  if (force->members().empty() || force->members().size() > max_candidates) {
    return force_path.fail(error_code::invalid_value, "expected 1 to 8 experiments");
  }
  for (const json::member& m : force->members()) {
    const path_ref at(force_path, m.first);
    const assign::rule_index* rule = find_experiment(config.assignments, m.first);
    if (rule == nullptr) return at.fail(error_code::not_found, "no experiment with this key in features");
    const double n = m.second.is_number() ? m.second.as_number() : -1;
    const size_t count = variation_count(*rule);
    if (!(n >= 0 && n < static_cast<double>(count)) || n != std::floor(n)) {
      return at.fail(error_code::invalid_value, "expected a variation index from 0 to " + std::to_string(count - 1));
    }
    out.force.emplace_back(m.first, static_cast<uint32_t>(n));
  }
  WHALE_TRY(const value* states, member(v, path, "states", json::kind::array, false));
  if (states != nullptr) {
    const path_ref states_path(path, "states");
    for (size_t i = 0; i < states->items().size(); ++i) {
      WHALE_TRY(behaviour::state s, state_named(states->items()[i], path_ref(states_path, i)));
      out.states |= s;
    }
  }
  return {};
}

// {"experiment", "prefer"?: {state: arm name}} or {"strategies": [...]}, with "watchSeconds"?.
result<void> read_candidates(const value& v, const path_ref& path, const vendor_config::impl& config,
                             page_candidates& out) {
  WHALE_TRY_VOID(object_of(v, path, {"experiment", "prefer", "strategies", "watchSeconds"}));
  uint32_t watch_s = 10;
  WHALE_TRY_VOID(set_integer(v, path, "watchSeconds", 1, 60, watch_s));
  out.watch_ms = watch_s * 1000;
  const bool arms = v.find("experiment") != nullptr;
  if (arms == (v.find("strategies") != nullptr)) {
    return path.fail(error_code::invalid_value, "expected \"experiment\" (its arms) or \"strategies\", one of them");
  }
  if (!arms) {
    if (v.find("prefer") != nullptr) return path_ref(path, "prefer").fail(error_code::invalid_value, "only with \"experiment\"");
    WHALE_TRY(const value* list, member(v, path, "strategies", json::kind::array, true));
    const path_ref list_path(path, "strategies");
    if (list->items().empty() || list->items().size() > max_candidates) {
      return list_path.fail(error_code::invalid_value, "expected 1 to 8 strategies");
    }
    out.strategies.resize(list->items().size());
    for (size_t i = 0; i < out.strategies.size(); ++i) {
      WHALE_TRY_VOID(read_strategy(list->items()[i], path_ref(list_path, i), config, out.strategies[i]));
      for (size_t j = 0; j < i; ++j) {
        if (out.strategies[j].name == out.strategies[i].name) {
          return path_ref(path_ref(list_path, i), "name").fail(error_code::invalid_value, "duplicate strategy name \"" + out.strategies[i].name + "\"");
        }
      }
    }
    return {};
  }
  WHALE_TRY(out.experiment, text(v, path, "experiment", true));
  const assign::rule_index* rule = find_experiment(config.assignments, out.experiment);
  if (rule == nullptr) return path_ref(path, "experiment").fail(error_code::not_found, "no experiment with this key in features");
  const size_t count = variation_count(*rule);
  if (count < 2 || count > max_candidates) {
    return path_ref(path, "experiment").fail(error_code::invalid_value, "expected an experiment of 2 to 8 variations");
  }
  // An arm's name: its meta key when that is an identifier, else "variation-<i>".
  const value* meta = rule->fields.meta;
  for (size_t i = 0; i < count; ++i) {
    candidate c;
    const value* entry = meta != nullptr && meta->is_array() && i < meta->items().size() ? &meta->items()[i] : nullptr;
    const value* key = entry != nullptr && entry->is_object() ? entry->find("key") : nullptr;
    c.name = key != nullptr && key->is_string() && is_identifier(key->as_string()) ? key->as_string()
                                                                                  : "variation-" + std::to_string(i);
    for (const candidate& other : out.strategies) {
      if (other.name == c.name) c.name = "variation-" + std::to_string(i);
    }
    c.force.emplace_back(out.experiment, static_cast<uint32_t>(i));
    out.strategies.push_back(std::move(c));
  }
  WHALE_TRY(const value* prefer, member(v, path, "prefer", json::kind::object, false));
  if (prefer != nullptr) {
    const path_ref prefer_path(path, "prefer");
    for (const json::member& m : prefer->members()) {
      const path_ref at(prefer_path, m.first);
      WHALE_TRY(behaviour::state s, state_named(value::string(m.first), at));
      candidate* arm = nullptr;
      for (candidate& c : out.strategies) {
        if (m.second.is_string() && c.name == m.second.as_string()) arm = &c;
      }
      if (arm == nullptr) return at.fail(error_code::not_found, "expected the name of one of the experiment's arms");
      arm->states |= s;
    }
  }
  return {};
}

result<void> read_page(value& v, const path_ref& path, const vendor_config::impl& config, page& out) {
  WHALE_TRY_VOID(object_of(v, path, {"id", "path", "title", "sections", "candidates"}));
  WHALE_TRY(out.id, text(v, path, "id", true));
  if (!is_slug(out.id)) {
    return path_ref(path, "id").fail(error_code::invalid_value,
                                     "expected lowercase letters, digits and '-' (1-64, no '-' at either end)");
  }
  WHALE_TRY(out.path, text(v, path, "path", true));
  if (!is_page_path(out.path)) {
    return path_ref(path, "path").fail(error_code::invalid_value,
                                       "expected a path starting with '/', without spaces, '?' or '#'");
  }
  WHALE_TRY(out.title, text(v, path, "title", false));
  WHALE_TRY_VOID(member(v, path, "sections", json::kind::array, true));
  std::vector<value>& items = v.find("sections")->items();
  out.sections.resize(items.size());
  const path_ref list_path(path, "sections");
  for (size_t i = 0; i < items.size(); ++i) {
    WHALE_TRY_VOID(read_section(items[i], path_ref(list_path, i), config, out.sections[i]));
  }
  if (const value* candidates = v.find("candidates")) {
    WHALE_TRY_VOID(read_candidates(*candidates, path_ref(path, "candidates"), config, out.candidates));
  }
  // Ids are unique per page: the layout reports dropped instances by id.
  std::unordered_map<std::string_view, size_t> section_ids;
  id_map ids;
  for (size_t i = 0; i < out.sections.size(); ++i) {
    const section& s = out.sections[i];
    if (!section_ids.emplace(s.id, i).second) {
      const path_ref at(list_path, i);
      return path_ref(at, "id").fail(error_code::invalid_value, "duplicate section id \"" + s.id + "\"");
    }
    for (size_t j = 0; j < s.components.size(); ++j) {
      const auto placed = ids.emplace(s.components[j].id, std::make_pair(i, j));
      if (!placed.second) {
        return fail(error_code::invalid_value, instance_path(path, i, j) + ".id: duplicate id \"" + s.components[j].id +
                                                   "\" (also at " +
                                                   instance_path(path, placed.first->second.first,
                                                                 placed.first->second.second) +
                                                   ")");
      }
    }
  }
  for (size_t i = 0; i < out.sections.size(); ++i) {
    if (!out.sections[i].feature.empty()) WHALE_TRY_VOID(check_variants(config, out, path, i, ids));
  }
  return {};
}

// ---- components ----

struct references {
  std::vector<std::string> names[3];  // dependencies, conflicts, synergies
};
constexpr const char* reference_lists[] = {"dependencies", "conflicts", "synergies"};

result<void> read_component(const json::member& m, const path_ref& path, component& out, references& refs,
                            pattern_cache& patterns) {
  if (!is_identifier(m.first)) {
    return path.fail(error_code::invalid_value, "a component key is 1-128 letters, digits, '_', '-', '.' or ':'");
  }
  const value& v = m.second;
  WHALE_TRY_VOID(object_of(v, path, {"props", "dependencies", "conflicts", "synergies", "priority", "kind", "description",
                                     "version", "status", "template"}));
  out.key = m.first;
  WHALE_TRY(out.kind, text(v, path, "kind", false));
  WHALE_TRY_VOID(text(v, path, "description", false));
  WHALE_TRY_VOID(set_integer(v, path, "priority", -1e6, 1e6, out.priority));
  WHALE_TRY_VOID(set_integer(v, path, "version", 1, 1e6, out.version));
  WHALE_TRY(std::string status, text(v, path, "status", false));
  if (!status.empty() || v.find("status") != nullptr) {
    const int s = one_of(status, {"stable", "experimental"});
    if (s < 0) return path_ref(path, "status").fail(error_code::invalid_value, "expected \"stable\" or \"experimental\"");
    out.experimental = s == 1;
  }
  if (const value* view = v.find("template")) {
    WHALE_TRY_VOID(tmpl::check(*view, v.find("props"), path_ref(path, "template").str()));
    out.view = *view;
  }
  if (const value* props = v.find("props")) {
    const path_ref props_path(path, "props");
    WHALE_TRY_VOID(compile_schema(out.props, *props, props_path, patterns));
    if (out.props.types != 0 && (out.props.types & type_object) == 0) {
      return path_ref(props_path, "type").fail(error_code::invalid_value, "a props schema describes an object");
    }
  }
  for (size_t list = 0; list < 3; ++list) {
    WHALE_TRY(const value* names, member(v, path, reference_lists[list], json::kind::array, false));
    if (names == nullptr) continue;
    const path_ref at(path, reference_lists[list]);
    for (size_t i = 0; i < names->items().size(); ++i) {
      const value& name = names->items()[i];
      if (!name.is_string()) return path_ref(at, i).fail(error_code::wrong_type, "expected string");
      refs.names[list].push_back(name.as_string());
    }
  }
  return {};
}

result<void> resolve_references(vendor_config::impl& config, const std::vector<references>& refs) {
  for (size_t c = 0; c < config.components.size(); ++c) {
    component& comp = config.components[c];
    std::vector<uint32_t>* lists[] = {&comp.dependencies, &comp.conflicts, &comp.synergies};
    const path_ref components("components");
    const path_ref entry(components, comp.key);
    for (size_t list = 0; list < 3; ++list) {
      const path_ref at(entry, reference_lists[list]);
      for (size_t i = 0; i < refs[c].names[list].size(); ++i) {
        const std::string& name = refs[c].names[list][i];
        const auto found = config.component_index.find(name);
        if (found == config.component_index.end()) {
          return path_ref(at, i).fail(error_code::not_found, "unknown component \"" + name + "\"");
        }
        if (found->second == c && list == 1) {
          return path_ref(at, i).fail(error_code::invalid_value, "a component cannot conflict with itself");
        }
        lists[list]->push_back(found->second);
      }
    }
  }
  return {};
}

// Dependencies must form a DAG: the layout orders them topologically. Iterative, so a long
// chain cannot overflow the stack.
result<void> check_cycles(const std::vector<component>& components) {
  std::vector<uint8_t> state(components.size(), 0);  // 0 unseen, 1 on the stack, 2 done
  std::vector<std::pair<uint32_t, size_t>> stack;     // (component, next dependency to visit)
  for (uint32_t root = 0; root < components.size(); ++root) {
    if (state[root] != 0) continue;
    state[root] = 1;
    stack.emplace_back(root, 0);
    while (!stack.empty()) {
      const uint32_t node = stack.back().first;
      const size_t next = stack.back().second;
      if (next == components[node].dependencies.size()) {
        state[node] = 2;
        stack.pop_back();
        continue;
      }
      ++stack.back().second;
      const uint32_t child = components[node].dependencies[next];
      if (state[child] == 0) {
        state[child] = 1;
        stack.emplace_back(child, 0);
      } else if (state[child] == 1) {
        std::string cycle;
        bool on_cycle = false;
        for (const auto& frame : stack) {
          on_cycle = on_cycle || frame.first == child;
          if (on_cycle) cycle += components[frame.first].key + " -> ";
        }
        cycle += components[child].key;
        return fail(error_code::invalid_value,
                    key_path("components", components[child].key) + ".dependencies: dependency cycle " + cycle);
      }
    }
  }
  return {};
}

// ---- memory estimate ----

size_t string_bytes(const std::string& s) { return s.capacity() > 15 ? s.capacity() + 1 : 0; }

size_t schema_bytes(const prop_schema& s) {
  size_t n = s.properties.capacity() * sizeof(s.properties[0]) + s.items.capacity() * sizeof(prop_schema) +
             s.enum_values.capacity() * sizeof(value) + s.required.capacity() * sizeof(std::string) +
             string_bytes(s.pattern_source) + (s.pattern ? s.pattern_source.size() * 16 : 0);
  for (const auto& p : s.properties) n += string_bytes(p.first) + schema_bytes(p.second);
  for (const auto& item : s.items) n += schema_bytes(item);
  for (const value& e : s.enum_values) n += json_bytes(e);
  for (const std::string& r : s.required) n += string_bytes(r);
  if (s.default_value) n += json_bytes(*s.default_value);
  return n;
}

template <typename Map>
size_t map_bytes(const Map& m) {
  // Buckets plus one node (next pointer, key, value, cached hash) per entry.
  return m.bucket_count() * sizeof(void*) + m.size() * (sizeof(typename Map::value_type) + 2 * sizeof(void*));
}

}  // namespace

// ---- entry points used by config.cpp ----

result<void> read_vendor(const value& v, vendor_info& out) {
  const path_ref path("vendor");
  WHALE_TRY_VOID(object_of(v, path, {"id", "slug", "name", "vertical", "timezone", "region"}));
  WHALE_TRY(out.id, text(v, path, "id", true));
  WHALE_TRY(out.slug, text(v, path, "slug", true));
  if (!is_slug(out.slug)) {
    return fail(error_code::invalid_value,
                "vendor.slug: expected lowercase letters, digits and '-' (1-64, no '-' at either end)");
  }
  WHALE_TRY(out.name, text(v, path, "name", true));
  WHALE_TRY(out.vertical, text(v, path, "vertical", true));
  WHALE_TRY(out.timezone, text(v, path, "timezone", true));
  if (!is_timezone(out.timezone)) {
    return fail(error_code::invalid_value, "vendor.timezone: expected an IANA time zone name such as \"America/Los_Angeles\"");
  }
  WHALE_TRY(out.region, text(v, path, "region", true));
  return {};
}

result<void> read_components(const value& v, vendor_config::impl& config) {
  const path_ref path("components");
  WHALE_TRY_VOID(expect(v, json::kind::object, path));
  std::vector<references> refs(v.members().size());
  config.components.resize(v.members().size());
  pattern_cache patterns;
  for (size_t i = 0; i < v.members().size(); ++i) {
    const json::member& m = v.members()[i];
    WHALE_TRY_VOID(read_component(m, path_ref(path, m.first), config.components[i], refs[i], patterns));
  }
  config.component_index.reserve(config.components.size());
  for (size_t i = 0; i < config.components.size(); ++i) {
    config.component_index.emplace(config.components[i].key, static_cast<uint32_t>(i));
  }
  WHALE_TRY_VOID(resolve_references(config, refs));
  return check_cycles(config.components);
}

result<void> read_media(const value& v, media_settings& out) {
  const path_ref path("media");
  WHALE_TRY_VOID(object_of(v, path, {"allowedSources", "formats", "maxWidth", "maxHeight", "quality", "widths",
                                     "maxInputBytes", "maxInputPixels", "signedUrls"}));
  WHALE_TRY(const value* sources, member(v, path, "allowedSources", json::kind::array, false));
  if (sources != nullptr) {
    const path_ref list(path, "allowedSources");
    for (size_t i = 0; i < sources->items().size(); ++i) {
      const value& s = sources->items()[i];
      const path_ref at(list, i);
      if (!s.is_string()) return at.fail(error_code::wrong_type, "expected string");
      if (!is_source_prefix(s.as_string())) {
        return at.fail(error_code::invalid_value, "expected an http(s) URL prefix such as \"https://cdn.example.com/images/\"");
      }
      out.allowed_sources.push_back(s.as_string());
    }
  }
  if (v.find("formats") != nullptr) {
    WHALE_TRY(out.formats, flag_list(v, path, "formats", {"jpeg", "png", "webp", "avif"}, "\"jpeg\", \"png\", \"webp\", \"avif\""));
    if (out.formats == 0) return fail(error_code::invalid_value, "media.formats: expected at least one format");
  }
  WHALE_TRY_VOID(set_integer(v, path, "maxWidth", 1, 4096, out.max_width));
  WHALE_TRY_VOID(set_integer(v, path, "maxHeight", 1, 4096, out.max_height));
  WHALE_TRY_VOID(set_integer(v, path, "quality", 1, 100, out.quality));
  WHALE_TRY_VOID(set_integer(v, path, "maxInputBytes", 1, 256.0 * 1024 * 1024, out.max_input_bytes));
  WHALE_TRY_VOID(set_integer(v, path, "maxInputPixels", 1, 100e6, out.max_input_pixels));
  WHALE_TRY_VOID(set_bool(v, path, "signedUrls", out.signed_urls));
  WHALE_TRY(const value* widths, member(v, path, "widths", json::kind::array, false));
  if (widths != nullptr) {
    const path_ref list(path, "widths");
    for (size_t i = 0; i < widths->items().size(); ++i) {
      const value& w = widths->items()[i];
      const path_ref at(list, i);
      if (!w.is_number()) return at.fail(error_code::wrong_type, "expected number");
      const double n = w.as_number();
      if (!(n >= 1 && n <= out.max_width) || n != std::floor(n)) {
        return at.fail(error_code::invalid_value, "expected an integer from 1 to maxWidth (" +
                                                   std::to_string(out.max_width) + ")");
      }
      if (!out.widths.empty() && n <= out.widths.back()) {
        return at.fail(error_code::invalid_value, "expected widths in ascending order");
      }
      out.widths.push_back(static_cast<uint32_t>(n));
    }
  }
  return {};
}

namespace {

// A cookie name: an RFC 6265 token.
bool is_cookie_name(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    if (c <= 0x20 || c >= 0x7f || std::string_view("()<>@,;:\\\"/[]?={}").find(c) != std::string_view::npos) return false;
  }
  return true;
}

result<void> cookie_values(const value& v, const path_ref& path, std::string_view key, std::vector<std::string>& out) {
  WHALE_TRY(const value* list, member(v, path, key, json::kind::array, false));
  if (list == nullptr) return {};
  const path_ref at_list(path, key);
  if (list->items().empty() || list->items().size() > 16) return at_list.fail(error_code::invalid_value, "expected 1 to 16 values");
  for (size_t i = 0; i < list->items().size(); ++i) {
    const value& s = list->items()[i];
    const path_ref at(at_list, i);
    if (!s.is_string()) return at.fail(error_code::wrong_type, "expected string");
    if (s.as_string().size() > 256) return at.fail(error_code::invalid_value, "expected at most 256 characters");
    out.push_back(s.as_string());
  }
  return {};
}

}  // namespace

result<void> read_theme(const value& v, theme_settings& out) {
  const path_ref path("theme");
  WHALE_TRY_VOID(object_of(v, path, {"primary", "accent", "background", "text", "muted", "font", "radius"}));
  const auto colour = [](const std::string& s) {
    if ((s.size() != 4 && s.size() != 7) || s[0] != '#') return false;
    for (size_t i = 1; i < s.size(); ++i) {
      if (!std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
    }
    return true;
  };
  for (auto [key, slot] : {std::pair{"primary", &out.primary}, std::pair{"accent", &out.accent},
                           std::pair{"background", &out.background}, std::pair{"text", &out.text},
                           std::pair{"muted", &out.muted}}) {
    WHALE_TRY(*slot, text(v, path, key, false));
    if (!slot->empty() && !colour(*slot)) {
      return path_ref(path, key).fail(error_code::invalid_value, "expected a colour as #rgb or #rrggbb");
    }
  }
  WHALE_TRY(out.font, text(v, path, "font", false));
  // A font stack: names, spaces, commas, quotes and '-', nothing CSS could read as more.
  if (out.font.size() > 120 || out.font.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ,'\"-") != std::string::npos) {
    return path_ref(path, "font").fail(error_code::invalid_value, "expected a font stack of at most 120 letters, digits, spaces, commas, quotes and '-'");
  }
  WHALE_TRY_VOID(set_integer(v, path, "radius", 0, 32, out.radius));
  return {};
}

// {"<name>": {"condition": {...}, "description"?}}: at most 32, names as page ids.
result<void> read_segments(const value& v, std::vector<segment>& out) {
  const path_ref path("segments");
  WHALE_TRY_VOID(expect(v, json::kind::object, path));
  if (v.members().size() > 32) return path.fail(error_code::too_large, "more than 32 segments");
  for (const json::member& m : v.members()) {
    const path_ref at(path, m.first);
    if (!is_slug(m.first)) return at.fail(error_code::invalid_value, "a segment name is lowercase letters, digits and '-' (1-64)");
    WHALE_TRY_VOID(object_of(m.second, at, {"condition", "description"}));
    segment s;
    s.name = m.first;
    WHALE_TRY(s.description, text(m.second, at, "description", false));
    WHALE_TRY(const value* condition, member(m.second, at, "condition", json::kind::object, true));
    auto checked = assign::validate_condition(*condition);
    if (checked) checked = assign::validate_patterns(*condition);
    if (!checked) return path_ref(at, "condition").fail(checked.code(), checked.message());
    s.condition = *condition;
    out.push_back(std::move(s));
  }
  return {};
}

result<void> read_consent(const value& v, consent_settings& out) {
  const path_ref path("consent");
  WHALE_TRY_VOID(object_of(v, path, {"globalPrivacyControl", "cookie", "granted", "denied"}));
  WHALE_TRY_VOID(set_bool(v, path, "globalPrivacyControl", out.global_privacy_control));
  WHALE_TRY(const value* cookie, member(v, path, "cookie", json::kind::string, false));
  if (cookie != nullptr) {
    if (!is_cookie_name(cookie->as_string())) {
      return path_ref(path, "cookie").fail(error_code::invalid_value, "expected a cookie name (1 to 64 token characters)");
    }
    out.cookie = cookie->as_string();
  }
  WHALE_TRY_VOID(cookie_values(v, path, "granted", out.granted));
  WHALE_TRY_VOID(cookie_values(v, path, "denied", out.denied));
  if (!out.granted.empty() && !out.denied.empty()) {
    return fail(error_code::invalid_value, "consent: expected \"granted\" (opt-in) or \"denied\" (opt-out), not both");
  }
  if ((!out.granted.empty() || !out.denied.empty()) && out.cookie.empty()) {
    return fail(error_code::invalid_value, "consent: \"granted\" and \"denied\" need \"cookie\"");
  }
  return {};
}

result<void> read_inventory(const value& v, product_catalog& out) {
  const path_ref catalog("catalog");
  const path_ref path(catalog, "inventory");
  WHALE_TRY_VOID(object_of(v, path, {"soldOut", "urgencyDays", "orderByUrgency"}));
  WHALE_TRY(std::string sold_out, text(v, path, "soldOut", false));
  if (!sold_out.empty()) {
    const int policy = one_of(sold_out, {"mark", "hide", "show"});
    if (policy < 0) return path_ref(path, "soldOut").fail(error_code::invalid_value, "expected one of \"mark\", \"hide\", \"show\"");
    out.sold_out = static_cast<sold_out_policy>(policy);
  } else if (v.find("soldOut") != nullptr) {
    return path_ref(path, "soldOut").fail(error_code::invalid_value, "expected one of \"mark\", \"hide\", \"show\"");
  }
  WHALE_TRY(const value* urgency, member(v, path, "urgencyDays", json::kind::number, false));
  if (urgency != nullptr) {
    if (!(urgency->as_number() > 0 && urgency->as_number() <= 365)) {
      return path_ref(path, "urgencyDays").fail(error_code::invalid_value, "expected a number of days above 0, at most 365");
    }
    out.urgency_days = urgency->as_number();
  }
  return set_bool(v, path, "orderByUrgency", out.order_by_urgency);
}

result<void> finish_catalog(vendor_config::impl& config) {
  const std::vector<product>& products = config.catalog.products;
  config.product_index.reserve(products.size());
  bool has_sales = false;
  for (size_t i = 0; i < products.size(); ++i) {
    if (!config.product_index.emplace(products[i].sku, static_cast<uint32_t>(i)).second) {
      return fail(error_code::invalid_value, index_path("catalog.products", i) + ".sku: duplicate sku \"" +
                                                 std::string(products[i].sku) + "\"");
    }
    has_sales = has_sales || !products[i].daily_sales.empty();
  }
  if (has_sales && !config.catalog.sales_through) {
    return fail(error_code::wrong_type, "catalog.salesThrough: missing required field (products have dailySales)");
  }
  return {};
}

result<void> read_pages(value& v, vendor_config::impl& config) {
  const path_ref path("pages");
  WHALE_TRY_VOID(expect(v, json::kind::array, path));
  std::vector<value>& items = v.items();
  config.pages.resize(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    WHALE_TRY_VOID(read_page(items[i], path_ref(path, i), config, config.pages[i]));
  }
  config.page_index.reserve(config.pages.size());
  config.path_index.reserve(config.pages.size());
  for (size_t i = 0; i < config.pages.size(); ++i) {
    const page& p = config.pages[i];
    if (!config.page_index.emplace(p.id, static_cast<uint32_t>(i)).second) {
      return fail(error_code::invalid_value, index_path("pages", i) + ".id: duplicate page id \"" + p.id + "\"");
    }
    if (!config.path_index.emplace(p.path, static_cast<uint32_t>(i)).second) {
      return fail(error_code::invalid_value, index_path("pages", i) + ".path: duplicate page path \"" + p.path + "\"");
    }
  }
  return {};
}

bool parse_date(std::string_view s, int32_t& days) {
  int y, m, d;
  if (s.size() != 10 || !tz::parse_ymd(s, y, m, d)) return false;
  days = static_cast<int32_t>(tz::days_from_civil(y, m, d));
  return true;
}

size_t json_bytes(const value& v) noexcept {
  switch (v.type()) {
    case json::kind::string: return string_bytes(v.as_string());
    case json::kind::array: {
      size_t n = v.items().capacity() * sizeof(value);
      for (const value& item : v.items()) n += json_bytes(item);
      return n;
    }
    case json::kind::object: {
      size_t n = v.members().capacity() * sizeof(json::member);
      for (const json::member& m : v.members()) n += string_bytes(m.first) + json_bytes(m.second);
      return n;
    }
    default: return 0;
  }
}

size_t estimate_bytes(const vendor_config::impl& c) {
  size_t n = sizeof(vendor_config) + sizeof(vendor_config::impl);
  for (const std::string* s : {&c.vendor.id, &c.vendor.slug, &c.vendor.name, &c.vendor.vertical, &c.vendor.timezone,
                               &c.vendor.region}) {
    n += string_bytes(*s);
  }
  n += json_bytes(c.assignments.features) + json_bytes(c.assignments.saved_groups) +
       json_bytes(c.assignments.contextual_bandits);
  n += c.assignments.index.capacity() * sizeof(assign::feature_index);
  for (const assign::feature_index& f : c.assignments.index) n += f.rules.capacity() * sizeof(assign::rule_index);
  n += c.components.capacity() * sizeof(component);
  for (const component& comp : c.components) {
    n += string_bytes(comp.key) + string_bytes(comp.kind) + schema_bytes(comp.props) + json_bytes(comp.view) +
         (comp.dependencies.capacity() + comp.conflicts.capacity() + comp.synergies.capacity()) * sizeof(uint32_t);
  }
  n += c.pages.capacity() * sizeof(page);
  for (const page& p : c.pages) {
    n += string_bytes(p.id) + string_bytes(p.path) + string_bytes(p.title) + p.sections.capacity() * sizeof(section);
    n += p.candidates.strategies.capacity() * sizeof(candidate) + string_bytes(p.candidates.experiment);
    for (const candidate& k : p.candidates.strategies) {
      n += string_bytes(k.name) + k.force.capacity() * sizeof(k.force[0]);
      for (const auto& f : k.force) n += string_bytes(f.first);
    }
    for (const section& s : p.sections) {
      n += string_bytes(s.id) + string_bytes(s.feature) + s.components.capacity() * sizeof(instance);
      for (const instance& i : s.components) n += string_bytes(i.id) + json_bytes(i.props) + json_bytes(i.visibility);
    }
  }
  n += c.segments.capacity() * sizeof(segment);
  for (const segment& s : c.segments) n += string_bytes(s.name) + string_bytes(s.description) + json_bytes(s.condition);
  n += c.media.allowed_sources.capacity() * sizeof(std::string) + c.media.widths.capacity() * sizeof(uint32_t);
  for (const std::string& s : c.media.allowed_sources) n += string_bytes(s);
  n += c.catalog.products.capacity() * sizeof(product) + c.strings.bytes() + c.sales.capacity() * sizeof(double);
  for (const product& p : c.catalog.products) n += json_bytes(p.attributes);
  n += map_bytes(c.component_index) + map_bytes(c.page_index) + map_bytes(c.path_index) + map_bytes(c.product_index);
  return n;
}

// ---- vendor_config ----

vendor_config::vendor_config(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
vendor_config::~vendor_config() = default;

const vendor_info& vendor_config::vendor() const noexcept { return impl_->vendor; }
const assign::payload& vendor_config::assignments() const noexcept { return impl_->assignments; }
const std::vector<component>& vendor_config::components() const noexcept { return impl_->components; }
const std::vector<page>& vendor_config::pages() const noexcept { return impl_->pages; }
const std::vector<segment>& vendor_config::segments() const noexcept { return impl_->segments; }
const media_settings& vendor_config::media() const noexcept { return impl_->media; }
const consent_settings& vendor_config::consent() const noexcept { return impl_->consent; }
const theme_settings& vendor_config::theme() const noexcept { return impl_->theme; }
const product_catalog& vendor_config::catalog() const noexcept { return impl_->catalog; }
size_t vendor_config::memory_bytes() const noexcept { return impl_->memory_bytes; }
const behaviour::rules* vendor_config::behaviour_rules() const noexcept { return impl_->behaviour.get(); }

namespace {
template <typename T>
const T* lookup(const std::unordered_map<std::string_view, uint32_t>& index, const std::vector<T>& items,
                std::string_view key) {
  const auto found = index.find(key);
  return found == index.end() ? nullptr : &items[found->second];
}
}  // namespace

const component* vendor_config::find_component(std::string_view key) const noexcept {
  return lookup(impl_->component_index, impl_->components, key);
}
const page* vendor_config::find_page(std::string_view id) const noexcept {
  return lookup(impl_->page_index, impl_->pages, id);
}
const page* vendor_config::find_page_by_path(std::string_view path) const noexcept {
  return lookup(impl_->path_index, impl_->pages, path);
}
const product* vendor_config::find_product(std::string_view sku) const noexcept {
  return lookup(impl_->product_index, impl_->catalog.products, sku);
}

std::string summary(const vendor_config& config) {
  size_t sections = 0;
  size_t instances = 0;
  for (const page& p : config.pages()) {
    sections += p.sections.size();
    for (const section& s : p.sections) instances += s.components.size();
  }
  size_t experiments = 0;
  for (const assign::feature_index& f : config.assignments().index) {
    for (const assign::rule_index& r : f.rules) experiments += r.experiment ? 1 : 0;
  }
  std::string out = "{\"vendor\":";
  json::write_string(config.vendor().slug, out);
  out += ",\"name\":";
  json::write_string(config.vendor().name, out);
  const std::pair<const char*, size_t> counts[] = {
      {"components", config.components().size()},
      {"pages", config.pages().size()},
      {"sections", sections},
      {"instances", instances},
      {"products", config.catalog().products.size()},
      {"features", config.assignments().index.size()},
      {"experiments", experiments},
      {"memoryBytes", config.memory_bytes()},
  };
  for (const auto& c : counts) {
    out += ",\"";
    out += c.first;
    out += "\":";
    out += std::to_string(c.second);
  }
  out += '}';
  return out;
}

}  // namespace whale::config
