// The job's memory: the estimate refuses before decoding and names itself; the PNG decoder that
// unfilters in place gives stb_image's pixels; the PNG writer is lossless;
// process_in_place gives process's bytes; each encoder stops with too_large at the room it is
// given, and the WebP meter is whole again after it.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "../../src/image/pixels.h"
#include "test_util.h"
#include "whale/image.h"

extern "C" {
// stb_image_write (src/image/stb_impl.c), kept for this comparison: encode_png's streams are smaller.
unsigned char* stbi_write_png_to_mem(const unsigned char* pixels, int stride_bytes, int x, int y, int n, int* out_len);
extern int stbi_write_png_compression_level;
extern int stbi_write_force_png_filter;
}

namespace {

namespace wi = whale::image;
namespace wd = whale::image::detail;
using whale::error_code;

using bytes = std::vector<uint8_t>;

bytes fixture(const std::string& name) { return whale::testing::fixture_bytes("images/" + name); }

wi::options opts(const std::string& text) {
  auto parsed = wi::parse_options(text);
  EXPECT_TRUE(parsed.ok()) << text << ": " << parsed.message();
  return parsed.value();
}

// An image with smooth gradients, edges and (for seed != 0) noise, w x h x channels.
wd::pixels pattern(uint32_t w, uint32_t h, uint32_t channels, uint32_t seed) {
  auto made = wd::make_pixels(w, h, channels);
  EXPECT_TRUE(made.ok());
  wd::pixels p = std::move(made).value();
  uint32_t state = seed;
  for (uint32_t y = 0; y < h; ++y) {
    uint8_t* r = p.row(y);
    for (uint32_t x = 0; x < w * channels; ++x) {
      state = state * 1103515245u + 12345u;
      const uint32_t noise = seed ? (state >> 24) & 31 : 0;
      r[x] = static_cast<uint8_t>((x * 3 + y * 5 + ((x / 16 + y / 16) % 2) * 90 + noise) & 255);
    }
  }
  return p;
}

wd::pixels copy_of(const wd::pixels& p) {
  auto made = wd::make_pixels(p.w, p.h, p.channels);
  EXPECT_TRUE(made.ok());
  std::memcpy(made->data(), p.data(), p.size());
  return std::move(made).value();
}

bytes stb_png(const wd::pixels& p) {
  stbi_write_png_compression_level = 8;
  stbi_write_force_png_filter = -1;
  int length = 0;
  unsigned char* png = stbi_write_png_to_mem(p.data(), static_cast<int>(p.stride()), static_cast<int>(p.w),
                                             static_cast<int>(p.h), static_cast<int>(p.channels), &length);
  bytes out(png, png + length);
  std::free(png);
  return out;
}

uint32_t be32(const uint8_t* p) { return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3]; }

// The same PNG with its image data cut into IDAT chunks of at most `piece` bytes (CRCs zero:
// neither decoder checks them), so that the data must be gathered before it is inflated.
bytes split_idat(const bytes& png, size_t piece) {
  bytes out(png.begin(), png.begin() + 8);
  for (size_t pos = 8; pos + 12 <= png.size();) {
    const uint32_t length = be32(png.data() + pos);
    const bool idat = std::memcmp(png.data() + pos + 4, "IDAT", 4) == 0;
    for (size_t at = 0; idat && at < length; at += piece) {
      const uint32_t n = static_cast<uint32_t>(length - at < piece ? length - at : piece);
      for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(n >> shift));
      out.insert(out.end(), {'I', 'D', 'A', 'T'});
      out.insert(out.end(), png.begin() + static_cast<std::ptrdiff_t>(pos + 8 + at),
                 png.begin() + static_cast<std::ptrdiff_t>(pos + 8 + at + n));
      out.insert(out.end(), 4, 0);
    }
    const auto at = [&png](size_t i) { return png.begin() + static_cast<std::ptrdiff_t>(i); };
    if (!idat) out.insert(out.end(), at(pos), at(pos + 12 + length));
    pos += 12 + length;
  }
  return out;
}

void expect_same_pixels(const wd::pixels& a, const wd::pixels& b, const std::string& what) {
  ASSERT_EQ(a.w, b.w) << what;
  ASSERT_EQ(a.h, b.h) << what;
  ASSERT_EQ(a.channels, b.channels) << what;
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size()), 0) << what;
}

