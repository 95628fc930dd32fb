// Private to src/image: the pixel buffer every step of the pipeline hands on, and the steps
// themselves (decode.cpp, resize.cpp, encode.cpp), which pipeline.cpp strings together.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "whale/image.h"
#include "whale/result.h"

namespace whale::image::detail {

struct free_deleter {
  void operator()(uint8_t* p) const { std::free(p); }
};

// 8-bit interleaved pixels: 1 channel = grey, 2 = grey+alpha, 3 = RGB, 4 = RGBA (alpha not
// premultiplied). The bytes come from calloc (ours, or stb_image's, whose STBI_MALLOC is calloc):
// zeroed, so a decoder that stops early never exposes old heap bytes, and an allocation failure
// is an error, not an abort.
struct pixels {
  uint32_t w = 0, h = 0, channels = 0;
  std::unique_ptr<uint8_t, free_deleter> bytes;
  size_t capacity = 0;  // bytes allocated: at least size(); make_pixels adds room for the PNG encoder

  size_t stride() const { return size_t{w} * channels; }
  size_t size() const { return stride() * h; }
  uint8_t* data() { return bytes.get(); }
  const uint8_t* data() const { return bytes.get(); }
  uint8_t* row(uint32_t y) { return bytes.get() + y * stride(); }
  const uint8_t* row(uint32_t y) const { return bytes.get() + y * stride(); }
  bool has_alpha_channel() const { return channels == 2 || channels == 4; }
};

// Bytes of an image buffer that the PNG encoder can turn into its stream in the worst case: the
// filtered image (a filter-type byte a row more) stored in deflate blocks of at most 32767 bytes
// (5 bytes each), and the PNG's signature, chunks and checksums.
constexpr uint64_t png_room(uint64_t filtered) { return filtered + (filtered + 32766) / 32767 * 5 + 128; }

// Zeroed w x h x channels, with room for the PNG encoder (png_room of a spare byte a row more: it
// filters in place, and its stream fits where the image was once that is freed), or out_of_memory.
result<pixels> make_pixels(uint32_t w, uint32_t h, uint32_t channels);

// ---- probe.cpp ----

// What the memory estimate needs from a source's header beyond info: read from the header
// alone, bounded like probe(); facts it cannot find are left at their most costly value.
struct source_layout {
  // JPEG: the components and their sampling factors (SOF), and whether libjpeg keeps every DCT
  // coefficient of the image (progressive, or a first scan without every component).
  uint32_t components = 4;
  uint8_t h_samp[4] = {1, 1, 1, 1}, v_samp[4] = {1, 1, 1, 1};
  bool multi_scan = true;
  // PNG (IHDR, and the chunks before IEND).
  uint32_t png_colour_type = 6, png_depth = 16;
  bool png_interlaced = true, png_transparency = true;  // tRNS
  uint64_t idat_bytes = 0;     // the compressed image data, all IDAT chunks
  uint32_t idat_chunks = 0;
  uint64_t stb_idata_bytes = 0;  // the buffer stb_image grows for them (it doubles)
  // BMP: bits per pixel.
  uint32_t bmp_bits = 32;
};
source_layout read_layout(const uint8_t* data, size_t size, const info& source);

// ---- decode.cpp ----

// A JPEG decoded row by row at 1/denom scale (libjpeg-turbo's DCT-domain scaling), so that the
// resizer can pull rows straight from the decoder without a full-size buffer. CMYK/YCCK come out
// as RGB, greyscale as one channel, everything else as RGB.
class jpeg_rows {
 public:
  jpeg_rows();
  ~jpeg_rows();
  jpeg_rows(const jpeg_rows&) = delete;
  jpeg_rows& operator=(const jpeg_rows&) = delete;

