// GrowthBook's condition language (a MongoDB-like query over the user's attributes).
#include <cmath>
#include <map>
#include <memory>

#include "jsops.h"
#include "whale/assign.h"
#include "whale/regex.h"

namespace whale::assign {

using json::kind;
using json::value;

namespace {

// Saved groups may reference each other: this bounds the total evaluation depth.
constexpr int max_eval_depth = 4 * max_condition_depth;

struct evaluator {
  const value& saved_groups;
  std::vector<std::string_view> visited;  // saved-group ids being resolved (stops cycles)
  int depth = 0;

  bool condition(const value* obj, const value& cond);
  bool condition_value(const value& cond, const value* actual, bool insensitive);
  bool op(std::string_view name, const value* actual, const value& expected);
  bool saved_group(const value* obj, const value& reference);
  bool elem_match(const value* actual, const value& expected);
  bool in_all(const value* actual, const value& expected, bool insensitive);
};

const value* get_path(const value* obj, std::string_view path) {
  static const value null_value;
  const value* current = obj;
  size_t start = 0;
  while (true) {
    const size_t dot = path.find('.', start);
    const std::string_view part = path.substr(start, dot == std::string_view::npos ? path.npos : dot - start);
    const value* next = nullptr;
    if (current != nullptr && current->is_object()) {
      next = current->find(part);
    } else if (current != nullptr && current->is_array()) {
      size_t index = 0;
      bool numeric = !part.empty() && (part == "0" || part[0] != '0');
      for (char c : part) {
        if (c < '0' || c > '9' || index > 100000000) {
          numeric = false;
          break;
        }
        index = index * 10 + static_cast<size_t>(c - '0');
      }
      if (numeric && index < current->items().size()) next = &current->items()[index];
    }
    if (next == nullptr) return &null_value;
    current = next;
    if (dot == std::string_view::npos) return current;
    start = dot + 1;
  }
}

bool is_operator_object(const value& v) {
  if (!v.is_object() || v.members().empty()) return false;
  for (const json::member& m : v.members()) {
    if (m.first.empty() || m.first[0] != '$') return false;
  }
  return true;
}

const char* type_name(const value* v) {
  if (v == nullptr) return "undefined";
  switch (v->type()) {
    case kind::null: return "null";
    case kind::boolean: return "boolean";
    case kind::number: return "number";
    case kind::string: return "string";
    case kind::array: return "array";
    case kind::object: return "object";
  }
  return "unknown";
}


bool includes(const value& list, const value* item, bool insensitive) {
  for (const value& candidate : list.items()) {
    if (insensitive && candidate.is_string() && item != nullptr && item->is_string()) {
      if (js::to_lower(candidate.as_string()) == js::to_lower(item->as_string())) return true;
    } else if (js::same_value_zero(&candidate, item)) {
      return true;
    }
  }
  return false;
}

bool is_in(const value* actual, const value& expected, bool insensitive) {
  if (actual != nullptr && actual->is_array()) {
    for (const value& el : actual->items()) {
      if (includes(expected, &el, insensitive)) return true;
    }
    return false;
  }
  return includes(expected, actual, insensitive);
}

// The values of a saved group used by $inGroup: nullptr when the entry matches nobody.
const value* saved_group_values(const value& saved_groups, const value& id) {
  static const value empty = value::array();
  const value* entry = id.is_string() ? saved_groups.find(id.as_string()) : saved_groups.find(js::to_string(&id));
  if (entry == nullptr) return &empty;
  if (entry->is_array()) return entry;
  if (entry->is_object()) {
    const value* type = entry->find("type");
    if (type && type->is_string() && type->as_string() == "list") {
      const value* values = entry->find("values");
      return values && values->is_array() ? values : nullptr;
    }
  }
  return nullptr;
}

// "v1.2.3-rc.1+build" -> "    1-    2-    3-rc-    1", so that string order is version order.
// One pass over the text: a version is compared on every request that reaches a $v* operator.
std::string padded_version(const value* v) {
  std::string storage;
  std::string_view input;
  if (v != nullptr && v->is_number()) {
    storage = js::to_string(v);
    input = storage;
  } else if (v != nullptr && v->is_string()) {
    input = v->as_string();
  }
  if (input.empty()) input = "0";
  if (input[0] == 'v') input.remove_prefix(1);
  input = input.substr(0, input.find('+'));
  size_t parts = 1;
  for (char c : input) parts += (c == '-' || c == '.') ? 1 : 0;
  std::string out;
  out.reserve(input.size() + 4 * parts + 2);
  for (size_t start = 0;;) {
    const size_t end = input.find_first_of("-.", start);
    const std::string_view part = input.substr(start, end == std::string_view::npos ? end : end - start);
    bool numeric = !part.empty();
    for (char c : part) numeric = numeric && c >= '0' && c <= '9';
    if (numeric && part.size() < 5) out.append(5 - part.size(), ' ');
    out += part;
    if (end == std::string_view::npos) break;
    out.push_back('-');
    start = end + 1;
  }
  if (parts == 3) out += "-~";
  return out;
}

// Compiled patterns, one cache per flag; an invalid pattern is cached as null (matches nothing).
bool regex_test(const value& pattern, const value* actual, bool insensitive) {
  if (!pattern.is_string()) return false;
  using cache_map = std::map<std::string, std::unique_ptr<regex::pattern>, std::less<>>;
  static cache_map caches[2];
  cache_map& cache = caches[insensitive ? 1 : 0];
  auto it = cache.find(std::string_view(pattern.as_string()));
  if (it == cache.end()) {
    if (cache.size() >= 1024) cache.clear();
    auto compiled = regex::compile(pattern.as_string(), insensitive);
    std::unique_ptr<regex::pattern> entry;
    if (compiled.ok()) entry = std::make_unique<regex::pattern>(std::move(compiled).value());
    it = cache.emplace(pattern.as_string(), std::move(entry)).first;
  }
  if (!it->second) return false;
  auto matched = actual != nullptr && actual->is_string() ? it->second->test(actual->as_string())
                                                          : it->second->test(js::to_string(actual));
  return matched.ok() && matched.value();
}

bool evaluator::condition(const value* obj, const value& cond) {
  if (++depth > max_eval_depth) {
    --depth;
    return false;
  }
  bool pass = true;
  if (cond.is_object()) {
    for (const json::member& m : cond.members()) {
      const std::string& k = m.first;
      const value& v = m.second;
      const bool is_array = v.is_array();
      if (k.empty() || k[0] != '$') {
        pass = condition_value(v, get_path(obj, k), false);
      } else if (k == "$or" || k == "$nor") {
        bool any = !is_array || v.items().empty();
        for (size_t i = 0; is_array && !any && i < v.items().size(); ++i) any = condition(obj, v.items()[i]);
        pass = (k == "$or") ? any : !any;
      } else if (k == "$and") {
        for (size_t i = 0; is_array && pass && i < v.items().size(); ++i) pass = condition(obj, v.items()[i]);
      } else if (k == "$not") {
        pass = !condition(obj, v);
      } else if (k == "$savedGroup") {
        pass = saved_group(obj, v);
      } else {
        pass = condition_value(v, get_path(obj, k), false);
      }
      if (!pass) break;
    }
  } else if (cond.is_array()) {
    for (size_t i = 0; pass && i < cond.items().size(); ++i) {
      pass = condition_value(cond.items()[i], get_path(obj, std::to_string(i)), false);
    }
  } else {
    pass = !cond.is_null();
  }
  --depth;
  return pass;
}

bool evaluator::saved_group(const value* obj, const value& reference) {
  if (!reference.is_object()) return false;
  const value* id = reference.find("id");
  const value* attribute_key = reference.find("attributeKey");
  if (id == nullptr || !id->is_string()) return false;
  for (std::string_view seen : visited) {
    if (seen == id->as_string()) return false;
  }
  if (attribute_key != nullptr && !attribute_key->is_string()) return false;
  const value* entry = saved_groups.find(id->as_string());
  if (entry == nullptr || !entry->is_object()) return false;
  const value* type = entry->find("type");
  const std::string_view type_name = type && type->is_string() ? std::string_view(type->as_string()) : "";
  if (type_name == "list") {
    const value* key = attribute_key != nullptr ? attribute_key : entry->find("attributeKey");
    const value* values = entry->find("values");
    if (key == nullptr || !key->is_string() || values == nullptr || !values->is_array()) return false;
    return is_in(get_path(obj, key->as_string()), *values, false);
  }
  if (type_name == "condition") {
    const value* cond = entry->find("condition");
    if (cond == nullptr || !(cond->is_object() || cond->is_array())) return false;
    visited.push_back(id->as_string());
    const bool pass = condition(obj, *cond);
    visited.pop_back();
    return pass;
  }
  return false;
}

bool evaluator::condition_value(const value& cond, const value* actual, bool insensitive) {
  switch (cond.type()) {
    case kind::string:
      if (insensitive) return js::to_lower(js::to_string(actual)) == js::to_lower(cond.as_string());
      if (actual != nullptr && actual->is_string()) return actual->as_string() == cond.as_string();
      return js::to_string(actual) == cond.as_string();
    case kind::number: return js::to_number(actual) == cond.as_number();
    case kind::boolean: return actual != nullptr && !actual->is_null() && js::truthy(actual) == cond.as_bool();
    case kind::null: return actual != nullptr && actual->is_null();
    case kind::array: return actual != nullptr && json::equal(*actual, cond);
    case kind::object: break;
  }
  if (!is_operator_object(cond)) return actual != nullptr && json::equal(*actual, cond);
  if (++depth > max_eval_depth) {
    --depth;
    return false;
  }
  bool pass = true;
  for (const json::member& m : cond.members()) {
    pass = op(m.first, actual, m.second);
    if (!pass) break;
  }
  --depth;
  return pass;
}

bool evaluator::elem_match(const value* actual, const value& expected) {
  if (actual == nullptr || !actual->is_array()) return false;
  const bool operators = is_operator_object(expected);
  for (const value& el : actual->items()) {
    if (el.is_null()) continue;
    if (operators ? condition_value(expected, &el, false) : condition(&el, expected)) return true;
  }
  return false;
}

bool evaluator::in_all(const value* actual, const value& expected, bool insensitive) {
  if (actual == nullptr || !actual->is_array()) return false;
  for (const value& want : expected.items()) {
    bool found = false;
    for (const value& el : actual->items()) {
      if (condition_value(want, &el, insensitive)) {
        found = true;
        break;
      }
    }
    if (!found) return false;
  }
  return true;
}

enum class op_code {
  unknown, veq, vne, vgt, vgte, vlt, vlte, eq, ne, lt, lte, gt, gte, exists, in, ini, nin, nini,
  in_group, not_in_group, not_, size, elem_match, all, alli, regex, regexi, type,
};

// Operator spellings by length: a name is compared with the few of its own length only.
using op_spelling = std::pair<std::string_view, op_code>;
const op_spelling ops_3[] = {{"$eq", op_code::eq}, {"$ne", op_code::ne}, {"$lt", op_code::lt},
                             {"$gt", op_code::gt}, {"$in", op_code::in}};
const op_spelling ops_4[] = {{"$lte", op_code::lte}, {"$gte", op_code::gte}, {"$nin", op_code::nin},
                             {"$all", op_code::all},  {"$not", op_code::not_}, {"$ini", op_code::ini},
                             {"$veq", op_code::veq},  {"$vne", op_code::vne},  {"$vgt", op_code::vgt},
                             {"$vlt", op_code::vlt}};
const op_spelling ops_5[] = {{"$size", op_code::size}, {"$type", op_code::type}, {"$nini", op_code::nini},
                             {"$alli", op_code::alli}, {"$vgte", op_code::vgte}, {"$vlte", op_code::vlte}};
const op_spelling ops_longer[] = {{"$regex", op_code::regex},     {"$exists", op_code::exists},
                                  {"$regexi", op_code::regexi},   {"$inGroup", op_code::in_group},
                                  {"$elemMatch", op_code::elem_match}, {"$notInGroup", op_code::not_in_group}};

template <size_t n>
op_code op_among(const op_spelling (&table)[n], std::string_view name) {
  for (const auto& [spelling, code] : table) {
    if (spelling.size() != name.size()) continue;
    size_t i = 0;
    while (i < name.size() && spelling[i] == name[i]) ++i;
    if (i == name.size()) return code;
  }
  return op_code::unknown;
}

op_code op_of(std::string_view name) {
  switch (name.size()) {
    case 3: return op_among(ops_3, name);
    case 4: return op_among(ops_4, name);
    case 5: return op_among(ops_5, name);
    default: return op_among(ops_longer, name);
  }
}

int compare_versions(const value* actual, const value& expected) {
  return js::compare_utf16(padded_version(actual), padded_version(&expected));
}

bool evaluator::op(std::string_view name, const value* actual, const value& expected) {
  const op_code code = op_of(name);
  switch (code) {
    case op_code::veq: return padded_version(actual) == padded_version(&expected);
    case op_code::vne: return padded_version(actual) != padded_version(&expected);
    case op_code::vgt: return compare_versions(actual, expected) > 0;
    case op_code::vgte: return compare_versions(actual, expected) >= 0;
    case op_code::vlt: return compare_versions(actual, expected) < 0;
    case op_code::vlte: return compare_versions(actual, expected) <= 0;
    case op_code::eq: return js::strict_equal(actual, &expected);
    case op_code::ne: return !js::strict_equal(actual, &expected);
    case op_code::lt: return js::compare(actual, &expected, js::relation::lt);
    case op_code::lte: return js::compare(actual, &expected, js::relation::lte);
    case op_code::gt: return js::compare(actual, &expected, js::relation::gt);
    case op_code::gte: return js::compare(actual, &expected, js::relation::gte);
    case op_code::exists: {
      const bool present = actual != nullptr && !actual->is_null();
      return js::truthy(&expected) ? present : !present;
    }
    case op_code::in: return expected.is_array() && is_in(actual, expected, false);
    case op_code::ini: return expected.is_array() && is_in(actual, expected, true);
    case op_code::nin: return expected.is_array() && !is_in(actual, expected, false);
    case op_code::nini: return expected.is_array() && !is_in(actual, expected, true);
    case op_code::in_group:
    case op_code::not_in_group: {
      const value* values = saved_group_values(saved_groups, expected);
      if (values == nullptr) return false;
      return is_in(actual, *values, false) == (code == op_code::in_group);
    }
    case op_code::not_: return !condition_value(expected, actual, false);
    case op_code::size: {
      if (actual == nullptr || !actual->is_array()) return false;
      const value length = value::number(static_cast<double>(actual->items().size()));
      return condition_value(expected, &length, false);
    }
    case op_code::elem_match: return elem_match(actual, expected);
    case op_code::all: return expected.is_array() && in_all(actual, expected, false);
    case op_code::alli: return expected.is_array() && in_all(actual, expected, true);
    case op_code::regex: return regex_test(expected, actual, false);
    case op_code::regexi: return regex_test(expected, actual, true);
    case op_code::type: return expected.is_string() && expected.as_string() == type_name(actual);
    case op_code::unknown: return false;
  }
  return false;
}

// Object levels of a condition (arrays such as $or's list do not add a level). Recursion is
// bounded by json::max_depth, which the parser enforced.
int nesting(const value& v) {
  int deepest = 0;
  if (v.is_array()) {
    for (const value& item : v.items()) deepest = std::max(deepest, nesting(item));
    return deepest;
  }
  if (v.is_object()) {
    for (const json::member& m : v.members()) deepest = std::max(deepest, nesting(m.second));
    return deepest + 1;
  }
  return 0;
}

// Collects the top-level attribute names a condition reads, following evaluator::condition: a
// field's path up to its first dot, the items of an array condition by index, and the saved
// groups $savedGroup reaches (by id; `visited` stops cycles). Operator objects under a field read
// that field only.
struct attribute_walker {
  const value& saved_groups;
  std::vector<std::string>& names;
  std::vector<std::string_view> visited;

