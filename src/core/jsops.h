// JavaScript's conversions and comparisons over json::value, as the GrowthBook JS SDK relies on
// them (String(v), v * 1, ===, <, toLowerCase). A null pointer stands for `undefined`.
#pragma once

#include <string>
#include <string_view>

#include "whale/json.h"

namespace whale::js {

bool truthy(const json::value* v) noexcept;
// String(v): arrays join their items with ",", objects are "[object Object]".
std::string to_string(const json::value* v);
// v * 1 (ToNumber); strings follow StringToNumber (whitespace, hex, Infinity; else NaN).
double to_number(const json::value* v);
double string_to_number(std::string_view s);
// a === b: objects and arrays are never equal (they are distinct references).
bool strict_equal(const json::value* a, const json::value* b) noexcept;
// Array.prototype.includes: like === but NaN equals NaN.
bool same_value_zero(const json::value* a, const json::value* b) noexcept;

enum class relation { lt, lte, gt, gte };
// a < b and friends (abstract relational comparison).
bool compare(const json::value* a, const json::value* b, relation op);
// Orders two UTF-8 strings as JS orders strings: by UTF-16 code units.
int compare_utf16(std::string_view a, std::string_view b) noexcept;
// String.prototype.toLowerCase for ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic.
std::string to_lower(std::string_view s);
// parseInt(s, 10): false when the result would be NaN.
bool parse_int(std::string_view s, double& out) noexcept;

// Decodes one UTF-8 code point at s[i], advancing i; invalid bytes give U+FFFD.
uint32_t next_code_point(std::string_view s, size_t& i) noexcept;
void append_utf8(uint32_t cp, std::string& out);

}  // namespace whale::js
