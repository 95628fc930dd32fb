// What the origin accepts as a vendor config: what the core's config parser accepts (at most
// config::max_config_bytes of UTF-8 JSON, no duplicate keys, every rule of docs/config.md) and
// what every edge loads (JSON.parse: no byte order mark, every value well formed), written for
// the vendor it is sent to. Accepted configs are kept minified (the whitespace between tokens
// dropped, every other byte as sent): the bytes that are signed and served.
#pragma once

#include <string>
#include <string_view>

#include "whale/result.h"

namespace whale::origin {

// The minified config, or the first problem, named by its JSON path where it has one (codes:
// too_large, invalid_json (also a leading byte order mark), invalid_utf8, too_deep, wrong_type,
// invalid_value, ...). The config's vendor.slug must be `slug`. Thread-safe.
result<std::string> accept_config(std::string_view body, const std::string& slug);

// Drops the whitespace between the tokens of a valid JSON text; strings, numbers and literals
// are kept byte for byte.
std::string minify(std::string_view json);

}  // namespace whale::origin
