// AVIF still images: 8-bit pixels encoded with aom (AV1, all-intra) and written in an AVIF
// container (HEIF/ISOBMFF items: the colour image and, when some pixel is not opaque, an alpha
// auxiliary image). A module of its own (avif.wasm at the edge: its compile time is paid by the
// first AVIF job only); the CLI and the native tests link it beside whale::image.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "whale/result.h"

namespace whale::avif {

// The largest output side encoded as AVIF, Cloudflare's: larger outputs are written as WebP. It
// is the CPU budget too, since the encoder's time grows with the area (docs/images.md#avif: 1200 x
// 1200 takes about 0.23 s natively and X s in avif.wasm).
constexpr uint32_t max_side = 1200;
// aom's cpu-used for all-intra (0..9): 9, the fastest; slower presets cost 3-8 times the time for
// a few percent of size (measured in docs/images.md#avif).
constexpr uint32_t default_speed = 9;

struct settings {
  uint32_t quality = 85;  // 1..100, mapped to aom's quantizer (quality 100 = quantizer 0)
  uint32_t speed = default_speed;
  // Bytes the encoder may allocate (aom's frame buffers, its search state, the stream); past
  // it the encode stops with too_large. 0 = no limit.
  uint64_t max_memory = 0;
};

// pixels: w x h, 1..4 interleaved 8-bit channels (grey, grey+alpha, RGB, RGBA; alpha straight,
// not premultiplied). Colour as sRGB (CICP 1/13/6, full range), chroma subsampled 4:2:0; an alpha
// channel with every pixel opaque is dropped. Same bytes on every target.
result<std::vector<uint8_t>> encode(const uint8_t* pixels, uint32_t w, uint32_t h, uint32_t channels,
                                    const settings& s);

// aom's quantizer (0..63) for a quality (1..100), on JPEG's scale: AVIF at quality q is about as
// close to the source (SSIM) as our JPEG at q on the bench's photo, so that format=auto's default
// quality means the same for every format: ((110 - q) * 63 + 50) / 100, at most 63. (libavif's
// and libheif's linear mapping, ((100 - q) * 63 + 50) / 100, is this one 10 points lower.)
constexpr uint32_t quantizer(uint32_t quality) {
  const uint32_t q = quality < 1 ? 1 : quality > 100 ? 100 : quality;
  const uint32_t v = ((110 - q) * 63 + 50) / 100;
  return v > 63 ? 63 : v;
}

// An upper bound of the bytes encode() allocates for a w x h image: aom's frame buffers and
// search state, measured on aom 3.6 (tests/native/avif_test.cpp checks it): about 21 bytes a pixel
// at speeds 7..9, 28 below, and 2 MB of tables. An alpha plane is encoded after the colour, whose
// encoder is gone by then.
constexpr uint64_t encode_bytes(uint32_t w, uint32_t h, uint32_t speed) {
  return (uint64_t{2} << 20) + uint64_t{w} * h * (speed >= 7 ? 24 : 32);
}

// The final pixels image.wasm hands to avif.wasm (whale_avif.h), behind a header of seven
// little-endian u32: magic, width, height, channels, quality, speed, the encoder's memory budget.
struct handoff {
  static constexpr uint32_t magic = 0x31564157;  // "WAV1"
  static constexpr uint32_t header_bytes = 28;
  uint32_t width = 0, height = 0, channels = 0;
  settings s;
};

inline void write_handoff_header(const handoff& h, uint8_t* out) {
  const uint64_t memory = h.s.max_memory > 0xffffffffu ? 0xffffffffu : h.s.max_memory;
  const uint32_t fields[7] = {handoff::magic, h.width, h.height, h.channels, h.s.quality, h.s.speed,
                              static_cast<uint32_t>(memory)};
  for (uint32_t i = 0; i < 7; ++i) {
    for (uint32_t b = 0; b < 4; ++b) out[i * 4 + b] = static_cast<uint8_t>(fields[i] >> (8 * b));
  }
}

// The header's fields, or invalid_value naming what is wrong: a short blob, another magic, sizes
// or channels that do not match its length, a quality or speed out of range.
inline result<handoff> read_handoff(const uint8_t* blob, size_t len) {
  if (blob == nullptr || len < handoff::header_bytes) return failure{error_code::invalid_value, "AVIF handoff: shorter than its header"};
  uint32_t f[7];
  for (uint32_t i = 0; i < 7; ++i) {
    f[i] = uint32_t{blob[i * 4]} | uint32_t{blob[i * 4 + 1]} << 8 | uint32_t{blob[i * 4 + 2]} << 16 |
           uint32_t{blob[i * 4 + 3]} << 24;
  }
  if (f[0] != handoff::magic) return failure{error_code::invalid_value, "AVIF handoff: not image.wasm's pixels"};
  handoff h;
  h.width = f[1], h.height = f[2], h.channels = f[3];
  h.s.quality = f[4], h.s.speed = f[5], h.s.max_memory = f[6];
  if (h.width == 0 || h.height == 0 || h.channels == 0 || h.channels > 4) {
    return failure{error_code::invalid_value, "AVIF handoff: no pixels"};
  }
  if (uint64_t{h.width} * h.height * h.channels != len - handoff::header_bytes) {
    return failure{error_code::invalid_value, "AVIF handoff: the pixels do not match width x height x channels"};
  }
  if (h.s.quality < 1 || h.s.quality > 100 || h.s.speed > 9) {
    return failure{error_code::invalid_value, "AVIF handoff: quality or speed out of range"};
  }
  return h;
}

// encode() of image.wasm's handoff (header and pixels): what avif.wasm and the CLI run.
result<std::vector<uint8_t>> encode_handoff(const uint8_t* blob, size_t len);

// The most bytes aom held at once during the last encode (tests and benches measure with it).
size_t last_encode_peak();

}  // namespace whale::avif