  // Reads the header and starts decompression at 1/denom (1, 2, 4 or 8). libjpeg's own
  // allocations stop at max_memory bytes (past them: too_large).
  result<void> start(const uint8_t* data, size_t size, uint32_t denom, uint64_t max_pixels, uint64_t max_memory);
  uint32_t width() const;
  uint32_t height() const;
  uint32_t channels() const;
  // Row y of the scaled image; rows must be asked for in non-decreasing order. After a decode
  // error it answers a zero row and failed() holds the error.
  const uint8_t* row(uint32_t y);
  bool failed() const;
  failure error() const;

  struct state;

 private:
  std::unique_ptr<state> s_;
};

// The whole image at 1/denom (JPEG), or at full size (PNG, GIF first frame, BMP via stb_image).
result<pixels> decode_jpeg(const uint8_t* data, size_t size, uint32_t denom, uint64_t max_pixels,
                           uint64_t max_memory = limits{}.max_memory_bytes);
// max_block: the largest block stb_image may allocate (past it: too_large); a PNG whose data
// inflates past its size would otherwise grow stb's buffer without bound.
result<pixels> decode_stb(const uint8_t* data, size_t size, const char* name, size_t max_block = SIZE_MAX);

// PNGs that decode_png takes: 8- or 16-bit grey, grey+alpha, RGB or RGBA, not interlaced, no tRNS
// (most photos and screenshots). Others (palette, 1-4 bits, interlaced, tRNS) go through stb_image.
bool png_decodes_directly(const source_layout& l);
// Inflates the image data into one buffer (stb_image's inflater) and unfilters it in place: the
// decoded image is the only copy, where stb_image keeps the inflated rows and the image besides.
// The compressed data of several IDAT chunks must be contiguous for the inflater: it is gathered
// in place when `writable` is the input itself (the input is overwritten), else into a copy.
result<pixels> decode_png(const uint8_t* data, size_t size, uint8_t* writable);

// A PNG that png_decodes_directly takes, decoded row by row: zlib inflates the IDAT chunks as
// the rows are asked for, and only the row above is kept to unfilter the next, so no image
// buffer exists at all. 16-bit samples keep their high byte (as decode_png and stb_image).
class png_rows {
 public:
  png_rows();
  ~png_rows();
  png_rows(const png_rows&) = delete;
  png_rows& operator=(const png_rows&) = delete;

  result<void> start(const uint8_t* data, size_t size);
  uint32_t width() const;
  uint32_t height() const;
  uint32_t channels() const;
  // Row y; rows must be asked for in non-decreasing order. After a decode error it answers a
  // zero row and failed() holds the error.
  const uint8_t* row(uint32_t y);
  bool failed() const;
  failure error() const;

  struct state;

