// Geometry on pixels: EXIF-style orientation, the linear-light resize (stb_image_resize2) of a
// window of the resized image, and channel conversion.
#include <algorithm>
#include <cstring>
#include <string>

#include "pixels.h"
#include "stb_image_resize2.h"

namespace whale::image::detail {

// Downscaling: Catmull-Rom, the sharpest of stb_image_resize2's cubics. Measured against sharp's
// Lanczos3 output (SSIM of luma) it is as close as Mitchell, stb's softer default, on sharp's
// benchmark photo, and closer on the others (0.991 vs 0.978 on Landscape_1 at 300 px). Lanczos
// itself would need sin(), whose last bit differs between libms.
// Upscaling: Mitchell. Catmull-Rom is zero at +-1, stb trims zero weights, and a window whose first
// row lands exactly on a source row then starts its ring buffer after the rows the next output
// row needs: stb 2.12 reads before its buffer (found by fuzz_image_decode). Mitchell is nonzero
// inside its support, so no window can start that way.
constexpr stbir_filter downscale_filter = STBIR_FILTER_CATMULLROM;
constexpr stbir_filter upscale_filter = STBIR_FILTER_MITCHELL;

namespace {

struct point {
  uint32_t x, y;
};

// The stored pixel under shown pixel (x, y) of a shown image sw x sh.
point stored_point(orient_map m, uint32_t sw, uint32_t sh, uint32_t x, uint32_t y) {
  const uint32_t fx = m.flip_x ? sw - 1 - x : x;
  const uint32_t fy = m.flip_y ? sh - 1 - y : y;
  return m.transpose ? point{fy, fx} : point{fx, fy};
}

bool same_map(orient_map a, orient_map b) {
  return a.transpose == b.transpose && a.flip_x == b.flip_x && a.flip_y == b.flip_y;
}

// An axis at scale 1 is point-sampled: an exact copy.
stbir_filter filter_for(uint32_t in, uint32_t out) {
  return out == in ? STBIR_FILTER_POINT_SAMPLE : out < in ? downscale_filter : upscale_filter;
}

stbir_pixel_layout layout_for(uint32_t channels) {
  switch (channels) {
    case 1: return STBIR_1CHANNEL;
    case 2: return STBIR_RA;  // grey, alpha
    case 3: return STBIR_RGB;
    default: return STBIR_RGBA;  // not premultiplied: stb weights colour by alpha while filtering
  }
}

struct window_job {
  const row_source* source;
  const row_sink* sink;
  uint32_t width;        // of the window
  uint32_t next_row = 0;  // stb gives rows in order; anything else is a bug
  bool out_of_order = false;
};

// Row y from x on, num_pixels of them. For a source a few pixels wide or high stb can ask past
// its edges (found by fuzz_image_decode: a 3x2 BMP under fit=cover asks for row 2): those get the
// edge pixels again, as its clamp would; columns in the buffer it offers.
const void* input_row(void* temp, const void*, int num_pixels, int x, int y, void* context) {
  const auto* job = static_cast<const window_job*>(context);
  const row_source& s = *job->source;
  const uint32_t clamped_y = y < 0 ? 0 : static_cast<uint32_t>(y) >= s.h ? s.h - 1 : static_cast<uint32_t>(y);
  const uint8_t* row = s.row(s.context, clamped_y);
  if (x >= 0 && int64_t{x} + num_pixels <= int64_t{s.w}) return row + size_t(x) * s.channels;
  auto* out = static_cast<uint8_t*>(temp);
  for (int i = 0; i < num_pixels; ++i) {
    const int64_t at = int64_t{x} + i;
    const size_t clamped = at < 0 ? 0 : at >= int64_t{s.w} ? s.w - 1 : static_cast<size_t>(at);
    std::memcpy(out + size_t(i) * s.channels, row + clamped * s.channels, s.channels);
  }
  return out;
}

// y counts rows of the output window (stb offsets the output by the window's origin).
void output_row(const void* pixels_row, int num_pixels, int y, void* context) {
  auto* job = static_cast<window_job*>(context);
  if (y < 0 || static_cast<uint32_t>(y) != job->next_row || static_cast<uint32_t>(num_pixels) != job->width) {
    job->out_of_order = true;
    return;
  }
  job->next_row++;
  job->sink->row(job->sink->context, static_cast<uint32_t>(y), static_cast<const uint8_t*>(pixels_row));
}

const uint8_t* pixels_row(const void* context, uint32_t y) { return static_cast<const pixels*>(context)->row(y); }

void copy_row(void* context, uint32_t y, const uint8_t* row) {
  auto* p = static_cast<pixels*>(context);
  std::memcpy(p->row(y), row, p->stride());
}

// Scale 1: the window is copied, not filtered.
void copy_window(const row_source& source, rect keep, const row_sink& sink) {
  for (uint32_t y = 0; y < keep.h; ++y) {
    sink.row(sink.context, y, source.row(source.context, keep.y + y) + size_t{keep.x} * source.channels);
  }
}

uint8_t over(uint32_t c, uint32_t a, uint32_t background) { return static_cast<uint8_t>((c * a + background * (255 - a) + 127) / 255); }

// The shown pixel over stored pixel (x, y) of a stored image, for a shown image sw x sh: the
// inverse of stored_point.
point shown_point(orient_map m, uint32_t sw, uint32_t sh, uint32_t x, uint32_t y) {
  const uint32_t fx = m.transpose ? y : x, fy = m.transpose ? x : y;
  return point{m.flip_x ? sw - 1 - fx : fx, m.flip_y ? sh - 1 - fy : fy};
}

void place_row(void* context, uint32_t y, const uint8_t* row) {
  const placement& p = *static_cast<const placement*>(context);
  pixels& image = *p.image;
  const uint32_t from = p.channels, to = image.channels;
  if (same_map(p.m, orient_map{})) {  // a row of the window is (part of) a row of the image
    uint8_t* out = image.row(p.y + y) + size_t{p.x} * to;
    if (from == to) {
      std::memcpy(out, row, size_t{p.w} * to);
      return;
    }
    for (uint32_t x = 0; x < p.w; ++x) convert_pixel(row + size_t{x} * from, from, out + size_t{x} * to, to, p.background);
    return;
  }
  const uint32_t sw = p.m.transpose ? p.h : p.w, sh = p.m.transpose ? p.w : p.h;
  for (uint32_t x = 0; x < p.w; ++x) {
    const point s = shown_point(p.m, sw, sh, x, y);
    convert_pixel(row + size_t{x} * from, from, image.row(p.y + s.y) + size_t{p.x + s.x} * to, to, p.background);
  }
}

}  // namespace

void convert_pixel(const uint8_t* in, uint32_t from, uint8_t* o, uint32_t to, rgba8 bg) {
  if (from == to) {
    std::memcpy(o, in, to);
    return;
  }
  const bool grey = from <= 2;
  const uint32_t a = from == 2 ? in[1] : from == 4 ? in[3] : 255;
  const uint8_t r = in[0], g = grey ? in[0] : in[1], b = grey ? in[0] : in[2];
  const bool keep_alpha = to == 2 || to == 4;
  switch (to) {
    case 1:  // only from grey+alpha: composited over the background's red (a grey background)
      o[0] = over(r, a, bg.r);
      break;
    case 2:
      o[0] = r;
      o[1] = static_cast<uint8_t>(a);
      break;
    default:
      o[0] = keep_alpha ? r : over(r, a, bg.r);
      o[1] = keep_alpha ? g : over(g, a, bg.g);
      o[2] = keep_alpha ? b : over(b, a, bg.b);
      if (to == 4) o[3] = static_cast<uint8_t>(a);
      break;
  }
}

row_sink place_rows(placement& p) { return row_sink{&p, place_row}; }

orient_map orientation_map(int o) {
  switch (o) {
    case 2: return {false, true, false};  // mirrored
    case 3: return {false, true, true};   // upside down
    case 4: return {false, false, true};  // mirrored upside down
    case 5: return {true, false, false};  // transposed
    case 6: return {true, true, false};   // turned 90 degrees clockwise to show
    case 7: return {true, true, true};    // transverse
    case 8: return {true, false, true};   // turned 90 degrees counter-clockwise to show
    default: return {};
  }
}

bool is_identity(orient_map m) { return same_map(m, orient_map{}); }

orient_map compose(orient_map first, orient_map then) {
  // Probe a 3x2 stored image: the composition is the one map that agrees on three corners.
  const uint32_t sw = 3, sh = 2;
  const uint32_t iw = first.transpose ? sh : sw, ih = first.transpose ? sw : sh;
  const uint32_t fw = then.transpose ? ih : iw, fh = then.transpose ? iw : ih;
  const point corners[3] = {{0, 0}, {fw - 1, 0}, {0, fh - 1}};
  for (int o = 1; o <= 8; ++o) {
    const orient_map c = orientation_map(o);
    if (c.transpose != (first.transpose != then.transpose)) continue;
    bool agrees = true;
    for (const point& p : corners) {
      const point mid = stored_point(then, fw, fh, p.x, p.y);
      const point want = stored_point(first, iw, ih, mid.x, mid.y);
      const point got = stored_point(c, fw, fh, p.x, p.y);
      agrees = agrees && want.x == got.x && want.y == got.y;
    }
    if (agrees) return c;
  }
  return first;  // unreachable: the eight maps form a group
}

rect stored_rect(orient_map m, uint32_t sw, uint32_t sh, rect shown) {
  const point a = stored_point(m, sw, sh, shown.x, shown.y);
  const point b = stored_point(m, sw, sh, shown.x + shown.w - 1, shown.y + shown.h - 1);
  const uint32_t x0 = a.x < b.x ? a.x : b.x, x1 = a.x < b.x ? b.x : a.x;
  const uint32_t y0 = a.y < b.y ? a.y : b.y, y1 = a.y < b.y ? b.y : a.y;
  return rect{x0, y0, x1 - x0 + 1, y1 - y0 + 1};
}

result<pixels> apply_orientation(pixels stored, orient_map m) {
  if (same_map(m, orient_map{})) return stored;
  const uint32_t sw = m.transpose ? stored.h : stored.w, sh = m.transpose ? stored.w : stored.h;
  WHALE_TRY(pixels shown, make_pixels(sw, sh, stored.channels));
  const uint32_t n = stored.channels;
  for (uint32_t y = 0; y < sh; ++y) {
    uint8_t* out = shown.row(y);
    for (uint32_t x = 0; x < sw; ++x, out += n) {
      const point p = stored_point(m, sw, sh, x, y);
      std::memcpy(out, stored.row(p.y) + size_t{p.x} * n, n);
    }
  }
  return shown;
}

row_source rows_of(const pixels& p) { return row_source{p.w, p.h, p.channels, &p, pixels_row}; }

result<void> resize_window_into(const row_source& source, uint32_t out_w, uint32_t out_h, rect keep,
                                const row_sink& sink, span from) {
  if (keep.w == 0 || keep.h == 0 || keep.x + keep.w > out_w || keep.y + keep.h > out_h) {
    return fail(error_code::internal, "resize window outside the resized image");
  }
  if (out_w == source.w && out_h == source.h) {
    copy_window(source, keep, sink);
    return {};
  }
  window_job job{&source, &sink, keep.w};
  STBIR_RESIZE r;
  // Rows come from one callback and go to the other; stb still wants a non-null input pointer.
  static const uint8_t unused = 0;
  stbir_resize_init(&r, &unused, static_cast<int>(source.w), static_cast<int>(source.h), 0, nullptr,
                    static_cast<int>(out_w), static_cast<int>(out_h), 0, layout_for(source.channels),
                    STBIR_TYPE_UINT8_SRGB);  // sRGB in and out, linear light in between, alpha linear
  stbir_set_pixel_callbacks(&r, input_row, output_row);
  stbir_set_user_data(&r, &job);
  stbir_set_filters(&r, filter_for(source.w, out_w), filter_for(source.h, out_h));
  stbir_set_edgemodes(&r, STBIR_EDGE_CLAMP, STBIR_EDGE_CLAMP);
  // The window of the full-size result: stb maps the matching part of the input onto it, or the
  // part the caller names.
  const bool placed = from.set() ? stbir_set_output_pixel_subrect(&r, static_cast<int>(keep.x), static_cast<int>(keep.y),
                                                                  static_cast<int>(keep.w), static_cast<int>(keep.h)) &&
                                       stbir_set_input_subrect(&r, from.x0, from.y0, from.x1, from.y1)
                                 : stbir_set_pixel_subrect(&r, static_cast<int>(keep.x), static_cast<int>(keep.y),
                                                           static_cast<int>(keep.w), static_cast<int>(keep.h));
  if (!placed) return fail(error_code::internal, "resize window refused");
  if (!stbir_build_samplers(&r)) return fail(error_code::out_of_memory, "out of memory for the resize");
  const int ok = stbir_resize_extended(&r);
  stbir_free_samplers(&r);
  if (!ok) return fail(error_code::internal, "resize failed");
  if (job.out_of_order || job.next_row != keep.h) return fail(error_code::internal, "resized rows out of order");
  return {};
}

result<pixels> resize_window(const row_source& source, uint32_t out_w, uint32_t out_h, rect keep) {
  WHALE_TRY(pixels out, make_pixels(keep.w, keep.h, source.channels));
  WHALE_TRY_VOID(resize_window_into(source, out_w, out_h, keep, row_sink{&out, copy_row}));
  return out;
}

// stb_image_resize2's allocation (stbir__alloc_internal_mem_and_build_samplers), bounded from
// above: its filters here reach 2 pixels either side (Catmull-Rom, Mitchell) at the scale of the
// smaller side; it works in floats, 7 of them a pixel for RGBA (colour weighted by alpha, both
// kept) and 3 for grey+alpha.
uint64_t resize_bytes(uint32_t src_w, uint32_t src_h, uint32_t out_w, uint32_t out_h, rect keep, uint32_t channels) {
  if (out_w == src_w && out_h == src_h) return 0;
  const uint64_t floats = channels == 4 ? 7 : channels == 2 ? 3 : channels;
  const auto taps = [](uint64_t in, uint64_t out) { return out >= in ? uint64_t{4} : (4 * in + out - 1) / out; };
  const uint64_t taps_x = taps(src_w, out_w), taps_y = taps(src_h, out_h);
  // Horizontal: always gathered; the decoded input span of the window, with the filter's reach.
  const uint64_t span = uint64_t{keep.w} * src_w / out_w + 2 * taps_x + 8;
  const uint64_t decode = span * floats * 4 + 64;
  const uint64_t horizontal = uint64_t{keep.w} * ((taps_x + 4) * 4 + 8);
  const uint64_t line = (std::max<uint64_t>(uint64_t{keep.w} * floats * 4, decode) + 15) / 16 * 16 + 256;
  uint64_t ring = 0, vertical = 0;
  if (out_h >= src_h || taps_y <= 32) {  // gathered: a ring of input lines as wide as the filter
    ring = (taps_y + 2) * line;
    vertical = uint64_t{keep.h} * ((taps_y + 4) * 4 + 8);
  } else {  // scattered: a ring of output lines, coefficients for every input line, and their pivot
    ring = (std::min<uint64_t>(taps_y, keep.h) + 2) * line;
    vertical = (uint64_t{src_h} + taps_y + 2) * (8 * 4 + 8) + uint64_t{keep.h} * ((taps_y + 4) * 4 + 8);
  }
  constexpr uint64_t fixed = 16 << 10;  // stb's info and per-split structures
  return decode + horizontal + ring + vertical + uint64_t{keep.w} * floats * 4 + fixed;
}

result<pixels> convert_channels(pixels p, uint32_t channels, rgba8 bg) {
  if (p.channels == channels) return p;
  // Fewer channels: in place, front to back (a pixel is read whole before its bytes are written,
  // and the write position never passes the read position). More: into a new buffer.
  pixels grown;
  if (channels > p.channels) {
    WHALE_TRY(grown, make_pixels(p.w, p.h, channels));
  }
  const size_t count = size_t{p.w} * p.h;
  const uint8_t* in = p.data();
  uint8_t* o = channels > p.channels ? grown.data() : p.data();
  const uint32_t from = p.channels;
  uint8_t pixel[4];
  for (size_t i = 0; i < count; ++i, in += from, o += channels) {
    convert_pixel(in, from, pixel, channels, bg);  // via a copy: in place, o may overlap in
    std::memcpy(o, pixel, channels);
  }
  if (channels > p.channels) return grown;
  p.channels = channels;  // the buffer keeps its size; only the first w * h * channels bytes count
  return p;
}

bool uses_alpha(const pixels& p) {
  if (!p.has_alpha_channel()) return false;
  const size_t count = size_t{p.w} * p.h;
  const uint8_t* a = p.data() + p.channels - 1;
  for (size_t i = 0; i < count; ++i, a += p.channels) {
    if (*a != 255) return true;
  }
  return false;
}

}  // namespace whale::image::detail
