// whale::result<T>: a value or a numbered error with a message. Exceptions are off in every
// build, so every fallible call in the core returns one of these (cf. simdjson_result).
#pragma once

#include <cstdint>
#include <string>
#include <utility>

namespace whale {

// Stable numbers: they cross the C ABI and the JS glue exposes them as Error.code names.
enum class error_code : uint32_t {
  ok = 0,                // no error
  invalid_json = 1,      // input is not well-formed JSON
  invalid_utf8 = 2,      // input is not valid UTF-8
  wrong_type = 3,        // a JSON value has the wrong type for its place
  invalid_value = 4,     // a value is of the right type but out of range (NaN, negative weight, ...)
  too_deep = 5,          // nesting deeper than the limit (64 for conditions)
  too_large = 6,         // input larger than the limit for its kind
  invalid_regex = 7,     // a $regex pattern does not compile
  regex_budget = 8,      // a regex match ran past its step budget (treated as no match)
  not_found = 9,         // a handle, key or file that does not exist
  invalid_handle = 10,   // a handle that was never issued or already freed
  out_of_memory = 11,    // allocation failed
  abi_mismatch = 12,     // caller built against another ABI major
  internal = 13,         // a bug: should never be seen
  unsupported_format = 14,  // an image in a format we do not decode or encode
  corrupt_input = 15,    // an image whose bytes do not decode (truncated, corrupt header)
};

// Short stable name of a code, e.g. "invalid_json"; the glue uses it as Error.code.
const char* error_name(error_code code) noexcept;

struct failure {
  error_code code;
  std::string message;
};

template <typename T>
class [[nodiscard]] result {
 public:
  result(T value) : value_(std::move(value)), code_(error_code::ok) {}  // NOLINT: implicit by design
  result(failure f) : code_(f.code), message_(std::move(f.message)) {}  // NOLINT

  bool ok() const noexcept { return code_ == error_code::ok; }
  explicit operator bool() const noexcept { return ok(); }
  error_code code() const noexcept { return code_; }
  const std::string& message() const noexcept { return message_; }
  failure error() const { return failure{code_, message_}; }

  T& value() & { return value_; }
  const T& value() const& { return value_; }
  T&& value() && { return std::move(value_); }
  T* operator->() { return &value_; }
  const T* operator->() const { return &value_; }
  T& operator*() & { return value_; }
  const T& operator*() const& { return value_; }

 private:
  T value_{};
  error_code code_;
  std::string message_;
};

// result<void>: success or a failure.
template <>
class [[nodiscard]] result<void> {
 public:
  result() : code_(error_code::ok) {}
  result(failure f) : code_(f.code), message_(std::move(f.message)) {}  // NOLINT
  bool ok() const noexcept { return code_ == error_code::ok; }
  explicit operator bool() const noexcept { return ok(); }
  error_code code() const noexcept { return code_; }
  const std::string& message() const noexcept { return message_; }
  failure error() const { return failure{code_, message_}; }

 private:
  error_code code_;
  std::string message_;
};

inline failure fail(error_code code, std::string message) { return failure{code, std::move(message)}; }

}  // namespace whale

// Propagate a failure in one line: WHALE_TRY(auto x, parse(...)); (cf. SIMDJSON_TRY)
#define WHALE_CONCAT_INNER(a, b) a##b
#define WHALE_CONCAT(a, b) WHALE_CONCAT_INNER(a, b)
#define WHALE_TRY_IMPL(tmp, decl, expr) \
  auto tmp = (expr);                    \
  if (!tmp.ok()) return tmp.error();    \
  decl = std::move(tmp).value()
#define WHALE_TRY(decl, expr) WHALE_TRY_IMPL(WHALE_CONCAT(whale_try_, __LINE__), decl, expr)
#define WHALE_TRY_VOID(expr)                          \
  do {                                                \
    auto whale_try_v_ = (expr);                       \
    if (!whale_try_v_.ok()) return whale_try_v_.error(); \
  } while (0)
