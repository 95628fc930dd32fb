// libFuzzer target for whale::tz. Input: a POSIX TZ rule, optionally followed by 0xFF and eight
// bytes of a Unix time. parse_rule must never crash and may only fail with invalid_value or
// too_large; an accepted rule must give offsets within +-25 h for any time, and every zone of
// the table must parse.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "whale/tz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool table_ok = [] {
    for (const char* name : {"America/Los_Angeles", "Europe/Dublin", "America/Nuuk", "Australia/Lord_Howe", "UTC"}) {
      if (!whale::tz::zone_rule(name).ok()) return false;
    }
    return true;
  }();
  if (!table_ok) std::abort();
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t split = input.find('\xff');
  const std::string_view text = input.substr(0, split);
  int64_t when = 1751000000;
  if (split != std::string_view::npos && size - split - 1 >= sizeof when) std::memcpy(&when, data + split + 1, sizeof when);
  when %= int64_t{1} << 40;  // about 35 000 years either side: far enough, and no overflow

  auto rule = whale::tz::parse_rule(text);
  if (!rule) {
    const auto code = rule.code();
    if ((code != whale::error_code::invalid_value && code != whale::error_code::too_large) || rule.message().empty()) {
      std::abort();
    }
    return 0;
  }
  const int32_t offset = whale::tz::utc_offset(rule.value(), when);
  if (offset > 25 * 3600 || offset < -25 * 3600) std::abort();
  const whale::tz::civil c = whale::tz::to_civil(when + offset);
  if (c.month < 1 || c.month > 12 || c.day < 1 || c.day > 31 || c.weekday < 0 || c.weekday > 6) std::abort();
  return 0;
}