  void add(std::string_view path) {
    const std::string_view first = path.substr(0, path.find('.'));
    for (const std::string& seen : names) {
      if (seen == first) return;
    }
    names.emplace_back(first);
  }

  void condition(const value& cond) {
    if (cond.is_array()) {
      for (size_t i = 0; i < cond.items().size(); ++i) add(std::to_string(i));
      return;
    }
    if (!cond.is_object()) return;
    for (const json::member& m : cond.members()) {
      const std::string& k = m.first;
      if (k == "$or" || k == "$nor" || k == "$and") {
        if (m.second.is_array()) {
          for (const value& item : m.second.items()) condition(item);
        }
      } else if (k == "$not") {
        condition(m.second);
      } else if (k == "$savedGroup") {
        saved_group(m.second);
      } else {
        add(k);
      }
    }
  }

  void saved_group(const value& reference) {
    const value* id = reference.is_object() ? reference.find("id") : nullptr;
    if (id == nullptr || !id->is_string()) return;
    if (const value* key = reference.find("attributeKey"); key && key->is_string()) add(key->as_string());
    for (std::string_view seen : visited) {
      if (seen == id->as_string()) return;
    }
    const value* entry = saved_groups.find(id->as_string());
    if (entry == nullptr || !entry->is_object()) return;
    if (const value* key = entry->find("attributeKey"); key && key->is_string()) add(key->as_string());
    if (const value* cond = entry->find("condition")) {
      visited.push_back(id->as_string());
      condition(*cond);
      visited.pop_back();
    }
  }
};

}  // namespace

result<void> validate_condition(const value& condition) {
  if (!condition.is_object()) return fail(error_code::wrong_type, "condition: expected an object");
  if (nesting(condition) > max_condition_depth) {
    return fail(error_code::too_deep,
                "condition: nested deeper than " + std::to_string(max_condition_depth));
  }
  return {};
}

result<void> validate_patterns(const value& condition) {
  // Recursion is bounded by the JSON depth limit the parser enforced.
  if (condition.is_array()) {
    for (const value& item : condition.items()) WHALE_TRY_VOID(validate_patterns(item));
    return {};
  }
  if (!condition.is_object()) return {};
  for (const json::member& m : condition.members()) {
    if ((m.first == "$regex" || m.first == "$regexi") && m.second.is_string()) {
      auto compiled = regex::compile(m.second.as_string(), m.first == "$regexi");
      if (!compiled) return fail(error_code::invalid_regex, m.first + " " + m.second.as_string() + ": " + compiled.message());
      continue;
    }
    WHALE_TRY_VOID(validate_patterns(m.second));
  }
  return {};
}

void condition_attributes(const value& condition, const value& saved_groups, std::vector<std::string>& names) {
  attribute_walker{saved_groups, names, {}}.condition(condition);
}

bool eval_condition(const value& attributes, const value& condition, const value& saved_groups) {
  evaluator e{saved_groups, {}, 0};
  return e.condition(&attributes, condition);
}

}  // namespace whale::assign
