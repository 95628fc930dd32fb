// Condition evaluator and experiment runner on arbitrary bytes: never a crash, a hang or a leak.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "whale/api.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  (void)whale::api::eval_condition(input);
  (void)whale::api::run(input);
  (void)whale::api::eval_feature(input);
  return 0;
}
