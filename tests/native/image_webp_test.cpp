// WebP input: still images decode to the pixels libwebp's own dwebp gives (the .pam files beside
// the fixtures, fixtures/images/SOURCES.md), RGB without alpha and RGBA with it; they go through
// the pipeline like any other input; an animation shows its first frame; a truncated file and a
// decoder held to a small memory budget fail with clear errors, and the meter is whole again
// afterwards.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "../../src/image/pixels.h"
#include "test_util.h"
#include "whale/image.h"

namespace {

namespace wi = whale::image;
namespace wd = whale::image::detail;
using bytes = std::vector<uint8_t>;
using whale::error_code;

whale::result<wi::output> run(const uint8_t* data, size_t size, const char* options) {
  auto parsed = wi::parse_options(options);
  EXPECT_TRUE(parsed.ok()) << options;
  return wi::process(data, size, parsed.value(), 0, wi::limits{});
}

bytes fixture(const std::string& name) { return whale::testing::fixture_bytes("images/webp/" + name); }

// A PAM file as dwebp writes it (P7, WIDTH, HEIGHT, DEPTH 4, MAXVAL 255, TUPLTYPE RGB_ALPHA,
// ENDHDR): its size and RGBA samples.
struct pam {
  uint32_t w = 0, h = 0;
  bytes rgba;
};

pam read_pam(const std::string& name) {
  const std::string s = whale::testing::read_fixture("images/webp/" + name);
  pam out;
  const size_t end = s.find("ENDHDR\n");
  EXPECT_NE(end, std::string::npos) << name;
  const std::string header = s.substr(0, end);
  out.w = static_cast<uint32_t>(std::stoul(header.substr(header.find("WIDTH ") + 6)));
  out.h = static_cast<uint32_t>(std::stoul(header.substr(header.find("HEIGHT ") + 7)));
  EXPECT_NE(header.find("DEPTH 4"), std::string::npos) << name;
  out.rgba.assign(s.begin() + static_cast<std::ptrdiff_t>(end + 7), s.end());
  EXPECT_EQ(out.rgba.size(), size_t{out.w} * out.h * 4) << name;
  return out;
}

// Every pixel of `image` equals the reference's (its alpha only when `image` has one).
void expect_pixels(const wd::pixels& image, const pam& reference, const std::string& name) {
  ASSERT_EQ(image.w, reference.w) << name;
  ASSERT_EQ(image.h, reference.h) << name;
  size_t differing = 0;
  for (uint32_t y = 0; y < image.h; ++y) {
    for (uint32_t x = 0; x < image.w; ++x) {
      const uint8_t* ours = image.data() + y * image.stride() + x * image.channels;
      const uint8_t* theirs = reference.rgba.data() + (size_t{y} * image.w + x) * 4;
      for (uint32_t c = 0; c < image.channels; ++c) differing += ours[c] != theirs[c];
    }
  }
  EXPECT_EQ(differing, 0u) << name << ": samples that differ from dwebp's";
}

TEST(ImageWebP, StillImagesDecodeToDwebpsPixels) {
  const struct {
    const char* name;
    uint32_t channels;
  } cases[] = {{"lossy", 3}, {"lossy-alpha", 4}, {"lossless-alpha", 4}};
  for (const auto& c : cases) {
    const bytes in = fixture(std::string(c.name) + ".webp");
    EXPECT_EQ(wd::webp_has_alpha(in.data(), in.size()), c.channels == 4) << c.name;
    auto image = wd::decode_webp(in.data(), in.size());
    ASSERT_TRUE(image.ok()) << c.name << ": " << image.message();
    EXPECT_EQ(image->channels, c.channels) << c.name;
    expect_pixels(image.value(), read_pam(std::string(c.name) + ".pam"), c.name);
  }
}

// An animation shows its first frame, as an animated GIF does: the frame webpmux extracts (the
// whole canvas, opaque) decoded as a still image, on an RGBA canvas.
TEST(ImageWebP, AnAnimationIsItsFirstFrame) {
  const bytes animated = fixture("animated.webp");  // 370x285, 2 frames
  auto first = wd::decode_webp(animated.data(), animated.size());
  ASSERT_TRUE(first.ok()) << first.message();
  EXPECT_EQ(first->channels, 4u);
  const bytes frame = fixture("animated-frame1.webp");
  auto still = wd::decode_webp(frame.data(), frame.size());
  ASSERT_TRUE(still.ok()) << still.message();
  ASSERT_EQ(still->channels, 3u);
  ASSERT_EQ(first->w, still->w);
  ASSERT_EQ(first->h, still->h);
  size_t differing = 0;
  for (size_t i = 0; i < size_t{still->w} * still->h; ++i) {
    for (size_t c = 0; c < 3; ++c) differing += first->data()[i * 4 + c] != still->data()[i * 3 + c];
    differing += first->data()[i * 4 + 3] != 255;
  }
  EXPECT_EQ(differing, 0u);
  auto out = run(animated.data(), animated.size(), "width=100,format=png");
  ASSERT_TRUE(out.ok()) << out.message();
  EXPECT_EQ(out->width, 100u);
  EXPECT_EQ(out->height, 77u);
}

TEST(ImageWebP, GoesThroughThePipelineLikeAnyInput) {
  const bytes lossy = fixture("lossy.webp");  // 160x120
  auto same = run(lossy.data(), lossy.size(), "width=80");  // no format: the source's own
  ASSERT_TRUE(same.ok()) << same.message();
  EXPECT_EQ(std::string(same->content_type), "image/webp");
  auto jpeg = run(lossy.data(), lossy.size(), "width=80,format=jpeg");
  ASSERT_TRUE(jpeg.ok()) << jpeg.message();
  EXPECT_EQ(std::string(jpeg->content_type), "image/jpeg");
  EXPECT_EQ(jpeg->width, 80u);
  EXPECT_EQ(jpeg->height, 60u);
  // With alpha: format=auto keeps it (PNG), and the PNG read back has the size asked for.
  const bytes alpha = fixture("lossless-alpha.webp");  // 100x75
  auto png = run(alpha.data(), alpha.size(), "width=50,format=auto");
  ASSERT_TRUE(png.ok()) << png.message();
  EXPECT_EQ(std::string(png->content_type), "image/png");
  auto back = wi::probe(png->bytes.data(), png->bytes.size());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->width, 50u);
  // WebP in, WebP out, and the size answered without decoding.
  auto webp = run(alpha.data(), alpha.size(), "width=40,format=webp");
  ASSERT_TRUE(webp.ok()) << webp.message();
  EXPECT_EQ(std::string(webp->content_type), "image/webp");
  auto json = run(lossy.data(), lossy.size(), "format=json");
  ASSERT_TRUE(json.ok());
  const std::string text(json->bytes.begin(), json->bytes.end());
  EXPECT_NE(text.find("\"width\":160"), std::string::npos) << text;
}

TEST(ImageWebP, TruncationAndMemoryAreClearErrors) {
  const bytes truncated = fixture("truncated.webp");
  auto t = run(truncated.data(), truncated.size(), "width=50");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.code(), error_code::corrupt_input) << t.message();
  EXPECT_NE(t.message().find("WebP"), std::string::npos) << t.message();

  // A lossless decode needs its ARGB rows: 1 KB is refused, and the next decode is unaffected.
  const bytes lossless = fixture("lossless-alpha.webp");
  auto starved = wd::decode_webp(lossless.data(), lossless.size(), 1024);
  ASSERT_FALSE(starved.ok());
  EXPECT_EQ(starved.code(), error_code::too_large) << starved.message();
  auto whole = wd::decode_webp(lossless.data(), lossless.size());
  EXPECT_TRUE(whole.ok()) << whole.message();
  // Every byte of input cut short is refused with an error, never a crash.
  const bytes lossy = fixture("lossy.webp");
  for (size_t n = 0; n < lossy.size(); n += 97) {
    auto cut = run(lossy.data(), n, "width=40");
    EXPECT_FALSE(cut.ok()) << n;
  }
}

}  // namespace
