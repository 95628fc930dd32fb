#include "whale/json.h"

#include <cmath>
#include <cstdio>
#include <cstring>

#include "json_syntax.h"
#include "simdjson.h"

namespace whale::json {

value value::boolean(bool b) {
  value v;
  v.kind_ = kind::boolean;
  v.bool_ = b;
  return v;
}
value value::number(double n) {
  value v;
  v.kind_ = kind::number;
  v.number_ = n;
  return v;
}
value value::string(std::string s) {
  value v;
  v.kind_ = kind::string;
  v.string_ = std::move(s);
  return v;
}
value value::array(std::vector<value> items) {
  value v;
  v.kind_ = kind::array;
  v.items_ = std::move(items);
  return v;
}
value value::object(std::vector<member> members) {
  value v;
  v.kind_ = kind::object;
  v.members_ = std::move(members);
  return v;
}

const value* value::find(std::string_view key) const noexcept {
  if (kind_ != kind::object) return nullptr;
  for (auto it = members_.rbegin(); it != members_.rend(); ++it) {
    if (it->first == key) return &it->second;
  }
  return nullptr;
}
value* value::find(std::string_view key) noexcept {
  return const_cast<value*>(static_cast<const value*>(this)->find(key));
}
void value::set(std::string key, value v) {
  if (value* existing = find(key)) {
    *existing = std::move(v);
    return;
  }
  members_.emplace_back(std::move(key), std::move(v));
}

namespace {

failure from_simdjson(simdjson::error_code e) {
  switch (e) {
    case simdjson::UTF8_ERROR:
      return fail(error_code::invalid_utf8, "json: invalid UTF-8");
    case simdjson::DEPTH_ERROR:
      return fail(error_code::too_deep, "json: nested deeper than " + std::to_string(max_depth));
    case simdjson::CAPACITY:
      return fail(error_code::too_large, "json: document too large");
    case simdjson::MEMALLOC:
      return fail(error_code::out_of_memory, "json: out of memory");
    default:
      return fail(error_code::invalid_json, "json: " + json::syntax_message(e));
  }
}

// Recursion depth is bounded by max_depth, which the parser enforced already.
value convert(simdjson::dom::element e) {
  switch (e.type()) {
    case simdjson::dom::element_type::ARRAY: {
      simdjson::dom::array a = e.get_array().value_unsafe();
      std::vector<value> items;
      items.reserve(a.size());
      for (simdjson::dom::element child : a) items.push_back(convert(child));
      return value::array(std::move(items));
    }
    case simdjson::dom::element_type::OBJECT: {
      simdjson::dom::object o = e.get_object().value_unsafe();
      std::vector<member> members;
      members.reserve(o.size());
      for (simdjson::dom::key_value_pair kv : o) {
        members.emplace_back(std::string(kv.key), convert(kv.value));
      }
      return value::object(std::move(members));
    }
    case simdjson::dom::element_type::INT64:
      return value::number(static_cast<double>(e.get_int64().value_unsafe()));
    case simdjson::dom::element_type::UINT64:
      return value::number(static_cast<double>(e.get_uint64().value_unsafe()));
    case simdjson::dom::element_type::DOUBLE:
      return value::number(e.get_double().value_unsafe());
    case simdjson::dom::element_type::STRING:
      return value::string(std::string(e.get_string().value_unsafe()));
    case simdjson::dom::element_type::BOOL:
      return value::boolean(e.get_bool().value_unsafe());
    case simdjson::dom::element_type::NULL_VALUE:
      return value();
  }
  return value();
}

simdjson::dom::parser& shared_parser() {
  // One parser per instance in wasm (single-threaded: one module instance per isolate); one per
  // thread natively, where the origin parses on its HTTP thread pool.
#if defined(__wasm__)
  static simdjson::dom::parser parser(64 * 1024 * 1024);
#else
  thread_local simdjson::dom::parser parser(64 * 1024 * 1024);
#endif
  return parser;
}

// text's DOM in the shared parser, valid until its next parse.
result<simdjson::dom::element> parse_dom(std::string_view text) {
  simdjson::dom::parser& parser = shared_parser();
  if (parser.max_depth() != max_depth) {
    if (auto e = parser.allocate(text.size() < 4096 ? 4096 : text.size(), max_depth)) {
      return from_simdjson(e);
    }
  }
  simdjson::padded_string padded(text);
  simdjson::dom::element root;
  if (auto e = parser.parse(padded).get(root)) return from_simdjson(e);
  return root;
}

}  // namespace

result<value> parse(std::string_view text) {
  WHALE_TRY(simdjson::dom::element root, parse_dom(text));
  return convert(root);
}

bool valid_utf8(std::string_view text) noexcept { return simdjson::validate_utf8(text.data(), text.size()); }

result<void> check(std::string_view text) {
  WHALE_TRY(simdjson::dom::element root, parse_dom(text));
  (void)root;
  return {};
}

void write_string(std::string_view s, std::string& out) {
  static const char hex[] = "0123456789abcdef";
  out.push_back('"');
  size_t run = 0;  // start of the current run of characters that need no escape
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        out += "\\u00";
        out.push_back(hex[c >> 4]);
        out.push_back(hex[c & 15]);
    }
  }
  out.append(s.data() + run, s.size() - run);
  out.push_back('"');
}

