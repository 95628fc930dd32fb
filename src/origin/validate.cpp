#include "validate.h"

#include "whale/api.h"
#include "whale/config.h"
#include "whale/json.h"

namespace whale::origin {

namespace {

constexpr std::string_view utf8_bom = "\xEF\xBB\xBF";

// An edge reads a snapshot with JSON.parse (edge-workers/sync.js), which refuses a byte order
// mark; the core's simdjson skips one, so it is refused here by name.
result<void> refuse_bom(std::string_view body) {
  if (body.substr(0, utf8_bom.size()) != utf8_bom) return {};
  return fail(error_code::invalid_json,
              "config: starts with a UTF-8 byte order mark (EF BB BF), which edges refuse: save it without the BOM");
}

// An edge loads {features, savedGroups} re-serialized by JSON.stringify (sync.js install()), which
// can be longer than the text sent (1e20 prints as 100000000000000000000): it must stay within
// the core's input limit.
result<void> check_features_size(const json::value& config) {
  size_t bytes = std::string_view(R"({"features":,"savedGroups":})").size();
  for (const char* name : {"features", "savedGroups"}) {
    const json::value* v = config.find(name);
    bytes += v != nullptr && !v->is_null() ? json::to_string(*v).size() : std::string_view("{}").size();
  }
  if (bytes <= api::max_input_bytes) return {};
  return fail(error_code::too_large, "features: " + std::to_string(bytes) + " bytes as edges re-serialize them, over " +
                                         std::to_string(api::max_input_bytes));
}

}  // namespace

result<std::string> accept_config(std::string_view body, const std::string& slug) {
  WHALE_TRY_VOID(refuse_bom(body));
  WHALE_TRY(std::shared_ptr<const config::vendor_config> parsed, config::parse(body));
  // The edges' JSON.parse reads every byte: a second, strict parse of the whole text (simdjson
  // DOM) does too, whatever the config reader skipped; its tree feeds the size check.
  WHALE_TRY(json::value strict, json::parse(body));
  WHALE_TRY_VOID(check_features_size(strict));
  if (parsed->vendor().slug != slug) {
    return fail(error_code::invalid_value, "vendor.slug: expected \"" + slug + "\", the vendor in the URL");
  }
  return minify(body);
}

std::string minify(std::string_view json) {
  std::string out;
  out.reserve(json.size());
  bool in_string = false;
  bool escaped = false;  // the previous byte inside a string was an unescaped backslash
  for (char c : json) {
    if (in_string) {
      out.push_back(c);
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
      out.push_back(c);
    } else if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace whale::origin
