// libFuzzer target for whale::image::parse_options, normalize and parse_overlay. Input: the options text.
// Parsing never crashes and fails only with its documented codes; whatever parses has a
// canonical text that parses back to the same options and normalizes to itself.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "whale/image.h"

namespace {

using whale::image::options;

bool same_edges(const whale::image::edges& a, const whale::image::edges& b) {
  return a.top == b.top && a.right == b.right && a.bottom == b.bottom && a.left == b.left;
}

bool same_options(const options& a, const options& b) {
  return a.width == b.width && a.height == b.height && a.fit == b.fit && a.fit_given == b.fit_given &&
         a.gravity == b.gravity && a.gravity_x == b.gravity_x && a.gravity_y == b.gravity_y && a.quality == b.quality &&
         a.fmt == b.fmt && a.dpr == b.dpr && a.background.r == b.background.r && a.background.g == b.background.g &&
         a.background.b == b.background.b && a.background.a == b.background.a &&
         a.background_given == b.background_given && a.rotate == b.rotate && a.metadata == b.metadata &&
         a.onerror_redirect == b.onerror_redirect && a.anim == b.anim && a.progressive == b.progressive &&
         a.sig == b.sig && a.flip == b.flip && a.brightness == b.brightness && a.contrast == b.contrast &&
         a.gamma == b.gamma && a.saturation == b.saturation && a.compression_fast == b.compression_fast &&
         a.blur == b.blur && a.sharpen == b.sharpen && a.width_auto == b.width_auto && a.slow_quality == b.slow_quality &&
         same_edges(a.border, b.border) && same_edges(a.trim, b.trim) && a.trim_width == b.trim_width &&
         a.trim_height == b.trim_height && a.trim_border == b.trim_border &&
         a.trim_border_tolerance == b.trim_border_tolerance && a.trim_border_keep == b.trim_border_keep &&
         a.trim_border_color_given == b.trim_border_color_given &&
         // A colour without a border draws nothing and is not kept.
         (!a.border.any() || (a.border_color.r == b.border_color.r && a.border_color.g == b.border_color.g &&
                              a.border_color.b == b.border_color.b && a.border_color.a == b.border_color.a));
}

// Error messages end up in HTTP responses: printable ASCII only.
bool printable(const std::string& s) {
  for (char c : s) {
    if (c < 0x20 || c > 0x7E) return false;
  }
  return !s.empty();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  // The same text as an overlay's (draw): its options plus opacity, repeat and the edges.
  auto overlay = whale::image::parse_overlay(text);
  if (!overlay) {
    const bool documented = overlay.code() == whale::error_code::invalid_value || overlay.code() == whale::error_code::too_large;
    if (!documented || !printable(overlay.message())) std::abort();
  } else if (overlay->opacity > 1000 || (overlay->top >= 0 && overlay->bottom >= 0) || (overlay->left >= 0 && overlay->right >= 0)) {
    std::abort();
  }
  auto parsed = whale::image::parse_options(text);
  if (!parsed) {
    const bool documented = parsed.code() == whale::error_code::invalid_value || parsed.code() == whale::error_code::too_large;
    if (!documented || !printable(parsed.message())) std::abort();
    return 0;
  }
  const std::string canonical = whale::image::normalize(*parsed);
  auto again = whale::image::parse_options(canonical);
  if (!again || !same_options(*parsed, *again)) std::abort();
  if (whale::image::normalize(*again) != canonical) std::abort();
  return 0;
}
