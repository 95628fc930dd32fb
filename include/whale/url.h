// whale::url: the WHATWG URL parser as far as GrowthBook's URL targeting and redirects read it
// (`new URL(input, base)`, its href, origin, host, pathname, search, hash and searchParams), so
// that URL targeting answers as the JS SDK does under Node and in browsers.
//
// Differences from the URL Standard:
// - Hosts with non-ASCII characters are lowercased (js::to_lower) and Punycode-encoded per
//   label; the rest of UTS #46 mapping (width folding, deviation characters, bidi and joiner
//   checks) is not applied.
// - file: URLs keep a host and a path but not the Windows drive-letter quirks.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace whale::url {

// A parsed URL: the URL record's fields, already percent-encoded as the standard stores them.
struct record {
  std::string scheme;  // lowercase, without ":"
  std::string username;
  std::string password;
  std::optional<std::string> host;  // serialized (IPv6 in brackets); nullopt: no host
  std::optional<uint16_t> port;     // nullopt: absent or the scheme's default
  std::vector<std::string> path;    // segments, unless opaque_path
  bool opaque_path = false;
  std::string opaque;  // the path of a URL like "mailto:x" (opaque_path)
  std::optional<std::string> query;
  std::optional<std::string> fragment;

  bool special() const;
  std::string href() const;
  std::string origin() const;    // "null" for schemes without a tuple origin
  std::string host_port() const;  // URL#host
  std::string pathname() const;
  std::string search() const;  // "" or "?query"
  std::string hash() const;    // "" or "#fragment"
};

// new URL(input, base): nullopt where it throws. A base must itself have parsed.
std::optional<record> parse(std::string_view input, const record* base = nullptr);

// application/x-www-form-urlencoded, as URLSearchParams parses and serializes it.
using param_list = std::vector<std::pair<std::string, std::string>>;
param_list parse_params(std::string_view query);
std::string serialize_params(const param_list& params);

}  // namespace whale::url
