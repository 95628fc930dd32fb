#include "http_util.h"

#include <cctype>

#include "whale/json.h"

namespace whale::origin {

std::string json_string(std::string_view s) {
  std::string out;
  json::write_string(s, out);
  return out;
}

void send_json(httplib::Response& res, int status, const std::string& body) {
  res.status = status;
  res.set_content(body, "application/json");
}

void send_error(httplib::Response& res, int status, std::string_view code, std::string_view message) {
  send_json(res, status, "{\"error\":{\"code\":" + json_string(code) + ",\"message\":" + json_string(message) + "}}");
}

std::string bearer_token(const httplib::Request& req) {
  const std::string header = req.get_header_value("Authorization");
  constexpr std::string_view scheme = "bearer ";
  if (header.size() <= scheme.size()) return {};
  for (size_t i = 0; i < scheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(header[i])) != scheme[i]) return {};
  }
  return header.substr(scheme.size());
}

bool valid_slug(std::string_view s) {
  if (s.empty() || s.size() > 64 || s.front() == '-' || s.back() == '-') return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

}  // namespace whale::origin
