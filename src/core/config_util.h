// Helpers shared by the config sources (config*.cpp): JSON paths for error messages and the
// parsed config's private state.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "whale/behaviour.h"
#include "whale/config.h"

namespace whale::config {

// "x-..." members are the vendor's own: checked as JSON, otherwise ignored.
inline bool is_extension(std::string_view key) { return key.size() > 2 && key[0] == 'x' && key[1] == '-'; }

// "a.b" + "c" -> "a.b.c"; "" + "c" -> "c".
inline std::string key_path(const std::string& path, std::string_view key) {
  std::string out = path;
  if (!out.empty()) out.push_back('.');
  out.append(key);
  return out;
}

inline void append_index(std::string& path, size_t i) {
  char digits[24];
  size_t n = 0;
  do {
    digits[n++] = static_cast<char>('0' + i % 10);
    i /= 10;
  } while (i != 0);
  path.push_back('[');
  while (n > 0) path.push_back(digits[--n]);
  path.push_back(']');
}

inline std::string index_path(const std::string& path, size_t i) {
  std::string out = path;
  append_index(out, i);
  return out;
}

// Appends a segment to a path buffer for the life of the scope.
class path_scope {
 public:
  path_scope(std::string& path, std::string_view key) : path_(path), size_(path.size()) {
    if (!path.empty()) path.push_back('.');
    path.append(key);
  }
  path_scope(std::string& path, size_t index) : path_(path), size_(path.size()) { append_index(path, index); }
  ~path_scope() { path_.resize(size_); }
  path_scope(const path_scope&) = delete;
  path_scope& operator=(const path_scope&) = delete;

 private:
  std::string& path_;
  size_t size_;
};

// A JSON path kept on the stack as a chain of segments and spelled out only for a message
// (most paths are never printed). A segment must not outlive its parent or its key.
class path_ref {
 public:
  explicit path_ref(std::string_view root) : key_(root) {}
  path_ref(const path_ref& parent, std::string_view key) : parent_(&parent), key_(key) {}
  path_ref(const path_ref& parent, size_t index) : parent_(&parent), index_(index), is_index_(true) {}

  std::string str() const {
    std::string out = parent_ != nullptr ? parent_->str() : std::string();
    if (is_index_) {
      append_index(out, index_);
    } else {
      if (!out.empty()) out.push_back('.');
      out.append(key_);
    }
    return out;
  }
  // "path: rule"
  failure fail(error_code code, std::string_view rule) const {
    std::string message = str();
    message += ": ";
    message.append(rule);
    return failure{code, std::move(message)};
  }

 private:
  const path_ref* parent_ = nullptr;
  std::string_view key_;
  size_t index_ = 0;
  bool is_index_ = false;
};

// Strings of the catalog, stored back to back in chunks that never move.
class string_arena {
 public:
  std::string_view store(std::string_view s) {
    if (s.empty()) return {};
    if (chunks_.empty() || used_ + s.size() > chunk_size_) {
      // Chunks double from 1 KB to 64 KB: small catalogs stay small, large ones allocate rarely.
      const size_t grown = bytes_ < kFirst ? kFirst : (bytes_ < kLast ? bytes_ : kLast);
      chunk_size_ = s.size() > grown ? s.size() : grown;
      chunks_.push_back(std::make_unique<char[]>(chunk_size_));
      used_ = 0;
      bytes_ += chunk_size_;
    }
    char* at = chunks_.back().get() + used_;
    s.copy(at, s.size());
    used_ += s.size();
    return std::string_view(at, s.size());
  }
  size_t bytes() const noexcept { return bytes_; }

 private:
  static constexpr size_t kFirst = 1024;
  static constexpr size_t kLast = 64 * 1024;
  std::vector<std::unique_ptr<char[]>> chunks_;
  size_t chunk_size_ = 0;
  size_t used_ = 0;
  size_t bytes_ = 0;
};

struct vendor_config::impl {
  vendor_info vendor;
  assign::payload assignments;
  std::vector<component> components;
  std::vector<page> pages;
  media_settings media;
  consent_settings consent;
  theme_settings theme;
  std::vector<segment> segments;
  product_catalog catalog;
  string_arena strings;      // the catalog's strings
  std::vector<double> sales;  // every product's daily_sales, back to back
  // Lookups; the views point into the vectors above, which do not change after parsing.
  std::unordered_map<std::string_view, uint32_t> component_index;
  std::unordered_map<std::string_view, uint32_t> page_index;
  std::unordered_map<std::string_view, uint32_t> path_index;
  std::unordered_map<std::string_view, uint32_t> product_index;
  size_t memory_bytes = 0;
  std::unique_ptr<behaviour::rules> behaviour;  // from "x-behaviour"; null when the vendor gave none
};

// Compiled patterns by source, shared by the schemas of one config: registries repeat the same
// few ("^/", "^https://").
using pattern_cache = std::unordered_map<std::string, regex::pattern>;
result<void> compile_schema(prop_schema& out, const json::value& schema, const path_ref& path, pattern_cache& patterns);
// validate() with a lazily spelled path.
result<void> check_value(const prop_schema& schema, const json::value& v, const path_ref& path);

// Approximate heap bytes of a JSON tree (for memory_bytes()).
size_t json_bytes(const json::value& v) noexcept;

}  // namespace whale::config
