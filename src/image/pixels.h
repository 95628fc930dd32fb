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

  size_t stride() const { return size_t{w} * channels; }
  size_t size() const { return stride() * h; }
  uint8_t* data() { return bytes.get(); }
  const uint8_t* data() const { return bytes.get(); }
  uint8_t* row(uint32_t y) { return bytes.get() + y * stride(); }
  const uint8_t* row(uint32_t y) const { return bytes.get() + y * stride(); }
  bool has_alpha_channel() const { return channels == 2 || channels == 4; }
};

// Zeroed w x h x channels, or out_of_memory.
result<pixels> make_pixels(uint32_t w, uint32_t h, uint32_t channels);

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

  // Reads the header and starts decompression at 1/denom (1, 2, 4 or 8).
  result<void> start(const uint8_t* data, size_t size, uint32_t denom, uint64_t max_pixels);
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
result<pixels> decode_jpeg(const uint8_t* data, size_t size, uint32_t denom, uint64_t max_pixels);
result<pixels> decode_stb(const uint8_t* data, size_t size, const char* name);

// ---- resize.cpp ----

// EXIF-style orientation 1..8 as a pixel mapping: the shown pixel (x, y) of a shown image
// sw x sh is stored at: flip x and/or y within the shown size, then swap the axes if transpose.
struct orient_map {
  bool transpose = false, flip_x = false, flip_y = false;
};
orient_map orientation_map(int exif_orientation);
// Shows by `first`, then turns the result by `then` (e.g. EXIF, then the rotate option).
orient_map compose(orient_map first, orient_map then);
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
result<pixels> resize_window(const row_source& source, uint32_t out_w, uint32_t out_h, rect keep);
row_source rows_of(const pixels& p);

// Adds or drops channels: grey to RGB, an opaque alpha added, or alpha composited over
// `background` (sRGB values). Grey+alpha to grey assumes a grey background (its red is used).
// Dropping channels reuses p's buffer.
result<pixels> convert_channels(pixels p, uint32_t channels, rgba8 background);
bool uses_alpha(const pixels& p);  // some alpha value below 255

// ---- encode.cpp ----
result<std::vector<uint8_t>> encode_jpeg(const pixels& p, uint32_t quality, bool progressive);
result<std::vector<uint8_t>> encode_png(const pixels& p);
result<std::vector<uint8_t>> encode_webp(const pixels& p, uint32_t quality);

}  // namespace whale::image::detail
