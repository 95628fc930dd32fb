// Component props schemas: the JSON Schema subset of include/whale/config.h, compiled once per
// registry entry and checked against every instance's props.
#include <cmath>
#include <string>

#include "config_util.h"
#include "whale/config.h"

namespace whale::config {

using json::value;

namespace {

constexpr std::string_view type_names[] = {"null", "boolean", "integer", "number", "string", "array", "object"};

uint8_t type_bit(std::string_view name) {
  for (size_t i = 0; i < std::size(type_names); ++i) {
    if (type_names[i] == name) return static_cast<uint8_t>(1u << i);
  }
  return 0;
}

std::string expected_types(uint8_t types) {
  std::string out = "expected ";
  bool first = true;
  for (size_t i = 0; i < std::size(type_names); ++i) {
    if ((types & (1u << i)) == 0) continue;
    if (!first) out += " or ";
    first = false;
    out += type_names[i];
  }
  return out;
}

bool is_integer(double n) { return std::isfinite(n) && n == std::floor(n); }

bool type_matches(uint8_t types, const value& v) {
  if (types == 0) return true;
  switch (v.type()) {
    case json::kind::null: return types & type_null;
    case json::kind::boolean: return types & type_boolean;
    case json::kind::number:
      return (types & type_number) || ((types & type_integer) && is_integer(v.as_number()));
    case json::kind::string: return types & type_string;
    case json::kind::array: return types & type_array;
    case json::kind::object: return types & type_object;
  }
  return false;
}

size_t code_points(std::string_view s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;  // input is valid UTF-8
  return n;
}

result<uint64_t> count_keyword(const value& v, const path_ref& path) {
  if (!v.is_number() || !is_integer(v.as_number()) || v.as_number() < 0 || v.as_number() > 4294967295.0) {
    return path.fail(error_code::invalid_value, "expected a non-negative integer");
  }
  return static_cast<uint64_t>(v.as_number());
}

result<double> bound_keyword(const value& v, const path_ref& path) {
  if (!v.is_number() || !std::isfinite(v.as_number())) return path.fail(error_code::wrong_type, "expected number");
  return v.as_number();
}

result<uint8_t> compile_type(const value& v, const path_ref& path) {
  const auto one = [](const value& name, const path_ref& at) -> result<uint8_t> {
    if (!name.is_string()) return at.fail(error_code::wrong_type, "expected string");
    const uint8_t bit = type_bit(name.as_string());
    if (bit == 0) {
      return at.fail(error_code::invalid_value,
                     "unknown type \"" + name.as_string() + "\" (null, boolean, integer, number, string, array, object)");
    }
    return bit;
  };
  if (!v.is_array()) return one(v, path);
  if (v.items().empty()) return path.fail(error_code::invalid_value, "expected at least one type");
  uint8_t types = 0;
  for (size_t i = 0; i < v.items().size(); ++i) {
    WHALE_TRY(uint8_t bit, one(v.items()[i], path_ref(path, i)));
    types |= bit;
  }
  return types;
}

result<void> compile_keyword(prop_schema& s, std::string_view key, const value& v, const path_ref& path,
                             pattern_cache& patterns);

result<void> compile_into(prop_schema& s, const value& schema, const path_ref& path, pattern_cache& patterns) {
  if (!schema.is_object()) return path.fail(error_code::wrong_type, "expected object");
  for (const json::member& m : schema.members()) {
    WHALE_TRY_VOID(compile_keyword(s, m.first, m.second, path_ref(path, m.first), patterns));
  }
  if (s.minimum && s.maximum && *s.minimum > *s.maximum) {
    return path.fail(error_code::invalid_value, "minimum is greater than maximum");
  }
  if (s.min_length && s.max_length && *s.min_length > *s.max_length) {
    return path.fail(error_code::invalid_value, "minLength is greater than maxLength");
  }
  if (s.min_items && s.max_items && *s.min_items > *s.max_items) {
    return path.fail(error_code::invalid_value, "minItems is greater than maxItems");
  }
  // A default must satisfy its own schema: it is copied into instances as written.
  if (s.default_value) WHALE_TRY_VOID(check_value(s, *s.default_value, path_ref(path, "default")));
  for (const value& e : s.enum_values) {
    if (!type_matches(s.types, e)) return path_ref(path, "enum").fail(error_code::invalid_value, "a value does not match \"type\"");
  }
  return {};
}

result<void> compile_keyword(prop_schema& s, std::string_view key, const value& v, const path_ref& path,
                             pattern_cache& patterns) {
  if (key == "type") {
    WHALE_TRY(s.types, compile_type(v, path));
  } else if (key == "properties") {
    if (!v.is_object()) return path.fail(error_code::wrong_type, "expected object");
    s.properties.resize(v.members().size());
    for (size_t i = 0; i < v.members().size(); ++i) {
      const json::member& m = v.members()[i];
      s.properties[i].first = m.first;
      WHALE_TRY_VOID(compile_into(s.properties[i].second, m.second, path_ref(path, m.first), patterns));
    }
  } else if (key == "required") {
    if (!v.is_array()) return path.fail(error_code::wrong_type, "expected array");
    s.required.reserve(v.items().size());
    for (size_t i = 0; i < v.items().size(); ++i) {
      const value& name = v.items()[i];
      if (!name.is_string()) return path_ref(path, i).fail(error_code::wrong_type, "expected string");
      s.required.push_back(name.as_string());
    }
  } else if (key == "additionalProperties") {
    if (!v.is_bool()) return path.fail(error_code::wrong_type, "expected boolean (schemas are not supported here)");
    s.additional_properties = v.as_bool();
  } else if (key == "items") {
    s.items.resize(1);
    WHALE_TRY_VOID(compile_into(s.items.front(), v, path, patterns));
  } else if (key == "enum") {
    if (!v.is_array() || v.items().empty()) return path.fail(error_code::wrong_type, "expected a non-empty array");
    s.enum_values = v.items();
  } else if (key == "minimum") {
    WHALE_TRY(s.minimum, bound_keyword(v, path));
  } else if (key == "maximum") {
    WHALE_TRY(s.maximum, bound_keyword(v, path));
  } else if (key == "minLength") {
    WHALE_TRY(s.min_length, count_keyword(v, path));
  } else if (key == "maxLength") {
    WHALE_TRY(s.max_length, count_keyword(v, path));
  } else if (key == "minItems") {
    WHALE_TRY(s.min_items, count_keyword(v, path));
  } else if (key == "maxItems") {
    WHALE_TRY(s.max_items, count_keyword(v, path));
  } else if (key == "pattern") {
    if (!v.is_string()) return path.fail(error_code::wrong_type, "expected string");
    auto cached = patterns.find(v.as_string());
    if (cached == patterns.end()) {
      auto compiled = regex::compile(v.as_string(), false);
      if (!compiled.ok()) return path.fail(compiled.code(), compiled.message());
      cached = patterns.emplace(v.as_string(), std::move(compiled).value()).first;
    }
    s.pattern_source = v.as_string();
    s.pattern = cached->second;
  } else if (key == "default") {
    s.default_value = v;
  } else if (key == "title" || key == "description" || key == "$comment") {
    if (!v.is_string()) return path.fail(error_code::wrong_type, "expected string");
  } else {
    return path.fail(error_code::invalid_value, "unknown schema keyword");
  }
  return {};
}

std::string enum_text(const std::vector<value>& values) {
  std::string out;
  json::write(value::array(values), out);
  if (out.size() > 120) out = out.substr(0, 117) + "...";
  return out;
}

result<void> check_number(const prop_schema& s, double n, const path_ref& path) {
  if (s.minimum && n < *s.minimum) {
    return path.fail(error_code::invalid_value, "expected at least " + json::number_to_string(*s.minimum));
  }
  if (s.maximum && n > *s.maximum) {
    return path.fail(error_code::invalid_value, "expected at most " + json::number_to_string(*s.maximum));
  }
  return {};
}

result<void> check_string(const prop_schema& s, const std::string& text, const path_ref& path) {
  if (s.min_length || s.max_length) {
    const size_t n = code_points(text);
    if (s.min_length && n < *s.min_length) {
      return path.fail(error_code::invalid_value, "expected at least " + std::to_string(*s.min_length) + " characters");
    }
    if (s.max_length && n > *s.max_length) {
      return path.fail(error_code::invalid_value, "expected at most " + std::to_string(*s.max_length) + " characters");
    }
  }
  if (s.pattern) {
    auto matched = s.pattern->test(text);
    if (!matched.ok()) return path.fail(matched.code(), matched.message());
    if (!matched.value()) return path.fail(error_code::invalid_value, "does not match the pattern " + s.pattern_source);
  }
  return {};
}

result<void> check_array(const prop_schema& s, const value& v, const path_ref& path) {
  const size_t n = v.items().size();
  if (s.min_items && n < *s.min_items) {
    return path.fail(error_code::invalid_value, "expected at least " + std::to_string(*s.min_items) + " items");
  }
  if (s.max_items && n > *s.max_items) {
    return path.fail(error_code::invalid_value, "expected at most " + std::to_string(*s.max_items) + " items");
  }
  if (s.items.empty()) return {};
  for (size_t i = 0; i < n; ++i) WHALE_TRY_VOID(check_value(s.items.front(), v.items()[i], path_ref(path, i)));
  return {};
}

result<void> check_object(const prop_schema& s, const value& v, const path_ref& path) {
  for (const std::string& name : s.required) {
    if (v.find(name) == nullptr) return path_ref(path, name).fail(error_code::wrong_type, "missing required property");
  }
  for (const json::member& m : v.members()) {
    const prop_schema* child = s.property(m.first);
    if (child != nullptr) {
      WHALE_TRY_VOID(check_value(*child, m.second, path_ref(path, m.first)));
    } else if (!s.additional_properties) {
      return path_ref(path, m.first).fail(error_code::invalid_value, "unknown property");
    }
  }
  return {};
}

}  // namespace

result<void> check_value(const prop_schema& s, const value& v, const path_ref& path) {
  if (!type_matches(s.types, v)) return path.fail(error_code::wrong_type, expected_types(s.types));
  if (!s.enum_values.empty()) {
    bool found = false;
    for (const value& e : s.enum_values) found = found || json::equal(e, v);
    if (!found) return path.fail(error_code::invalid_value, "expected one of " + enum_text(s.enum_values));
  }
  switch (v.type()) {
    case json::kind::number: return check_number(s, v.as_number(), path);
    case json::kind::string: return check_string(s, v.as_string(), path);
    case json::kind::array: return check_array(s, v, path);
    case json::kind::object: return check_object(s, v, path);
    default: return {};
  }
}

const prop_schema* prop_schema::property(std::string_view name) const noexcept {
  for (const auto& p : properties) {
    if (p.first == name) return &p.second;
  }
  return nullptr;
}

result<void> compile_schema(prop_schema& out, const value& schema, const path_ref& path, pattern_cache& patterns) {
  return compile_into(out, schema, path, patterns);
}

result<prop_schema> compile_schema(const value& schema, const std::string& path) {
  prop_schema s;
  pattern_cache patterns;
  WHALE_TRY_VOID(compile_into(s, schema, path_ref(path), patterns));
  return s;
}

result<void> validate(const prop_schema& schema, const value& v, const std::string& path) {
  return check_value(schema, v, path_ref(path));
}

void fill_defaults(const prop_schema& schema, value& v) {
  if (v.is_object()) {
    for (const auto& p : schema.properties) {
      value* present = v.find(p.first);
      if (present != nullptr) {
        fill_defaults(p.second, *present);
      } else if (p.second.default_value) {
        v.members().emplace_back(p.first, *p.second.default_value);
      }
    }
  } else if (v.is_array() && !schema.items.empty()) {
    for (value& item : v.items()) fill_defaults(schema.items.front(), item);
  }
}

}  // namespace whale::config