// decode_png against stb_image, read-only and overwriting its input.
void expect_png_decodes_like_stb(const bytes& png, const std::string& what) {
  auto info = wi::probe(png.data(), png.size());
  ASSERT_TRUE(info.ok()) << what << ": " << info.message();
  ASSERT_TRUE(wd::png_decodes_directly(wd::read_layout(png.data(), png.size(), info.value()))) << what;
  auto stb = wd::decode_stb(png.data(), png.size(), "PNG");
  ASSERT_TRUE(stb.ok()) << what << ": " << stb.message();
  auto direct = wd::decode_png(png.data(), png.size(), nullptr);
  ASSERT_TRUE(direct.ok()) << what << ": " << direct.message();
  expect_same_pixels(stb.value(), direct.value(), what);
  bytes scratch = png;
  auto in_place = wd::decode_png(scratch.data(), scratch.size(), scratch.data());
  ASSERT_TRUE(in_place.ok()) << what << ": " << in_place.message();
  expect_same_pixels(stb.value(), in_place.value(), what + " (in place)");
  // Row by row (png_rows, what the pipeline streams into the resizer): the same rows.
  wd::png_rows rows;
  ASSERT_TRUE(rows.start(png.data(), png.size()).ok()) << what;
  ASSERT_EQ(rows.width(), stb->w);
  ASSERT_EQ(rows.height(), stb->h);
  ASSERT_EQ(rows.channels(), stb->channels);
  for (uint32_t y = 0; y < rows.height(); ++y) {
    const uint8_t* row = rows.row(y);
    ASSERT_EQ(std::memcmp(row, stb->row(y), stb->stride()), 0) << what << " (rows), row " << y;
    if (y % 7 == 0) {
      ASSERT_EQ(rows.row(y), row) << what << ": the same row asked twice";
    }
  }
  EXPECT_FALSE(rows.failed()) << what;
}

TEST(ImageMemory, PngDecodedInPlaceHasStbImagesPixels) {
  for (const std::string name : {"16-bit-grey-alpha.png", "alpha-premultiply-2048x1536-paper.png", "embedgravitybird.png",
                                 "grey-8bit-alpha.png", "p3.png", "test-pattern.png"}) {
    expect_png_decodes_like_stb(fixture(name), name);
  }
  for (uint32_t channels = 1; channels <= 4; ++channels) {  // grey and RGB too, in many chunks
    auto png = wd::encode_png(pattern(97, 61, channels, channels));
    ASSERT_TRUE(png.ok());
    expect_png_decodes_like_stb(png.value(), std::to_string(channels) + " channels");
    expect_png_decodes_like_stb(split_idat(png.value(), 100), std::to_string(channels) + " channels, split");
  }
}

TEST(ImageMemory, DamagedPngsFailCleanly) {
  auto made = wd::encode_png(pattern(64, 48, 3, 1));
  ASSERT_TRUE(made.ok());
  const bytes png = split_idat(made.value(), 500);
  for (size_t cut : {size_t{40}, png.size() / 3, png.size() / 2, png.size() - 20}) {
    bytes part(png.begin(), png.begin() + static_cast<std::ptrdiff_t>(cut));
    auto out = wd::decode_png(part.data(), part.size(), part.data());
    EXPECT_FALSE(out.ok()) << "cut at " << cut;
    EXPECT_EQ(out.code(), error_code::corrupt_input) << out.message();
  }
  bytes bad = png;
  bad[8 + 25 + 8 + 2 + 10] ^= 0xFF;  // inside the deflate stream
  auto out = wd::decode_png(bad.data(), bad.size(), nullptr);
  if (!out.ok()) {
    EXPECT_EQ(out.code(), error_code::corrupt_input) << out.message();
  }
  // Row by row: a cut stream fails with corrupt_input at the first row it lacks, answering zero
  // rows from there; a bad stream fails the same way (or decodes, when the flip lands in data).
  for (size_t cut : {size_t{60}, png.size() / 2, png.size() - 20}) {
    bytes part(png.begin(), png.begin() + static_cast<std::ptrdiff_t>(cut));
    wd::png_rows rows;
    ASSERT_TRUE(rows.start(part.data(), part.size()).ok());
    for (uint32_t y = 0; y < rows.height(); ++y) rows.row(y);
    EXPECT_TRUE(rows.failed()) << "cut at " << cut;
    EXPECT_EQ(rows.error().code, error_code::corrupt_input) << rows.error().message;
    EXPECT_EQ(rows.row(rows.height() - 1)[0], 0);
  }
  wd::png_rows flipped;
  ASSERT_TRUE(flipped.start(bad.data(), bad.size()).ok());
  for (uint32_t y = 0; y < flipped.height(); ++y) flipped.row(y);
  if (flipped.failed()) {
    EXPECT_EQ(flipped.error().code, error_code::corrupt_input) << flipped.error().message;
  }
  // Rows asked for backwards are an internal error, not a crash.
  wd::png_rows backwards;
  ASSERT_TRUE(backwards.start(png.data(), png.size()).ok());
  backwards.row(10);
  backwards.row(3);
  EXPECT_TRUE(backwards.failed());
  EXPECT_EQ(backwards.error().code, error_code::internal);
}

