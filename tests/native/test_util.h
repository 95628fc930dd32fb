// Helpers shared by the native tests.
#pragma once

#include <fstream>
#include <sstream>
#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "whale/json.h"

namespace whale::testing {

// The fixture's bytes; a missing or unreadable file fails the calling test (and reads as empty).
inline std::string read_fixture(const std::string& relative) {
  std::ifstream in(std::string(WHALE_FIXTURES_DIR) + "/" + relative, std::ios::binary);
  if (!in) {
    ADD_FAILURE() << "missing fixture " << relative << " (under " << WHALE_FIXTURES_DIR << ")";
    return {};
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The same, as bytes.
inline std::vector<uint8_t> fixture_bytes(const std::string& relative) {
  const std::string s = read_fixture(relative);
  return std::vector<uint8_t>(s.begin(), s.end());
}

// Deep equality that ignores object key order (as Jest's toEqual does for the JS SDK's tests).
inline bool same_json(const json::value& a, const json::value& b) {
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case json::kind::array:
      if (a.items().size() != b.items().size()) return false;
      for (size_t i = 0; i < a.items().size(); ++i) {
        if (!same_json(a.items()[i], b.items()[i])) return false;
      }
      return true;
    case json::kind::object:
      if (a.members().size() != b.members().size()) return false;
      for (const json::member& m : a.members()) {
        const json::value* other = b.find(m.first);
        if (other == nullptr || !same_json(m.second, *other)) return false;
      }
      return true;
    default:
      return json::equal(a, b);
  }
}

}  // namespace whale::testing
