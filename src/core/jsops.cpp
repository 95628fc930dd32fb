#include "jsops.h"

#include <cmath>
#include <cstdlib>
#include <limits>

namespace whale::js {

using json::kind;
using json::value;

uint32_t next_code_point(std::string_view s, size_t& i) noexcept {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char b0 = byte(i);
  if (b0 < 0x80) {
    ++i;
    return b0;
  }
  int extra = 0;
  uint32_t cp = 0;
  uint32_t min = 0;
  if ((b0 & 0xE0) == 0xC0) {
    extra = 1, cp = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    extra = 2, cp = b0 & 0x0F, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    extra = 3, cp = b0 & 0x07, min = 0x10000;
  } else {
    ++i;
    return 0xFFFD;
  }
  if (i + static_cast<size_t>(extra) >= s.size()) {
    ++i;
    return 0xFFFD;
  }
  for (int k = 1; k <= extra; ++k) {
    const unsigned char b = byte(i + k);
    if ((b & 0xC0) != 0x80) {
      ++i;
      return 0xFFFD;
    }
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    ++i;
    return 0xFFFD;
  }
  i += static_cast<size_t>(extra) + 1;
  return cp;
}

void append_utf8(uint32_t cp, std::string& out) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

bool truthy(const value* v) noexcept {
  if (v == nullptr) return false;
  switch (v->type()) {
    case kind::null: return false;
    case kind::boolean: return v->as_bool();
    case kind::number: return v->as_number() != 0 && !std::isnan(v->as_number());
    case kind::string: return !v->as_string().empty();
    default: return true;
  }
}

std::string to_string(const value* v) {
  if (v == nullptr) return "undefined";
  switch (v->type()) {
    case kind::null: return "null";
    case kind::boolean: return v->as_bool() ? "true" : "false";
    case kind::number: return json::number_to_string(v->as_number());
    case kind::string: return v->as_string();
    case kind::array: {
      std::string out;
      bool first = true;
      for (const value& item : v->items()) {
        if (!first) out.push_back(',');
        first = false;
        if (!item.is_null()) out += to_string(&item);
      }
      return out;
    }
    case kind::object: return "[object Object]";
  }
  return "";
}

namespace {

bool is_js_space(uint32_t cp) noexcept {
  switch (cp) {
    case 0x09: case 0x0A: case 0x0B: case 0x0C: case 0x0D: case 0x20: case 0xA0:
    case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000: case 0xFEFF:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

std::string_view trim(std::string_view s) noexcept {
  size_t begin = 0;
  while (begin < s.size()) {
    size_t next = begin;
    if (!is_js_space(next_code_point(s, next))) break;
    begin = next;
  }
  size_t end = begin;
  size_t last_non_space = begin;
  while (end < s.size()) {
    size_t next = end;
    const uint32_t cp = next_code_point(s, next);
    if (!is_js_space(cp)) last_non_space = next;
    end = next;
  }
  return s.substr(begin, last_non_space - begin);
}

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

double parse_radix(std::string_view digits, int radix) noexcept {
  if (digits.empty()) return std::numeric_limits<double>::quiet_NaN();
  double out = 0;
  for (char c : digits) {
    int d = -1;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'z') d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'Z') d = c - 'A' + 10;
    if (d < 0 || d >= radix) return std::numeric_limits<double>::quiet_NaN();
    out = out * radix + d;
  }
  return out;
}

// StrDecimalLiteral: [+-] (Infinity | digits [. digits] | . digits) [(e|E) [+-] digits]
bool is_decimal_literal(std::string_view s) noexcept {
  size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  if (s.substr(i) == "Infinity") return true;
  size_t int_digits = 0;
  while (i < s.size() && is_digit(s[i])) ++i, ++int_digits;
  size_t frac_digits = 0;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && is_digit(s[i])) ++i, ++frac_digits;
  }
  if (int_digits + frac_digits == 0) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    size_t exp_digits = 0;
    while (i < s.size() && is_digit(s[i])) ++i, ++exp_digits;
    if (exp_digits == 0) return false;
  }
  return i == s.size();
}

}  // namespace

double string_to_number(std::string_view raw) {
  const std::string_view s = trim(raw);
  if (s.empty()) return 0;
  if (s.size() > 2 && s[0] == '0') {
    const char p = s[1];
    if (p == 'x' || p == 'X') return parse_radix(s.substr(2), 16);
    if (p == 'o' || p == 'O') return parse_radix(s.substr(2), 8);
    if (p == 'b' || p == 'B') return parse_radix(s.substr(2), 2);
  }
  if (!is_decimal_literal(s)) return std::numeric_limits<double>::quiet_NaN();
  const size_t sign = (s[0] == '+' || s[0] == '-') ? 1 : 0;
  if (s.substr(sign) == "Infinity") {
    return s[0] == '-' ? -std::numeric_limits<double>::infinity()
                       : std::numeric_limits<double>::infinity();
  }
  const std::string copy(s);
  return std::strtod(copy.c_str(), nullptr);
}

