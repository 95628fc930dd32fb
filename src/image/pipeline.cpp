// whale::image::process: probe, limits, plan the geometry in the shown (upright) frame, decode
// (JPEG streamed row by row into the resizer at the DCT scale that still leaves a real resize),
// resize only the window that is kept, orient, pad, encode.
#include <cstdio>
#include <cstring>
#include <string>

#include "pixels.h"

namespace whale::image {
namespace {

using detail::orient_map;
using detail::pixels;

constexpr uint32_t default_quality = 85;  // Cloudflare's default
constexpr uint32_t absolute_max_side = 4096;
// stb_image_resize2 computes positions in float: past 2^24 pixels a side they lose precision.
constexpr uint64_t max_resized_side = uint64_t{1} << 24;
// gravity=auto looks for the subject in the cover image scaled to at most this many pixels a side.
constexpr uint32_t preview_side = 1024;
// Shrink-on-load keeps the decoded JPEG at least this much larger than the resized image, so a
// real linear-light resize follows: DCT-domain scaling averages in gamma space (the gamma fixture
// turns grey at an exact 1/2), and the cubic after it fixes most of that. 3/2: sharp's benchmark
// (2725 px to 720) still decodes at 1/2; a 50% downscale decodes at full size.
constexpr uint64_t shrink_margin_num = 3, shrink_margin_den = 2;

enum class kind { jpeg, png, gif, bmp, webp };

kind kind_of(const info& i) {
  const std::string_view n = i.name;
  if (n == "jpeg") return kind::jpeg;
  if (n == "png") return kind::png;
  if (n == "gif") return kind::gif;
  if (n == "bmp") return kind::bmp;
  return kind::webp;
}

const char* upper_name(kind k) {
  switch (k) {
    case kind::png: return "PNG";
    case kind::gif: return "GIF";
    case kind::bmp: return "BMP";
    case kind::jpeg: return "JPEG";
    default: return "WebP";
  }
}

std::string dims(uint64_t w, uint64_t h) { return std::to_string(w) + "x" + std::to_string(h); }

// a * b / c rounded to nearest, at least 1.
uint32_t scale_round(uint64_t a, uint64_t b, uint64_t c) {
  const uint64_t v = (a * b + c / 2) / c;
  return v == 0 ? 1 : static_cast<uint32_t>(v > UINT32_MAX ? UINT32_MAX : v);
}

// The geometry of one job, in the shown frame (after EXIF orientation and rotate).
struct geometry {
  uint32_t resized_w = 0, resized_h = 0;  // the whole source, resized
  rect keep;                              // the window of the resized image that is kept
  uint32_t canvas_w = 0, canvas_h = 0;    // the output (larger than keep only for fit=pad)
  uint32_t at_x = 0, at_y = 0;            // where the window sits on the canvas
  bool auto_crop = false;                 // gravity=auto picks keep's position from the pixels
};

struct size2 {
  uint32_t w, h;
};

// Largest size of the source's aspect ratio within box (may enlarge).
size2 contain(uint32_t sw, uint32_t sh, uint32_t bw, uint32_t bh) {
  if (uint64_t{bw} * sh <= uint64_t{bh} * sw) return {bw, scale_round(sh, bw, sw)};
  return {scale_round(sw, bh, sh), bh};
}

// Smallest size of the source's aspect ratio covering box (may enlarge).
size2 cover(uint32_t sw, uint32_t sh, uint32_t bw, uint32_t bh) {
  if (uint64_t{bw} * sh >= uint64_t{bh} * sw) return {bw, scale_round(sh, bw, sw)};
  return {scale_round(sw, bh, sh), bh};
}

uint32_t clamp_offset(float want, uint32_t room) {
  if (!(want > 0)) return 0;
  return want >= static_cast<float>(room) ? room : static_cast<uint32_t>(want + 0.5f);
}

// Where a w x h window goes in a W x H area: by gravity side, focal point, or centred.
rect place(uint32_t area_w, uint32_t area_h, uint32_t w, uint32_t h, const options& o) {
  const uint32_t room_x = area_w - w, room_y = area_h - h;
  rect r{room_x / 2, room_y / 2, w, h};
  switch (o.gravity) {
    case gravity_mode::left: r.x = 0; break;
    case gravity_mode::right: r.x = room_x; break;
    case gravity_mode::top: r.y = 0; break;
    case gravity_mode::bottom: r.y = room_y; break;
    case gravity_mode::point:  // the point stays as near the window's centre as the edges allow
      r.x = clamp_offset(o.gravity_x * static_cast<float>(area_w) - static_cast<float>(w) / 2, room_x);
      r.y = clamp_offset(o.gravity_y * static_cast<float>(area_h) - static_cast<float>(h) / 2, room_y);
      break;
    default: break;
  }
  return r;
}

result<geometry> plan(uint32_t sw, uint32_t sh, const options& o, const limits& lim) {
  const uint32_t max_side = lim.max_output_side == 0 || lim.max_output_side > absolute_max_side ? absolute_max_side
                                                                                                 : lim.max_output_side;
  if (o.width > max_side || o.height > max_side) {
    return fail(error_code::too_large, "option '" + std::string(o.width > max_side ? "width" : "height") + "': " +
                                           std::to_string(o.width > max_side ? o.width : o.height) +
                                           " is more than the output limit of " + std::to_string(max_side));
  }
  const float dpr = o.dpr > 1.0f ? o.dpr : 1.0f;
  uint64_t bw = o.width ? static_cast<uint64_t>(static_cast<float>(o.width) * dpr + 0.5f) : 0;
  uint64_t bh = o.height ? static_cast<uint64_t>(static_cast<float>(o.height) * dpr + 0.5f) : 0;
  // dpr past the output limit: both sides shrink together, so the box keeps its shape.
  if (bw > max_side) {
    bh = bh ? scale_round(bh, max_side, bw) : 0;
    bw = max_side;
  }
  if (bh > max_side) {
    bw = bw ? scale_round(bw, max_side, bh) : 0;
    bh = max_side;
  }
  fit_mode fit = o.fit;
  if (bw == 0 && bh == 0) {  // no size: the source itself, scaled down into the output limit
    bw = bh = max_side;
    fit = fit_mode::scale_down;
  } else if (bw == 0 || bh == 0) {  // one side: the other follows the aspect ratio
    (bw == 0 ? bw : bh) = max_side;
    fit = fit == fit_mode::scale_down || fit == fit_mode::crop ? fit_mode::scale_down : fit_mode::contain;
  }
  const uint32_t box_w = static_cast<uint32_t>(bw), box_h = static_cast<uint32_t>(bh);
  geometry g;
  size2 resized{sw, sh};
  size2 window{0, 0};
  switch (fit) {
    case fit_mode::scale_down: {
      const size2 c = contain(sw, sh, box_w, box_h);
      if (c.w < sw) resized = c;
      break;
    }
    case fit_mode::contain:
    case fit_mode::pad:
      resized = contain(sw, sh, box_w, box_h);
      break;
    case fit_mode::cover:
      resized = cover(sw, sh, box_w, box_h);
      window = {box_w, box_h};
      break;
    case fit_mode::crop: {  // cover, but never enlarged: a small source is only cropped
      const size2 c = cover(sw, sh, box_w, box_h);
      if (c.w < sw) resized = c;
      window = {box_w < resized.w ? box_w : resized.w, box_h < resized.h ? box_h : resized.h};
      break;
    }
  }
  if (resized.w > max_resized_side || resized.h > max_resized_side) {
    return fail(error_code::too_large, "fit=cover of a " + dims(sw, sh) + " source needs a " + dims(resized.w, resized.h) +
                                           " intermediate image");
  }
  g.resized_w = resized.w;
  g.resized_h = resized.h;
  if (window.w == 0) window = resized;
  g.keep = place(resized.w, resized.h, window.w, window.h, o);
  g.auto_crop = o.gravity == gravity_mode::auto_ && (window.w < resized.w || window.h < resized.h);
  g.canvas_w = window.w;
  g.canvas_h = window.h;
  if (fit == fit_mode::pad) {
    g.canvas_w = box_w;
    g.canvas_h = box_h;
    const rect at = place(box_w, box_h, window.w, window.h, o);
    g.at_x = at.x;
    g.at_y = at.y;
  }
  if (g.canvas_w > max_side || g.canvas_h > max_side) {
    return fail(error_code::too_large, "output of " + dims(g.canvas_w, g.canvas_h) + " is more than the output limit of " +
                                           std::to_string(max_side));
  }
  return g;
}

orient_map rotation_map(uint32_t degrees) {
  switch (degrees) {
    case 90: return detail::orientation_map(6);   // clockwise
    case 180: return detail::orientation_map(3);
    case 270: return detail::orientation_map(8);
    default: return {};
  }
}

// The DCT scale (1, 2, 4 or 8) for a JPEG of w x h that is resized to tw x th (stored frame).
uint32_t jpeg_shrink(uint32_t w, uint32_t h, uint32_t tw, uint32_t th) {
  for (uint32_t d : {8u, 4u, 2u}) {
    const uint64_t dw = (uint64_t{w} + d - 1) / d, dh = (uint64_t{h} + d - 1) / d;
    if (dw * shrink_margin_den >= tw * shrink_margin_num && dh * shrink_margin_den >= th * shrink_margin_num) return d;
  }
  return 1;
}

const uint8_t* jpeg_row(const void* context, uint32_t y) {
  return static_cast<detail::jpeg_rows*>(const_cast<void*>(context))->row(y);
}

// gravity=auto: the window's position in the resized image, from the saliency of a preview of it.
result<rect> auto_window(const pixels& stored, orient_map m, const geometry& g) {
  const uint32_t longest = g.resized_w > g.resized_h ? g.resized_w : g.resized_h;
  const uint32_t pw = longest > preview_side ? scale_round(g.resized_w, preview_side, longest) : g.resized_w;
  const uint32_t ph = longest > preview_side ? scale_round(g.resized_h, preview_side, longest) : g.resized_h;
  const uint32_t sw = m.transpose ? ph : pw, sh = m.transpose ? pw : ph;
  WHALE_TRY(pixels preview, detail::resize_window(detail::rows_of(stored), sw, sh, rect{0, 0, sw, sh}));
  WHALE_TRY(pixels shown, detail::apply_orientation(std::move(preview), m));
  WHALE_TRY(pixels rgba, detail::convert_channels(std::move(shown), 4, rgba8{}));
  uint32_t cw = scale_round(g.keep.w, pw, g.resized_w), ch = scale_round(g.keep.h, ph, g.resized_h);
  cw = cw > pw ? pw : cw;
  ch = ch > ph ? ph : ch;
  const rect found = saliency_crop(rgba.data(), pw, ph, rgba.stride(), cw, ch);
  rect r = g.keep;
  const uint32_t room_x = g.resized_w - g.keep.w, room_y = g.resized_h - g.keep.h;
  const uint64_t x = (uint64_t{found.x} * g.resized_w + pw / 2) / pw, y = (uint64_t{found.y} * g.resized_h + ph / 2) / ph;
  r.x = x > room_x ? room_x : static_cast<uint32_t>(x);
  r.y = y > room_y ? room_y : static_cast<uint32_t>(y);
  return r;
}

// The kept window, resized and shown upright.
result<pixels> render(const uint8_t* data, size_t size, kind k, const info& src, orient_map m, geometry g,
                      const limits& lim) {
  const uint32_t stored_w = m.transpose ? g.resized_h : g.resized_w;
  const uint32_t stored_h = m.transpose ? g.resized_w : g.resized_h;
  pixels full;
  if (k == kind::jpeg) {
    const uint32_t denom = jpeg_shrink(src.width, src.height, stored_w, stored_h);
    if (!g.auto_crop) {  // streamed: no buffer of the decoded image at all
      detail::jpeg_rows rows;
      WHALE_TRY_VOID(rows.start(data, size, denom, lim.max_pixels));
      const detail::row_source source{rows.width(), rows.height(), rows.channels(), &rows, jpeg_row};
      auto window = detail::resize_window(source, stored_w, stored_h, detail::stored_rect(m, g.resized_w, g.resized_h, g.keep));
      if (rows.failed()) return rows.error();
      if (!window.ok()) return window.error();
      return detail::apply_orientation(std::move(window).value(), m);
    }
    WHALE_TRY(full, detail::decode_jpeg(data, size, denom, lim.max_pixels));
  } else {
    WHALE_TRY(full, detail::decode_stb(data, size, upper_name(k)));
    if (full.w != src.width || full.h != src.height) {
      return fail(error_code::corrupt_input, std::string(upper_name(k)) + ": decoded " + dims(full.w, full.h) +
                                                 " but the header says " + dims(src.width, src.height));
    }
  }
  if (g.auto_crop) {
    WHALE_TRY(g.keep, auto_window(full, m, g));
  }
  WHALE_TRY(pixels window, detail::resize_window(detail::rows_of(full), stored_w, stored_h,
                                                 detail::stored_rect(m, g.resized_w, g.resized_h, g.keep)));
  full = pixels{};  // the decoded image is freed before the window is turned
  return detail::apply_orientation(std::move(window), m);
}

bool grey(rgba8 c) { return c.r == c.g && c.g == c.b; }

void fill(uint8_t* px, uint32_t channels, rgba8 c) {
  switch (channels) {
    case 1: px[0] = c.r; break;
    case 2: px[0] = c.r; px[1] = c.a; break;
    case 3: px[0] = c.r; px[1] = c.g; px[2] = c.b; break;
    default: px[0] = c.r; px[1] = c.g; px[2] = c.b; px[3] = c.a; break;
  }
}

// fit=pad: the window on a canvas of the background colour.
result<pixels> pad(pixels shown, const geometry& g, rgba8 bg) {
  const bool alpha = shown.has_alpha_channel() || bg.a < 255;
  const bool colour = shown.channels >= 3 || !grey(bg);
  const uint32_t channels = colour ? (alpha ? 4 : 3) : (alpha ? 2 : 1);
  if (shown.channels != channels) {
    WHALE_TRY(shown, detail::convert_channels(std::move(shown), channels, bg));
  }
  WHALE_TRY(pixels canvas, detail::make_pixels(g.canvas_w, g.canvas_h, channels));
  uint8_t* px = canvas.data();
  for (size_t i = 0, n = size_t{canvas.w} * canvas.h; i < n; ++i, px += channels) fill(px, channels, bg);
  for (uint32_t y = 0; y < shown.h; ++y) {
    std::memcpy(canvas.row(g.at_y + y) + size_t{g.at_x} * channels, shown.row(y), shown.stride());
  }
  return canvas;
}

format choose_format(const options& o, uint32_t accept, kind k, const pixels& p) {
  switch (o.fmt) {
    case format::auto_:
      if (accept & accept_webp) return format::webp;
      return detail::uses_alpha(p) ? format::png : format::jpeg;
    case format::jpeg:
    case format::png:
    case format::webp:
      return o.fmt;
    default:  // the source's own format; GIF and BMP become PNG
      return k == kind::jpeg ? format::jpeg : format::png;
  }
}

result<output> encode(pixels p, format f, const options& o) {
  const uint32_t quality = o.quality ? o.quality : default_quality;
  output out;
  out.width = p.w;
  out.height = p.h;
  if (f == format::jpeg) {
    if (p.channels == 2 || p.channels == 4) {  // alpha flattened on the background
      const uint32_t opaque = p.channels == 2 && grey(o.background) ? 1 : 3;
      WHALE_TRY(p, detail::convert_channels(std::move(p), opaque, o.background));
    }
    WHALE_TRY(out.bytes, detail::encode_jpeg(p, quality, o.progressive));
    out.content_type = "image/jpeg";
  } else if (f == format::webp) {
    if (p.channels < 3) {  // grey to RGB, grey+alpha to RGBA
      const uint32_t colour = p.channels + 2;
      WHALE_TRY(p, detail::convert_channels(std::move(p), colour, o.background));
    }
    WHALE_TRY(out.bytes, detail::encode_webp(p, quality));
    out.content_type = "image/webp";
  } else {
    WHALE_TRY(out.bytes, detail::encode_png(p));
    out.content_type = "image/png";
  }
  return out;
}

output json_answer(const info& src) {
  char text[160];
  const int n = std::snprintf(text, sizeof text, "{\"width\":%u,\"height\":%u,\"format\":\"%s\",\"orientation\":%d}",
                              src.width, src.height, src.name, src.orientation);
  output out;
  out.bytes.assign(text, text + (n > 0 ? n : 0));
  out.content_type = "application/json";
  return out;
}

}  // namespace

result<output> process(const uint8_t* data, size_t size, const options& o, uint32_t accept, const limits& lim) {
  if (size > lim.max_input_bytes) {
    return fail(error_code::too_large, "input of " + std::to_string(size) + " bytes is more than the limit of " +
                                           std::to_string(lim.max_input_bytes));
  }
  WHALE_TRY(info src, probe(data, size));
  if (o.fmt == format::json) return json_answer(src);
  const kind k = kind_of(src);
  if (k == kind::webp) {
    return fail(error_code::unsupported_format, "WebP input is not supported (image.wasm encodes WebP, it does not decode it)");
  }
  if (uint64_t{src.width} * src.height > lim.max_pixels) {
    return fail(error_code::too_large, std::string(upper_name(k)) + ": " + dims(src.width, src.height) + " is " +
                                           std::to_string(uint64_t{src.width} * src.height) +
                                           " pixels, more than the limit of " + std::to_string(lim.max_pixels));
  }
  const orient_map m = detail::compose(detail::orientation_map(src.orientation), rotation_map(o.rotate));
  const uint32_t shown_w = m.transpose ? src.height : src.width, shown_h = m.transpose ? src.width : src.height;
  WHALE_TRY(const geometry g, plan(shown_w, shown_h, o, lim));
  WHALE_TRY(pixels shown, render(data, size, k, src, m, g, lim));
  if (g.canvas_w != shown.w || g.canvas_h != shown.h) {
    WHALE_TRY(shown, pad(std::move(shown), g, o.background));
  }
  const format f = choose_format(o, accept, k, shown);
  return encode(std::move(shown), f, o);
}

}  // namespace whale::image
