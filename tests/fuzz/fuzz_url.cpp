// The URL parser and URL targeting on arbitrary bytes: never a crash, a hang or a leak. The
// input is a URL, optionally followed by a newline and a pattern. A URL that parses (alone or
// against "https://_") must parse again from its href to the same href (the URL Standard's
// serializer round-trips); the pattern is tried as a simple and as a regex target.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "whale/assign.h"
#include "whale/json.h"
#include "whale/url.h"

namespace {

void check_round_trip(const std::optional<whale::url::record>& parsed) {
  if (!parsed) return;
  const std::string href = parsed->href();
  const auto again = whale::url::parse(href);
  if (!again || again->href() != href) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t newline = input.find('\n');
  const std::string_view url = input.substr(0, newline);
  const std::string_view pattern = newline == std::string_view::npos ? std::string_view() : input.substr(newline + 1);

  static const auto base = whale::url::parse("https://_");
  check_round_trip(whale::url::parse(url));
  check_round_trip(whale::url::parse(url, &*base));
  const auto params = whale::url::parse_params(url);
  (void)whale::url::parse_params(whale::url::serialize_params(params));

  namespace json = whale::json;
  for (const char* type : {"simple", "regex"}) {
    json::value target = json::value::object();
    target.set("type", json::value::string(type));
    target.set("pattern", json::value::string(std::string(pattern)));
    std::vector<json::value> list;
    list.push_back(std::move(target));
    (void)whale::assign::url_targeted(url, json::value::array(std::move(list)));
  }
  (void)whale::assign::merge_query_strings(url, pattern);
  return 0;
}