 private:
  std::unique_ptr<state> s_;
};
// png_rows' blocks for a w-pixel-wide PNG: zlib's inflate state and window, two filtered rows
// and the row it answers.
uint64_t png_rows_bytes(const source_layout& l, uint32_t w);

// A WebP (lossy, lossless, with or without alpha) at full size, RGB or RGBA as it has alpha
// (webp_has_alpha); an animation's first frame as it shows, RGBA. libwebp's own blocks are
// metered with the encoder's: past max_working, too_large.
result<pixels> decode_webp(const uint8_t* data, size_t size, size_t max_working = SIZE_MAX);
bool webp_has_alpha(const uint8_t* data, size_t size);

// Bytes each decoder allocates at its peak, for w x h stored pixels (the estimate's terms).
uint64_t jpeg_decode_bytes(const source_layout& l, uint32_t w, uint32_t h, uint32_t denom);
uint64_t png_decode_bytes(const source_layout& l, uint32_t w, uint32_t h, bool writable);
uint64_t stb_decode_bytes(const info& source, const source_layout& l);
// libwebp's blocks besides the decoded image (decode_webp's max_working is what the budget leaves).
uint64_t webp_decode_bytes(const uint8_t* data, size_t size, uint32_t w, uint32_t h);
// The largest block stb_image takes for the source (decode_stb's max_block).
uint64_t stb_largest_block(const info& source, const source_layout& l);
// The channels the decoders answer for the source (JPEG: 1 or 3), from its header.
uint32_t decoded_channels(const uint8_t* data, size_t size, const info& source, const source_layout& l);

// ---- blur.cpp ----

// A Gaussian blur of sigma = radius / 2 (radius in thousandths of a pixel) over `area` of the
// image, by three box blurs whose sizes make that sigma; colours premultiplied by alpha meanwhile.
// Integer arithmetic (same bytes on every target); out_of_memory for the line buffers.
result<void> blur(pixels& image, rect area, uint32_t radius_milli);
// An unsharp mask over `area`: each sample moved away from its Gaussian blur (sigma 1) by
// strength / 2 times the difference (strength in thousandths, 0..10000), rounded and clipped;
// alpha left alone. Needs a copy of the area (out_of_memory without it).
result<void> sharpen(pixels& image, rect area, uint32_t strength_milli);

// ---- resize.cpp ----

// EXIF-style orientation 1..8 as a pixel mapping: the shown pixel (x, y) of a shown image
// sw x sh is stored at: flip x and/or y within the shown size, then swap the axes if transpose.
struct orient_map {
  bool transpose = false, flip_x = false, flip_y = false;
};
orient_map orientation_map(int exif_orientation);
// Shows by `first`, then turns the result by `then` (e.g. EXIF, then the rotate option).
orient_map compose(orient_map first, orient_map then);
bool is_identity(orient_map m);
// The stored rectangle under a shown rectangle of a shown image sw x sh.
rect stored_rect(orient_map m, uint32_t sw, uint32_t sh, rect shown);
// Applies the mapping to a stored image: returns the image as shown.
result<pixels> apply_orientation(pixels stored, orient_map m);

// Resizes the whole source (src_w x src_h, rows from `source`) to out_w x out_h in linear light
// and keeps only the window `keep` of that resized image. rows(y) must accept non-decreasing y.
struct row_source {
  uint32_t w = 0, h = 0, channels = 0;
  const void* context = nullptr;
  const uint8_t* (*row)(const void* context, uint32_t y) = nullptr;
};
// Where the window's rows go, in order (y = 0 .. keep.h - 1), keep.w * channels bytes each.
struct row_sink {
  void* context = nullptr;
  void (*row)(void* context, uint32_t y, const uint8_t* pixels) = nullptr;
};

// An animated GIF or WebP in, an animated WebP out. Each frame's canvas (RGBA, w x h, as it
// shows) is given to `frame` (the pipeline's resize and what follows it), whose image goes into
// libwebp's animation encoder at the frame's time: timing and loop count kept. GIF delays under
// 20 ms are 100 ms, as browsers play them. libwebp's blocks (decoder and encoder) count against
// max_working; more than max_frames frames is too_large.
struct animation_frame {
  void* context = nullptr;
  result<pixels> (*make)(void* context, const row_source& canvas) = nullptr;
};
result<std::vector<uint8_t>> encode_animation(const uint8_t* data, size_t size, bool webp_source, uint32_t quality,
                                              uint32_t max_frames, size_t max_working, animation_frame frame);
// A GIF's or animated WebP's frame decoder, besides its canvas (the estimate's term).
uint64_t animation_decode_bytes(bool webp_source, uint32_t w, uint32_t h);
// libwebp's animation encoder for w x h frames: its previous and candidate canvases (RGBA) and a
// frame's encode.
uint64_t animation_encode_bytes(uint32_t w, uint32_t h);

// The part of the source that the kept window shows, as fractions of the source's width and
// height (by default the window's share of out_w x out_h: the whole source maps onto the whole
// resized image). A JPEG decoded at 1/8..1/2 is up to a pixel wider than the picture in it, and
// fit=cover rounds one side of the resized image: the job's span corrects both.
struct span {
  double x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  bool set() const { return x1 > x0 && y1 > y0; }
};
result<void> resize_window_into(const row_source& source, uint32_t out_w, uint32_t out_h, rect keep,
                                const row_sink& sink, span from = {});
// The same into a new buffer.
result<pixels> resize_window(const row_source& source, uint32_t out_w, uint32_t out_h, rect keep);
row_source rows_of(const pixels& p);
// Bytes stb_image_resize2 allocates for that resize (0 at scale 1: the window is copied).
uint64_t resize_bytes(uint32_t src_w, uint32_t src_h, uint32_t out_w, uint32_t out_h, rect keep, uint32_t channels);

// Adds or drops channels: grey to RGB, an opaque alpha added, or alpha composited over
// `background` (sRGB values). Grey+alpha to grey assumes a grey background (its red is used).
// Dropping channels reuses p's buffer.
result<pixels> convert_channels(pixels p, uint32_t channels, rgba8 background);
// The same for one pixel.
void convert_pixel(const uint8_t* in, uint32_t from, uint8_t* out, uint32_t to, rgba8 background);

// A row_sink that writes the resized window (w x h as stored, `channels` a pixel) into `image`:
// shown upright by m, its top-left at (x, y) of the image, converted to the image's channels. So
// the final image is the only buffer after the resize: no turned copy, no converted copy, no
// separate canvas for fit=pad.
struct placement {
  pixels* image = nullptr;
  orient_map m;
  uint32_t w = 0, h = 0, channels = 0;
  uint32_t x = 0, y = 0;
  rgba8 background;
};
row_sink place_rows(placement& p);
bool uses_alpha(const pixels& p);  // some alpha value below 255

// ---- encode.cpp ----

// A JPEG encoder fed row by row, so that the resizer can push rows straight into it without an
// output image buffer. libjpeg keeps every DCT coefficient until finish() (progressive and
// Huffman-optimized output need them all); the encoded stream is written then, into a buffer
// that may grow to max_output bytes (its old and new block during a growth counted): past that,
// finish() fails with too_large.
class jpeg_writer {
 public:
  jpeg_writer();
  ~jpeg_writer();
  jpeg_writer(const jpeg_writer&) = delete;
  jpeg_writer& operator=(const jpeg_writer&) = delete;

