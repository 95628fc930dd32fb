// whale::image::process: probe, limits, plan the job (the geometry in the shown, upright frame;
// the decoder, the DCT scale, what is streamed, the output format), estimate its peak memory from
// that plan and refuse it when over the budget, then decode (JPEG streamed row by row into the
// resizer at the DCT scale that still leaves a real resize), resize only the window that is kept
// (streamed into the JPEG encoder when nothing comes between), orient, pad, encode.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <string>
#include <utility>

#include "pixels.h"
#include "whale/avif.h"

namespace whale::image {
namespace {

using detail::jpeg_writer;
using detail::orient_map;
using detail::pixels;
using detail::row_sink;

constexpr uint32_t default_quality = 85;  // Cloudflare's default
constexpr uint32_t absolute_max_side = 4096;
// stb_image_resize2 computes positions in float: past 2^24 pixels a side they lose precision.
constexpr uint64_t max_resized_side = uint64_t{1} << 24;
// Animations: at most this many frames (the probe counts up to 1000), and this many pixels in all
// frames together, of the canvases decoded and of the frames written, whichever are larger.
constexpr uint32_t max_animation_frames = 1000;
constexpr uint64_t max_animation_area = uint64_t{100} << 20;
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
  double exact_w = 0, exact_h = 0;        // the same before rounding (fit=cover rounds one side)
  rect keep;                              // the window of the resized image that is kept
  uint32_t canvas_w = 0, canvas_h = 0;    // the output (larger than keep only for fit=pad)
  uint32_t at_x = 0, at_y = 0;            // where the window sits on the canvas
  bool auto_crop = false;                 // gravity=auto picks keep's position from the pixels
  edges border;                           // output pixels of border.* around the rest of the canvas
  bool padded() const { return canvas_w != keep.w || canvas_h != keep.h; }
  // fit=pad's own padding (inside the border).
  bool pad_area() const { return canvas_w - border.left - border.right != keep.w || canvas_h - border.top - border.bottom != keep.h; }
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

struct exact_size {
  double w, h;
};

// cover's size before rounding: one side is the box's, the other the source's times the scale.
exact_size exact_cover(uint32_t sw, uint32_t sh, uint32_t bw, uint32_t bh) {
  if (uint64_t{bw} * sh >= uint64_t{bh} * sw) return {double(bw), double(sh) * bw / sw};
  return {double(sw) * bh / sh, double(bh)};
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
  exact_size exact{0, 0};
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
      exact = exact_cover(sw, sh, box_w, box_h);
      window = {box_w, box_h};
      break;
    case fit_mode::crop: {  // cover, but never enlarged: a small source is only cropped
      const size2 c = cover(sw, sh, box_w, box_h);
      if (c.w < sw) {
        resized = c;
        exact = exact_cover(sw, sh, box_w, box_h);
      }
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
  g.exact_w = exact.w > 0 ? exact.w : resized.w;
  g.exact_h = exact.h > 0 ? exact.h : resized.h;
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
  if (o.border.any()) {  // after the resize, in output pixels: CSS pixels times dpr, as Cloudflare
    const auto scaled = [dpr](uint32_t css) { return static_cast<uint32_t>(static_cast<float>(css) * dpr + 0.5f); };
    g.border = edges{scaled(o.border.top), scaled(o.border.right), scaled(o.border.bottom), scaled(o.border.left)};
    const uint64_t w = uint64_t{g.canvas_w} + g.border.left + g.border.right;
    const uint64_t h = uint64_t{g.canvas_h} + g.border.top + g.border.bottom;
    if (w > max_side || h > max_side) {
      return fail(error_code::too_large, "output of " + dims(w, h) + " with its border is more than the output limit of " +
                                             std::to_string(max_side));
    }
    g.canvas_w = static_cast<uint32_t>(w);
    g.canvas_h = static_cast<uint32_t>(h);
    g.at_x += g.border.left;
    g.at_y += g.border.top;
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

// flip=h, v or hv as the EXIF orientation that mirrors so (2, 4, or 3: both is a half turn).
orient_map flip_map(uint8_t flip) {
  switch (flip) {
    case flip_horizontal: return detail::orientation_map(2);
    case flip_vertical: return detail::orientation_map(4);
    case flip_horizontal | flip_vertical: return detail::orientation_map(3);
    default: return {};
  }
}

bool adjusts(const options& o) {
  return o.brightness != 0 || o.contrast != 0 || o.gamma != 0 || o.saturation != 1000 || o.blur != 0 || o.sharpen != 0;
}

// brightness, contrast, gamma, then saturation, on the colour samples of the picture's rectangle
// in the final image (not the padding, not alpha), in sRGB as Cloudflare's factors read:
// brightness multiplies a sample, contrast moves it away from or toward mid-grey (128), gamma
// raises it (as a fraction of 255) to 1/gamma, saturation moves each colour from its luma (BT.601)
// by its factor. The first three are one table of 256 entries a job, in integer arithmetic rounded
// half up but for gamma's power (std::pow, correctly rounded in glibc and musl alike); saturation
// is integer arithmetic. So every target gives the same bytes.
void adjust_levels(pixels& image, rect area, const options& o) {
  if (!adjusts(o)) return;
  const auto scaled = [](int64_t x, uint32_t m) {  // x * m / 1000, rounded half up (floor of x + 1/2)
    const int64_t n = x * m + 500;
    return n >= 0 ? n / 1000 : -((-n + 999) / 1000);
  };
  std::array<uint8_t, 256> table{};
  for (int v = 0; v < 256; ++v) {
    int64_t x = v;
    if (o.brightness != 0) x = std::min<int64_t>(scaled(x, o.brightness), 255);
    if (o.contrast != 0) x = scaled(x - 128, o.contrast) + 128;
    x = std::clamp<int64_t>(x, 0, 255);
    if (o.gamma != 0) x = static_cast<int64_t>(std::floor(255.0 * std::pow(static_cast<double>(x) / 255.0, 1000.0 / o.gamma) + 0.5));
    table[static_cast<size_t>(v)] = static_cast<uint8_t>(std::clamp<int64_t>(x, 0, 255));
  }
  const uint32_t colours = image.channels >= 3 ? 3 : 1;
  const bool saturate = colours == 3 && o.saturation != 1000;
  for (uint32_t y = area.y; y < area.y + area.h && y < image.h; ++y) {
    uint8_t* row = image.row(y);
    for (uint32_t x = area.x; x < area.x + area.w && x < image.w; ++x) {
      uint8_t* p = row + x * image.channels;
      for (uint32_t c = 0; c < colours; ++c) p[c] = table[p[c]];
      if (!saturate) continue;
      const int64_t luma = 299 * p[0] + 587 * p[1] + 114 * p[2];  // thousandths
      for (uint32_t c = 0; c < 3; ++c) {  // luma + (sample - luma) * s, in millionths
        const int64_t n = luma * 1000 + (int64_t{p[c]} * 1000 - luma) * o.saturation + 500'000;
        p[c] = static_cast<uint8_t>(std::clamp<int64_t>(n >= 0 ? n / 1'000'000 : -1, 0, 255));
      }
    }
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

bool grey(rgba8 c) { return c.r == c.g && c.g == c.b; }
bool has_alpha(uint32_t channels) { return channels == 2 || channels == 4; }

// The canvas of fit=pad: colour when the image or the background has it, alpha likewise.
uint32_t pad_channels(uint32_t channels, rgba8 bg) {
  const bool alpha = has_alpha(channels) || bg.a < 255;
  const bool colour = channels >= 3 || !grey(bg);
  return colour ? (alpha ? 4 : 3) : (alpha ? 2 : 1);
}

// The output format as far as it is known before decoding: jpeg, png or webp, or auto_ for
// format=auto without WebP on an image with an alpha channel (PNG if some pixel is not opaque).
format planned_format(const options& o, uint32_t accept, kind k, uint32_t channels) {
  switch (o.fmt) {
    case format::auto_:
      if ((accept & accept_avif) && !o.compression_fast) return format::avif;
      if ((accept & accept_webp) && !o.compression_fast) return format::webp;  // fast: the quicker JPEG
      return has_alpha(channels) ? format::auto_ : format::jpeg;
    case format::jpeg:
    case format::png:
    case format::webp:
    case format::avif:
      return o.fmt;
    default:  // the source's own format; GIF and BMP become PNG
      return k == kind::jpeg ? format::jpeg : k == kind::webp ? format::webp : format::png;
  }
}

// The channels an encoder takes: JPEG has no alpha (flattened on the background; grey+alpha
// stays grey on a grey background), WebP no grey.
uint32_t encoder_channels(format f, uint32_t channels, rgba8 bg) {
  if (f == format::jpeg && has_alpha(channels)) return channels == 2 && grey(bg) ? 1 : 3;
  if (f == format::webp && channels < 3) return channels + 2;
  return channels;
}

const char* format_name(format f) {
  switch (f) {
    case format::jpeg: return "JPEG";
    case format::png: return "PNG";
    case format::webp: return "WebP";
    case format::avif: return "AVIF";
    default: return "JPEG or PNG";
  }
}

// ---- the plan and its memory ----

// A fresh image.wasm instance's memory (the emscripten build starts with 4 MB: static data, the
// 1 MB stack, and the allocator's first heap), counted whole so that small jobs estimate what
// they really take.
constexpr uint64_t module_bytes = uint64_t{4} << 20;
// The heap is more than the sum of the blocks alive at its high-water mark (the allocator's
// headers, blocks freed below it that a larger one does not fit): a stage's estimate is its
// blocks' sum, plus 1/margin_part of it, plus margin_fixed.
constexpr uint64_t margin_part = 16;
constexpr uint64_t margin_fixed = uint64_t{1} << 20;
// gravity=auto's saliency search: a grid of at most 128 x 128 cells and its tables.
constexpr uint64_t saliency_bytes = uint64_t{2} << 20;
// The encoded stream, for the decision: half the image's bytes for PNG (a photo takes 35 to 70%),
// an eighth for JPEG (a photo at quality 85 takes about a twentieth). At run time the encoders get
// whatever the budget leaves them and stop with too_large past it.
constexpr uint64_t png_stream_part = 2;
constexpr uint64_t jpeg_stream_part = 8;

// What one job does, decided before any pixel is decoded: the estimate and the run both follow it.
struct job {
  kind k = kind::jpeg;
  orient_map m;
  geometry g;
  detail::source_layout layout;
  rect trim;                            // the source window that is resized (trim), stored frame, full scale
  rect trim_decoded;                    // the same in the decoded image (JPEG: at the DCT scale)
  uint32_t stored_w = 0, stored_h = 0;  // the resized image in the stored frame
  rect stored_keep;                     // the window kept of it (gravity=auto moves it, same size)
  uint32_t denom = 1;                   // JPEG: the DCT scale
  bool streamed_decode = false;         // JPEG or PNG rows pulled by the resizer: no decoded image
  bool direct_png = false;              // PNG: detail::png_rows or decode_png rather than stb_image
  uint64_t webp_decoder = 0;            // WebP: libwebp's blocks besides the decoded image
  uint32_t channels = 3;                // of the decoded image
  format out = format::jpeg;            // auto_: JPEG or PNG by the final image's alpha
  uint32_t final_channels = 3;          // of the final image: padded, flattened or coloured for its encoder
  bool streamed_encode = false;         // the window's rows pushed into the JPEG encoder: no final image
  bool animated = false;                // an animated GIF or WebP out as an animated WebP, frame by frame
  uint32_t quality = default_quality;
  // The estimate.
  uint64_t peak = 0;           // bytes of memory at the job's high-water mark
  const char* stage = "";      // what the job does there
  uint64_t stage_room = 0;     // what a stage's blocks may sum to within the budget
  uint64_t stb_max_block = 0;  // the largest block stb_image may take
};

// What make_pixels allocates.
uint64_t image_bytes(uint64_t w, uint64_t h, uint64_t channels) { return detail::png_room(w * h * channels + h); }

struct peak_tracker {
  uint64_t bytes = 0;
  const char* stage = "";
  void at(uint64_t b, const char* what) {
    if (b > bytes) {
      bytes = b;
      stage = what;
    }
  }
};

// The encode of the final image (w x h, channels) at its peak, the image included. The stream is
// joined into one block at the end, beside its pieces, once the rest is freed: where the image
// was (PNG: the image buffer has room for its stream) or libjpeg's coefficients were.
uint64_t encode_memory(format f, uint32_t w, uint32_t h, uint32_t channels, rgba8 bg, uint32_t quality) {
  const uint64_t image = image_bytes(w, h, channels);
  const uint32_t ready = encoder_channels(f, channels, bg);  // auto_'s JPEG flattens, in place or not
  const uint64_t converted = ready > channels ? image_bytes(w, h, ready) : 0;
  const uint64_t input = converted ? converted : image;  // what the encoder is given
  if (f == format::jpeg) {  // the image goes once libjpeg has every row, before the stream is written
    const uint64_t coefficients = detail::jpeg_encode_bytes(w, h, ready, quality);
    const uint64_t stream = uint64_t{w} * h * ready / jpeg_stream_part;
    return std::max({image + converted, input + coefficients, coefficients + stream});
  }
  if (f == format::png) {
    return image + detail::png_encode_bytes(w, h, channels) + uint64_t{w} * h * channels / png_stream_part;
  }
  if (f == format::avif) {  // the image, its copy behind the handoff's header, aom's blocks
    return 2 * image + avif::encode_bytes(w, h, avif::default_speed);
  }
  // WebP: the image goes once it is the picture's planes.
  const uint64_t picture = detail::webp_picture_bytes(w, h, ready);
  return std::max({image + converted, input + picture, detail::webp_encode_bytes(w, h, ready)});
}

// The job's peak: the input and the module, plus the heaviest stage with its margin. The final
// image is made first: what comes after it (the decoder, the resizer, the encoder) is freed
// from the top of the heap, and their blocks add up as they live.
void estimate_memory(job& j, const info& src, uint64_t input, bool writable, const options& o) {
  peak_tracker p;
  const uint32_t c = j.channels;
  const rect win = j.stored_keep;
  const uint64_t writer = j.streamed_encode ? detail::jpeg_encode_bytes(win.w, win.h, c, j.quality) : 0;
  const uint64_t sink = j.streamed_encode ? writer : image_bytes(j.g.canvas_w, j.g.canvas_h, j.final_channels);
  uint64_t full = 0;  // the decoded image
  uint32_t full_w = src.width, full_h = src.height;
  if (j.k == kind::jpeg) {
    full_w = (src.width + j.denom - 1) / j.denom;
    full_h = (src.height + j.denom - 1) / j.denom;
    const uint64_t decoder = detail::jpeg_decode_bytes(j.layout, src.width, src.height, j.denom);
    if (j.streamed_decode) {
      p.at(sink + decoder + detail::resize_bytes(j.trim_decoded.w, j.trim_decoded.h, j.stored_w, j.stored_h, win, c), "decode and resize");
    } else {
      full = image_bytes(full_w, full_h, c);
      p.at(sink + decoder + full, "decode");
    }
  } else if (j.direct_png && j.streamed_decode) {
    const uint64_t resize = detail::resize_bytes(j.trim_decoded.w, j.trim_decoded.h, j.stored_w, j.stored_h, win, c);
    p.at(sink + detail::png_rows_bytes(j.layout, src.width) + resize, "decode and resize");
  } else if (j.direct_png) {
    full = uint64_t{src.width} * src.height * c;
    p.at(sink + detail::png_decode_bytes(j.layout, src.width, src.height, writable), "decode");
  } else if (j.k == kind::webp) {
    full = image_bytes(src.width, src.height, c);
    p.at(sink + full + j.webp_decoder, "decode");
  } else {
    full = uint64_t{src.width} * src.height * c;
    p.at(sink + detail::stb_decode_bytes(src, j.layout), "decode");
  }
  if (!j.streamed_decode) {
    if (j.g.auto_crop) {  // the preview, resized upright into RGBA, and the search
      const uint32_t longest = std::max(j.g.resized_w, j.g.resized_h);
      const uint32_t pw = longest > preview_side ? scale_round(j.g.resized_w, preview_side, longest) : j.g.resized_w;
      const uint32_t ph = longest > preview_side ? scale_round(j.g.resized_h, preview_side, longest) : j.g.resized_h;
      const uint32_t sw = j.m.transpose ? ph : pw, sh = j.m.transpose ? pw : ph;
      const uint64_t resize = detail::resize_bytes(j.trim_decoded.w, j.trim_decoded.h, sw, sh, rect{0, 0, sw, sh}, c);
      p.at(sink + full + image_bytes(pw, ph, 4) + std::max(resize, saliency_bytes), "find the subject");
    }
    p.at(sink + full + detail::resize_bytes(j.trim_decoded.w, j.trim_decoded.h, j.stored_w, j.stored_h, win, c), "resize");
  }
  if (o.sharpen != 0) {  // the final image and its blurred copy
    p.at(2 * image_bytes(j.g.canvas_w, j.g.canvas_h, j.final_channels), "sharpen");
  }
  if (j.streamed_encode) {
    p.at(writer + uint64_t{win.w} * win.h * c / jpeg_stream_part, "encode");
  } else {
    for (const format f : {format::jpeg, format::png, format::webp, format::avif}) {  // auto_: JPEG or PNG
      if (j.out == f || (j.out == format::auto_ && (f == format::jpeg || f == format::png))) {
        p.at(encode_memory(f, j.g.canvas_w, j.g.canvas_h, j.final_channels, o.background, j.quality), "encode");
      }
    }
  }
  j.peak = module_bytes + input + p.bytes + p.bytes / margin_part + margin_fixed;
  j.stage = p.stage;
  j.stb_max_block = detail::stb_largest_block(src, j.layout);
}

// An animation's peak: every frame goes through the same stages, one frame at a time: the
// decoder and its canvas, the final image, the resize, and the animation encoder with the stream
// it has so far (guessed at a tenth of the frames' pixels).
void estimate_animation(job& j, const info& src, uint64_t input) {
  const uint64_t canvas = uint64_t{src.width} * src.height * 4;
  const uint64_t decoder = detail::animation_decode_bytes(j.k == kind::webp, src.width, src.height) + canvas;
  const uint64_t image = image_bytes(j.g.canvas_w, j.g.canvas_h, j.final_channels);
  const uint64_t resize = detail::resize_bytes(j.trim_decoded.w, j.trim_decoded.h, j.stored_w, j.stored_h, j.stored_keep, 4);
  const uint64_t stream = uint64_t{j.g.canvas_w} * j.g.canvas_h * src.frames / 10;
  const uint64_t stages = decoder + image + std::max(resize, detail::animation_encode_bytes(j.g.canvas_w, j.g.canvas_h)) + stream;
  j.peak = module_bytes + input + stages + stages / margin_part + margin_fixed;
  j.stage = "animate";
}

// Room for a stage's blocks within the budget: what the budget leaves after the module, the
// input and the margin.
uint64_t room_for_stages(uint64_t budget, uint64_t input) {
  const uint64_t fixed = module_bytes + input + margin_fixed;
  return budget > fixed ? (budget - fixed) * margin_part / (margin_part + 1) : 0;
}

std::string megabytes_up(uint64_t bytes) { return std::to_string((bytes + (1u << 20) - 1) >> 20); }

std::string megabytes_down(uint64_t bytes) {
  const uint64_t tenths = bytes * 10 >> 20;
  return std::to_string(tenths / 10) + (tenths % 10 ? "." + std::to_string(tenths % 10) : "");
}

// trim: the source window (stored frame, full scale) that the rest of the job sees as its
// source. Its values are source pixels of the upright image (EXIF orientation applied, before
// flip and rotate), times dpr as Cloudflare says; a window past the image is cut to it.
result<rect> trim_window(const info& src, const options& o) {
  const rect whole{0, 0, src.width, src.height};
  if (!o.trim.any() && o.trim_width == 0 && o.trim_height == 0) return whole;
  const detail::orient_map exif = detail::orientation_map(src.orientation);
  const uint64_t w = exif.transpose ? src.height : src.width, h = exif.transpose ? src.width : src.height;
  const double dpr = o.dpr > 1.0f ? o.dpr : 1.0f;
  const auto scaled = [dpr](uint32_t v) { return static_cast<uint64_t>(static_cast<double>(v) * dpr + 0.5); };
  const uint64_t left = scaled(o.trim.left), top = scaled(o.trim.top);
  const uint64_t right = scaled(o.trim.right), bottom = scaled(o.trim.bottom);
  // trim.width and trim.height take the place of the right and bottom edges.
  const bool none_across = o.trim_width ? left >= w : left + right >= w;
  const bool none_down = o.trim_height ? top >= h : top + bottom >= h;
  if (none_across || none_down) {
    return fail(error_code::invalid_value, "option 'trim': leaves no pixels of the " + dims(w, h) + " image");
  }
  uint64_t tw = o.trim_width ? scaled(o.trim_width) : w - left - right;
  uint64_t th = o.trim_height ? scaled(o.trim_height) : h - top - bottom;
  tw = std::min(tw, w - left);
  th = std::min(th, h - top);
  const rect shown{static_cast<uint32_t>(left), static_cast<uint32_t>(top), static_cast<uint32_t>(tw), static_cast<uint32_t>(th)};
  return detail::stored_rect(exif, static_cast<uint32_t>(w), static_cast<uint32_t>(h), shown);
}

const uint8_t* jpeg_row(const void* context, uint32_t y) {
  return static_cast<detail::jpeg_rows*>(const_cast<void*>(context))->row(y);
}

const uint8_t* png_row(const void* context, uint32_t y) {
  return static_cast<detail::png_rows*>(const_cast<void*>(context))->row(y);
}

// trim=border over rows of the source (stored frame, at 1/scale): the smallest window holding
// every pixel that differs from the border colour by more than the tolerance in a channel (grey
// read as its RGB, no alpha as opaque), in full-scale pixels; empty when every pixel is border.
rect content_of(const detail::row_source& rows, uint32_t scale, const options& o, uint32_t full_w, uint32_t full_h) {
  uint8_t border[4];
  const uint8_t given[4] = {o.trim_border_color.r, o.trim_border_color.g, o.trim_border_color.b, o.trim_border_color.a};
  if (o.trim_border_color_given) std::memcpy(border, given, 4);
  else detail::convert_pixel(rows.row(rows.context, 0), rows.channels, border, 4, rgba8{});
  uint32_t x0 = rows.w, y0 = rows.h, x1 = 0, y1 = 0;
  const int tolerance = static_cast<int>(o.trim_border_tolerance);
  for (uint32_t y = 0; y < rows.h; ++y) {
    const uint8_t* px = rows.row(rows.context, y);
    for (uint32_t x = 0; x < rows.w; ++x, px += rows.channels) {
      uint8_t c[4];
      detail::convert_pixel(px, rows.channels, c, 4, rgba8{});
      bool content = false;
      for (int i = 0; i < 4; ++i) content = content || std::abs(int{c[i]} - int{border[i]}) > tolerance;
      if (!content) continue;
      x0 = std::min(x0, x);
      x1 = std::max(x1, x + 1);
      y0 = std::min(y0, y);
      y1 = std::max(y1, y + 1);
    }
  }
  if (x1 <= x0) return rect{};
  // Back to full scale, rounded outward: no content is cut.
  const uint32_t fx1 = std::min<uint64_t>(uint64_t{x1} * scale, full_w), fy1 = std::min<uint64_t>(uint64_t{y1} * scale, full_h);
  return rect{x0 * scale, y0 * scale, fx1 - x0 * scale, fy1 - y0 * scale};
}

// trim=border's window (stored frame, full scale), found by reading the source's pixels before
// anything else: a JPEG at the DCT scale that leaves at most 4 MP, a PNG row by row, the others
// (their first frame) decoded whole, when the budget holds them. trim.border.keep widens it.
result<rect> border_window(const uint8_t* data, size_t size, const info& src, kind k, const detail::source_layout& layout,
                           const options& o, const limits& lim) {
  rect found;
  if (k == kind::jpeg) {
    uint32_t denom = 1;
    while (denom < 8 && uint64_t{src.width / denom} * (src.height / denom) > (uint64_t{1} << 22)) denom *= 2;
    detail::jpeg_rows rows;
    WHALE_TRY_VOID(rows.start(data, size, denom, lim.max_pixels, lim.max_memory_bytes));
    found = content_of(detail::row_source{rows.width(), rows.height(), rows.channels(), &rows, jpeg_row}, denom, o,
                       src.width, src.height);
    if (rows.failed()) return rows.error();
  } else if (k == kind::png && detail::png_decodes_directly(layout)) {
    detail::png_rows rows;
    WHALE_TRY_VOID(rows.start(data, size));
    found = content_of(detail::row_source{rows.width(), rows.height(), rows.channels(), &rows, png_row}, 1, o, src.width,
                       src.height);
    if (rows.failed()) return rows.error();
  } else {
    const uint64_t whole = image_bytes(src.width, src.height, 4) +
                           (k == kind::webp ? detail::webp_decode_bytes(data, size, src.width, src.height)
                                            : detail::stb_decode_bytes(src, layout));
    if (module_bytes + size + whole > lim.max_memory_bytes) {
      return fail(error_code::too_large, "trim=border: this " + dims(src.width, src.height) + " " + upper_name(k) +
                                             " needs about " + megabytes_up(module_bytes + size + whole) +
                                             " MB to be read whole; the limit is " + megabytes_down(lim.max_memory_bytes) + " MB");
    }
    pixels full;
    if (k == kind::webp) {
      WHALE_TRY(full, detail::decode_webp(data, size));
    } else {
      WHALE_TRY(full, detail::decode_stb(data, size, upper_name(k), static_cast<size_t>(detail::stb_largest_block(src, layout))));
    }
    found = content_of(detail::rows_of(full), 1, o, full.w, full.h);
  }
  if (found.w == 0) return rect{0, 0, src.width, src.height};  // all border: nothing to cut
  const uint32_t keep = o.trim_border_keep;
  const uint32_t x0 = found.x > keep ? found.x - keep : 0, y0 = found.y > keep ? found.y - keep : 0;
  const uint32_t x1 = static_cast<uint32_t>(std::min<uint64_t>(uint64_t{found.x} + found.w + keep, src.width));
  const uint32_t y1 = static_cast<uint32_t>(std::min<uint64_t>(uint64_t{found.y} + found.h + keep, src.height));
  return rect{x0, y0, x1 - x0, y1 - y0};
}

// The trim window in an image decoded at 1/denom: its edges rounded inward (a trimmed border
// never bleeds in), but an edge on the image's own edge stays there.
rect decoded_window(rect t, const info& src, uint32_t denom) {
  if (denom == 1) return t;
  const auto up = [denom](uint64_t v) { return static_cast<uint32_t>((v + denom - 1) / denom); };
  const uint32_t x0 = up(t.x), y0 = up(t.y);
  uint32_t x1 = t.x + t.w == src.width ? up(src.width) : (t.x + t.w) / denom;
  uint32_t y1 = t.y + t.h == src.height ? up(src.height) : (t.y + t.h) / denom;
  if (x1 <= x0) x1 = x0 + 1;
  if (y1 <= y0) y1 = y0 + 1;
  return rect{x0, y0, x1 - x0, y1 - y0};
}

// One axis of window_span: the window [at, at + w) of a resized side `out` long (`exact` before
// rounding), over a decoded side `decoded` long whose picture runs from `from` to `to` (decoded
// pixels; a JPEG's last decoded pixel may hold less than 1/denom of picture).
std::pair<double, double> axis_span(uint32_t at, uint32_t w, uint32_t out, double exact, double from, double to,
                                    uint32_t decoded) {
  // fit=cover rounded this side: the window sits in the unrounded image as it sits in the rounded one.
  const uint32_t room = out - w;
  const double exact_room = exact > w ? exact - w : 0;
  const double start = room > 0 ? at * exact_room / room : exact_room / 2;
  from = std::max(from, 0.0);
  to = std::min(to, double(decoded));
  const double picture = to - from;
  return {(from + start / exact * picture) / decoded, (from + (start + w) / exact * picture) / decoded};
}

// The part of the decoded (and trimmed) source that a window of the resized image shows.
detail::span window_span(const job& j, rect keep) {
  const double ew = j.m.transpose ? j.g.exact_h : j.g.exact_w, eh = j.m.transpose ? j.g.exact_w : j.g.exact_h;
  const double d = j.denom;
  const auto x = axis_span(keep.x, keep.w, j.stored_w, ew, j.trim.x / d - j.trim_decoded.x,
                           (j.trim.x + double(j.trim.w)) / d - j.trim_decoded.x, j.trim_decoded.w);
  const auto y = axis_span(keep.y, keep.h, j.stored_h, eh, j.trim.y / d - j.trim_decoded.y,
                           (j.trim.y + double(j.trim.h)) / d - j.trim_decoded.y, j.trim_decoded.h);
  return detail::span{x.first, y.first, x.second, y.second};
}

result<job> plan_job(const uint8_t* data, size_t size, bool writable, const info& src, kind k, const options& o,
                     uint32_t accept, const limits& lim, bool drawing = false) {
  job j;
  j.k = k;
  j.m = detail::compose(detail::compose(detail::orientation_map(src.orientation), flip_map(o.flip)), rotation_map(o.rotate));
  j.layout = detail::read_layout(data, size, src);
  if (o.trim_border) {
    WHALE_TRY(j.trim, border_window(data, size, src, k, j.layout, o, lim));
  } else {
    WHALE_TRY(j.trim, trim_window(src, o));
  }
  const uint32_t shown_w = j.m.transpose ? j.trim.h : j.trim.w, shown_h = j.m.transpose ? j.trim.w : j.trim.h;
  WHALE_TRY(j.g, plan(shown_w, shown_h, o, lim));
  j.stored_w = j.m.transpose ? j.g.resized_h : j.g.resized_w;
  j.stored_h = j.m.transpose ? j.g.resized_w : j.g.resized_h;
  j.stored_keep = detail::stored_rect(j.m, j.g.resized_w, j.g.resized_h, j.g.keep);
  if (k == kind::jpeg) {
    j.denom = jpeg_shrink(j.trim.w, j.trim.h, j.stored_w, j.stored_h);
    j.streamed_decode = !j.g.auto_crop;
  }
  j.trim_decoded = decoded_window(j.trim, src, j.denom);
  j.direct_png = k == kind::png && detail::png_decodes_directly(j.layout);
  if (j.direct_png) j.streamed_decode = !j.g.auto_crop;
  if (k == kind::webp) j.webp_decoder = detail::webp_decode_bytes(data, size, src.width, src.height);
  j.channels = detail::decoded_channels(data, size, src, j.layout);
  const bool padded = j.g.padded();
  uint32_t canvas_channels = j.channels;
  if (j.g.pad_area()) canvas_channels = pad_channels(canvas_channels, o.background);
  if (j.g.border.any()) canvas_channels = pad_channels(canvas_channels, o.border_color);
  j.out = planned_format(o, accept, k, canvas_channels);
  // AVIF as Cloudflare serves it: an output over its longest side (the CPU budget) and an animation
  // come out as WebP instead.
  if (j.out == format::avif && (std::max(j.g.canvas_w, j.g.canvas_h) > avif::max_side ||
                                ((k == kind::gif || k == kind::webp) && src.frames > 1 && o.anim))) {
    j.out = format::webp;
  }
  j.final_channels = encoder_channels(j.out, canvas_channels, o.background);
  j.streamed_encode = j.out == format::jpeg && !padded && detail::is_identity(j.m) && j.final_channels == j.channels &&
                      !adjusts(o) && !drawing;
  j.quality = o.quality ? o.quality : default_quality;
  // An animation stays one when it comes out as WebP (asked for, or format=auto for a client that
  // takes WebP, or a WebP source kept as such) and anim is not false; else its first frame.
  j.animated = (k == kind::gif || k == kind::webp) && src.frames > 1 && o.anim && j.out == format::webp;
  if (j.animated) {
    j.channels = 4;  // every frame is an RGBA canvas
    j.final_channels = encoder_channels(j.out, j.g.pad_area() || j.g.border.any() ? pad_channels(4, o.background) : 4, o.background);
    j.streamed_decode = j.streamed_encode = false;
    if (src.frames >= max_animation_frames) {
      return fail(error_code::too_large, "animation of " + std::to_string(src.frames) + " frames or more; the limit is " +
                                             std::to_string(max_animation_frames - 1));
    }
    // Both ways: decoding costs the canvases, encoding the output frames (a tiny GIF blown up).
    const uint64_t area = std::max(uint64_t{src.width} * src.height, uint64_t{j.g.canvas_w} * j.g.canvas_h) * src.frames;
    if (area > max_animation_area) {
      const bool out = uint64_t{j.g.canvas_w} * j.g.canvas_h > uint64_t{src.width} * src.height;
      return fail(error_code::too_large, "animation of " + std::to_string(src.frames) + " frames of " +
                                             (out ? dims(j.g.canvas_w, j.g.canvas_h) + " out" : dims(src.width, src.height)) +
                                             ": " + std::to_string(area) + " pixels in all, more than the limit of " +
                                             std::to_string(max_animation_area));
    }
    estimate_animation(j, src, size);
  } else {
    estimate_memory(j, src, size, writable, o);
  }
  j.stage_room = room_for_stages(lim.max_memory_bytes, size);
  if (j.peak > lim.max_memory_bytes) {
    return fail(error_code::too_large, "this " + dims(src.width, src.height) + " " + upper_name(k) + " needs about " +
                                           megabytes_up(j.peak) + " MB to " + j.stage + " (output " +
                                           dims(j.g.canvas_w, j.g.canvas_h) + " " + format_name(j.out) +
                                           "); the limit is " + megabytes_down(lim.max_memory_bytes) + " MB");
  }
  return j;
}

// ---- the run ----



// gravity=auto: the window's position in the resized image, from the saliency of a preview of it
// (resized, upright, RGBA).
result<rect> auto_window(const detail::row_source& stored, orient_map m, const geometry& g) {
  const uint32_t longest = g.resized_w > g.resized_h ? g.resized_w : g.resized_h;
  const uint32_t pw = longest > preview_side ? scale_round(g.resized_w, preview_side, longest) : g.resized_w;
  const uint32_t ph = longest > preview_side ? scale_round(g.resized_h, preview_side, longest) : g.resized_h;
  const uint32_t sw = m.transpose ? ph : pw, sh = m.transpose ? pw : ph;
  WHALE_TRY(pixels rgba, detail::make_pixels(pw, ph, 4));
  detail::placement preview{&rgba, m, sw, sh, stored.channels, 0, 0, rgba8{}};
  WHALE_TRY_VOID(detail::resize_window_into(stored, sw, sh, rect{0, 0, sw, sh}, detail::place_rows(preview)));
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

void fill(uint8_t* px, uint32_t channels, rgba8 c) {
  switch (channels) {
    case 1: px[0] = c.r; break;
    case 2: px[0] = c.r; px[1] = c.a; break;
    case 3: px[0] = c.r; px[1] = c.g; px[2] = c.b; break;
    default: px[0] = c.r; px[1] = c.g; px[2] = c.b; px[3] = c.a; break;
  }
}

// The final image, before anything is decoded: the canvas that the resized window is placed on,
// of the border's colour around, of the background colour inside for fit=pad.
result<pixels> final_image(const job& j, const options& o) {
  WHALE_TRY(pixels image, detail::make_pixels(j.g.canvas_w, j.g.canvas_h, j.final_channels));
  if (!j.g.padded()) return image;
  const edges& b = j.g.border;
  for (uint32_t y = 0; y < image.h; ++y) {
    uint8_t* px = image.row(y);
    const bool band = y < b.top || y >= image.h - b.bottom;
    for (uint32_t x = 0; x < image.w; ++x, px += image.channels) {
      const bool border = band || x < b.left || x >= image.w - b.right;
      fill(px, image.channels, border ? o.border_color : o.background);
    }
  }
  return image;
}

// Where the kept window's rows go: into the JPEG encoder (the job streams its output), or onto
// the final image.
struct window_target {
  jpeg_writer* writer = nullptr;
  detail::placement placed;
};

void to_writer(void* writer, uint32_t, const uint8_t* row) { static_cast<jpeg_writer*>(writer)->write_row(row); }

result<row_sink> sink_for(window_target& t, const job& j, rect keep, uint32_t channels) {
  if (channels != j.channels) return fail(error_code::internal, "the decoded image's channels differ from the plan");
  if (t.writer != nullptr) return row_sink{t.writer, to_writer};
  t.placed.w = keep.w;
  t.placed.h = keep.h;
  t.placed.channels = channels;
  return detail::place_rows(t.placed);
}

// A window of a row source: the trimmed source as the resizer sees it.
struct window_rows {
  detail::row_source inner;
  rect window;
  detail::row_source source() const { return detail::row_source{window.w, window.h, inner.channels, this, row}; }
  static const uint8_t* row(const void* context, uint32_t y) {
    const auto* self = static_cast<const window_rows*>(context);
    return self->inner.row(self->inner.context, self->window.y + y) + size_t{self->window.x} * self->inner.channels;
  }
};

// Decodes and resizes the kept window into the target. The decoder and the decoded image are
// gone when it returns.
result<void> render(const uint8_t* data, size_t size, uint8_t* writable, const info& src, const job& j, const limits& lim,
                    window_target& t) {
  rect keep = j.stored_keep;
  if (j.streamed_decode && j.k == kind::png) {  // no buffer of the decoded image at all
    detail::png_rows rows;
    WHALE_TRY_VOID(rows.start(data, size));
    WHALE_TRY(const row_sink sink, sink_for(t, j, keep, rows.channels()));
    const window_rows trimmed{detail::row_source{rows.width(), rows.height(), rows.channels(), &rows, png_row}, j.trim_decoded};
    auto done = detail::resize_window_into(trimmed.source(), j.stored_w, j.stored_h, keep, sink, window_span(j, keep));
    if (rows.failed()) return rows.error();
    return done;
  }
  if (j.streamed_decode) {  // no buffer of the decoded image at all
    detail::jpeg_rows rows;
    WHALE_TRY_VOID(rows.start(data, size, j.denom, lim.max_pixels, lim.max_memory_bytes));
    WHALE_TRY(const row_sink sink, sink_for(t, j, keep, rows.channels()));
    const window_rows trimmed{detail::row_source{rows.width(), rows.height(), rows.channels(), &rows, jpeg_row}, j.trim_decoded};
    auto done = detail::resize_window_into(trimmed.source(), j.stored_w, j.stored_h, keep, sink, window_span(j, keep));
    if (rows.failed()) return rows.error();
    return done;
  }
  pixels full;
  if (j.k == kind::jpeg) {
    WHALE_TRY(full, detail::decode_jpeg(data, size, j.denom, lim.max_pixels, lim.max_memory_bytes));
  } else {
    if (j.direct_png) {
      WHALE_TRY(full, detail::decode_png(data, size, writable));
    } else if (j.k == kind::webp) {
      // libwebp's blocks get what the stage's room leaves beside the output and the decoded image.
      const uint64_t taken = image_bytes(j.g.canvas_w, j.g.canvas_h, j.final_channels) +
                             image_bytes(src.width, src.height, j.channels);
      const size_t room = static_cast<size_t>(std::min<uint64_t>(j.stage_room > taken ? j.stage_room - taken : 0, SIZE_MAX));
      WHALE_TRY(full, detail::decode_webp(data, size, room));
    } else {
      WHALE_TRY(full, detail::decode_stb(data, size, upper_name(j.k), static_cast<size_t>(j.stb_max_block)));
    }
    if (full.w != src.width || full.h != src.height) {
      return fail(error_code::corrupt_input, std::string(upper_name(j.k)) + ": decoded " + dims(full.w, full.h) +
                                                 " but the header says " + dims(src.width, src.height));
    }
  }
  const window_rows trimmed{detail::rows_of(full), j.trim_decoded};
  if (j.g.auto_crop) {
    WHALE_TRY(const rect shown, auto_window(trimmed.source(), j.m, j.g));
    keep = detail::stored_rect(j.m, j.g.resized_w, j.g.resized_h, shown);
  }
  WHALE_TRY(const row_sink sink, sink_for(t, j, keep, full.channels));
  return detail::resize_window_into(trimmed.source(), j.stored_w, j.stored_h, keep, sink, window_span(j, keep));
}

// The encoded stream's room: what the stage's room leaves beside the encoder's other blocks
// (`beside`). The stream is joined beside its pieces at the end, into the hole that `freed`
// left (the image for PNG, the coefficients for JPEG) when it fits there; past that size the
// pieces and the joined stream both need room.
size_t stream_room(const job& j, uint64_t beside, uint64_t freed) {
  const uint64_t left = j.stage_room > beside ? j.stage_room - beside : 0;
  const uint64_t room = std::min(left, std::max(freed, left / 2));
  return static_cast<size_t>(std::min<uint64_t>(room, SIZE_MAX));
}

avif_encoder installed_avif_encoder = nullptr;

// AVIF: the final pixels behind whale::avif's handoff header, encoded here when an encoder is
// linked (the CLI, the native tests), else handed to the host (image.wasm: avif.wasm encodes it).
result<output> avif_output(pixels p, const job& j) {
  output out;
  out.width = p.w;
  out.height = p.h;
  avif::handoff h;
  h.width = p.w, h.height = p.h, h.channels = p.channels;
  h.s.quality = j.quality;
  const uint64_t image = image_bytes(p.w, p.h, p.channels);
  h.s.max_memory = j.stage_room > 2 * image ? j.stage_room - 2 * image : 1;
  std::vector<uint8_t> blob(avif::handoff::header_bytes + p.size());  // counted by encode_memory
  avif::write_handoff_header(h, blob.data());
  std::memcpy(blob.data() + avif::handoff::header_bytes, p.data(), p.size());
  p = pixels{};
  if (installed_avif_encoder == nullptr) {
    out.bytes = std::move(blob);
    out.content_type = avif_handoff_type;
    return out;
  }
  WHALE_TRY(out.bytes, installed_avif_encoder(blob.data(), blob.size()));
  out.content_type = "image/avif";
  return out;
}

result<output> encode(pixels p, format f, const options& o, const job& j, const limits& lim) {
  output out;
  out.width = p.w;
  out.height = p.h;
  const uint32_t ready = encoder_channels(f, p.channels, o.background);
  if (ready != p.channels) {  // format=auto's JPEG of an image with an alpha channel
    WHALE_TRY(p, detail::convert_channels(std::move(p), ready, o.background));
  }
  if (f == format::jpeg) {
    const uint64_t coefficients = detail::jpeg_encode_bytes(p.w, p.h, p.channels, j.quality);
    const size_t room = stream_room(j, coefficients, coefficients);
    WHALE_TRY(out.bytes, detail::encode_jpeg(std::move(p), j.quality, o.progressive, lim.max_memory_bytes, room));
    out.content_type = "image/jpeg";
  } else if (f == format::webp) {
    const uint64_t image = image_bytes(p.w, p.h, p.channels);  // libwebp's blocks and the stream share the rest
    const size_t room = static_cast<size_t>(std::min<uint64_t>(j.stage_room > image ? j.stage_room - image : 0, SIZE_MAX));
    WHALE_TRY(out.bytes, detail::encode_webp(std::move(p), j.quality, room));
    out.content_type = "image/webp";
  } else if (f == format::avif) {
    WHALE_TRY(out, avif_output(std::move(p), j));
  } else {
    const uint64_t image = image_bytes(p.w, p.h, p.channels);
    const size_t room = stream_room(j, image + detail::png_encode_bytes(p.w, p.h, p.channels), image);
    WHALE_TRY(out.bytes, detail::encode_png(std::move(p), room));
    out.content_type = "image/png";
  }
  return out;
}

// The window's rows straight into the JPEG encoder: no final image at all.
result<output> run_streamed(const uint8_t* data, size_t size, uint8_t* writable, const info& src, const job& j,
                            const options& o, const limits& lim) {
  const rect win = j.stored_keep;
  jpeg_writer writer;
  const uint64_t coefficients = detail::jpeg_encode_bytes(win.w, win.h, j.channels, j.quality);
  const size_t room = stream_room(j, coefficients, coefficients);
  WHALE_TRY_VOID(writer.start(win.w, win.h, j.channels, j.quality, o.progressive, lim.max_memory_bytes, room));
  window_target target;
  target.writer = &writer;
  WHALE_TRY_VOID(render(data, size, writable, src, j, lim, target));
  output out;
  WHALE_TRY(out.bytes, writer.finish());
  out.content_type = "image/jpeg";
  out.width = win.w;
  out.height = win.h;
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

// What comes after the resize, on the picture's rectangle of the final image: the levels, blur,
// sharpen.
result<void> finish_picture(pixels& image, const job& j, const options& o) {
  const rect picture{j.g.at_x, j.g.at_y, j.g.keep.w, j.g.keep.h};
  adjust_levels(image, picture, o);
  if (o.blur != 0) WHALE_TRY_VOID(detail::blur(image, picture, o.blur));
  if (o.sharpen != 0) WHALE_TRY_VOID(detail::sharpen(image, picture, o.sharpen));
  return {};
}

// One frame of an animation: its canvas through the same stages as a still image.
struct frame_job {
  const job* j;
  const options* o;
};

result<pixels> animation_frame(void* context, const detail::row_source& canvas) {
  const frame_job& f = *static_cast<const frame_job*>(context);
  const job& j = *f.j;
  const options& o = *f.o;
  WHALE_TRY(pixels image, final_image(j, o));
  detail::placement placed{&image, j.m, j.stored_keep.w, j.stored_keep.h, canvas.channels, j.g.at_x, j.g.at_y, o.background};
  const window_rows trimmed{canvas, j.trim_decoded};
  WHALE_TRY_VOID(detail::resize_window_into(trimmed.source(), j.stored_w, j.stored_h, j.stored_keep, detail::place_rows(placed),
                                              window_span(j, j.stored_keep)));
  WHALE_TRY_VOID(finish_picture(image, j, o));
  return image;
}

// data is read; writable is data itself when the caller lets the job overwrite it, else null.
// An overlay as the image it draws: its own job (its options; its first frame; its gravity left
// for the placement), RGBA with straight alpha.
result<pixels> overlay_image(const overlay& ov, const limits& lim) {
  WHALE_TRY(const info src, probe(ov.data, ov.size));
  const kind k = kind_of(src);
  if (uint64_t{src.width} * src.height > lim.max_pixels) {
    return fail(error_code::too_large, "option 'draw': an overlay of " + dims(src.width, src.height) + " is more than the pixel limit");
  }
  options o = ov.o;
  o.fmt = format::png;
  o.anim = false;
  o.gravity = gravity_mode::center;
  WHALE_TRY(const job j, plan_job(ov.data, ov.size, false, src, k, o, 0, lim));
  WHALE_TRY(pixels image, final_image(j, o));
  window_target target;
  target.placed = detail::placement{&image, j.m, 0, 0, 0, j.g.at_x, j.g.at_y, o.background};
  WHALE_TRY_VOID(render(ov.data, ov.size, nullptr, src, j, lim, target));
  WHALE_TRY_VOID(finish_picture(image, j, o));
  if (image.channels == 4) return image;
  return detail::convert_channels(std::move(image), 4, rgba8{0, 0, 0, 0});
}

// Where an overlay's top-left corner goes on one axis: an edge's offset when given, else by
// gravity (start, end, a point, or centred); it may stand partly outside.
int64_t overlay_at(int64_t area, int64_t size, int32_t from_start, int32_t from_end, bool start, bool end, float point,
                   bool use_point) {
  if (from_start >= 0) return from_start;
  if (from_end >= 0) return area - size - from_end;
  if (start) return 0;
  if (end) return area - size;
  if (use_point) return static_cast<int64_t>(point * static_cast<float>(area) - static_cast<float>(size) / 2);
  return (area - size) / 2;
}

// Draws `over` (RGBA, straight alpha) on `image` at (x, y), tiled when it repeats, its alpha
// times opacity: each colour sample becomes (src a + dst (255 - a)) / 255, rounded; an alpha
// channel a + dst (255 - a) / 255. In sRGB, as browsers composite.
void draw_over(pixels& image, const pixels& over, int64_t x, int64_t y, const overlay& ov) {
  const int64_t w = over.w, h = over.h;
  const auto first = [](int64_t at, int64_t size, bool repeat) { return repeat ? ((at % size) + size) % size - size : at; };
  const int64_t x0 = first(x, w, ov.repeat_x), y0 = first(y, h, ov.repeat_y);
  const int64_t x_end = ov.repeat_x ? image.w : x0 + w, y_end = ov.repeat_y ? image.h : y0 + h;
  const uint32_t n = image.channels;
  for (int64_t ty = y0; ty < y_end; ty += h) {
    for (int64_t tx = x0; tx < x_end; tx += w) {
      for (int64_t row = std::max<int64_t>(ty, 0); row < std::min<int64_t>(ty + h, image.h); ++row) {
        const uint8_t* s = over.row(static_cast<uint32_t>(row - ty));
        uint8_t* d = image.row(static_cast<uint32_t>(row));
        for (int64_t col = std::max<int64_t>(tx, 0); col < std::min<int64_t>(tx + w, image.w); ++col) {
          const uint8_t* sp = s + (col - tx) * 4;
          uint8_t* dp = d + col * n;
          const uint32_t a = (sp[3] * ov.opacity + 500) / 1000;
          if (a == 0) continue;
          for (uint32_t c = 0; c < 3; ++c) dp[c] = static_cast<uint8_t>((sp[c] * a + dp[c] * (255 - a) + 127) / 255);
          if (n == 4) dp[3] = static_cast<uint8_t>(a + (dp[3] * (255 - a) + 127) / 255);
        }
      }
    }
  }
}

// draw: each overlay made and drawn in order, within what the output leaves of the budget.
result<void> draw_overlays(pixels& image, const std::vector<overlay>& overlays, const options& o, const limits& lim) {
  if (image.channels < 3) {  // grey becomes colour: overlays have colour
    WHALE_TRY(image, detail::convert_channels(std::move(image), image.channels + 2, o.background));
  }
  limits room = lim;
  const uint64_t held = image_bytes(image.w, image.h, image.channels);
  room.max_memory_bytes = lim.max_memory_bytes > held ? lim.max_memory_bytes - held : 0;
  room.max_output_side = std::max(image.w, image.h);
  for (const overlay& ov : overlays) {
    WHALE_TRY(const pixels over, overlay_image(ov, room));
    const gravity_mode g = ov.o.gravity;
    const int64_t x = overlay_at(image.w, over.w, ov.left, ov.right, g == gravity_mode::left, g == gravity_mode::right,
                                 ov.o.gravity_x, g == gravity_mode::point);
    const int64_t y = overlay_at(image.h, over.h, ov.top, ov.bottom, g == gravity_mode::top, g == gravity_mode::bottom,
                                 ov.o.gravity_y, g == gravity_mode::point);
    draw_over(image, over, x, y, ov);
  }
  return {};
}

result<output> run(const uint8_t* data, size_t size, uint8_t* writable, const options& o, uint32_t accept,
                   const limits& lim, const std::vector<overlay>* overlays = nullptr) {
  if (size > lim.max_input_bytes) {
    return fail(error_code::too_large, "input of " + std::to_string(size) + " bytes is more than the limit of " +
                                           std::to_string(lim.max_input_bytes));
  }
  WHALE_TRY(info src, probe(data, size));
  if (o.fmt == format::json) return json_answer(src);
  const kind k = kind_of(src);
  if (uint64_t{src.width} * src.height > lim.max_pixels) {
    return fail(error_code::too_large, std::string(upper_name(k)) + ": " + dims(src.width, src.height) + " is " +
                                           std::to_string(uint64_t{src.width} * src.height) +
                                           " pixels, more than the limit of " + std::to_string(lim.max_pixels));
  }
  const bool drawing = overlays != nullptr && !overlays->empty();
  if (drawing && overlays->size() > max_overlays) {
    return fail(error_code::invalid_value, "option 'draw': at most " + std::to_string(max_overlays) + " overlays");
  }
  WHALE_TRY(const job j, plan_job(data, size, writable != nullptr, src, k, o, accept, lim, drawing));
  if (j.animated && drawing) return fail(error_code::invalid_value, "option 'draw': not supported on an animation");
  if (j.animated) {
    frame_job frames{&j, &o};
    output out;
    WHALE_TRY(out.bytes, detail::encode_animation(data, size, k == kind::webp, j.quality, max_animation_frames - 1,
                                                  static_cast<size_t>(std::min<uint64_t>(j.stage_room, SIZE_MAX)),
                                                  detail::animation_frame{&frames, animation_frame}));
    out.content_type = "image/webp";
    out.width = j.g.canvas_w;
    out.height = j.g.canvas_h;
    return out;
  }
  if (j.streamed_encode) return run_streamed(data, size, writable, src, j, o, lim);
  WHALE_TRY(pixels image, final_image(j, o));
  window_target target;
  target.placed = detail::placement{&image, j.m, 0, 0, 0, j.g.at_x, j.g.at_y, o.background};
  WHALE_TRY_VOID(render(data, size, writable, src, j, lim, target));
  WHALE_TRY_VOID(finish_picture(image, j, o));
  if (drawing) WHALE_TRY_VOID(draw_overlays(image, *overlays, o, lim));
  const format f = j.out != format::auto_ ? j.out : detail::uses_alpha(image) ? format::png : format::jpeg;
  return encode(std::move(image), f, o, j, lim);
}

}  // namespace

void set_avif_encoder(avif_encoder encoder) { installed_avif_encoder = encoder; }

uint32_t auto_width(uint32_t client) {
  const uint32_t size_class = (client & client_width_mask) >> client_width_shift;
  return auto_widths[size_class < std::size(auto_widths) ? size_class : 0];
}

namespace {

// What the client's bits decide: width=auto's width, and the quality for a slow connection.
options for_client(const options& o, uint32_t client) {
  options out = o;
  if (out.width_auto) out.width = auto_width(client);
  if (out.slow_quality != 0 && (client & client_slow)) out.quality = out.slow_quality;
  return out;
}

}  // namespace

result<output> process(const uint8_t* data, size_t size, const options& o, uint32_t accept, const limits& lim) {
  return run(data, size, nullptr, for_client(o, accept), accept, lim);
}

result<output> process_in_place(uint8_t* data, size_t size, const options& o, uint32_t accept, const limits& lim) {
  return run(data, size, data, for_client(o, accept), accept, lim);
}

result<output> process_with_overlays(const uint8_t* data, size_t size, const options& o, uint32_t accept,
                                     const limits& lim, const std::vector<overlay>& overlays) {
  return run(data, size, nullptr, for_client(o, accept), accept, lim, &overlays);
}

}  // namespace whale::image
