// What every part of the origin's HTTP side writes and reads the same way: JSON strings, the error
// shape of docs/origin.md, bearer tokens, and the pattern of names in URLs.
#pragma once

#include <httplib.h>

#include <string>
#include <string_view>

namespace whale::origin {

// `s` as a JSON string literal, quotes included.
std::string json_string(std::string_view s);

void send_json(httplib::Response& res, int status, const std::string& body);

// {"error":{"code","message"}}: `code` is stable (the core's error names plus the HTTP ones).
void send_error(httplib::Response& res, int status, std::string_view code, std::string_view message);

// The token of an `Authorization: Bearer <token>` header (the scheme in any case); empty if none.
std::string bearer_token(const httplib::Request& req);

// Vendor and edge names as they appear in URLs and events: [a-z0-9-], 1 to 64, no '-' at either end.
bool valid_slug(std::string_view s);

// The same names in a route's regex (one capture group); handlers check valid_slug for the rest.
#define WHALE_SLUG_PATTERN "([a-z0-9][a-z0-9-]*)"

}  // namespace whale::origin
