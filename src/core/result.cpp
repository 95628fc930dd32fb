#include "whale/result.h"

namespace whale {

const char* error_name(error_code code) noexcept {
  switch (code) {
    case error_code::ok: return "ok";
    case error_code::invalid_json: return "invalid_json";
    case error_code::invalid_utf8: return "invalid_utf8";
    case error_code::wrong_type: return "wrong_type";
    case error_code::invalid_value: return "invalid_value";
    case error_code::too_deep: return "too_deep";
    case error_code::too_large: return "too_large";
    case error_code::invalid_regex: return "invalid_regex";
    case error_code::regex_budget: return "regex_budget";
    case error_code::not_found: return "not_found";
    case error_code::invalid_handle: return "invalid_handle";
    case error_code::out_of_memory: return "out_of_memory";
    case error_code::abi_mismatch: return "abi_mismatch";
    case error_code::internal: return "internal";
    case error_code::unsupported_format: return "unsupported_format";
    case error_code::corrupt_input: return "corrupt_input";
  }
  return "unknown";
}

}  // namespace whale
