// Tests for whale::image::exif_orientation: the EXIF fixtures (sharp's Landscape_N and
// Portrait_N carry orientation N), every other image fixture, and hand-made malformed files.
// Inputs are copied into vectors of their exact size so that ASan sees any read past the end.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "test_util.h"
#include "whale/image.h"

namespace {

using bytes = std::vector<uint8_t>;
using whale::image::exif_orientation;

bytes fixture(const std::string& name) {
  const std::string data = whale::testing::read_fixture("images/" + name);
  return bytes(data.begin(), data.end());
}

int orientation(const bytes& data) { return exif_orientation(data.data(), data.size()); }

void put16(bytes& out, uint32_t v, bool little) {
  if (little) {
    out.insert(out.end(), {uint8_t(v), uint8_t(v >> 8)});
  } else {
    out.insert(out.end(), {uint8_t(v >> 8), uint8_t(v)});
  }
}

void put32(bytes& out, uint32_t v, bool little) {
  if (little) {
    out.insert(out.end(), {uint8_t(v), uint8_t(v >> 8), uint8_t(v >> 16), uint8_t(v >> 24)});
  } else {
    out.insert(out.end(), {uint8_t(v >> 24), uint8_t(v >> 16), uint8_t(v >> 8), uint8_t(v)});
  }
}

struct ifd_entry {
  uint16_t tag;
  uint16_t type;
  uint32_t count;
  uint32_t value;  // SHORT values sit in the first two bytes of the field
};

// A TIFF structure with IFD0 at offset 8 holding the entries, then a next-IFD offset.
bytes make_tiff(const std::vector<ifd_entry>& entries, bool little = true, uint32_t next_ifd = 0) {
  bytes t = little ? bytes{'I', 'I'} : bytes{'M', 'M'};
  put16(t, 42, little);
  put32(t, 8, little);
  put16(t, static_cast<uint32_t>(entries.size()), little);
  for (const ifd_entry& e : entries) {
    put16(t, e.tag, little);
    put16(t, e.type, little);
    put32(t, e.count, little);
    if (e.type == 3) {
      put16(t, e.value, little);
      put16(t, 0, little);
    } else {
      put32(t, e.value, little);
    }
  }
  put32(t, next_ifd, little);
  return t;
}

bytes oriented_tiff(uint32_t value, bool little = true) {
  return make_tiff({{0x010F, 2, 4, 0}, {0x0112, 3, 1, value}, {0x011A, 5, 1, 0}}, little);
}

// SOI, a JFIF APP0, an APP1 "Exif\0\0" + tiff, a DQT-like segment, SOS, EOI.
bytes make_jpeg(const bytes& tiff, bytes before_app1 = {}) {
  bytes j = {0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x07, 'J', 'F', 'I', 'F', 0};
  j.insert(j.end(), before_app1.begin(), before_app1.end());
  j.insert(j.end(), {0xFF, 0xE1});
  put16(j, static_cast<uint32_t>(2 + 6 + tiff.size()), false);
  j.insert(j.end(), {'E', 'x', 'i', 'f', 0, 0});
  j.insert(j.end(), tiff.begin(), tiff.end());
  j.insert(j.end(), {0xFF, 0xDB, 0x00, 0x04, 0x00, 0x00, 0xFF, 0xDA, 0x00, 0x02, 0xFF, 0xD9});
  return j;
}

void put_chunk(bytes& png, const char* type, const bytes& data) {
  put32(png, static_cast<uint32_t>(data.size()), false);
  png.insert(png.end(), type, type + 4);
  png.insert(png.end(), data.begin(), data.end());
  put32(png, 0, false);  // CRC: not checked by the reader
}

bytes make_png(const bytes& exif, bool exif_after_idat = false) {
  bytes p = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  put_chunk(p, "IHDR", bytes(13, 0));
  if (!exif_after_idat) put_chunk(p, "eXIf", exif);
  put_chunk(p, "IDAT", bytes(8, 0));
  if (exif_after_idat) put_chunk(p, "eXIf", exif);
  put_chunk(p, "IEND", {});
  return p;
}

TEST(ImageExif, LandscapeAndPortraitFixtures) {
  for (int n = 1; n <= 8; ++n) {
    const std::string landscape = "Landscape_" + std::to_string(n) + ".jpg";
    const std::string portrait = "Portrait_" + std::to_string(n) + ".jpg";
    const bytes l = fixture(landscape);
    const bytes p = fixture(portrait);
    ASSERT_GT(l.size(), 1000u) << landscape;
    ASSERT_GT(p.size(), 1000u) << portrait;
    EXPECT_EQ(orientation(l), n) << landscape;
    EXPECT_EQ(orientation(p), n) << portrait;
    // The EXIF segment is in the first 4 KB: a truncated download still has it.
    EXPECT_EQ(orientation(bytes(l.begin(), l.begin() + 4096)), n) << landscape;
  }
}

TEST(ImageExif, OtherFixturesAreUpright) {
  const char* names[] = {
      "2569067123_aca715a2ee_o.jpg", "320x240.jpg",           "Channel_digital_image_CMYK_color.jpg",
      "concert.jpg",                 "corrupt-header.jpg",    "flowers.jpeg",
      "gamma_dalai_lama_gray.jpg",   "giant-image.jpg",       "truncated.jpg",
      "16-bit-grey-alpha.png",       "65536-uint32-limit.png", "alpha-premultiply-2048x1536-paper.png",
      "embedgravitybird.png",        "full-transparent.png",  "grey-8bit-alpha.png",
      "p3.png",                      "test-pattern.png",      "truncated.png",
      "animated-loop-3.gif",         "Crash_test.gif",
  };
  for (const char* name : names) {
    const bytes data = fixture(name);
    ASSERT_FALSE(data.empty()) << name;
    EXPECT_EQ(orientation(data), 1) << name;
  }
}

TEST(ImageExif, HandMadeJpegAndPng) {
  for (uint32_t v = 1; v <= 8; ++v) {
    EXPECT_EQ(orientation(make_jpeg(oriented_tiff(v, true))), int(v));
    EXPECT_EQ(orientation(make_jpeg(oriented_tiff(v, false))), int(v));
    EXPECT_EQ(orientation(make_png(oriented_tiff(v, true))), int(v));
    EXPECT_EQ(orientation(make_png(oriented_tiff(v, false))), int(v));
  }
  // Some PNG writers keep JPEG's "Exif\0\0" in front of the TIFF header.
  bytes prefixed = {'E', 'x', 'i', 'f', 0, 0};
  const bytes tiff = oriented_tiff(6);
  prefixed.insert(prefixed.end(), tiff.begin(), tiff.end());
  EXPECT_EQ(orientation(make_png(prefixed)), 6);
  // Fill bytes before a marker are allowed.
  bytes filled = make_jpeg(oriented_tiff(3));
  filled.insert(filled.begin() + 2, {0xFF, 0xFF});
  EXPECT_EQ(orientation(filled), 3);
  // An APP1 that is XMP, then the Exif one.
  const bytes xmp = {0xFF, 0xE1, 0x00, 0x08, 'h', 't', 't', 'p', ':', '/'};
  EXPECT_EQ(orientation(make_jpeg(oriented_tiff(5), xmp)), 5);
}

TEST(ImageExif, NoExifIsUpright) {
  EXPECT_EQ(exif_orientation(nullptr, 0), 1);
  EXPECT_EQ(exif_orientation(nullptr, 100), 1);
  EXPECT_EQ(orientation({}), 1);
  EXPECT_EQ(orientation({0xFF}), 1);
  EXPECT_EQ(orientation({0xFF, 0xD8}), 1);
  EXPECT_EQ(orientation({'G', 'I', 'F', '8', '9', 'a'}), 1);
  EXPECT_EQ(orientation(make_jpeg(make_tiff({{0x010F, 2, 4, 0}}))), 1);  // IFD0 without the tag
  EXPECT_EQ(orientation(make_png(oriented_tiff(6), true)), 1);          // eXIf after IDAT is not read
}

TEST(ImageExif, BadOrientationValues) {
  EXPECT_EQ(orientation(make_jpeg(oriented_tiff(0))), 1);
  EXPECT_EQ(orientation(make_jpeg(oriented_tiff(9))), 1);
  EXPECT_EQ(orientation(make_jpeg(oriented_tiff(0xFFFF))), 1);
  EXPECT_EQ(orientation(make_jpeg(make_tiff({{0x0112, 4, 1, 6}}))), 1);  // LONG, not SHORT
  EXPECT_EQ(orientation(make_jpeg(make_tiff({{0x0112, 3, 0, 6}}))), 1);  // count 0
  EXPECT_EQ(orientation(make_jpeg(make_tiff({{0x0112, 3, 9, 6}}))), 1);  // count past the value field
}

TEST(ImageExif, MalformedTiff) {
  bytes bad_magic = oriented_tiff(6);
  bad_magic[2] = 43;
  EXPECT_EQ(orientation(make_jpeg(bad_magic)), 1);
  bytes bad_order = oriented_tiff(6);
  bad_order[0] = 'I';
  bad_order[1] = 'M';
  EXPECT_EQ(orientation(make_jpeg(bad_order)), 1);
  // IFD0 offset pointing past the segment, at its last byte, and at 0xFFFFFFFF.
  for (uint32_t offset : {0x1000u, 0u + static_cast<uint32_t>(oriented_tiff(6).size()) - 1, 0xFFFFFFFFu}) {
    bytes t = oriented_tiff(6);
    t[4] = uint8_t(offset);
    t[5] = uint8_t(offset >> 8);
    t[6] = uint8_t(offset >> 16);
    t[7] = uint8_t(offset >> 24);
    EXPECT_EQ(orientation(make_jpeg(t)), 1) << offset;
  }
  // IFD0 at offset 0 reads the header as an entry count: bounded, no orientation.
  bytes at_zero = oriented_tiff(6);
  at_zero[4] = 0;
  EXPECT_EQ(orientation(make_jpeg(at_zero)), 1);
  // An entry count far beyond the entries present: reading stops at the end of the segment.
  bytes many = make_tiff({{0x010F, 2, 4, 0}});
  many[8] = 0xFF;
  many[9] = 0xFF;
  EXPECT_EQ(orientation(make_jpeg(many)), 1);
  EXPECT_EQ(orientation(make_png(many)), 1);
  // A next-IFD offset pointing back at IFD0 (a loop): only IFD0 is ever read.
  EXPECT_EQ(orientation(make_jpeg(make_tiff({{0x010F, 2, 4, 0}}, true, 8))), 1);
  EXPECT_EQ(orientation(make_jpeg(make_tiff({{0x0112, 3, 1, 7}}, true, 8))), 7);
}

TEST(ImageExif, AtMost64Entries) {
  std::vector<ifd_entry> entries(63, ifd_entry{0x010F, 2, 4, 0});
  entries.push_back({0x0112, 3, 1, 8});
  EXPECT_EQ(orientation(make_jpeg(make_tiff(entries))), 8);  // the 64th entry is read
  entries.insert(entries.begin(), ifd_entry{0x010F, 2, 4, 0});
  EXPECT_EQ(orientation(make_jpeg(make_tiff(entries))), 1);  // the 65th is not
}

TEST(ImageExif, MalformedJpegSegments) {
  // APP1 length 0 and 1 (less than the length field itself).
  EXPECT_EQ(orientation({0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x00, 'E', 'x', 'i', 'f', 0, 0}), 1);
  EXPECT_EQ(orientation({0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x01, 'E', 'x', 'i', 'f', 0, 0}), 1);
  // APP1 shorter than its "Exif\0\0" header.
  EXPECT_EQ(orientation({0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x04, 'E', 'x', 0xFF, 0xD9}), 1);
  // A segment that does not start with 0xFF.
  EXPECT_EQ(orientation({0xFF, 0xD8, 0x00, 0xE1, 0x00, 0x04, 0, 0}), 1);
  // A segment length running past the end before the APP1.
  bytes overrun = make_jpeg(oriented_tiff(6));
  overrun[4] = 0xFF;
  EXPECT_EQ(orientation(overrun), 1);
  // SOS before APP1: nothing after it is metadata.
  bytes sos_first = {0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x02};
  const bytes rest = make_jpeg(oriented_tiff(6));
  sos_first.insert(sos_first.end(), rest.begin() + 2, rest.end());
  EXPECT_EQ(orientation(sos_first), 1);
  // Standalone markers (RST0, TEM) have no length and are stepped over.
  bytes standalone = make_jpeg(oriented_tiff(2));
  standalone.insert(standalone.begin() + 2, {0xFF, 0xD0, 0xFF, 0x01});
  EXPECT_EQ(orientation(standalone), 2);
}

TEST(ImageExif, EveryTruncationIsSafe) {
  const bytes files[] = {make_jpeg(oriented_tiff(6)), make_jpeg(oriented_tiff(6, false)), make_png(oriented_tiff(6)),
                         make_png(oriented_tiff(6, false))};
  for (const bytes& file : files) {
    for (size_t n = 0; n <= file.size(); ++n) {
      const bytes cut(file.begin(), file.begin() + static_cast<ptrdiff_t>(n));
      const int o = orientation(cut);
      EXPECT_TRUE(o == 1 || o == 6) << n;
    }
    EXPECT_EQ(orientation(file), 6);
  }
  // A truncated APP1 that still holds the whole IFD0 entry is read as far as it goes.
  const bytes whole = make_jpeg(oriented_tiff(6));
  EXPECT_EQ(orientation(bytes(whole.begin(), whole.begin() + 11 + 4 + 6 + 8 + 2 + 24)), 6);
}

TEST(ImageExif, MalformedPngChunks) {
  bytes huge = make_png(oriented_tiff(6));
  huge[8] = 0x80;  // IHDR length > 2^31 - 1
  EXPECT_EQ(orientation(huge), 1);
  bytes past_end = make_png(oriented_tiff(6));
  past_end[10] = 0x10;  // IHDR runs past the end of the file
  EXPECT_EQ(orientation(past_end), 1);
  EXPECT_EQ(orientation(make_png({})), 1);                  // empty eXIf
  EXPECT_EQ(orientation(make_png({'E', 'x', 'i', 'f', 0, 0})), 1);
}

TEST(ImageExif, ReadsOnlyTheFirst256KB) {
  // APP2 padding segments of 65535 bytes push the Exif APP1 near or past 256 KB.
  auto padded = [](size_t segments) {
    bytes padding;
    for (size_t i = 0; i < segments; ++i) {
      padding.insert(padding.end(), {0xFF, 0xE2, 0xFF, 0xFF});
      padding.insert(padding.end(), 65533, 0);
    }
    return make_jpeg(oriented_tiff(4), padding);
  };
  EXPECT_EQ(orientation(padded(3)), 4);  // APP1 at ~192 KB
  EXPECT_EQ(orientation(padded(4)), 1);  // APP1 at ~256 KB + 11 bytes
}

}  // namespace