double to_number(const value* v) {
  if (v == nullptr) return std::numeric_limits<double>::quiet_NaN();
  switch (v->type()) {
    case kind::null: return 0;
    case kind::boolean: return v->as_bool() ? 1 : 0;
    case kind::number: return v->as_number();
    case kind::string: return string_to_number(v->as_string());
    case kind::array: return string_to_number(to_string(v));
    case kind::object: return std::numeric_limits<double>::quiet_NaN();
  }
  return std::numeric_limits<double>::quiet_NaN();
}

bool strict_equal(const value* a, const value* b) noexcept {
  if (a == nullptr || b == nullptr) return a == b;
  if (a->type() != b->type()) return false;
  switch (a->type()) {
    case kind::null: return true;
    case kind::boolean: return a->as_bool() == b->as_bool();
    case kind::number: return a->as_number() == b->as_number();
    case kind::string: return a->as_string() == b->as_string();
    default: return false;
  }
}

bool same_value_zero(const value* a, const value* b) noexcept {
  if (a && b && a->is_number() && b->is_number() && std::isnan(a->as_number()) &&
      std::isnan(b->as_number())) {
    return true;
  }
  return strict_equal(a, b);
}

int compare_utf16(std::string_view a, std::string_view b) noexcept {
  // UTF-8 byte order is code point order; UTF-16 order differs only in that code points
  // above U+FFFF (surrogate pairs, 0xD800..) sort below U+E000..U+FFFF.
  const auto unit_key = [](uint32_t cp) -> uint32_t {
    if (cp >= 0x10000) return 0xD800 + ((cp - 0x10000) >> 10);
    return cp;
  };
  size_t i = 0;
  size_t j = 0;
  while (i < a.size() && j < b.size()) {
    const uint32_t ca = next_code_point(a, i);
    const uint32_t cb = next_code_point(b, j);
    if (ca == cb) continue;
    const uint32_t ka = unit_key(ca);
    const uint32_t kb = unit_key(cb);
    if (ka != kb) return ka < kb ? -1 : 1;
    return ca < cb ? -1 : 1;  // same high surrogate: the low surrogates keep code point order
  }
  if (i < a.size()) return 1;
  if (j < b.size()) return -1;
  return 0;
}

bool compare(const value* a, const value* b, relation op) {
  const auto primitive_string = [](const value* v) {
    return v != nullptr && (v->is_string() || v->is_array() || v->is_object());
  };
  if (primitive_string(a) && primitive_string(b)) {
    const int c = compare_utf16(to_string(a), to_string(b));
    switch (op) {
      case relation::lt: return c < 0;
      case relation::lte: return c <= 0;
      case relation::gt: return c > 0;
      case relation::gte: return c >= 0;
    }
  }
  const double x = to_number(a);
  const double y = to_number(b);
  if (std::isnan(x) || std::isnan(y)) return false;
  switch (op) {
    case relation::lt: return x < y;
    case relation::lte: return x <= y;
    case relation::gt: return x > y;
    case relation::gte: return x >= y;
  }
  return false;
}

namespace {

uint32_t lower_code_point(uint32_t cp) noexcept {
  if (cp >= 'A' && cp <= 'Z') return cp + 32;
  if (cp < 0xC0) return cp;
  if ((cp >= 0xC0 && cp <= 0xDE && cp != 0xD7)) return cp + 32;
  if (cp >= 0x100 && cp <= 0x17F) {
    // Latin Extended-A alternates upper/lower, with a shifted stretch at 0x139..0x148.
    if ((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E)) {
      return (cp & 1) ? cp + 1 : cp;
    }
    if (cp == 0x130 || cp == 0x131 || cp == 0x138 || cp == 0x149 || cp == 0x17F) return cp;
    return (cp & 1) ? cp : cp + 1;
  }
  if (cp >= 0x391 && cp <= 0x3AB && cp != 0x3A2) return cp + 32;  // Greek capitals
  if (cp >= 0x410 && cp <= 0x42F) return cp + 32;                 // Cyrillic capitals
  if (cp >= 0x400 && cp <= 0x40F) return cp + 80;
  return cp;
}

}  // namespace

std::string to_lower(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      out.push_back(static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c));
      ++i;
      continue;
    }
    append_utf8(lower_code_point(next_code_point(s, i)), out);
  }
  return out;
}

bool parse_int(std::string_view raw, double& out) noexcept {
  std::string_view s = trim(raw);
  bool negative = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  size_t n = 0;
  double v = 0;
  while (n < s.size() && is_digit(s[n])) v = v * 10 + (s[n++] - '0');
  if (n == 0) return false;
  out = negative ? -v : v;
  return true;
}

}  // namespace whale::js
