// GrowthBook's URL targeting (isURLTargeted and its simple and regex patterns) and
// mergeQueryStrings, over whale::url's WHATWG parser and whale::regex's JS RegExp.
#include <cstring>

#include "jsops.h"
#include "whale/assign.h"
#include "whale/regex.h"
#include "whale/url.h"

namespace whale::assign {

using json::value;

namespace {

// RegExp.prototype.test; a pattern that does not compile or runs out of budget matches nothing.
bool regex_test(std::string_view pattern, bool ignore_case, std::string_view subject) {
  const auto compiled = regex::compile(pattern, ignore_case);
  if (!compiled) return false;
  const auto matched = compiled->test(subject);
  return matched.ok() && *matched;
}

// getUrlRegExp's rewrite: a "/" not after a backslash is escaped (pairs do not overlap, as
// String#replace with /([^\\])\//g scans them).
std::string escape_slashes(std::string_view pattern) {
  std::string out;
  for (size_t i = 0; i < pattern.size();) {
    if (i + 1 < pattern.size() && pattern[i] != '\\' && pattern[i + 1] == '/') {
      out.push_back(pattern[i]);
      out += "\\/";
      i += 2;
    } else {
      out.push_back(pattern[i++]);
    }
  }
  return out;
}

// _evalSimpleUrlPart: the pattern with regex characters escaped and "_____" as ".*", anchored and
// case-insensitive; a path's leading and trailing slashes are optional.
bool simple_part_matches(std::string_view actual, std::string_view pattern, bool is_path) {
  std::string escaped;
  for (size_t i = 0; i < pattern.size();) {
    if (pattern.compare(i, 5, "_____") == 0) {
      escaped += ".*";
      i += 5;
      continue;
    }
    if (std::strchr("*.+?^${}()|[]\\", pattern[i]) != nullptr) escaped.push_back('\\');
    escaped.push_back(pattern[i++]);
  }
  if (is_path) {
    std::string_view inner = escaped;
    if (!inner.empty() && inner.front() == '/') inner.remove_prefix(1);
    if (!inner.empty() && inner.back() == '/') inner.remove_suffix(1);
    escaped = "\\/?" + std::string(inner) + "\\/?";
  }
  return regex_test("^" + escaped + "$", true, actual);
}

// _evalSimpleUrlTarget: host, path, the hash when the pattern has one, and each query parameter
// the pattern names; "*" is a wildcard, and a pattern starting with a host gets "https://".
bool simple_target_matches(const url::record& actual, std::string_view pattern) {
  std::string text(pattern);
  const size_t stop = text.find_first_of(":/?");
  if (text.substr(0, stop).find('.') != std::string::npos) text = "https://" + text;
  std::string wild;
  for (char c : text) {
    if (c == '*') wild += "_____";
    else wild.push_back(c);
  }
  static const auto base = url::parse("https://_____");
  const auto expected = url::parse(wild, &*base);
  if (!expected) return false;
  if (!simple_part_matches(actual.host_port(), expected->host_port(), false)) return false;
  if (!simple_part_matches(actual.pathname(), expected->pathname(), true)) return false;
  const std::string hash = expected->hash();
  if (!hash.empty() && !simple_part_matches(actual.hash(), hash, false)) return false;
  const url::param_list have = url::parse_params(actual.query.value_or(""));
  for (const auto& [name, want] : url::parse_params(expected->query.value_or(""))) {
    std::string_view got;
    for (const auto& [k, v] : have) {
      if (k == name) {
        got = v;
        break;
      }
    }
    if (!simple_part_matches(got, want, false)) return false;
  }
  return true;
}

// _evalURLTarget: the URL resolved against "https://_"; a regex tries the href and the href
// without its origin.
bool target_matches(std::string_view url_text, const value& target) {
  static const auto base = url::parse("https://_");
  const auto parsed = url::parse(url_text, &*base);
  if (!parsed) return false;
  const value* type = target.find("type");
  const value* pattern = target.find("pattern");
  if (type == nullptr || !type->is_string() || pattern == nullptr || !pattern->is_string()) return false;
  if (type->as_string() == "regex") {
    const std::string source = escape_slashes(pattern->as_string());
    const std::string href = parsed->href();
    const size_t origin = parsed->origin().size();
    return regex_test(source, false, href) || regex_test(source, false, href.substr(std::min(origin, href.size())));
  }
  if (type->as_string() == "simple") return simple_target_matches(*parsed, pattern->as_string());
  return false;
}

}  // namespace

bool url_targeted(std::string_view url_text, const value& patterns) {
  if (!patterns.is_array() || patterns.items().empty()) return false;
  bool has_include = false;
  bool included = false;
  for (const value& target : patterns.items()) {
    const bool match = target.is_object() && target_matches(url_text, target);
    const value* include = target.is_object() ? target.find("include") : nullptr;
    if (include && include->is_bool() && !include->as_bool()) {
      if (match) return false;
    } else {
      has_include = true;
      included = included || match;
    }
  }
  return included || !has_include;
}

std::string merge_query_strings(std::string_view old_url, std::string_view new_url) {
  const auto current = url::parse(old_url);
  auto redirect = url::parse(new_url);
  if (!current || !redirect) return std::string(new_url);
  url::param_list params = url::parse_params(redirect->query.value_or(""));
  bool changed = false;
  for (auto& [name, v] : url::parse_params(current->query.value_or(""))) {
    bool present = false;
    for (const auto& p : params) present = present || p.first == name;
    if (present) continue;
    params.emplace_back(std::move(name), std::move(v));
    changed = true;
  }
  if (changed) redirect->query = url::serialize_params(params);
  return redirect->href();
}

}  // namespace whale::assign