std::string number_to_string(double n) {
  if (std::isnan(n)) return "NaN";
  if (std::isinf(n)) return n > 0 ? "Infinity" : "-Infinity";
  if (n == 0) return "0";
  // Integers below 2^53 print as integers in JS: the common case, without the digit search.
  if (n == std::floor(n) && std::fabs(n) < 9007199254740992.0) return std::to_string(static_cast<int64_t>(n));
  std::string out;
  if (n < 0) {
    out.push_back('-');
    n = -n;
  }
  // Shortest round-trip digits from simdjson's to_chars, then laid out by ECMAScript's
  // Number::toString rules: value = 0.DIGITS x 10^point.
  char buf[64];
  char* end = simdjson::internal::to_chars(buf, buf + sizeof buf, n);
  std::string digits;
  int exponent = 0;
  int point = 0;
  bool seen_dot = false;
  for (char* p = buf; p < end; ++p) {
    if (*p == 'e' || *p == 'E') {
      exponent = std::atoi(p + 1);
      break;
    }
    if (*p == '.') {
      seen_dot = true;
      continue;
    }
    if (*p < '0' || *p > '9') continue;
    digits.push_back(*p);
    if (!seen_dot) ++point;
  }
  size_t lead = 0;
  while (lead + 1 < digits.size() && digits[lead] == '0') {
    ++lead;
    --point;
  }
  digits.erase(0, lead);
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  point += exponent;
  const int k = static_cast<int>(digits.size());
  if (k <= point && point <= 21) {
    out += digits;
    out.append(static_cast<size_t>(point - k), '0');
  } else if (0 < point && point <= 21) {
    out.append(digits, 0, static_cast<size_t>(point));
    out.push_back('.');
    out.append(digits, static_cast<size_t>(point), std::string::npos);
  } else if (-6 < point && point <= 0) {
    out += "0.";
    out.append(static_cast<size_t>(-point), '0');
    out += digits;
  } else {
    out.push_back(digits[0]);
    if (k > 1) {
      out.push_back('.');
      out.append(digits, 1, std::string::npos);
    }
    const int e = point - 1;
    out.push_back('e');
    out.push_back(e < 0 ? '-' : '+');
    out += std::to_string(e < 0 ? -e : e);
  }
  return out;
}

void write(const value& v, std::string& out) {
  switch (v.type()) {
    case kind::null: out += "null"; return;
    case kind::boolean: out += v.as_bool() ? "true" : "false"; return;
    case kind::number:
      if (!std::isfinite(v.as_number())) {
        out += "null";
      } else {
        out += number_to_string(v.as_number());
      }
      return;
    case kind::string: write_string(v.as_string(), out); return;
    case kind::array: {
      out.push_back('[');
      bool first = true;
      for (const value& item : v.items()) {
        if (!first) out.push_back(',');
        first = false;
        write(item, out);
      }
      out.push_back(']');
      return;
    }
    case kind::object: {
      out.push_back('{');
      bool first = true;
      for (const member& m : v.members()) {
        if (!first) out.push_back(',');
        first = false;
        write_string(m.first, out);
        out.push_back(':');
        write(m.second, out);
      }
      out.push_back('}');
      return;
    }
  }
}

std::string to_string(const value& v) {
  std::string out;
  write(v, out);
  return out;
}

bool equal(const value& a, const value& b) noexcept {
  if (a.type() != b.type()) {
    // JSON.stringify prints non-finite numbers as null.
    if (a.is_number() && b.is_null()) return !std::isfinite(a.as_number());
    if (b.is_number() && a.is_null()) return !std::isfinite(b.as_number());
    return false;
  }
  switch (a.type()) {
    case kind::null: return true;
    case kind::boolean: return a.as_bool() == b.as_bool();
    case kind::number:
      if (!std::isfinite(a.as_number()) || !std::isfinite(b.as_number())) {
        return !std::isfinite(a.as_number()) && !std::isfinite(b.as_number());
      }
      return a.as_number() == b.as_number();
    case kind::string: return a.as_string() == b.as_string();
    case kind::array:
      if (a.items().size() != b.items().size()) return false;
      for (size_t i = 0; i < a.items().size(); ++i) {
        if (!equal(a.items()[i], b.items()[i])) return false;
      }
      return true;
    case kind::object:
      if (a.members().size() != b.members().size()) return false;
      for (size_t i = 0; i < a.members().size(); ++i) {
        if (a.members()[i].first != b.members()[i].first) return false;
        if (!equal(a.members()[i].second, b.members()[i].second)) return false;
      }
      return true;
  }
  return false;
}

}  // namespace whale::json
