// libFuzzer target for whale::regex. Input: one flags byte (bit 0: ignore case), then the pattern,
// a 0xFF byte (never valid UTF-8, so never part of a valid pattern), then the subject.
// compile() and test() must never crash, and may only fail with their documented codes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "whale/regex.h"

namespace {

bool is_compile_error(whale::error_code code) {
  return code == whale::error_code::invalid_regex || code == whale::error_code::too_large ||
         code == whale::error_code::too_deep;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool ignore_case = data[0] & 1;
  const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  const size_t split = input.find('\xff');
  const std::string_view source = input.substr(0, split);
  const std::string_view subject = split == std::string_view::npos ? source : input.substr(split + 1);

  auto compiled = whale::regex::compile(source, ignore_case);
  if (!compiled) {
    if (!is_compile_error(compiled.code()) || compiled.message().empty()) std::abort();
    return 0;
  }
  auto tested = compiled->test(subject);
  if (!tested && tested.code() != whale::error_code::regex_budget) std::abort();
  // Matching is deterministic: a second run gives the same answer.
  auto again = compiled->test(subject);
  if (again.code() != tested.code() || (tested && *again != *tested)) std::abort();
  // A pattern that starts with a literal is first searched for it in the subject's bytes: the
  // same pattern behind an empty lookahead (no literal first, so the matcher alone) must agree.
  const std::string plain = "(?=)(?:" + std::string(source) + ")";
  auto matcher_only = whale::regex::compile(plain, ignore_case);
  if (matcher_only && tested) {
    auto slow = matcher_only->test(subject);
    if (slow && *slow != *tested) std::abort();
  }
  return 0;
}