// The PNG writer (adaptive filters, zlib's deflate) is lossless and, with dynamic Huffman codes,
// smaller than stb_image_write's fixed-code stream on anything compressible.
TEST(ImageMemory, PngWriterIsLosslessAndSmallerThanStbImageWrite) {
  std::vector<wd::pixels> images;
  for (uint32_t channels = 1; channels <= 4; ++channels) {
    images.push_back(pattern(131, 67, channels, 0));
    images.push_back(pattern(64, 40, channels, 7));
    images.push_back(pattern(1, 9, channels, 3));
    images.push_back(pattern(17, 1, channels, 0));
  }
  auto noise = wd::make_pixels(300, 200, 3);  // incompressible: deflate stores it
  ASSERT_TRUE(noise.ok());
  uint32_t state = 1;
  for (size_t i = 0; i < noise->size(); ++i) {
    state = state * 1664525u + 1013904223u;
    noise->data()[i] = static_cast<uint8_t>(state >> 24);
  }
  images.push_back(std::move(noise).value());
  for (const std::string name : {"test-pattern.png", "embedgravitybird.png", "alpha-premultiply-2048x1536-paper.png"}) {
    const bytes png = fixture(name);
    auto decoded = wd::decode_stb(png.data(), png.size(), "PNG");
    ASSERT_TRUE(decoded.ok());
    images.push_back(std::move(decoded).value());  // a decoder's buffer: no spare bytes
  }
  size_t ours_total = 0, stb_total = 0;
  for (const wd::pixels& p : images) {
    const std::string what = std::to_string(p.w) + "x" + std::to_string(p.h) + "x" + std::to_string(p.channels);
    auto got = wd::encode_png(copy_of(p));
    ASSERT_TRUE(got.ok()) << what << ": " << got.message();
    auto back = wd::decode_stb(got->data(), got->size(), "PNG");
    ASSERT_TRUE(back.ok()) << what << ": " << back.message();
    ASSERT_EQ(back->channels, p.channels) << what;
    EXPECT_EQ(std::memcmp(back->data(), p.data(), p.size()), 0) << what;
    if (p.w * p.h >= 4096) {
      ours_total += got->size();
      stb_total += stb_png(p).size();
    }
  }
  EXPECT_LT(ours_total, stb_total * 9 / 10) << ours_total << " B against stb_image_write's " << stb_total;
}

TEST(ImageMemory, EncodersStopAtTheirRoom) {
  auto png = wd::encode_png(pattern(256, 256, 3, 5), 4096);
  ASSERT_FALSE(png.ok());
  EXPECT_EQ(png.code(), error_code::too_large);
  EXPECT_NE(png.message().find("memory budget"), std::string::npos) << png.message();
  auto jpeg = wd::encode_jpeg(pattern(256, 256, 3, 5), 95, true, wi::limits{}.max_memory_bytes, 2048);
  ASSERT_FALSE(jpeg.ok());
  EXPECT_EQ(jpeg.code(), error_code::too_large) << jpeg.message();
  // libwebp's allocations are metered: refused past the room, and whole again after.
  auto webp = wd::encode_webp(pattern(256, 256, 4, 5), 85, 64 << 10);
  ASSERT_FALSE(webp.ok());
  EXPECT_EQ(webp.code(), error_code::too_large) << webp.message();
  for (int i = 0; i < 3; ++i) {
    auto again = wd::encode_webp(pattern(256, 256, 4, 5), 85, 8 << 20);
    ASSERT_TRUE(again.ok()) << again.message();
  }
}

