// Geometry on pixels: EXIF-style orientation, the linear-light resize (stb_image_resize2) of a
// window of the resized image, and channel conversion.
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
  pixels* out;
  rect keep;
};

const void* input_row(void*, const void*, int, int x, int y, void* context) {
  const auto* job = static_cast<const window_job*>(context);
  const row_source& s = *job->source;
  return s.row(s.context, static_cast<uint32_t>(y)) + size_t(x) * s.channels;
}

// y counts rows of the output window (stb offsets the output by the window's origin).
void output_row(const void* pixels_row, int num_pixels, int y, void* context) {
  auto* job = static_cast<window_job*>(context);
  if (y < 0 || static_cast<uint32_t>(y) >= job->out->h || static_cast<uint32_t>(num_pixels) != job->out->w) return;
  std::memcpy(job->out->row(static_cast<uint32_t>(y)), pixels_row, job->out->stride());
}

const uint8_t* pixels_row(const void* context, uint32_t y) { return static_cast<const pixels*>(context)->row(y); }

// Scale 1: the window is copied, not filtered.
result<pixels> copy_window(const row_source& source, rect keep) {
  WHALE_TRY(pixels out, make_pixels(keep.w, keep.h, source.channels));
  for (uint32_t y = 0; y < keep.h; ++y) {
    std::memcpy(out.row(y), source.row(source.context, keep.y + y) + size_t{keep.x} * source.channels, out.stride());
  }
  return out;
}

uint8_t over(uint32_t c, uint32_t a, uint32_t background) { return static_cast<uint8_t>((c * a + background * (255 - a) + 127) / 255); }

}  // namespace

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

result<pixels> resize_window(const row_source& source, uint32_t out_w, uint32_t out_h, rect keep) {
  if (keep.w == 0 || keep.h == 0 || keep.x + keep.w > out_w || keep.y + keep.h > out_h) {
    return fail(error_code::internal, "resize window outside the resized image");
  }
  if (out_w == source.w && out_h == source.h) return copy_window(source, keep);
  WHALE_TRY(pixels out, make_pixels(keep.w, keep.h, source.channels));
  window_job job{&source, &out, keep};
  STBIR_RESIZE r;
  // Rows come from the callback; stb still wants a non-null input pointer.
  stbir_resize_init(&r, out.data(), static_cast<int>(source.w), static_cast<int>(source.h), 0, nullptr,
                    static_cast<int>(out_w), static_cast<int>(out_h), 0, layout_for(source.channels),
                    STBIR_TYPE_UINT8_SRGB);  // sRGB in and out, linear light in between, alpha linear
  stbir_set_pixel_callbacks(&r, input_row, output_row);
  stbir_set_user_data(&r, &job);
  stbir_set_filters(&r, filter_for(source.w, out_w), filter_for(source.h, out_h));
  stbir_set_edgemodes(&r, STBIR_EDGE_CLAMP, STBIR_EDGE_CLAMP);
  // The window of the full-size result: stb maps the matching part of the input onto it.
  if (!stbir_set_pixel_subrect(&r, static_cast<int>(keep.x), static_cast<int>(keep.y), static_cast<int>(keep.w),
                               static_cast<int>(keep.h))) {
    return fail(error_code::internal, "resize window refused");
  }
  if (!stbir_build_samplers(&r)) return fail(error_code::out_of_memory, "out of memory for the resize");
  const int ok = stbir_resize_extended(&r);
  stbir_free_samplers(&r);
  if (!ok) return fail(error_code::internal, "resize failed");
  return out;
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
  for (size_t i = 0; i < count; ++i, in += from, o += channels) {
    const bool grey = from <= 2;
    const uint32_t a = from == 2 ? in[1] : from == 4 ? in[3] : 255;
    const uint8_t r = in[0], g = grey ? in[0] : in[1], b = grey ? in[0] : in[2];
    const bool keep_alpha = channels == 2 || channels == 4;
    switch (channels) {
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
        if (channels == 4) o[3] = static_cast<uint8_t>(a);
        break;
    }
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
