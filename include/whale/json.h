// A small owned JSON value tree, parsed with simdjson and written back deterministically.
// Objects keep their members in document order (as JS does for non-index keys) so that the
// same input gives the same bytes out on every target.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "whale/result.h"

namespace whale::json {

enum class kind : uint8_t { null, boolean, number, string, array, object };

class value;
using member = std::pair<std::string, value>;

class value {
 public:
  value() = default;  // null
  static value boolean(bool b);
  static value number(double n);
  static value string(std::string s);
  static value array(std::vector<value> items = {});
  static value object(std::vector<member> members = {});

  kind type() const noexcept { return kind_; }
  bool is_null() const noexcept { return kind_ == kind::null; }
  bool is_bool() const noexcept { return kind_ == kind::boolean; }
  bool is_number() const noexcept { return kind_ == kind::number; }
  bool is_string() const noexcept { return kind_ == kind::string; }
  bool is_array() const noexcept { return kind_ == kind::array; }
  bool is_object() const noexcept { return kind_ == kind::object; }

  bool as_bool() const noexcept { return bool_; }
  double as_number() const noexcept { return number_; }
  const std::string& as_string() const noexcept { return string_; }
  const std::vector<value>& items() const noexcept { return items_; }
  std::vector<value>& items() noexcept { return items_; }
  const std::vector<member>& members() const noexcept { return members_; }
  std::vector<member>& members() noexcept { return members_; }

  // Member lookup; nullptr when absent or when this is not an object. Last duplicate wins.
  const value* find(std::string_view key) const noexcept;
  value* find(std::string_view key) noexcept;
  // Sets (replaces or appends) a member; this must be an object.
  void set(std::string key, value v);

 private:
  kind kind_ = kind::null;
  bool bool_ = false;
  double number_ = 0;
  std::string string_;
  std::vector<value> items_;
  std::vector<member> members_;
};

// Limits that keep one parse bounded in memory and stack.
inline constexpr size_t max_depth = 256;

// Parses UTF-8 JSON text. Errors: invalid_json, invalid_utf8, too_deep.
result<value> parse(std::string_view text);
// True when text is valid UTF-8 (the check parse makes).
bool valid_utf8(std::string_view text) noexcept;
// Whether text is JSON, as parse() would decide, without building a value: simdjson's parse
// alone (the floor under every parse of ours; bench/config.bench.mjs measures it).
result<void> check(std::string_view text);

// Appends compact JSON (JSON.stringify-like: no spaces; numbers as JS prints them; NaN and
// infinities as null).
void write(const value& v, std::string& out);
std::string to_string(const value& v);
// Appends a JSON string literal with escapes.
void write_string(std::string_view s, std::string& out);
// JS Number.prototype.toString() of a double, e.g. 1e21 -> "1e+21", 0.5 -> "0.5".
std::string number_to_string(double n);

// Deep equality as JSON.stringify(a) === JSON.stringify(b) would decide it.
bool equal(const value& a, const value& b) noexcept;

}  // namespace whale::json