TEST(ImageMemory, TheEstimateRefusesBeforeDecodingAndNamesItself) {
  const bytes photo = fixture("2569067123_aca715a2ee_o.jpg");  // 2725x2225
  wi::limits lim;
  lim.max_memory_bytes = 8u << 20;
  auto out = wi::process(photo.data(), photo.size(), opts("width=2725,format=png"), 0, lim);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.code(), error_code::too_large);
  const std::string& m = out.message();
  EXPECT_NE(m.find("this 2725x2225 JPEG needs about "), std::string::npos) << m;
  EXPECT_NE(m.find(" MB to "), std::string::npos) << m;
  EXPECT_NE(m.find("(output 2725x2225 PNG)"), std::string::npos) << m;
  EXPECT_NE(m.find("the limit is 8 MB"), std::string::npos) << m;
  // A small output of the same source fits in 8 MB.
  auto small = wi::process(photo.data(), photo.size(), opts("width=300"), 0, lim);
  EXPECT_TRUE(small.ok()) << small.message();
  // format=json decodes nothing: no estimate.
  lim.max_memory_bytes = 1;
  EXPECT_TRUE(wi::process(photo.data(), photo.size(), opts("format=json"), 0, lim).ok());
}

// A bottom-up BMP (BITMAPINFOHEADER, no compression) of 24 or 32 bits.
bytes make_bmp(uint32_t w, uint32_t h, uint32_t bits) {
  const uint32_t row = (w * bits / 8 + 3) / 4 * 4;
  bytes b(54 + size_t{row} * h);
  const auto le = [&b](size_t at, uint32_t v, int n) {
    for (int i = 0; i < n; ++i) b[at + i] = static_cast<uint8_t>(v >> (8 * i));
  };
  b[0] = 'B';
  b[1] = 'M';
  le(2, static_cast<uint32_t>(b.size()), 4);
  le(10, 54, 4);
  le(14, 40, 4);
  le(18, w, 4);
  le(22, h, 4);
  le(26, 1, 2);
  le(28, bits, 2);
  for (size_t i = 54; i < b.size(); ++i) b[i] = static_cast<uint8_t>(i * 7);
  return b;
}

// The plan's channels come from the header (stb_image's for BMP) and must be what the decoder
// answers: the final image is made before decoding.
TEST(ImageMemory, BmpAndGifDecodeToThePlannedChannels) {
  for (const uint32_t bits : {24u, 32u}) {
    const bytes bmp = make_bmp(37, 23, bits);
    for (const std::string text : {"width=20", "width=20,format=jpeg", "width=30,height=30,fit=pad,format=png"}) {
      auto out = wi::process(bmp.data(), bmp.size(), opts(text), 0, {});
      ASSERT_TRUE(out.ok()) << bits << " bits, " << text << ": " << out.message();
    }
  }
  const bytes gif = fixture("animated-loop-3.gif");
  EXPECT_TRUE(wi::process(gif.data(), gif.size(), opts("width=50,format=jpeg"), 0, {}).ok());
}

TEST(ImageMemory, ProcessInPlaceGivesProcessBytes) {
  auto made = wd::encode_png(pattern(640, 400, 4, 9));
  ASSERT_TRUE(made.ok());
  const std::vector<std::pair<bytes, std::string>> jobs = {
      {split_idat(made.value(), 4000), "width=200"},
      {split_idat(made.value(), 4000), "width=300,height=300,fit=pad,background=%23336699,format=jpeg"},
      {fixture("alpha-premultiply-2048x1536-paper.png"), "width=300,format=webp"},
      {fixture("16-bit-grey-alpha.png"), "width=50,rotate=90"},
      {fixture("Landscape_6.jpg"), "width=120,height=120,fit=cover,gravity=auto"},
      {fixture("animated-loop-3.gif"), "width=100"},
  };
  for (const auto& [in, text] : jobs) {
    auto read_only = wi::process(in.data(), in.size(), opts(text), 0, {});
    ASSERT_TRUE(read_only.ok()) << text << ": " << read_only.message();
    bytes scratch = in;
    auto in_place = wi::process_in_place(scratch.data(), scratch.size(), opts(text), 0, {});
    ASSERT_TRUE(in_place.ok()) << text << ": " << in_place.message();
    EXPECT_EQ(read_only->bytes, in_place->bytes) << text;
  }
}

}  // namespace
