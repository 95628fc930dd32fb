// whale::image: the /cdn-cgi/image/<options>/<source> pipeline of image.wasm (a module of its
// own, separate from the core): options parsing (Cloudflare names plus Cloudinary aliases),
// decode (libjpeg-turbo with DCT-domain shrink-on-load; stb_image for PNG, GIF, BMP), EXIF
// orientation, resize in linear light (stb_image_resize2), fit/crop/pad, gravity=auto, encode
// (libjpeg-turbo JPEG, stb_image_write's PNG writer, libwebp WebP), within a memory budget
// estimated before decoding (limits::max_memory_bytes). Every step is deterministic: native,
// wasi and emscripten builds give the same bytes for the same input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "whale/result.h"

namespace whale::image {

enum class fit_mode : uint8_t { scale_down, contain, cover, crop, pad };
enum class gravity_mode : uint8_t { center, auto_, left, right, top, bottom, point };
enum class format : uint8_t { auto_, jpeg, png, webp, json, source, avif };  // source: keep the input's
enum class metadata_mode : uint8_t { none, copyright, keep };

struct rgba8 {
  uint8_t r = 255, g = 255, b = 255, a = 255;
};

// Parsed and validated options. 0 means "not given" for sizes and quality.
// options::flip bits: flip=h mirrors left and right, flip=v top and bottom, flip=hv both.
constexpr uint8_t flip_horizontal = 1;
constexpr uint8_t flip_vertical = 2;

// Widths on the four sides (border.*, trim=top;right;bottom;left).
struct edges {
  uint32_t top = 0, right = 0, bottom = 0, left = 0;
  bool any() const { return (top | right | bottom | left) != 0; }
};

struct options {
  uint32_t width = 0;           // 1..4096 output CSS pixels (before dpr)
  bool width_auto = false;      // width=auto: the client's size class (client bits), else desktop (960)
  uint32_t height = 0;          // 1..4096
  fit_mode fit = fit_mode::scale_down;
  bool fit_given = false;       // fit absent: like Cloudflare, width/height alone behave as scale-down
  gravity_mode gravity = gravity_mode::center;
  float gravity_x = 0.5f;       // for gravity_mode::point, 0..1 (Cloudflare's "0.5x0.3")
  float gravity_y = 0.5f;
  uint32_t quality = 0;         // 1..100; 0: default (85 like Cloudflare); named levels map to numbers
  uint32_t slow_quality = 0;    // slow-connection-quality: the quality when the client bits say slow; 0: none
  format fmt = format::source;  // absent: the input's own format (json never implied)
  float dpr = 1.0f;             // 1..3
  rgba8 background{255, 255, 255, 255};  // pad and alpha flattening for JPEG
  bool background_given = false;
  uint32_t rotate = 0;          // 0, 90, 180, 270 (after EXIF orientation and flip)
  uint8_t flip = 0;             // flip_horizontal | flip_vertical (after EXIF orientation, before rotate)
  uint32_t brightness = 0;      // thousandths of a factor, 0..10000; 0 and 1000: unchanged
  uint32_t contrast = 0;        // thousandths of a factor around mid-grey, 0..10000; 0 and 1000: unchanged
  uint32_t gamma = 0;           // thousandths of an exponent's inverse, 0..10000; 0 and 1000: unchanged
  uint32_t saturation = 1000;   // thousandths of a factor, 0..10000; 0: grey, 1000: unchanged
  bool compression_fast = false;  // compression=fast: format=auto never picks WebP (JPEG, or PNG for alpha)
  uint32_t blur = 0;            // thousandths of a radius in output pixels, 0..250000 (sigma = radius / 2); 0: none
  uint32_t sharpen = 0;         // thousandths of a strength 0..10000: an unsharp mask of sigma 1, amount strength / 2
  metadata_mode metadata = metadata_mode::copyright;
  bool onerror_redirect = false;
  edges border;                 // border.width / border.top ...: CSS pixels (times dpr) around the output
  rgba8 border_color{0, 0, 0, 255};  // border.color (a CSS colour), black when not given
  edges trim;                   // trim=top;right;bottom;left, trim.left, trim.top: source pixels (times dpr)
  uint32_t trim_width = 0;      // trim.width, trim.height: the window's size (0: what the edges leave)
  uint32_t trim_height = 0;
  bool trim_border = false;     // trim=border: cut the source to what differs from its border colour
  rgba8 trim_border_color{0, 0, 0, 0};  // trim.border.color; not given: the top-left pixel's
  bool trim_border_color_given = false;
  uint32_t trim_border_tolerance = 10;  // trim.border.tolerance, 0..255: a channel's largest difference
  uint32_t trim_border_keep = 0;        // trim.border.keep: source pixels of border kept around the rest
  bool anim = true;             // anim=false: first frame only (we always serve one frame)
  bool progressive = true;      // JPEG output progressive (Cloudflare serves progressive JPEG)
  std::string sig;              // s=<hex> HMAC signature, checked by the edge, not here
};

// Parses the <options> segment of /cdn-cgi/image/<options>/<source>: comma-separated
// key=value pairs with Cloudflare's names (width|w, height|h, fit, gravity|g, quality|q,
// format|f, dpr, background, rotate, flip, brightness, contrast, gamma, saturation, compression,
// blur, sharpen, metadata, onerror, anim) and
// Cloudinary-style aliases (w_400, h_300, c_fill, c_fit, c_limit, c_pad, c_crop, g_auto,
// g_north, q_auto, q_80, f_auto, dpr_2, ...). An unknown key or a bad value fails with
// error_code::invalid_value and a message naming the option, e.g. "option 'width': ...".
result<options> parse_options(std::string_view text);

// The canonical text of options (sorted keys, Cloudflare names, defaults dropped): the edge's
// cache key uses it so "w=400,fit=cover" and "fit=cover,width=400" share one entry.
std::string normalize(const options& o);

// EXIF orientation (1..8) of a JPEG (APP1 "Exif") or PNG (eXIf chunk); 1 when there is none or
// the EXIF data is malformed. Bounded: reads at most the first 256 KB, follows no offsets outside
// the segment, at most 64 IFD entries.
int exif_orientation(const uint8_t* data, size_t size);

// A crop window in source pixels.
struct rect {
  uint32_t x = 0, y = 0, w = 0, h = 0;
};

// gravity=auto: the crop_w x crop_h window (crop_w <= w, crop_h <= h) of an RGBA8 image
// (stride bytes per row) that holds the most visual energy (gradient magnitude weighted
// by colour saturation and distance from the edges), searched on a downsampled energy map.
rect saliency_crop(const uint8_t* rgba, uint32_t w, uint32_t h, size_t stride, uint32_t crop_w,
                   uint32_t crop_h);

// What a source is, read from its header without decoding pixels.
struct info {
  format fmt = format::source;  // jpeg, png, webp (refused for decode), or source when unknown
  const char* name = "";        // "jpeg", "png", "gif", "bmp", "webp"
  uint32_t width = 0, height = 0;  // as stored (before orientation)
  int orientation = 1;
  uint32_t frames = 1;          // GIF: > 1 when animated (we serve the first)
};
result<info> probe(const uint8_t* data, size_t size);

struct limits {
  uint64_t max_pixels = 4096u * 4096;     // source pixel area (16 777 216), checked from the header; as config.h's media default
  size_t max_input_bytes = 25u << 20;     // 25 MB
  uint32_t max_output_side = 4096;        // output width and height
  // The job's peak wasm memory, estimated from the header and the options before decoding (the
  // input, the module's own 4 MB, every buffer of the heaviest stage, a margin): a job over it is
  // too_large before any pixel is decoded. 96 MB: an isolate has 128 MB for everything, and the
  // JS heap (holding the fetched source too) and core.wasm need the rest.
  uint64_t max_memory_bytes = uint64_t{96} << 20;
};

// What the client is, from its request headers (js-glue/image.js clientBits): the Accept header
// for format=auto; client_slow when its hints say a slow connection (slow-connection-quality
// applies); and in the bits under client_width_mask, width=auto's size class.
enum accept_bits : uint32_t { accept_webp = 1u, accept_avif = 2u, client_slow = 4u };
constexpr uint32_t client_width_shift = 4;
constexpr uint32_t client_width_mask = 7u << client_width_shift;
// width=auto's sizes, as Cloudflare's four: by class 1 (mobile) .. 4 (large desktop); class 0
// (nothing known) is desktop.
constexpr uint32_t auto_widths[] = {960, 320, 768, 960, 1200};
uint32_t auto_width(uint32_t client);

struct output {
  std::vector<uint8_t> bytes;
  const char* content_type = "application/octet-stream";  // image/jpeg, image/png, image/webp, image/avif, application/json
  uint32_t width = 0, height = 0;
};

// The whole job: probe, check limits, decode (shrink-on-load when the output is small enough),
// orient, rotate, resize/fit/crop/pad, encode. format=json answers
// {"width":..,"height":..,"format":"jpeg","orientation":..} of the source.
// Errors: too_large (limits, the memory estimate, or an encoded stream that outgrows what the
// budget leaves it), unsupported_format, corrupt_input, invalid_value.
result<output> process(const uint8_t* data, size_t size, const options& o, uint32_t accept,
                       const limits& lim);

// The same job on an input the caller gives up: its bytes may be overwritten (a PNG's compressed
// image data is gathered in place rather than into a copy, which lowers the peak by about the
// input's size). image.wasm's ABI and the CLI use it: their input buffers are scratch.
result<output> process_in_place(uint8_t* data, size_t size, const options& o, uint32_t accept,
                                const limits& lim);

// The AVIF encoder, where it is linked: the CLI and the native tests install
// whale::avif::encode_handoff. Where none is installed (image.wasm: the encoder is avif.wasm, a
// module of its own), an AVIF output is handed over instead: content type avif_handoff_type, the
// bytes whale::avif's handoff header and the final pixels, which the host passes to avif.wasm.
// Either way the encoder gets the same bytes.
using avif_encoder = result<std::vector<uint8_t>> (*)(const uint8_t* blob, size_t len);
void set_avif_encoder(avif_encoder encoder);
inline constexpr const char* avif_handoff_type = "application/x-whale-avif-pixels";

// One overlay of `draw` (Cloudflare's cf.image.draw, which only Workers can give): its source,
// its own options (width, height, fit, rotate and the rest; the output is always its first frame),
// and where and how it is drawn on the output, after everything else and before the encode.
struct overlay {
  const uint8_t* data = nullptr;
  size_t size = 0;
  options o;                    // o.gravity places it (left, right, top, bottom, XxY; center)
  uint32_t opacity = 1000;      // thousandths, 0..1000: multiplies its alpha
  bool repeat_x = false;        // repeat=x / y / true: tiled across the output from where it stands
  bool repeat_y = false;
  int32_t top = -1, left = -1, bottom = -1, right = -1;  // output pixels from that edge; -1: not given
};
inline constexpr size_t max_overlays = 8;

// An overlay's text: its options, plus opacity (0..1), repeat (true, x, y, false), top, left,
// bottom, right (0..65535 output pixels). Errors name the option, as parse_options does.
result<overlay> parse_overlay(std::string_view text);

// process() with overlays drawn on the output (at most max_overlays; not on an animation). Each
// overlay is its own job within the budget the output leaves.
result<output> process_with_overlays(const uint8_t* data, size_t size, const options& o, uint32_t accept,
                                     const limits& lim, const std::vector<overlay>& overlays);

}  // namespace whale::image