  // channels: 1 (grey) or 3 (RGB). libjpeg's own allocations stop at max_memory bytes.
  result<void> start(uint32_t w, uint32_t h, uint32_t channels, uint32_t quality, bool progressive,
                     uint64_t max_memory, size_t max_output);
  // Rows in order; after a failure they are ignored and finish() answers the error.
  void write_row(const uint8_t* row);
  void write_rows(const uint8_t* const* rows, uint32_t count);
  // Writes the stream and frees libjpeg's memory.
  result<std::vector<uint8_t>> finish();

  struct state;

 private:
  std::unique_ptr<state> s_;
};

constexpr size_t unlimited_output = SIZE_MAX;

// The encoders take the image over and free it as soon as they no longer need it. max_output
// bounds the encoded stream's buffer (too_large past it); the WebP encoder's working memory,
// which depends on the picture, is bounded by max_working (too_large past it).
result<std::vector<uint8_t>> encode_jpeg(pixels p, uint32_t quality, bool progressive,
                                         uint64_t max_memory = limits{}.max_memory_bytes,
                                         size_t max_output = unlimited_output);
result<std::vector<uint8_t>> encode_png(pixels p, size_t max_output = unlimited_output);
result<std::vector<uint8_t>> encode_webp(pixels p, uint32_t quality, size_t max_working = unlimited_output);

// Bytes each encoder allocates besides the image it is given and the encoded stream (the
// estimate's terms). webp_encode_bytes (after the picture is made; the stream included) assumes
// a typical picture: libwebp's need depends on it.
uint64_t jpeg_encode_bytes(uint32_t w, uint32_t h, uint32_t channels, uint32_t quality);
uint64_t png_encode_bytes(uint32_t w, uint32_t h, uint32_t channels);
uint64_t webp_picture_bytes(uint32_t w, uint32_t h, uint32_t channels);
uint64_t webp_encode_bytes(uint32_t w, uint32_t h, uint32_t channels);

}  // namespace whale::image::detail
