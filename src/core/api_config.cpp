// whale::api's JSON of a config's settings and of the config cache (include/whale/api.h).
#include <string>
#include <utility>

#include "whale/api.h"
#include "whale/config.h"
#include "whale/json.h"

namespace whale::api {

std::string consent_json(const config::consent_settings& c) {
  std::string out = "{\"globalPrivacyControl\":";
  out += c.global_privacy_control ? "true" : "false";
  out += ",\"cookie\":";
  json::write_string(c.cookie, out);
  for (const auto& [name, list] : {std::pair{",\"granted\":[", &c.granted}, std::pair{"],\"denied\":[", &c.denied}}) {
    out += name;
    for (size_t i = 0; i < list->size(); ++i) {
      if (i > 0) out += ',';
      json::write_string((*list)[i], out);
    }
  }
  out += "]}";
  return out;
}

std::string media_json(const config::media_settings& m) {
  std::string out = "{\"allowedSources\":[";
  for (size_t i = 0; i < m.allowed_sources.size(); ++i) {
    if (i > 0) out += ',';
    json::write_string(m.allowed_sources[i], out);
  }
  out += "],\"formats\":[";
  const char* sep = "";
  for (const auto& [bit, name] : {std::pair{config::format_jpeg, "\"jpeg\""},
                                  std::pair{config::format_png, "\"png\""},
                                  std::pair{config::format_webp, "\"webp\""},
                                  std::pair{config::format_avif, "\"avif\""}}) {
    if ((m.formats & bit) == 0) continue;
    out += sep;
    out += name;
    sep = ",";
  }
  out += "],\"maxWidth\":" + std::to_string(m.max_width) + ",\"maxHeight\":" + std::to_string(m.max_height) +
         ",\"quality\":" + std::to_string(m.quality) + ",\"widths\":[";
  for (size_t i = 0; i < m.widths.size(); ++i) {
    if (i > 0) out += ',';
    out += std::to_string(m.widths[i]);
  }
  out += "],\"maxInputBytes\":" + std::to_string(m.max_input_bytes) +
         ",\"maxInputPixels\":" + std::to_string(m.max_input_pixels) +
         ",\"signedUrls\":" + (m.signed_urls ? "true" : "false") + "}";
  return out;
}

std::string cache_stats_json(const config::cache::stats& s) {
  return "{\"hits\":" + std::to_string(s.hits) + ",\"misses\":" + std::to_string(s.misses) +
         ",\"evictions\":" + std::to_string(s.evictions) + ",\"entries\":" + std::to_string(s.entries) +
         ",\"bytes\":" + std::to_string(s.bytes) + ",\"budget\":" + std::to_string(s.budget) + "}";
}

}  // namespace whale::api
