// Options of /img/<options>/<source> (and /cdn-cgi/image/...) (include/whale/image.h): a strict parser for
// Cloudflare's key=value names and Cloudinary-style key_value aliases, and the canonical text the
// edge's cache key uses. Numbers with a fraction (dpr, gravity points, colour alpha) are read as
// integer thousandths and printed from them, so parse and normalize round-trip exactly and give
// the same text on every target (no printf, no locale).
#include <algorithm>
#include <string>
#include <string_view>

#include "whale/image.h"

namespace whale::image {
namespace {

constexpr size_t max_options_bytes = 2048;
constexpr uint32_t max_side = 4096;         // width and height, CSS pixels before dpr
constexpr uint32_t default_quality = 85;    // Cloudflare's default; options::quality 0 stands for it
constexpr uint32_t milli = 1000;            // fractions are kept as integer thousandths
constexpr uint32_t max_milli_integer = 999'999;  // integer part of a fraction number
constexpr size_t max_sig_bytes = 512;
constexpr size_t max_shown_bytes = 64;      // of a value quoted back in an error message

// Each option may be given once, under any of its names; the slot is its bit in a mask.
enum class slot : uint8_t { width, height, dpr, fit, gravity, quality, format, background, rotate, flip, brightness,
                            contrast, gamma, saturation, compression, blur, sharpen, metadata, anim, onerror, sig,
                            slow_quality, border_width, border_top, border_right, border_bottom, border_left,
                            border_color, trim, trim_width, trim_height, trim_left, trim_top, trim_border_color,
                            trim_border_tolerance, trim_border_keep };

constexpr uint64_t bit_of(slot s) { return uint64_t{1} << static_cast<uint32_t>(s); }
constexpr uint64_t border_sides = bit_of(slot::border_top) | bit_of(slot::border_right) |
                                  bit_of(slot::border_bottom) | bit_of(slot::border_left);

// border.* widths in CSS pixels; trim values in source pixels (a source side is at most 65535).
constexpr uint32_t max_border = 1000;
constexpr uint32_t max_trim = 65535;

// Reads a value into o: nullptr on success, else what was expected ("an integer 1..4096").
using value_parser = const char* (*)(std::string_view value, options& o);

struct option_name {
  std::string_view name;
  slot where;
  value_parser parse;
};

template <typename T>
struct keyword {
  std::string_view name;
  T value;
};

// The value of name in a keyword table, or nullptr.
template <typename T, size_t N>
const T* find_keyword(const keyword<T> (&table)[N], std::string_view name) {
  for (const keyword<T>& k : table) {
    if (k.name == name) return &k.value;
  }
  return nullptr;
}

// Sets `field` to name's value in a keyword table: nullptr, or `expected` when there is none.
template <typename T, size_t N>
const char* set_keyword(const keyword<T> (&table)[N], std::string_view name, T& field, const char* expected) {
  const T* found = find_keyword(table, name);
  if (found == nullptr) return expected;
  field = *found;
  return nullptr;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// 1..9 decimal digits, nothing else (no sign, no fraction).
bool parse_uint(std::string_view s, uint32_t& out) {
  if (s.empty() || s.size() > 9) return false;
  uint32_t v = 0;
  for (char c : s) {
    if (!is_digit(c)) return false;
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  out = v;
  return true;
}

// "digits[.digits]" or ".digits" as thousandths, rounded half up on the fourth decimal. No sign,
// no exponent, integer part at most max_milli_integer.
bool parse_milli(std::string_view s, uint32_t& out) {
  const size_t dot = s.find('.');
  const std::string_view whole = s.substr(0, dot);
  const std::string_view fraction = dot == std::string_view::npos ? std::string_view() : s.substr(dot + 1);
  if (whole.empty() && fraction.empty()) return false;
  uint32_t integer = 0;
  if (!whole.empty() && (!parse_uint(whole, integer) || integer > max_milli_integer)) return false;
  if (dot != std::string_view::npos && fraction.empty()) return false;
  uint32_t thousandths = 0;
  for (size_t i = 0; i < fraction.size(); ++i) {
    if (!is_digit(fraction[i])) return false;
    const auto digit = static_cast<uint32_t>(fraction[i] - '0');
    if (i < 3) thousandths = thousandths * 10 + digit;
    if (i == 3 && digit >= 5) ++thousandths;
  }
  for (size_t i = fraction.size(); i < 3; ++i) thousandths *= 10;
  out = integer * milli + thousandths;
  return true;
}

// Thousandths of a stored fraction; clamps what parse never produces (NaN, negative, huge).
uint32_t to_milli(float f) {
  const double scaled = static_cast<double>(f) * milli;
  if (!(scaled >= 0)) return 0;
  if (scaled > 4e9) return 4'000'000'000u;
  return static_cast<uint32_t>(scaled + 0.5);
}

float from_milli(uint32_t m) { return static_cast<float>(m) / static_cast<float>(milli); }

void append_uint(std::string& out, uint32_t v) {
  char digits[10];
  size_t n = 0;
  do {
    digits[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (n > 0) out.push_back(digits[--n]);
}

// Thousandths as the shortest decimal: 1500 -> "1.5", 2000 -> "2", 333 -> "0.333".
void append_milli(std::string& out, uint32_t m) {
  append_uint(out, m / milli);
  uint32_t fraction = m % milli;
  if (fraction == 0) return;
  out.push_back('.');
  for (uint32_t unit = 100; unit > 0 && fraction != 0; unit /= 10) {
    out.push_back(static_cast<char>('0' + fraction / unit));
    fraction %= unit;
  }
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A value as it appears in the URL: %XX escapes decoded (Cloudflare's "background=%23ff0000").
// A '%' not followed by two hex digits stays itself, so "rgba(0,0,0,50%)" needs no escaping.
std::string percent_decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    const int hi = s[i] == '%' && i + 2 < s.size() ? hex_value(s[i + 1]) : -1;
    const int lo = hi >= 0 ? hex_value(s[i + 2]) : -1;
    if (lo < 0) {
      out.push_back(s[i]);
      continue;
    }
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

// Text quoted back in an error message: printable ASCII only, at most max_shown_bytes.
std::string shown(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size() && i < max_shown_bytes; ++i) {
    const char c = s[i];
    out.push_back(c >= 0x20 && c < 0x7F ? c : '?');
  }
  if (s.size() > max_shown_bytes) out += "...";
  return out;
}

// ---- colours ----

// Colour names: CSS's 16 basic colours plus grey and transparent.
constexpr keyword<rgba8> colour_names[] = {
    {"transparent", {0, 0, 0, 0}},   {"black", {0, 0, 0, 255}},       {"white", {255, 255, 255, 255}},
    {"red", {255, 0, 0, 255}},       {"lime", {0, 255, 0, 255}},      {"blue", {0, 0, 255, 255}},
    {"green", {0, 128, 0, 255}},     {"yellow", {255, 255, 0, 255}},  {"aqua", {0, 255, 255, 255}},
    {"fuchsia", {255, 0, 255, 255}}, {"gray", {128, 128, 128, 255}},  {"grey", {128, 128, 128, 255}},
    {"silver", {192, 192, 192, 255}}, {"maroon", {128, 0, 0, 255}},   {"olive", {128, 128, 0, 255}},
    {"navy", {0, 0, 128, 255}},      {"purple", {128, 0, 128, 255}},  {"teal", {0, 128, 128, 255}},
};

// 3, 4, 6 or 8 hex digits: rgb, rgba, rrggbb, rrggbbaa.
bool parse_hex_colour(std::string_view s, rgba8& out) {
  for (char c : s) {
    if (hex_value(c) < 0) return false;
  }
  auto nibble = [&s](size_t i) { return static_cast<uint8_t>(hex_value(s[i]) * 17); };
  auto byte = [&s](size_t i) { return static_cast<uint8_t>(hex_value(s[i]) * 16 + hex_value(s[i + 1])); };
  switch (s.size()) {
    case 3:
    case 4:
      out = {nibble(0), nibble(1), nibble(2), s.size() == 4 ? nibble(3) : uint8_t{255}};
      return true;
    case 6:
    case 8:
      out = {byte(0), byte(2), byte(4), s.size() == 8 ? byte(6) : uint8_t{255}};
      return true;
    default:
      return false;
  }
}

// One rgb() component: a number (channels 0..255, alpha 0..1) or a percentage. Out-of-range
// values clamp as in CSS (so Cloudflare's own example "rgba(255 255 0 100)" is opaque yellow).
bool parse_component(std::string_view s, bool alpha, uint8_t& out) {
  const bool percent = !s.empty() && s.back() == '%';
  uint32_t m = 0;
  if (!parse_milli(percent ? s.substr(0, s.size() - 1) : s, m)) return false;
  if (percent) {
    const uint32_t p = m < 100 * milli ? m : 100 * milli;
    out = static_cast<uint8_t>((p * 255 + 50 * milli) / (100 * milli));
  } else if (alpha) {
    const uint32_t a = m < milli ? m : milli;
    out = static_cast<uint8_t>((a * 255 + milli / 2) / milli);
  } else {
    const uint32_t c = m < 255 * milli ? m : 255 * milli;
    out = static_cast<uint8_t>((c + milli / 2) / milli);
  }
  return true;
}

// The inside of rgb(...) or rgba(...): 3 or 4 components separated by commas, spaces or a slash
// (both the legacy and the CSS4 syntax).
bool parse_rgb_function(std::string_view inner, rgba8& out) {
  std::string_view parts[4];
  size_t count = 0;
  size_t at = 0;
  while (at < inner.size()) {
    const size_t begin = inner.find_first_not_of(", /", at);
    if (begin == std::string_view::npos) break;
    const size_t end = std::min(inner.find_first_of(", /", begin), inner.size());
    if (count == 4) return false;
    parts[count++] = inner.substr(begin, end - begin);
    at = end;
  }
  if (count < 3) return false;
  rgba8 c;
  if (!parse_component(parts[0], false, c.r) || !parse_component(parts[1], false, c.g) ||
      !parse_component(parts[2], false, c.b) || (count == 4 && !parse_component(parts[3], true, c.a))) {
    return false;
  }
  out = c;
  return true;
}

bool parse_css_colour(std::string_view s, rgba8& out) {
  if (!s.empty() && s.front() == '#') return parse_hex_colour(s.substr(1), out);
  for (std::string_view prefix : {std::string_view("rgb("), std::string_view("rgba(")}) {
    if (s.size() > prefix.size() && s.compare(0, prefix.size(), prefix) == 0 && s.back() == ')') {
      return parse_rgb_function(s.substr(prefix.size(), s.size() - prefix.size() - 1), out);
    }
  }
  const rgba8* named = find_keyword(colour_names, s);
  if (named == nullptr) return false;
  out = *named;
  return true;
}

// ---- value parsers: Cloudflare names ----

const char* parse_side(std::string_view v, uint32_t& out) {
  uint32_t n = 0;
  if (!parse_uint(v, n) || n == 0 || n > max_side) return "an integer 1..4096";
  out = n;
  return nullptr;
}

const char* parse_width(std::string_view v, options& o) {
  if (v == "auto") {
    o.width = 0;
    o.width_auto = true;
    return nullptr;
  }
  return parse_side(v, o.width) == nullptr ? nullptr : "an integer 1..4096 or auto";
}
const char* parse_height(std::string_view v, options& o) { return parse_side(v, o.height); }

constexpr keyword<fit_mode> cloudflare_fits[] = {
    {"scale-down", fit_mode::scale_down}, {"contain", fit_mode::contain}, {"cover", fit_mode::cover},
    {"crop", fit_mode::crop},             {"pad", fit_mode::pad},
};

const char* parse_fit(std::string_view v, options& o) {
  const fit_mode* fit = find_keyword(cloudflare_fits, v);
  if (fit == nullptr) return "scale-down, contain, cover, crop or pad";
  o.fit = *fit;
  o.fit_given = true;
  return nullptr;
}

constexpr keyword<gravity_mode> cloudflare_gravities[] = {
    {"auto", gravity_mode::auto_}, {"center", gravity_mode::center}, {"left", gravity_mode::left},
    {"right", gravity_mode::right}, {"top", gravity_mode::top},      {"bottom", gravity_mode::bottom},
};

// A focal point in thousandths of the width and height; the exact centre is gravity=center.
void set_point(options& o, uint32_t x, uint32_t y) {
  const bool centre = x == milli / 2 && y == milli / 2;
  o.gravity = centre ? gravity_mode::center : gravity_mode::point;
  o.gravity_x = centre ? 0.5f : from_milli(x);
  o.gravity_y = centre ? 0.5f : from_milli(y);
}

const char* parse_gravity(std::string_view v, options& o) {
  static constexpr const char* expected = "auto, left, right, top, bottom, center or XxY (X and Y in 0..1)";
  if (const gravity_mode* mode = find_keyword(cloudflare_gravities, v)) {
    o.gravity = *mode;
    return nullptr;
  }
  const size_t x = v.find('x');
  uint32_t px = 0, py = 0;
  if (x == std::string_view::npos || !parse_milli(v.substr(0, x), px) || !parse_milli(v.substr(x + 1), py) ||
      px > milli || py > milli) {
    return expected;
  }
  set_point(o, px, py);
  return nullptr;
}

// Quality equal to the default is stored as 0, so "q=85" and no quality share one cache entry.
void set_quality(options& o, uint32_t q) { o.quality = q == default_quality ? 0 : q; }

constexpr keyword<uint32_t> quality_levels[] = {
    {"high", 90}, {"medium-high", 80}, {"medium-low", 65}, {"low", 50},
};

const char* parse_quality_value(std::string_view v, uint32_t& q) {
  if (const uint32_t* level = find_keyword(quality_levels, v)) {
    q = *level;
  } else if (!parse_uint(v, q) || q == 0 || q > 100) {
    return "an integer 1..100 or high, medium-high, medium-low, low";
  }
  return nullptr;
}

const char* parse_quality(std::string_view v, options& o) {
  uint32_t q = 0;
  if (const char* expected = parse_quality_value(v, q)) return expected;
  set_quality(o, q);
  return nullptr;
}

// Kept as given (85 included): it replaces quality only for slow clients.
const char* parse_slow_quality(std::string_view v, options& o) { return parse_quality_value(v, o.slow_quality); }

const char* parse_border_side(std::string_view v, uint32_t& out) {
  if (!parse_uint(v, out) || out > max_border) return "an integer 0..1000 (CSS pixels)";
  return nullptr;
}
const char* parse_border_width(std::string_view v, options& o) {
  uint32_t w = 0;
  if (const char* expected = parse_border_side(v, w)) return expected;
  o.border = edges{w, w, w, w};
  return nullptr;
}
const char* parse_border_top(std::string_view v, options& o) { return parse_border_side(v, o.border.top); }
const char* parse_border_right(std::string_view v, options& o) { return parse_border_side(v, o.border.right); }
const char* parse_border_bottom(std::string_view v, options& o) { return parse_border_side(v, o.border.bottom); }
const char* parse_border_left(std::string_view v, options& o) { return parse_border_side(v, o.border.left); }

const char* parse_trim_value(std::string_view v, uint32_t& out, uint32_t least) {
  if (!parse_uint(v, out) || out < least || out > max_trim) {
    return least == 0 ? "an integer 0..65535 (source pixels)" : "an integer 1..65535 (source pixels)";
  }
  return nullptr;
}

// trim=top;right;bottom;left, each 0..65535; or trim=border.
const char* parse_trim(std::string_view v, options& o) {
  static constexpr const char* expected = "top;right;bottom;left (four integers 0..65535, source pixels) or border";
  if (v == "border") {
    o.trim_border = true;
    return nullptr;
  }
  uint32_t* sides[] = {&o.trim.top, &o.trim.right, &o.trim.bottom, &o.trim.left};
  for (size_t i = 0; i < 4; ++i) {
    const size_t end = v.find(';');
    if ((i < 3) != (end != std::string_view::npos)) return expected;
    if (parse_trim_value(v.substr(0, end), *sides[i], 0) != nullptr) return expected;
    v = i < 3 ? v.substr(end + 1) : std::string_view();
  }
  return nullptr;
}
const char* parse_trim_width(std::string_view v, options& o) { return parse_trim_value(v, o.trim_width, 1); }
const char* parse_trim_height(std::string_view v, options& o) { return parse_trim_value(v, o.trim_height, 1); }
const char* parse_trim_left(std::string_view v, options& o) { return parse_trim_value(v, o.trim.left, 0); }
const char* parse_trim_top(std::string_view v, options& o) { return parse_trim_value(v, o.trim.top, 0); }
const char* parse_trim_border_tolerance(std::string_view v, options& o) {
  if (!parse_uint(v, o.trim_border_tolerance) || o.trim_border_tolerance > 255) return "an integer 0..255";
  return nullptr;
}
const char* parse_trim_border_keep(std::string_view v, options& o) { return parse_trim_value(v, o.trim_border_keep, 0); }

struct format_choice {
  format fmt;
  bool progressive;
};

constexpr keyword<format_choice> cloudflare_formats[] = {
    {"auto", {format::auto_, true}}, {"jpeg", {format::jpeg, true}}, {"jpg", {format::jpeg, true}},
    {"baseline-jpeg", {format::jpeg, false}}, {"png", {format::png, true}}, {"webp", {format::webp, true}},
    {"avif", {format::avif, true}}, {"json", {format::json, true}},
};

const char* parse_format(std::string_view v, options& o) {
  const format_choice* choice = find_keyword(cloudflare_formats, v);
  if (choice == nullptr) return "auto, jpeg, baseline-jpeg, png, webp, avif or json";
  o.fmt = choice->fmt;
  o.progressive = choice->progressive;
  return nullptr;
}

const char* parse_dpr(std::string_view v, options& o) {
  uint32_t m = 0;
  if (!parse_milli(v, m) || m < milli || m > 3 * milli) return "a number 1..3";
  o.dpr = from_milli(m);
  return nullptr;
}

// A number 0..max (in thousandths), kept in thousandths.
const char* parse_up_to(std::string_view v, uint32_t max, uint32_t& out, const char* expected) {
  uint32_t m = 0;
  if (!parse_milli(v, m) || m > max) return expected;
  out = m;
  return nullptr;
}

// brightness, contrast and gamma: a factor 0..10; 0 is ignored, as 1 is (both kept as 0).
const char* parse_level(std::string_view v, uint32_t& out) {
  const char* bad = parse_up_to(v, 10 * milli, out, "a number 0..10");
  if (bad == nullptr && out == milli) out = 0;
  return bad;
}
const char* parse_brightness(std::string_view v, options& o) { return parse_level(v, o.brightness); }
const char* parse_contrast(std::string_view v, options& o) { return parse_level(v, o.contrast); }
const char* parse_gamma(std::string_view v, options& o) { return parse_level(v, o.gamma); }
// saturation: 0 is grey (not ignored).
const char* parse_saturation(std::string_view v, options& o) {
  return parse_up_to(v, 10 * milli, o.saturation, "a number 0..10");
}
const char* parse_blur(std::string_view v, options& o) { return parse_up_to(v, 250 * milli, o.blur, "a radius 0..250"); }
const char* parse_sharpen(std::string_view v, options& o) { return parse_up_to(v, 10 * milli, o.sharpen, "a number 0..10"); }

const char* parse_compression(std::string_view v, options& o) {
  if (v != "fast") return "fast";
  o.compression_fast = true;
  return nullptr;
}

constexpr const char* css_colour_expected = "a CSS colour (#rgb, #rrggbb, #rrggbbaa, rgb(), rgba() or a name)";

const char* parse_background(std::string_view v, options& o) {
  if (!parse_css_colour(v, o.background)) return css_colour_expected;
  o.background_given = true;
  return nullptr;
}

const char* parse_border_color(std::string_view v, options& o) {
  return parse_css_colour(v, o.border_color) ? nullptr : css_colour_expected;
}

const char* parse_trim_border_color(std::string_view v, options& o) {
  if (!parse_css_colour(v, o.trim_border_color)) return css_colour_expected;
  o.trim_border_color_given = true;
  return nullptr;
}

const char* parse_rotate(std::string_view v, options& o) {
  uint32_t degrees = 0;
  if (!parse_uint(v, degrees) || degrees % 90 != 0 || degrees > 270) return "0, 90, 180 or 270";
  o.rotate = degrees;
  return nullptr;
}

constexpr keyword<uint8_t> flips[] = {
    {"h", flip_horizontal}, {"v", flip_vertical}, {"hv", flip_horizontal | flip_vertical},
    {"vh", flip_horizontal | flip_vertical},
};

const char* parse_flip(std::string_view v, options& o) { return set_keyword(flips, v, o.flip, "h, v or hv"); }

// Cloudinary's a_: an angle, or a_hflip / a_vflip (one of them per segment: they share the slot).
const char* parse_cloudinary_angle(std::string_view v, options& o) {
  if (v == "hflip" || v == "vflip") {
    o.flip = v == "hflip" ? flip_horizontal : flip_vertical;
    return nullptr;
  }
  return parse_rotate(v, o) == nullptr ? nullptr : "0, 90, 180, 270, hflip or vflip";
}

constexpr keyword<metadata_mode> metadata_modes[] = {
    {"keep", metadata_mode::keep}, {"copyright", metadata_mode::copyright}, {"none", metadata_mode::none},
};

const char* parse_metadata(std::string_view v, options& o) {
  return set_keyword(metadata_modes, v, o.metadata, "keep, copyright or none");
}

const char* parse_onerror(std::string_view v, options& o) {
  if (v != "redirect") return "redirect";
  o.onerror_redirect = true;
  return nullptr;
}

const char* parse_anim(std::string_view v, options& o) {
  if (v != "true" && v != "false") return "true or false";
  o.anim = v == "true";
  return nullptr;
}

// Hex or base64url (with padding): characters that need no escaping in a URL path.
const char* parse_sig(std::string_view v, options& o) {
  static constexpr const char* expected = "1..512 characters of A-Z a-z 0-9 - _ =";
  if (v.empty() || v.size() > max_sig_bytes) return expected;
  for (char c : v) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || is_digit(c) || c == '-' || c == '_' || c == '=';
    if (!ok) return expected;
  }
  o.sig = std::string(v);
  return nullptr;
}

// ---- value parsers: Cloudinary aliases ----

// c_scale keeps the aspect ratio here (contain): we have no squeeze mode. c_lfill ("limit fill",
// cover without enlarging) is Cloudflare's crop.
constexpr keyword<fit_mode> cloudinary_crops[] = {
    {"fill", fit_mode::cover}, {"fit", fit_mode::contain},  {"limit", fit_mode::scale_down},
    {"scale", fit_mode::contain}, {"pad", fit_mode::pad},   {"crop", fit_mode::crop},
    {"lfill", fit_mode::crop},
};

const char* parse_cloudinary_crop(std::string_view v, options& o) {
  const fit_mode* fit = find_keyword(cloudinary_crops, v);
  if (fit == nullptr) return "fill, fit, limit, scale, pad, crop or lfill";
  o.fit = *fit;
  o.fit_given = true;
  return nullptr;
}

constexpr keyword<gravity_mode> cloudinary_sides[] = {
    {"auto", gravity_mode::auto_}, {"center", gravity_mode::center}, {"north", gravity_mode::top},
    {"south", gravity_mode::bottom}, {"east", gravity_mode::right},  {"west", gravity_mode::left},
};

// Corners have no Cloudflare side name: they become focal points.
struct corner {
  uint32_t x, y;  // thousandths
};
constexpr keyword<corner> cloudinary_corners[] = {
    {"north_west", {0, 0}}, {"north_east", {milli, 0}}, {"south_west", {0, milli}}, {"south_east", {milli, milli}},
};

const char* parse_cloudinary_gravity(std::string_view v, options& o) {
  if (const gravity_mode* mode = find_keyword(cloudinary_sides, v)) {
    o.gravity = *mode;
    return nullptr;
  }
  const corner* c = find_keyword(cloudinary_corners, v);
  if (c == nullptr) return "auto, center, north, south, east, west, north_east, north_west, south_east or south_west";
  set_point(o, c->x, c->y);
  return nullptr;
}

const char* parse_cloudinary_quality(std::string_view v, options& o) {
  uint32_t q = default_quality;
  if (v != "auto" && (!parse_uint(v, q) || q == 0 || q > 100)) return "auto or an integer 1..100";
  set_quality(o, q);
  return nullptr;
}

constexpr keyword<format> cloudinary_formats[] = {
    {"auto", format::auto_}, {"jpg", format::jpeg},   {"jpeg", format::jpeg},
    {"png", format::png},    {"webp", format::webp},  {"avif", format::avif},
};

const char* parse_cloudinary_format(std::string_view v, options& o) {
  const format* fmt = find_keyword(cloudinary_formats, v);
  if (fmt == nullptr) return "auto, jpg, png, webp or avif";
  o.fmt = *fmt;
  o.progressive = true;
  return nullptr;
}

// b_rgb:ffffff (3, 4, 6 or 8 hex digits) or b_white.
bool parse_cloudinary_colour(std::string_view v, rgba8& out) {
  static constexpr std::string_view rgb_prefix = "rgb:";
  if (v.substr(0, rgb_prefix.size()) == rgb_prefix) return parse_hex_colour(v.substr(rgb_prefix.size()), out);
  const rgba8* named = find_keyword(colour_names, v);
  if (named == nullptr) return false;
  out = *named;
  return true;
}

const char* parse_cloudinary_background(std::string_view v, options& o) {
  if (!parse_cloudinary_colour(v, o.background)) return "rgb:<hex> or a colour name";
  o.background_given = true;
  return nullptr;
}

// ---- name tables ----

constexpr option_name cloudflare_names[] = {
    {"width", slot::width, parse_width},        {"w", slot::width, parse_width},
    {"height", slot::height, parse_height},     {"h", slot::height, parse_height},
    {"fit", slot::fit, parse_fit},              {"gravity", slot::gravity, parse_gravity},
    {"g", slot::gravity, parse_gravity},        {"quality", slot::quality, parse_quality},
    {"q", slot::quality, parse_quality},        {"format", slot::format, parse_format},
    {"f", slot::format, parse_format},          {"dpr", slot::dpr, parse_dpr},
    {"background", slot::background, parse_background}, {"rotate", slot::rotate, parse_rotate},
    {"flip", slot::flip, parse_flip},           {"brightness", slot::brightness, parse_brightness},
    {"contrast", slot::contrast, parse_contrast}, {"gamma", slot::gamma, parse_gamma},
    {"saturation", slot::saturation, parse_saturation}, {"compression", slot::compression, parse_compression},
    {"blur", slot::blur, parse_blur},           {"sharpen", slot::sharpen, parse_sharpen},
    {"metadata", slot::metadata, parse_metadata}, {"onerror", slot::onerror, parse_onerror},
    {"anim", slot::anim, parse_anim},           {"sig", slot::sig, parse_sig},
    {"s", slot::sig, parse_sig},
    {"slow-connection-quality", slot::slow_quality, parse_slow_quality}, {"scq", slot::slow_quality, parse_slow_quality},
    {"border.width", slot::border_width, parse_border_width}, {"border.color", slot::border_color, parse_border_color},
    {"border.top", slot::border_top, parse_border_top}, {"border.right", slot::border_right, parse_border_right},
    {"border.bottom", slot::border_bottom, parse_border_bottom}, {"border.left", slot::border_left, parse_border_left},
    {"trim", slot::trim, parse_trim},           {"trim.width", slot::trim_width, parse_trim_width},
    {"trim.height", slot::trim_height, parse_trim_height}, {"trim.left", slot::trim_left, parse_trim_left},
    {"trim.top", slot::trim_top, parse_trim_top},
    {"trim.border.color", slot::trim_border_color, parse_trim_border_color},
    {"trim.border.tolerance", slot::trim_border_tolerance, parse_trim_border_tolerance},
    {"trim.border.keep", slot::trim_border_keep, parse_trim_border_keep},
};

// Cloudinary transformation parameters (w_400, c_fill, ...); a_ is its rotation angle or a flip.
constexpr option_name cloudinary_names[] = {
    {"w", slot::width, parse_width},       {"h", slot::height, parse_height},
    {"c", slot::fit, parse_cloudinary_crop}, {"g", slot::gravity, parse_cloudinary_gravity},
    {"q", slot::quality, parse_cloudinary_quality}, {"f", slot::format, parse_cloudinary_format},
    {"dpr", slot::dpr, parse_dpr},         {"b", slot::background, parse_cloudinary_background},
    {"a", slot::rotate, parse_cloudinary_angle},
};

// Cloudflare options we know and do not implement: refused with "not supported".
constexpr std::string_view unsupported_names[] = {
    "zoom", "segment", "draw", "border",
};

template <size_t N>
const option_name* find_option(const option_name (&table)[N], std::string_view name) {
  for (const option_name& entry : table) {
    if (entry.name == name) return &entry;
  }
  return nullptr;
}

bool is_unsupported(std::string_view name) {
  for (std::string_view u : unsupported_names) {
    if (u == name) return true;
  }
  return false;
}

failure option_error(std::string_view name, std::string_view what) {
  return fail(error_code::invalid_value, "option '" + shown(name) + "': " + std::string(what));
}

// End of the token starting at `at`: the next comma outside parentheses (rgb(1,2,3) is one value).
size_t token_end(std::string_view text, size_t at) {
  int depth = 0;
  for (; at < text.size(); ++at) {
    const char c = text[at];
    if (c == '(') ++depth;
    if (c == ')' && depth > 0) --depth;
    if (c == ',' && depth == 0) break;
  }
  return at;
}

// Spaces around a name or a value ("width=400, fit=cover", or %20 in a URL) are not part of it.
std::string_view trim_spaces(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// One key=value or key_value token into o; seen holds the slots already given. The token is
// %XX-decoded once (names and values alike: a URL may escape either), then split.
result<void> apply(std::string_view written, options& o, uint64_t& seen) {
  const std::string decoded = percent_decode(written);
  const std::string_view token = trim_spaces(decoded);
  if (token.empty()) return fail(error_code::invalid_value, "empty option (a doubled or trailing comma)");
  const size_t equals = token.find('=');
  const bool cloudinary = equals == std::string_view::npos;
  const size_t split = cloudinary ? token.find('_') : equals;
  if (split == std::string_view::npos) return option_error(token, "expected key=value or key_value");
  const std::string_view name = trim_spaces(token.substr(0, split));
  const std::string_view value = trim_spaces(token.substr(split + 1));

  const option_name* entry = cloudinary ? find_option(cloudinary_names, name) : find_option(cloudflare_names, name);
  if (entry == nullptr) return option_error(name, is_unsupported(name) ? "not supported" : "unknown option");
  const uint64_t bit = bit_of(entry->where);
  if (seen & bit) return option_error(name, "given twice");
  seen |= bit;

  if (const char* expected = entry->parse(std::string(value), o)) {
    return option_error(name, "expected " + std::string(expected) + ", got '" + shown(value) + "'");
  }
  return {};
}

const char* gravity_name(gravity_mode g) {
  switch (g) {
    case gravity_mode::auto_: return "auto";
    case gravity_mode::left: return "left";
    case gravity_mode::right: return "right";
    case gravity_mode::top: return "top";
    case gravity_mode::bottom: return "bottom";
    default: return "";  // center is the default; point is printed as XxY
  }
}

const char* format_name(const options& o) {
  switch (o.fmt) {
    case format::auto_: return "auto";
    case format::jpeg: return o.progressive ? "jpeg" : "baseline-jpeg";
    case format::png: return "png";
    case format::webp: return "webp";
    case format::avif: return "avif";
    case format::json: return "json";
    default: return "";  // source: the default
  }
}

const char* fit_name(fit_mode f) {
  switch (f) {
    case fit_mode::contain: return "contain";
    case fit_mode::cover: return "cover";
    case fit_mode::crop: return "crop";
    case fit_mode::pad: return "pad";
    default: return "scale-down";
  }
}

const char* metadata_name(metadata_mode m) {
  switch (m) {
    case metadata_mode::keep: return "keep";
    case metadata_mode::none: return "none";
    default: return "copyright";
  }
}

// "%23rrggbb", or "%23rrggbbaa" when not opaque: '#' escaped so the text is a valid URL path.
std::string colour_text(rgba8 c) {
  static constexpr char digits[] = "0123456789abcdef";
  const uint8_t channels[] = {c.r, c.g, c.b, c.a};
  std::string out = "%23";
  for (size_t i = 0; i < (c.a == 255 ? 3u : 4u); ++i) {
    out.push_back(digits[channels[i] >> 4]);
    out.push_back(digits[channels[i] & 15]);
  }
  return out;
}

std::string uint_text(uint32_t v) {
  std::string out;
  append_uint(out, v);
  return out;
}

std::string milli_text(uint32_t m) {
  std::string out;
  append_milli(out, m);
  return out;
}

// gravity's canonical value, or "" for the default (center, or a point at the exact centre).
std::string gravity_text(const options& o) {
  if (o.gravity != gravity_mode::point) return gravity_name(o.gravity);
  const uint32_t x = to_milli(o.gravity_x), y = to_milli(o.gravity_y);
  if (x == milli / 2 && y == milli / 2) return "";
  return milli_text(x) + "x" + milli_text(y);
}

}  // namespace

result<options> parse_options(std::string_view text) {
  if (text.empty()) return fail(error_code::invalid_value, "no options");
  if (text.size() > max_options_bytes) return fail(error_code::too_large, "options longer than 2048 bytes");
  options o;
  uint64_t seen = 0;
  for (size_t at = 0; at <= text.size();) {
    const size_t end = token_end(text, at);
    WHALE_TRY_VOID(apply(text.substr(at, end - at), o, seen));
    at = end + 1;
  }
  // One way to say each thing, so that the order of the options never matters.
  if ((seen & bit_of(slot::border_width)) && (seen & border_sides)) {
    return fail(error_code::invalid_value, "option 'border.width': given with border.top, right, bottom or left");
  }
  if ((seen & bit_of(slot::trim)) && (seen & (bit_of(slot::trim_left) | bit_of(slot::trim_top)))) {
    return fail(error_code::invalid_value, "option 'trim': given with trim.left or trim.top");
  }
  constexpr uint64_t border_settings =
      bit_of(slot::trim_border_color) | bit_of(slot::trim_border_tolerance) | bit_of(slot::trim_border_keep);
  if (o.trim_border && (seen & (bit_of(slot::trim_width) | bit_of(slot::trim_height)))) {
    return fail(error_code::invalid_value, "option 'trim': border given with trim.width or trim.height");
  }
  if (!o.trim_border && (seen & border_settings)) {
    return fail(error_code::invalid_value, "option 'trim.border.*': given without trim=border");
  }
  return o;
}

result<overlay> parse_overlay(std::string_view text) {
  overlay ov;
  std::string rest;  // the overlay's own options, as written: parse_options decodes them
  for (size_t at = 0; at <= text.size();) {
    const size_t end = token_end(text, at);
    const std::string_view written = text.substr(at, end - at);
    at = end + 1;
    const std::string decoded = percent_decode(written);
    const std::string_view token = trim_spaces(decoded);
    const size_t equals = token.find('=');
    const std::string_view name = trim_spaces(token.substr(0, equals));
    const std::string_view value = equals == std::string_view::npos ? std::string_view() : trim_spaces(token.substr(equals + 1));
    int32_t* edge = name == "top" ? &ov.top : name == "left" ? &ov.left : name == "bottom" ? &ov.bottom
                  : name == "right" ? &ov.right : nullptr;
    uint32_t n = 0;
    if (edge != nullptr) {
      if (!parse_uint(value, n) || n > 65535) {
        return option_error(name, "expected an integer 0..65535 (output pixels), got '" + shown(value) + "'");
      }
      *edge = static_cast<int32_t>(n);
    } else if (name == "opacity") {
      if (!parse_milli(value, n) || n > milli) return option_error(name, "expected a number 0..1, got '" + shown(value) + "'");
      ov.opacity = n;
    } else if (name == "repeat") {
      if (value != "true" && value != "x" && value != "y" && value != "false") {
        return option_error(name, "expected true, x, y or false, got '" + shown(value) + "'");
      }
      ov.repeat_x = value == "true" || value == "x";
      ov.repeat_y = value == "true" || value == "y";
    } else {
      if (!rest.empty()) rest.push_back(',');
      rest += written;
    }
  }
  if (ov.top >= 0 && ov.bottom >= 0) return fail(error_code::invalid_value, "option 'top': given with bottom");
  if (ov.left >= 0 && ov.right >= 0) return fail(error_code::invalid_value, "option 'left': given with right");
  if (!rest.empty()) {
    WHALE_TRY(ov.o, parse_options(rest));
  }
  return ov;
}

std::string normalize(const options& o) {
  std::string out;
  auto add = [&out](const char* name, const std::string& value) {
    if (value.empty()) return;
    if (!out.empty()) out.push_back(',');
    out += name;
    out.push_back('=');
    out += value;
  };
  // Keys in alphabetical order; a default becomes "" and is left out.
  add("anim", o.anim ? "" : "false");
  add("background", o.background_given ? colour_text(o.background) : "");
  add("blur", o.blur != 0 ? milli_text(o.blur) : "");
  if (o.border.any()) {
    add("border.bottom", uint_text(o.border.bottom));
    add("border.color", colour_text(o.border_color));
    add("border.left", uint_text(o.border.left));
    add("border.right", uint_text(o.border.right));
    add("border.top", uint_text(o.border.top));
  }
  add("brightness", o.brightness != 0 ? milli_text(o.brightness) : "");
  add("compression", o.compression_fast ? "fast" : "");
  add("contrast", o.contrast != 0 ? milli_text(o.contrast) : "");
  add("dpr", to_milli(o.dpr) != milli ? milli_text(to_milli(o.dpr)) : "");
  add("fit", o.fit_given ? fit_name(o.fit) : "");
  add("flip", o.flip == flip_horizontal ? "h" : o.flip == flip_vertical ? "v" : o.flip != 0 ? "hv" : "");
  add("format", format_name(o));
  add("gamma", o.gamma != 0 ? milli_text(o.gamma) : "");
  add("gravity", gravity_text(o));
  add("height", o.height != 0 ? uint_text(o.height) : "");
  add("metadata", o.metadata != metadata_mode::copyright ? metadata_name(o.metadata) : "");
  add("onerror", o.onerror_redirect ? "redirect" : "");
  add("quality", o.quality != 0 && o.quality != default_quality ? uint_text(o.quality) : "");
  add("rotate", o.rotate != 0 ? uint_text(o.rotate) : "");
  add("saturation", o.saturation != milli ? milli_text(o.saturation) : "");
  add("sharpen", o.sharpen != 0 ? milli_text(o.sharpen) : "");
  add("sig", o.sig);
  add("slow-connection-quality", o.slow_quality != 0 ? uint_text(o.slow_quality) : "");
  add("trim", o.trim_border ? "border"
              : o.trim.any() ? uint_text(o.trim.top) + ";" + uint_text(o.trim.right) + ";" + uint_text(o.trim.bottom) +
                                   ";" + uint_text(o.trim.left)
                             : "");
  if (o.trim_border) {
    add("trim.border.color", o.trim_border_color_given ? colour_text(o.trim_border_color) : "");
    add("trim.border.keep", o.trim_border_keep != 0 ? uint_text(o.trim_border_keep) : "");
    add("trim.border.tolerance", o.trim_border_tolerance != 10 ? uint_text(o.trim_border_tolerance) : "");
  }
  add("trim.height", o.trim_height != 0 ? uint_text(o.trim_height) : "");
  add("trim.width", o.trim_width != 0 ? uint_text(o.trim_width) : "");
  add("width", o.width_auto ? "auto" : o.width != 0 ? uint_text(o.width) : "");
  // Every option at its default: an explicit default, because an empty options segment is refused.
  if (out.empty()) out = "metadata=copyright";
  return out;
}

}  // namespace whale::image
