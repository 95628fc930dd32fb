#include "validate.h"

#include "whale/config.h"

namespace whale::origin {

result<std::string> accept_config(std::string_view body, const std::string& slug) {
  WHALE_TRY(std::shared_ptr<const config::vendor_config> parsed, config::parse(body));
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
