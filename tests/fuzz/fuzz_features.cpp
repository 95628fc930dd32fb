// The features (payload) parser and evalAll on arbitrary bytes.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "whale/api.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto set = whale::api::load_features(input);
  if (!set.ok()) return 0;
  static const char* const requests[] = {
      R"({"attributes":{}})",
      R"({"attributes":{"id":"u1","country":"US","device":"mobile","cart":[{"sku":"a","qty":2}]},"stickyBucketAssignmentDocs":{}})",
      R"({"attributes":{"id":12345,"deviceId":"d1"},"url":"https://x.test/?exp=1","stickyBucketAssignmentDocs":{"id||12345":{"attributeName":"id","attributeValue":"12345","assignments":{"a__0":"1"}}}})",
  };
  for (const char* request : requests) (void)set.value()->eval_all(request);
  return 0;
}
