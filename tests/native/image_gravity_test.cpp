// Tests for whale::image::saliency_crop (gravity=auto) on synthetic images: a textured,
// colourful square on a flat background must end up inside the window wherever it sits; a plain
// subject beats fine texture of more contrast; a flat image gives the centred window, a smooth
// vignette nearly so; degenerate sizes stay inside the image.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "whale/image.h"

namespace {

using whale::image::rect;
using whale::image::saliency_crop;

struct image {
  uint32_t w, h;
  size_t stride;
  std::vector<uint8_t> rgba;

  image(uint32_t width, uint32_t height, uint8_t grey = 128, size_t padding = 0)
      : w(width), h(height), stride(size_t{width} * 4 + padding), rgba(stride * height, 0) {
    fill(0, 0, w, h, grey, grey, grey, 255);
  }
  uint8_t* at(uint32_t x, uint32_t y) { return rgba.data() + y * stride + size_t{x} * 4; }
  void fill(uint32_t x0, uint32_t y0, uint32_t fw, uint32_t fh, uint8_t r, uint8_t g, uint8_t b, uint8_t a) {
    for (uint32_t y = y0; y < y0 + fh; ++y) {
      for (uint32_t x = x0; x < x0 + fw; ++x) {
        uint8_t* p = at(x, y);
        p[0] = r, p[1] = g, p[2] = b, p[3] = a;
      }
    }
  }
  // A size x size subject of 4-pixel colour checks with a little noise: edges and saturation.
  void subject(uint32_t x0, uint32_t y0, uint32_t size) {
    uint32_t seed = 12345;
    for (uint32_t y = y0; y < y0 + size; ++y) {
      for (uint32_t x = x0; x < x0 + size; ++x) {
        seed = seed * 1103515245u + 12345u;
        const uint8_t noise = static_cast<uint8_t>(seed >> 27);
        const bool check = ((x / 4) + (y / 4)) % 2 == 0;
        uint8_t* p = at(x, y);
        p[0] = static_cast<uint8_t>((check ? 220 : 30) + noise);
        p[1] = static_cast<uint8_t>((check ? 40 : 90) + noise);
        p[2] = static_cast<uint8_t>((check ? 20 : 200) + noise);
        p[3] = 255;
      }
    }
  }
  // Fine grey texture over the whole image: 2x2-pixel grains from 40 to 215, the kind of
  // high-frequency detail (gravel, grass) that holds more gradient than most subjects.
  void gravel() {
    uint32_t seed = 99;
    for (uint32_t y = 0; y < h; y += 2) {
      for (uint32_t x = 0; x < w; x += 2) {
        seed = seed * 1103515245u + 12345u;
        const uint8_t v = static_cast<uint8_t>(40 + (seed >> 16) % 176);
        fill(x, y, std::min(2u, w - x), std::min(2u, h - y), v, v, v, 255);
      }
    }
  }
  // A radial falloff from 200 in the middle to about 100 in the corners, warm like a backdrop.
  void vignette() {
    const uint64_t cx = w / 2, cy = h / 2, corner = cx * cx + cy * cy;
    for (uint32_t y = 0; y < h; ++y) {
      for (uint32_t x = 0; x < w; ++x) {
        const uint64_t dx = x > cx ? x - cx : cx - x, dy = y > cy ? y - cy : cy - y;
        const uint8_t v = static_cast<uint8_t>(200 - 100 * (dx * dx + dy * dy) / corner);
        fill(x, y, 1, 1, v, static_cast<uint8_t>(v * 3 / 4), static_cast<uint8_t>(v * 2 / 3), 255);
      }
    }
  }
  rect crop(uint32_t cw, uint32_t ch) const { return saliency_crop(rgba.data(), w, h, stride, cw, ch); }
};

::testing::AssertionResult contains(const rect& r, uint32_t x, uint32_t y, uint32_t size) {
  if (r.x <= x && r.y <= y && x + size <= r.x + r.w && y + size <= r.y + r.h) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "window " << r.x << "," << r.y << " " << r.w << "x" << r.h
                                       << " misses the subject at " << x << "," << y << " size " << size;
}

::testing::AssertionResult inside(const rect& r, uint32_t w, uint32_t h) {
  if (r.x + r.w <= w && r.y + r.h <= h) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "window " << r.x << "," << r.y << " " << r.w << "x" << r.h
                                       << " outside " << w << "x" << h;
}

TEST(ImageGravity, SubjectInsideWindowWhereverItSits) {
  struct place {
    uint32_t x, y;
  };
  const place places[] = {{10, 10}, {350, 250}, {5, 130}, {355, 5}, {180, 20}, {60, 240}, {200, 140}};
  for (const place& p : places) {
    image img(400, 300);
    img.subject(p.x, p.y, 40);
    const rect r = img.crop(120, 120);
    EXPECT_EQ(r.w, 120u);
    EXPECT_EQ(r.h, 120u);
    EXPECT_TRUE(inside(r, 400, 300));
    EXPECT_TRUE(contains(r, p.x, p.y, 40)) << "subject at " << p.x << "," << p.y;
  }
}

TEST(ImageGravity, LargeImageIsDownsampled) {
  image img(2000, 1200);  // cells of 16 pixels
  img.subject(1700, 150, 120);
  const rect r = img.crop(500, 500);
  EXPECT_TRUE(inside(r, 2000, 1200));
  EXPECT_TRUE(contains(r, 1700, 150, 120));
  image odd(1001, 777);  // partial cells on the right and bottom
  odd.subject(930, 700, 60);
  const rect s = odd.crop(300, 200);
  EXPECT_TRUE(inside(s, 1001, 777));
  EXPECT_TRUE(contains(s, 930, 700, 60));
}

// A plain dark subject on gravel: the gravel has far more luma gradient than the subject's
// outline, but it is the same everywhere; the subject is what differs from its surroundings.
TEST(ImageGravity, SubjectBeatsFineTexture) {
  struct place {
    uint32_t x, y;
  };
  const place places[] = {{30, 120}, {320, 40}, {170, 200}};
  for (const place& p : places) {
    image img(480, 320);
    img.gravel();
    img.fill(p.x, p.y, 60, 60, 50, 45, 60, 255);
    const rect r = img.crop(160, 160);
    EXPECT_TRUE(inside(r, 480, 320));
    EXPECT_TRUE(contains(r, p.x, p.y, 60)) << "subject at " << p.x << "," << p.y;
  }
}

TEST(ImageGravity, FlatImageGivesTheCentredWindow) {
  image flat(400, 300);
  const rect r = flat.crop(100, 80);
  EXPECT_EQ(r.x, 150u);
  EXPECT_EQ(r.y, 110u);
  EXPECT_EQ(r.w, 100u);
  EXPECT_EQ(r.h, 80u);
  image odd(401, 299, 0);
  const rect s = odd.crop(100, 100);
  EXPECT_EQ(s.x, 150u);
  EXPECT_EQ(s.y, 99u);
}

// A smooth falloff has curvature, which centre-surround contrast sees faintly; rounding noise in
// it must not pull the window aside.
TEST(ImageGravity, SmoothVignetteStaysNearTheCentre) {
  image img(400, 300);
  img.vignette();
  const rect r = img.crop(150, 150);
  EXPECT_LE(r.x > 125 ? r.x - 125 : 125 - r.x, 8u);  // within two grid cells of the centred window
  EXPECT_LE(r.y > 75 ? r.y - 75 : 75 - r.y, 8u);
}

TEST(ImageGravity, SymmetricSubjectsTieTowardsTheCentre) {
  image img(400, 100);
  img.subject(20, 30, 40);
  img.subject(340, 30, 40);
  img.subject(180, 30, 40);
  const rect r = img.crop(100, 100);
  EXPECT_TRUE(contains(r, 180, 30, 40));
}

TEST(ImageGravity, WindowAsWideOrAsTallAsTheImage) {
  image wide(600, 200);
  wide.subject(520, 60, 50);
  const rect r = wide.crop(200, 200);
  EXPECT_EQ(r.y, 0u);
  EXPECT_TRUE(contains(r, 520, 60, 50));
  image tall(150, 900);
  tall.subject(40, 30, 50);
  const rect s = tall.crop(150, 300);
  EXPECT_EQ(s.x, 0u);
  EXPECT_TRUE(contains(s, 40, 30, 50));
  const rect whole = tall.crop(150, 900);
  EXPECT_EQ(whole.x, 0u);
  EXPECT_EQ(whole.y, 0u);
  EXPECT_EQ(whole.w, 150u);
  EXPECT_EQ(whole.h, 900u);
}

TEST(ImageGravity, TransparentBackground) {
  image img(300, 300, 0);
  img.fill(0, 0, 300, 300, 255, 255, 255, 0);  // white but fully transparent
  img.subject(230, 20, 50);
  EXPECT_TRUE(contains(img.crop(100, 100), 230, 20, 50));
}

TEST(ImageGravity, RowPaddingDoesNotMatter) {
  image plain(320, 240);
  image padded(320, 240, 128, 12);
  plain.subject(250, 170, 40);
  padded.subject(250, 170, 40);
  const rect a = plain.crop(90, 90);
  const rect b = padded.crop(90, 90);
  EXPECT_EQ(a.x, b.x);
  EXPECT_EQ(a.y, b.y);
  EXPECT_TRUE(contains(b, 250, 170, 40));
}

TEST(ImageGravity, TinyAndDegenerateSizes) {
  image one(1, 1);
  rect r = one.crop(1, 1);
  EXPECT_EQ(r.x, 0u);
  EXPECT_EQ(r.y, 0u);
  EXPECT_EQ(r.w, 1u);
  EXPECT_EQ(r.h, 1u);
  image small(3, 2);
  small.fill(2, 1, 1, 1, 255, 0, 0, 255);
  r = small.crop(1, 1);
  EXPECT_TRUE(inside(r, 3, 2));
  // A crop larger than the image is clamped to it.
  r = small.crop(10, 10);
  EXPECT_EQ(r.w, 3u);
  EXPECT_EQ(r.h, 2u);
  EXPECT_EQ(r.x, 0u);
  EXPECT_EQ(r.y, 0u);
  // Empty crops, empty images, no pixels, a stride too short: a centred (possibly empty) window.
  r = small.crop(0, 1);
  EXPECT_EQ(r.w, 0u);
  EXPECT_TRUE(inside(r, 3, 2));
  r = saliency_crop(nullptr, 10, 10, 40, 4, 4);
  EXPECT_EQ(r.x, 3u);
  EXPECT_EQ(r.y, 3u);
  r = saliency_crop(small.rgba.data(), 0, 0, 0, 4, 4);
  EXPECT_EQ(r.w, 0u);
  EXPECT_EQ(r.h, 0u);
  r = saliency_crop(small.rgba.data(), 3, 2, 8, 1, 1);
  EXPECT_EQ(r.x, 1u);
  EXPECT_EQ(r.y, 0u);
  // A 1-pixel-wide strip and a crop smaller than one grid cell.
  image strip(1, 500);
  strip.fill(0, 400, 1, 10, 255, 0, 0, 255);
  r = strip.crop(1, 50);
  EXPECT_TRUE(contains(r, 0, 400, 1));
  image big(1024, 1024);
  big.subject(900, 100, 4);
  r = big.crop(3, 3);
  EXPECT_TRUE(inside(r, 1024, 1024));
  EXPECT_LT(r.x > 900 ? r.x - 900 : 900 - r.x, 12u);
  EXPECT_LT(r.y > 100 ? r.y - 100 : 100 - r.y, 12u);
}

}  // namespace
