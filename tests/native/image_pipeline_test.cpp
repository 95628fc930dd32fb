// whale::image::probe and process on the image fixtures: every fixture through every fit mode
// with exact output sizes, EXIF orientations upright, linear-light downscaling (the gamma
// fixture), clear errors for damaged and oversized inputs, the limits, format choice, and the
// encoders' output read back by our own decoders.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "../../src/image/pixels.h"
#include "test_util.h"
#include "whale/image.h"

namespace {

namespace wi = whale::image;
using whale::error_code;
using whale::testing::read_fixture;

struct bytes {
  std::string data;
  const uint8_t* ptr() const { return reinterpret_cast<const uint8_t*>(data.data()); }
  size_t size() const { return data.size(); }
};

bytes fixture(const std::string& name) { return bytes{read_fixture("images/" + name)}; }

wi::options opts(const std::string& text) {
  auto parsed = wi::parse_options(text);
  EXPECT_TRUE(parsed.ok()) << text << ": " << parsed.message();
  return parsed.value();
}

whale::result<wi::output> run(const bytes& in, const std::string& text, uint32_t accept = 0, wi::limits lim = {}) {
  return wi::process(in.ptr(), in.size(), opts(text), accept, lim);
}

// Our own decoders read an output back (JPEG through libjpeg at full size, PNG through stb_image).
wi::detail::pixels decode(const wi::output& out) {
  const std::string type = out.content_type;
  auto p = type == "image/jpeg" ? wi::detail::decode_jpeg(out.bytes.data(), out.bytes.size(), 1, 1u << 26)
                                : wi::detail::decode_stb(out.bytes.data(), out.bytes.size(), "PNG");
  EXPECT_TRUE(p.ok()) << type << ": " << p.message();
  return p.ok() ? std::move(p).value() : wi::detail::pixels{};
}

// BT.601 luma of every pixel (grey images: the grey value).
std::vector<double> luma(const wi::detail::pixels& p) {
  std::vector<double> out;
  for (uint32_t y = 0; y < p.h; ++y) {
    const uint8_t* r = p.row(y);
    for (uint32_t x = 0; x < p.w; ++x, r += p.channels) {
      out.push_back(p.channels >= 3 ? 0.299 * r[0] + 0.587 * r[1] + 0.114 * r[2] : r[0]);
    }
  }
  return out;
}

double stddev(const std::vector<double>& v) {
  double mean = 0, sq = 0;
  for (double x : v) mean += x;
  mean /= static_cast<double>(v.size());
  for (double x : v) sq += (x - mean) * (x - mean);
  return std::sqrt(sq / static_cast<double>(v.size()));
}

double mean_abs_diff(const wi::detail::pixels& a, const wi::detail::pixels& b) {
  EXPECT_EQ(a.w, b.w);
  EXPECT_EQ(a.h, b.h);
  if (a.w != b.w || a.h != b.h) return 255;
  const std::vector<double> la = luma(a), lb = luma(b);
  double sum = 0;
  for (size_t i = 0; i < la.size(); ++i) sum += std::fabs(la[i] - lb[i]);
  return sum / static_cast<double>(la.size());
}

// The fixtures that decode, and what each must fail with otherwise.
const std::vector<std::pair<std::string, error_code>> refused = {
    {"truncated.jpg", error_code::corrupt_input},       {"truncated.png", error_code::corrupt_input},
    {"corrupt-header.jpg", error_code::corrupt_input},  {"giant-image.jpg", error_code::too_large},
    {"65536-uint32-limit.png", error_code::too_large},
};

std::vector<std::string> decodable_fixtures() {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(std::string(WHALE_FIXTURES_DIR) + "/images")) {
    const std::string name = entry.path().filename().string();
    if (name == "SOURCES.md" || entry.is_directory()) continue;  // webp/: image_webp_test.cpp
    bool bad = false;
    for (const auto& r : refused) bad = bad || r.first == name;
    if (!bad) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

struct size2 {
  uint32_t w, h;
};

// Cloudflare's fit semantics for a w x h source (upright) in a bw x bh box.
size2 expected_size(const std::string& fit, uint32_t w, uint32_t h, uint32_t bw, uint32_t bh) {
  const auto round_div = [](uint64_t a, uint64_t b, uint64_t c) { return static_cast<uint32_t>((a * b + c / 2) / c); };
  const bool width_bound = uint64_t{bw} * h <= uint64_t{bh} * w;
  const size2 contain = width_bound ? size2{bw, round_div(h, bw, w)} : size2{round_div(w, bh, h), bh};
  const bool cover_by_width = uint64_t{bw} * h >= uint64_t{bh} * w;
  const uint32_t cover_w = cover_by_width ? bw : round_div(w, bh, h);
  if (fit == "scale-down") return contain.w < w ? contain : size2{w, h};
  if (fit == "contain") return contain;
  if (fit == "crop" && cover_w >= w) return size2{std::min(bw, w), std::min(bh, h)};
  return size2{bw, bh};  // cover, crop of a larger source, pad
}

TEST(ImagePipeline, EveryFixtureThroughEveryFit) {
  const std::vector<std::string> names = decodable_fixtures();
  ASSERT_GE(names.size(), 25u);
  for (const std::string& name : names) {
    const bytes in = fixture(name);
    auto info = wi::probe(in.ptr(), in.size());
    ASSERT_TRUE(info.ok()) << name << ": " << info.message();
    const bool turned = info->orientation >= 5;
    const uint32_t w = turned ? info->height : info->width, h = turned ? info->width : info->height;
    for (const std::string fit : {"scale-down", "contain", "cover", "crop", "pad"}) {
      auto out = run(in, "width=200,height=150,fit=" + fit);
      ASSERT_TRUE(out.ok()) << name << " fit=" << fit << ": " << out.message();
      const size2 want = expected_size(fit, w, h, 200, 150);
      EXPECT_EQ(out->width, want.w) << name << " fit=" << fit;
      EXPECT_EQ(out->height, want.h) << name << " fit=" << fit;
      const wi::detail::pixels back = decode(out.value());
      EXPECT_EQ(back.w, want.w) << name << " fit=" << fit << " decoded";
      EXPECT_EQ(back.h, want.h) << name << " fit=" << fit << " decoded";
      const std::string type = out->content_type;
      EXPECT_EQ(type, std::string(info->name) == "jpeg" ? "image/jpeg" : "image/png") << name;
    }
  }
}

TEST(ImagePipeline, OnlyOneSideKeepsTheAspectRatio) {
  const bytes in = fixture("2569067123_aca715a2ee_o.jpg");  // 2725x2225
  auto w = run(in, "width=300");
  ASSERT_TRUE(w.ok()) << w.message();
  EXPECT_EQ(w->width, 300u);
  EXPECT_EQ(w->height, 245u);  // 2225 * 300 / 2725 = 244.95
  auto h = run(in, "height=100,fit=cover");
  ASSERT_TRUE(h.ok()) << h.message();
  EXPECT_EQ(h->width, 122u);
  EXPECT_EQ(h->height, 100u);
  auto none = run(fixture("320x240.jpg"), "quality=50");
  ASSERT_TRUE(none.ok()) << none.message();
  EXPECT_EQ(none->width, 320u);
  EXPECT_EQ(none->height, 240u);
  auto bigger = run(fixture("320x240.jpg"), "width=640");  // scale-down never enlarges
  ASSERT_TRUE(bigger.ok()) << bigger.message();
  EXPECT_EQ(bigger->width, 320u);
  auto enlarged = run(fixture("320x240.jpg"), "width=640,fit=contain");
  ASSERT_TRUE(enlarged.ok()) << enlarged.message();
  EXPECT_EQ(enlarged->width, 640u);
  EXPECT_EQ(enlarged->height, 480u);
}

TEST(ImagePipeline, DprMultipliesTheSizeUpToTheOutputLimit) {
  const bytes in = fixture("2569067123_aca715a2ee_o.jpg");
  auto twice = run(in, "width=200,height=150,fit=cover,dpr=2");
  ASSERT_TRUE(twice.ok()) << twice.message();
  EXPECT_EQ(twice->width, 400u);
  EXPECT_EQ(twice->height, 300u);
  // 3000 x 100 at dpr 2 is 6000 x 200: both sides shrink so that the width is 4096.
  auto clamped = run(fixture("320x240.jpg"), "width=3000,height=100,fit=pad,dpr=2");
  ASSERT_TRUE(clamped.ok()) << clamped.message();
  EXPECT_EQ(clamped->width, 4096u);
  EXPECT_EQ(clamped->height, 137u);
}

// Each fixture carries its orientation's digit, so no two are identical: an output counts as
// upright when it is much closer to _1 than _1 mirrored, flipped or turned upside down is.
TEST(ImagePipeline, EveryOrientationComesOutUpright) {
  for (const std::string base : {"Landscape", "Portrait"}) {
    auto reference = run(fixture(base + "_1.jpg"), "width=64,format=png");
    ASSERT_TRUE(reference.ok()) << reference.message();
    const wi::detail::pixels upright = decode(reference.value());
    std::vector<wi::detail::pixels> wrong;
    for (int o : {2, 3, 4}) {  // the other orientations that keep the shape
      wi::detail::pixels copy = decode(reference.value());
      auto turned = wi::detail::apply_orientation(std::move(copy), wi::detail::orientation_map(o));
      ASSERT_TRUE(turned.ok());
      wrong.push_back(std::move(turned).value());
    }
    for (int o = 1; o <= 8; ++o) {
      const std::string name = base + "_" + std::to_string(o) + ".jpg";
      auto out = run(fixture(name), "width=64,format=png");
      ASSERT_TRUE(out.ok()) << name << ": " << out.message();
      const wi::detail::pixels shown = decode(out.value());
      const double right = mean_abs_diff(upright, shown);
      EXPECT_LT(right, 20.0) << name;
      for (const wi::detail::pixels& w : wrong) {
        EXPECT_GT(mean_abs_diff(w, shown), right + 15.0) << name << " looks mirrored or upside down";
      }
    }
  }
}

TEST(ImagePipeline, RotateTurnsClockwiseAfterOrientation) {
  auto out = run(fixture("Landscape_6.jpg"), "width=60,rotate=90,format=png");  // shown 600x450, turned
  ASSERT_TRUE(out.ok()) << out.message();
  EXPECT_EQ(out->width, 60u);
  EXPECT_EQ(out->height, 80u);
  auto portrait = run(fixture("Portrait_1.jpg"), "height=80,rotate=270,format=png");
  auto turned_back = run(fixture("Landscape_1.jpg"), "height=80,format=png");
  ASSERT_TRUE(portrait.ok() && turned_back.ok());
  EXPECT_EQ(portrait->width, turned_back->width);
}

// `p` mirrored left to right (horizontal) or top to bottom, by hand.
wi::detail::pixels mirrored(const wi::detail::pixels& p, bool horizontal) {
  auto out = wi::detail::make_pixels(p.w, p.h, p.channels);
  EXPECT_TRUE(out.ok());
  for (uint32_t y = 0; y < p.h; ++y) {
    for (uint32_t x = 0; x < p.w; ++x) {
      const uint32_t sx = horizontal ? p.w - 1 - x : x, sy = horizontal ? y : p.h - 1 - y;
      std::memcpy(out->row(y) + x * p.channels, p.row(sy) + sx * p.channels, p.channels);
    }
  }
  return std::move(out).value();
}

bool same_pixels(const wi::detail::pixels& a, const wi::detail::pixels& b) {
  return a.w == b.w && a.h == b.h && a.channels == b.channels && std::memcmp(a.data(), b.data(), a.size()) == 0;
}

// flip=h and flip=v mirror the upright image; flip comes before rotate (flipping left to right
// then turning a quarter clockwise is turning, then flipping top to bottom); flip=hv is a half turn.
TEST(ImagePipeline, FlipMirrorsTheUprightImageBeforeRotate) {
  auto plain = run(fixture("Landscape_3.jpg"), "width=64,format=png");  // EXIF 3: turned upright first
  ASSERT_TRUE(plain.ok()) << plain.message();
  const wi::detail::pixels upright = decode(plain.value());
  for (const bool horizontal : {true, false}) {
    auto out = run(fixture("Landscape_3.jpg"), std::string("width=64,format=png,flip=") + (horizontal ? "h" : "v"));
    ASSERT_TRUE(out.ok()) << out.message();
    EXPECT_TRUE(same_pixels(decode(out.value()), mirrored(upright, horizontal))) << (horizontal ? "flip=h" : "flip=v");
  }
  auto both = run(fixture("Landscape_3.jpg"), "width=64,format=png,flip=hv");
  auto half = run(fixture("Landscape_3.jpg"), "width=64,format=png,rotate=180");
  ASSERT_TRUE(both.ok() && half.ok());
  EXPECT_TRUE(same_pixels(decode(both.value()), decode(half.value())));
  auto turned = run(fixture("Landscape_3.jpg"), "height=64,format=png,rotate=90");
  auto flipped_turned = run(fixture("Landscape_3.jpg"), "height=64,format=png,rotate=90,flip=h");
  ASSERT_TRUE(turned.ok() && flipped_turned.ok());
  EXPECT_TRUE(same_pixels(decode(flipped_turned.value()), mirrored(decode(turned.value()), false)));
  // Cloudinary's a_hflip and a_vflip, and the canonical text.
  auto cloudinary = run(fixture("Landscape_3.jpg"), "w_64,f_png,a_hflip");
  ASSERT_TRUE(cloudinary.ok()) << cloudinary.message();
  EXPECT_TRUE(same_pixels(decode(cloudinary.value()), mirrored(upright, true)));
  EXPECT_EQ(wi::normalize(wi::parse_options("flip=vh,width=10").value()), "flip=hv,width=10");
  auto bad = wi::parse_options("flip=x");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("h, v or hv"), std::string::npos) << bad.message();
}

// Naive (gamma-space) averaging turns this picture into a flat grey square; linear light keeps it.
TEST(ImagePipeline, GammaFixtureStaysAPictureAtHalfSize) {
  const bytes in = fixture("gamma_dalai_lama_gray.jpg");  // 258x222
  auto out = run(in, "width=129,format=png");
  ASSERT_TRUE(out.ok()) << out.message();
  ASSERT_EQ(out->width, 129u);
  const double ours = stddev(luma(decode(out.value())));
  // The same halving done naively: 2x2 box averages of the sRGB values.
  auto full = wi::detail::decode_jpeg(in.ptr(), in.size(), 1, 1u << 24);
  ASSERT_TRUE(full.ok());
  std::vector<double> naive;
  const std::vector<double> l = luma(full.value());
  for (uint32_t y = 0; y + 1 < full->h; y += 2) {
    for (uint32_t x = 0; x + 1 < full->w; x += 2) {
      const size_t i = size_t{y} * full->w + x;
      naive.push_back((l[i] + l[i + 1] + l[i + full->w] + l[i + full->w + 1]) / 4);
    }
  }
  const double grey_square = stddev(naive);
  EXPECT_GT(ours, 10.0) << "the halved image is nearly uniform (naive: " << grey_square << ")";
  EXPECT_GT(ours, 3 * grey_square) << "ours " << ours << " vs naive " << grey_square;
}

TEST(ImagePipeline, DamagedFilesGiveClearErrors) {
  for (const auto& [name, code] : refused) {
    auto out = run(fixture(name), "width=100");
    ASSERT_FALSE(out.ok()) << name;
    EXPECT_EQ(out.code(), code) << name << ": " << out.message();
    EXPECT_FALSE(out.message().empty()) << name;
  }
  EXPECT_NE(run(fixture("truncated.jpg"), "width=100").message().find("Premature end"), std::string::npos);
  EXPECT_NE(run(fixture("giant-image.jpg"), "width=100").message().find("20000x14000"), std::string::npos);
  EXPECT_NE(run(fixture("65536-uint32-limit.png"), "width=100").message().find("65536x65536"), std::string::npos);
  // Every prefix of a JPEG and a PNG fails cleanly or decodes; none crashes.
  for (const std::string name : {"320x240.jpg", "p3.png", "animated-loop-3.gif"}) {
    const bytes whole = fixture(name);
    for (size_t n : {size_t{0}, size_t{1}, size_t{3}, size_t{20}, size_t{200}, whole.size() / 2, whole.size() - 1}) {
      auto out = wi::process(whole.ptr(), n, opts("width=50"), 0, {});
      if (!out.ok()) {
        EXPECT_FALSE(out.message().empty()) << name << " cut at " << n;
      }
    }
  }
}

TEST(ImagePipeline, PixelAreaIsCheckedFromTheHeader) {
  wi::limits small;
  small.max_pixels = 320 * 240 - 1;
  auto out = run(fixture("320x240.jpg"), "width=100", 0, small);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.code(), error_code::too_large);
  small.max_pixels = 320 * 240;
  EXPECT_TRUE(run(fixture("320x240.jpg"), "width=100", 0, small).ok());
  // format=json needs no decode, so even the giant image answers.
  auto json = run(fixture("giant-image.jpg"), "format=json");
  ASSERT_TRUE(json.ok()) << json.message();
}

TEST(ImagePipeline, InputBytesLimit) {
  const bytes in = fixture("320x240.jpg");
  wi::limits lim;
  lim.max_input_bytes = in.size() - 1;
  auto out = run(in, "width=100", 0, lim);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.code(), error_code::too_large);
  EXPECT_NE(out.message().find("bytes"), std::string::npos);
}

TEST(ImagePipeline, OutputSideLimit) {
  wi::limits lim;
  lim.max_output_side = 1024;
  auto out = run(fixture("320x240.jpg"), "width=2000,fit=contain", 0, lim);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.code(), error_code::too_large);
  EXPECT_NE(out.message().find("width"), std::string::npos) << out.message();
  // Without a size, a source larger than the limit is scaled down into it.
  auto fitted = run(fixture("2569067123_aca715a2ee_o.jpg"), "format=png", 0, lim);
  ASSERT_TRUE(fitted.ok()) << fitted.message();
  EXPECT_EQ(fitted->width, 1024u);
  EXPECT_EQ(fitted->height, 836u);
}

TEST(ImagePipeline, FormatJsonDescribesTheSource) {
  auto out = run(fixture("Landscape_6.jpg"), "format=json");
  ASSERT_TRUE(out.ok()) << out.message();
  EXPECT_EQ(std::string(out->content_type), "application/json");
  EXPECT_EQ(std::string(out->bytes.begin(), out->bytes.end()),
            R"({"width":450,"height":600,"format":"jpeg","orientation":6})");
  auto gif = run(fixture("animated-loop-3.gif"), "format=json");
  ASSERT_TRUE(gif.ok());
  EXPECT_EQ(std::string(gif->bytes.begin(), gif->bytes.end()), R"({"width":370,"height":285,"format":"gif","orientation":1})");
}

TEST(ImagePipeline, ProbeReadsHeadersOnly) {
  const bytes gif = fixture("animated-loop-3.gif");
  auto info = wi::probe(gif.ptr(), gif.size());
  ASSERT_TRUE(info.ok());
  EXPECT_GT(info->frames, 1u);
  const bytes png = fixture("65536-uint32-limit.png");
  auto big = wi::probe(png.ptr(), png.size());
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(big->width, 65536u);
  auto none = wi::probe(reinterpret_cast<const uint8_t*>("hello"), 5);
  EXPECT_EQ(none.code(), error_code::unsupported_format);
}

// The WebP header: RIFF, size, WEBP, then VP8 / VP8L / VP8X; probe() reads its size.
void expect_webp(const wi::output& out, uint32_t w, uint32_t h, bool alpha) {
  ASSERT_GE(out.bytes.size(), 30u);
  EXPECT_EQ(std::memcmp(out.bytes.data(), "RIFF", 4), 0);
  EXPECT_EQ(std::memcmp(out.bytes.data() + 8, "WEBP", 4), 0);
  const uint32_t riff = out.bytes[4] | out.bytes[5] << 8 | out.bytes[6] << 16 | uint32_t{out.bytes[7]} << 24;
  EXPECT_EQ(riff + 8, out.bytes.size());
  auto info = wi::probe(out.bytes.data(), out.bytes.size());
  ASSERT_TRUE(info.ok()) << info.message();
  EXPECT_EQ(std::string(info->name), "webp");
  EXPECT_EQ(info->width, w);
  EXPECT_EQ(info->height, h);
  const std::string body(out.bytes.begin(), out.bytes.end());
  EXPECT_EQ(body.find("ALPH") != std::string::npos, alpha);
  // And the module reads it back: the same size, a PNG with alpha when it had some.
  auto again = wi::process(out.bytes.data(), out.bytes.size(), wi::parse_options("format=png").value(), 0, {});
  ASSERT_TRUE(again.ok()) << again.message();
  EXPECT_EQ(again->width, w);
  EXPECT_EQ(again->height, h);
}

TEST(ImagePipeline, WebPOutput) {
  auto photo = run(fixture("2569067123_aca715a2ee_o.jpg"), "width=320,format=webp,quality=75");
  ASSERT_TRUE(photo.ok()) << photo.message();
  EXPECT_EQ(std::string(photo->content_type), "image/webp");
  expect_webp(photo.value(), 320, 261, false);
  auto transparent = run(fixture("grey-8bit-alpha.png"), "width=100,format=webp");
  ASSERT_TRUE(transparent.ok()) << transparent.message();
  expect_webp(transparent.value(), 100, 75, true);
}

TEST(ImagePipeline, FormatAuto) {
  const bytes jpeg = fixture("320x240.jpg"), alpha = fixture("grey-8bit-alpha.png");
  const bytes opaque = fixture("embedgravitybird.png"), partly = fixture("test-pattern.png");
  EXPECT_EQ(std::string(run(jpeg, "width=100,format=auto", wi::accept_webp)->content_type), "image/webp");
  EXPECT_EQ(std::string(run(jpeg, "width=100,format=auto")->content_type), "image/jpeg");
  EXPECT_EQ(std::string(run(alpha, "width=100,format=auto")->content_type), "image/png");
  EXPECT_EQ(std::string(run(opaque, "width=100,format=auto")->content_type), "image/jpeg");  // RGBA, all opaque
  EXPECT_EQ(std::string(run(partly, "width=100,format=auto")->content_type), "image/png");  // alpha down to 149
  EXPECT_EQ(std::string(run(fixture("animated-loop-3.gif"), "width=100")->content_type), "image/png");
  // compression=fast: the quicker encoders even when WebP is accepted; an explicit format stays.
  EXPECT_EQ(std::string(run(jpeg, "width=100,format=auto,compression=fast", wi::accept_webp)->content_type), "image/jpeg");
  EXPECT_EQ(std::string(run(alpha, "width=100,format=auto,compression=fast", wi::accept_webp)->content_type), "image/png");
  EXPECT_EQ(std::string(run(jpeg, "width=100,format=webp,compression=fast")->content_type), "image/webp");
  EXPECT_FALSE(wi::parse_options("compression=slow").ok());
}

TEST(ImagePipeline, JpegQualityAndProgressive) {
  const bytes in = fixture("2569067123_aca715a2ee_o.jpg");
  auto low = run(in, "width=400,quality=40"), high = run(in, "width=400,quality=95");
  ASSERT_TRUE(low.ok() && high.ok());
  EXPECT_LT(low->bytes.size() * 2, high->bytes.size());
  // Progressive by default: an SOF2 marker; quality 95 keeps full-resolution chroma (1x1 luma).
  const std::string body(high->bytes.begin(), high->bytes.end());
  const size_t sof2 = body.find("\xFF\xC2");
  ASSERT_NE(sof2, std::string::npos);
  EXPECT_EQ(static_cast<uint8_t>(body[sof2 + 11]), 0x11);  // component 1 sampling factors
  const std::string low_body(low->bytes.begin(), low->bytes.end());
  const size_t low_sof = low_body.find("\xFF\xC2");
  ASSERT_NE(low_sof, std::string::npos);
  EXPECT_EQ(static_cast<uint8_t>(low_body[low_sof + 11]), 0x22);  // 4:2:0
}

TEST(ImagePipeline, PadFillsWithTheBackground) {
  auto out = run(fixture("320x240.jpg"), "width=200,height=200,fit=pad,background=red,format=png");
  ASSERT_TRUE(out.ok()) << out.message();
  const wi::detail::pixels p = decode(out.value());
  ASSERT_EQ(p.h, 200u);
  const uint8_t* corner = p.row(0);
  EXPECT_EQ(corner[0], 255);
  EXPECT_EQ(corner[1], 0);
  EXPECT_EQ(corner[2], 0);
  const uint8_t* middle = p.row(100) + 100 * p.channels;
  EXPECT_FALSE(middle[0] == 255 && middle[1] == 0 && middle[2] == 0);
  // A transparent background keeps an alpha channel in PNG.
  auto clear = run(fixture("320x240.jpg"), "width=200,height=200,fit=pad,background=transparent,format=png");
  ASSERT_TRUE(clear.ok()) << clear.message();
  const wi::detail::pixels c = decode(clear.value());
  EXPECT_EQ(c.channels, 4u);
  EXPECT_EQ(c.row(0)[3], 0);
}

TEST(ImagePipeline, GravitySidesAndPoint) {
  // 320x240 to 100x240 (no resize): the window's x is exact.
  const bytes in = fixture("320x240.jpg");
  auto full = wi::detail::decode_jpeg(in.ptr(), in.size(), 1, 1u << 24);
  ASSERT_TRUE(full.ok());
  const auto window_x = [&](const std::string& gravity) -> int {
    auto out = run(in, "width=100,height=240,fit=cover,format=png,gravity=" + gravity);
    EXPECT_TRUE(out.ok()) << gravity << ": " << out.message();
    const wi::detail::pixels p = decode(out.value());
    for (uint32_t x = 0; x + 100 <= full->w; ++x) {
      if (std::memcmp(p.row(120), full->row(120) + x * 3, 300) == 0 && std::memcmp(p.row(7), full->row(7) + x * 3, 300) == 0) {
        return static_cast<int>(x);
      }
    }
    return -1;
  };
  EXPECT_EQ(window_x("left"), 0);
  EXPECT_EQ(window_x("right"), 220);
  EXPECT_EQ(window_x("center"), 110);
  EXPECT_EQ(window_x("0.25x0.5"), 30);  // the point (80, 120) at the window's centre
  EXPECT_EQ(window_x("1x0"), 220);
}

// gravity=auto through the pipeline: a colourful textured square far right of the middle of a
// flat 3000x600 image (or the same turned by rotate=90), cropped to 400x400 from a 2000x400 cover
// image, so the saliency search runs on a preview scaled to 1024 px and its window is mapped back.
// The centred window holds none of the square; ours must hold most of it.
TEST(ImagePipeline, GravityAutoFollowsTheSubject) {
  for (const bool turned : {false, true}) {
    const uint32_t w = turned ? 600 : 3000, h = turned ? 3000 : 600;
    auto made = wi::detail::make_pixels(w, h, 3);
    ASSERT_TRUE(made.ok());
    wi::detail::pixels& p = made.value();
    std::memset(p.data(), 128, p.size());
    uint32_t seed = 7;
    for (uint32_t i = 0; i < 200; ++i) {
      for (uint32_t j = 0; j < 200; ++j) {
        // Shown at x 2400..2600, y 200..400; stored turned back for rotate=90 (clockwise).
        const uint32_t x = turned ? 200 + j : 2400 + i, y = turned ? h - 1 - (2400 + i) : 200 + j;
        seed = seed * 1103515245u + 12345u;
        uint8_t* px = p.row(y) + size_t{x} * 3;
        const bool check = ((i / 8) + (j / 8)) % 2 == 0;
        px[0] = check ? 230 : 20;
        px[1] = static_cast<uint8_t>(check ? 40 + (seed >> 28) : 200);
        px[2] = check ? 30 : 60;
      }
    }
    auto png = wi::detail::encode_png(std::move(p));
    ASSERT_TRUE(png.ok());
    const bytes in{std::string(png->begin(), png->end())};
    auto out = run(in, std::string("width=400,height=400,fit=cover,gravity=auto,format=png") + (turned ? ",rotate=90" : ""));
    ASSERT_TRUE(out.ok()) << out.message();
    ASSERT_EQ(out->width, 400u);
    const wi::detail::pixels o = decode(out.value());
    uint32_t saturated = 0;
    for (uint32_t y = 0; y < o.h; ++y) {
      const uint8_t* r = o.row(y);
      for (uint32_t x = 0; x < o.w; ++x, r += o.channels) {
        saturated += std::max({r[0], r[1], r[2]}) - std::min({r[0], r[1], r[2]}) > 100;
      }
    }
    // The square is 133x133 in the 2000x400 cover image: about 17,700 pixels.
    EXPECT_GT(saturated, 12000u) << (turned ? "rotate=90" : "upright");
  }
}

// gravity=auto on a photo with an off-centre subject: a bird in flight left of the middle of a
// 576x384 frame, its body (torso and tail) within x 185..255, y 120..200. A window of the frame's
// full height and a third of its width (no resize, so the window's x is exact) must hold the body;
// the centred window (x = 192) cuts it, and a measure that counts fine texture as energy picks
// the gravel right of the bird (x = 319).
TEST(ImagePipeline, GravityAutoFindsTheBird) {
  const bytes in = fixture("embedgravitybird.png");
  auto full = wi::detail::decode_stb(in.ptr(), in.size(), "PNG");
  ASSERT_TRUE(full.ok());
  auto out = run(in, "width=192,height=384,fit=cover,gravity=auto,format=png");
  ASSERT_TRUE(out.ok()) << out.message();
  const wi::detail::pixels p = decode(out.value());
  ASSERT_EQ(p.channels, full->channels);
  int found = -1;
  for (uint32_t x = 0; x + 192 <= full->w && found < 0; ++x) {
    if (std::memcmp(p.row(200), full->row(200) + x * p.channels, p.stride()) == 0) found = static_cast<int>(x);
  }
  ASSERT_GE(found, 0);
  EXPECT_LE(found, 185) << "the window starts right of the bird's body";
  EXPECT_GE(found + 192, 255) << "the window ends left of the bird's body";
}

// `p`'s w x h window at (x, y), copied.
wi::detail::pixels window_of(const wi::detail::pixels& p, uint32_t x, uint32_t y, uint32_t w, uint32_t h) {
  auto out = wi::detail::make_pixels(w, h, p.channels);
  EXPECT_TRUE(out.ok());
  for (uint32_t r = 0; r < h; ++r) std::memcpy(out->row(r), p.row(y + r) + size_t{x} * p.channels, size_t{w} * p.channels);
  return std::move(out).value();
}

bool pixel_is(const wi::detail::pixels& p, uint32_t x, uint32_t y, uint8_t r, uint8_t g, uint8_t b) {
  const uint8_t* px = p.row(y) + size_t{x} * p.channels;
  return px[0] == r && px[1] == g && px[2] == b;
}

// border.*: after the resize, around the picture (and around fit=pad's padding), times dpr; the
// picture inside is the same as without a border.
TEST(ImagePipeline, BorderSurroundsTheOutput) {
  auto plain = run(fixture("320x240.jpg"), "width=100,format=png");
  auto framed = run(fixture("320x240.jpg"), "width=100,format=png,border.width=5,border.color=red");
  ASSERT_TRUE(plain.ok() && framed.ok()) << framed.message();
  const wi::detail::pixels inner = decode(plain.value()), outer = decode(framed.value());
  ASSERT_EQ(outer.w, inner.w + 10);
  ASSERT_EQ(outer.h, inner.h + 10);
  EXPECT_TRUE(same_pixels(window_of(outer, 5, 5, inner.w, inner.h), inner));
  for (const auto& [x, y] : {std::pair{0u, 0u}, {4u, 50u}, {outer.w - 1, outer.h - 1}, {60u, outer.h - 5}}) {
    EXPECT_TRUE(pixel_is(outer, x, y, 255, 0, 0)) << x << "," << y;
  }
  // Sides of their own, in CSS pixels: dpr=2 doubles them (and the picture).
  auto sides = run(fixture("320x240.jpg"), "width=100,dpr=2,format=png,border.top=1,border.left=3,border.color=%2300ff00");
  ASSERT_TRUE(sides.ok()) << sides.message();
  EXPECT_EQ(sides->width, 200u + 6);
  EXPECT_EQ(sides->height, 150u + 2);
  const wi::detail::pixels s = decode(sides.value());
  EXPECT_TRUE(pixel_is(s, 5, 100, 0, 255, 0));
  EXPECT_TRUE(pixel_is(s, 100, 1, 0, 255, 0));
  EXPECT_FALSE(pixel_is(s, 6, 2, 0, 255, 0));
  // With fit=pad: the padding keeps the background, the border its colour.
  auto padded = run(fixture("320x240.jpg"), "width=100,height=100,fit=pad,background=blue,border.width=2,border.color=red,format=png");
  ASSERT_TRUE(padded.ok()) << padded.message();
  const wi::detail::pixels pd = decode(padded.value());
  ASSERT_EQ(pd.w, 104u);
  EXPECT_TRUE(pixel_is(pd, 1, 1, 255, 0, 0));
  EXPECT_TRUE(pixel_is(pd, 50, 3, 0, 0, 255));
  // A grey picture with a coloured border becomes colour; a transparent border keeps alpha in PNG.
  auto clear = run(fixture("gamma_dalai_lama_gray.jpg"), "width=50,format=png,border.width=1,border.color=transparent");
  ASSERT_TRUE(clear.ok()) << clear.message();
  const wi::detail::pixels c = decode(clear.value());
  EXPECT_TRUE(c.has_alpha_channel());
  EXPECT_EQ(c.row(0)[c.channels - 1], 0);
  // Past the output limit with the border: refused before decoding.
  wi::limits lim;
  lim.max_output_side = 100;
  auto over = run(fixture("320x240.jpg"), "width=100,border.width=1", 0, lim);
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.code(), error_code::too_large);
  EXPECT_NE(over.message().find("with its border"), std::string::npos) << over.message();
}

// width=auto: Cloudflare's four widths by the client's size class (js-glue/image.js clientBits);
// desktop when nothing is known. slow-connection-quality replaces quality for a slow client only.
TEST(ImagePipeline, ClientBitsPickAutoWidthAndSlowQuality) {
  const bytes big = fixture("2569067123_aca715a2ee_o.jpg");  // 2725 wide
  for (uint32_t size_class = 0; size_class <= 4; ++size_class) {
    auto out = run(big, "width=auto,format=jpeg", size_class << wi::client_width_shift);
    ASSERT_TRUE(out.ok()) << out.message();
    EXPECT_EQ(out->width, wi::auto_widths[size_class]) << size_class;
  }
  EXPECT_EQ(wi::auto_width(0), 960u);
  EXPECT_EQ(wi::auto_width(7u << wi::client_width_shift), 960u);  // a class we do not know
  auto slow = run(big, "width=200,scq=20", wi::client_slow);
  auto twenty = run(big, "width=200,quality=20");
  auto fast = run(big, "width=200,scq=20,quality=70");
  auto seventy = run(big, "width=200,quality=70");
  ASSERT_TRUE(slow.ok() && twenty.ok() && fast.ok() && seventy.ok());
  EXPECT_EQ(slow->bytes, twenty->bytes);
  EXPECT_EQ(fast->bytes, seventy->bytes);
  EXPECT_LT(slow->bytes.size(), seventy->bytes.size());
}

// trim: a window of the upright source (EXIF applied; before flip, rotate and the resize), in
// source pixels times dpr. Without a resize the output is that window exactly.
TEST(ImagePipeline, TrimCutsTheUprightSource) {
  for (const char* name : {"test-pattern.png", "Landscape_3.jpg", "Landscape_6.jpg", "Portrait_8.jpg"}) {
    auto plain = run(fixture(name), "format=png");
    auto edges = run(fixture(name), "format=png,trim=10;20;30;40");
    auto window = run(fixture(name), "format=png,trim.left=40,trim.top=10,trim.width=50,trim.height=60");
    ASSERT_TRUE(plain.ok() && edges.ok() && window.ok()) << name;
    const wi::detail::pixels whole = decode(plain.value());
    EXPECT_TRUE(same_pixels(decode(edges.value()), window_of(whole, 40, 10, whole.w - 60, whole.h - 40))) << name;
    EXPECT_TRUE(same_pixels(decode(window.value()), window_of(whole, 40, 10, 50, 60))) << name;
    // flip after trim: the trimmed window mirrored.
    auto flipped = run(fixture(name), "format=png,trim=10;20;30;40,flip=h");
    ASSERT_TRUE(flipped.ok());
    EXPECT_TRUE(same_pixels(decode(flipped.value()), mirrored(decode(edges.value()), true))) << name;
  }
  // dpr multiplies the values; a window past the image is cut to it; nothing left is an error.
  auto doubled = run(fixture("test-pattern.png"), "format=png,trim=5;0;0;0,dpr=2");
  auto ten = run(fixture("test-pattern.png"), "format=png,trim=10;0;0;0");
  ASSERT_TRUE(doubled.ok() && ten.ok());
  EXPECT_EQ(doubled->height, ten->height);
  auto wide = run(fixture("320x240.jpg"), "format=png,trim.left=300,trim.width=100");
  ASSERT_TRUE(wide.ok()) << wide.message();
  EXPECT_EQ(wide->width, 20u);
  auto widthwise = run(fixture("320x240.jpg"), "format=png,trim=0;400;0;10,trim.width=50");  // the width, not the right edge
  ASSERT_TRUE(widthwise.ok()) << widthwise.message();
  EXPECT_EQ(widthwise->width, 50u);
  auto nothing = run(fixture("320x240.jpg"), "trim=0;160;0;160");
  ASSERT_FALSE(nothing.ok());
  EXPECT_EQ(nothing.code(), error_code::invalid_value);
  EXPECT_EQ(nothing.message(), "option 'trim': leaves no pixels of the 320x240 image");
  // With a resize that decodes the JPEG at a DCT scale: the sizes follow the trimmed window.
  for (const char* extra : {"", ",gravity=auto,fit=cover,height=100", ",format=png"}) {
    auto scaled = run(fixture("2569067123_aca715a2ee_o.jpg"), std::string("width=200,trim=100;300;125;100") + extra);
    ASSERT_TRUE(scaled.ok()) << extra << ": " << scaled.message();
    EXPECT_EQ(scaled->width, 200u) << extra;
    EXPECT_EQ(scaled->height, *extra == ',' && extra[1] == 'g' ? 100u : (2225u - 225) * 200 / (2725 - 400)) << extra;
  }
}

// A WebP's RIFF chunks, in order: (fourcc, payload).
std::vector<std::pair<std::string, std::string>> webp_chunks(const std::vector<uint8_t>& b) {
  std::vector<std::pair<std::string, std::string>> out;
  for (size_t pos = 12; pos + 8 <= b.size();) {
    const uint32_t n = b[pos + 4] | b[pos + 5] << 8 | b[pos + 6] << 16 | uint32_t{b[pos + 7]} << 24;
    if (pos + 8 + n > b.size()) break;
    out.emplace_back(std::string(b.begin() + pos, b.begin() + pos + 4), std::string(b.begin() + pos + 8, b.begin() + pos + 8 + n));
    pos += 8 + n + (n & 1);
  }
  return out;
}

uint32_t le(const std::string& s, size_t at, size_t bytes) {
  uint32_t v = 0;
  for (size_t i = 0; i < bytes; ++i) v |= uint32_t{static_cast<uint8_t>(s[at + i])} << (8 * i);
  return v;
}

struct animation_facts {
  uint32_t loop = 0;
  std::vector<uint32_t> durations;
};

animation_facts animation_of(const std::vector<uint8_t>& webp) {
  animation_facts f;
  for (const auto& [fourcc, payload] : webp_chunks(webp)) {
    if (fourcc == "ANIM") f.loop = le(payload, 4, 2);
    if (fourcc == "ANMF") f.durations.push_back(le(payload, 12, 3));
  }
  return f;
}

// A GIF of `frames` 1x1 frames on a w x h screen, each shown `delay` hundredths of a second.
bytes tiny_gif(uint32_t w, uint32_t h, uint32_t frames, uint32_t delay) {
  std::string g = "GIF89a";
  g += {static_cast<char>(w & 255), static_cast<char>(w >> 8), static_cast<char>(h & 255), static_cast<char>(h >> 8)};
  g += {'\x80', '\0', '\0', '\0', '\0', '\0', '\xff', '\xff', '\xff'};  // a global table of two colours
  for (uint32_t i = 0; i < frames; ++i) {
    g += {'\x21', '\xf9', '\x04', '\0', static_cast<char>(delay & 255), static_cast<char>(delay >> 8), '\0', '\0'};
    g += {'\x2c', static_cast<char>(i % w), '\0', '\0', '\0', '\x01', '\0', '\x01', '\0', '\0'};
    g += {'\x02', '\x02', '\x44', '\x01', '\0'};  // one pixel of colour 0
  }
  g += '\x3b';
  return bytes{g};
}

// Animated GIF and WebP come out as animated WebP when the output is WebP and anim is not false:
// every frame through the same stages, the frames' timing and the loop count kept.
TEST(ImagePipeline, AnimationsStayAnimatedAsWebP) {
  const std::vector<uint32_t> durations = {3000, 3000, 3000, 3000, 3000, 3000, 3000, 3000, 3000, 15000};
  for (const char* name : {"animated-loop-3.gif", "webp/animated.webp"}) {
    auto out = run(fixture(name), "width=100,format=webp");
    ASSERT_TRUE(out.ok()) << name << ": " << out.message();
    EXPECT_EQ(out->content_type, std::string("image/webp"));
    EXPECT_EQ(out->width, 100u);
    auto shown = wi::probe(out->bytes.data(), out->bytes.size());
    ASSERT_TRUE(shown.ok());
    EXPECT_EQ(shown->width, 100u);
    const animation_facts f = animation_of(out->bytes);
    EXPECT_EQ(f.durations, durations) << name;
    EXPECT_EQ(f.loop, 3u) << name << ": played three times, as the source";
    // Its first frame is the still first frame's picture (both lossy: close, not equal).
    auto still = run(fixture(name), "width=100,format=png,anim=false");
    ASSERT_TRUE(still.ok());
    auto first = wi::detail::decode_webp(out->bytes.data(), out->bytes.size());
    ASSERT_TRUE(first.ok()) << first.message();
    auto flat = wi::detail::convert_channels(std::move(first).value(), decode(still.value()).channels, wi::rgba8{});
    ASSERT_TRUE(flat.ok());
    EXPECT_LT(mean_abs_diff(flat.value(), decode(still.value())), 4.0) << name;
    // anim=false, or a format without animation: the first frame only.
    auto one = run(fixture(name), "width=100,format=webp,anim=false");
    ASSERT_TRUE(one.ok());
    EXPECT_TRUE(animation_of(one->bytes).durations.empty()) << name;
    auto png = run(fixture(name), "width=100,format=png");
    ASSERT_TRUE(png.ok());
    EXPECT_EQ(png->content_type, std::string("image/png"));
    // format=auto: animated for a client that takes WebP.
    auto taken = run(fixture(name), "width=60,format=auto", wi::accept_webp);
    ASSERT_TRUE(taken.ok());
    EXPECT_EQ(animation_of(taken->bytes).durations.size(), durations.size()) << name;
    // Every frame gets the options: border, trim, flip.
    auto framed = run(fixture(name), "width=100,format=webp,border.width=3,trim=10;0;0;0,flip=h");
    ASSERT_TRUE(framed.ok()) << framed.message();
    EXPECT_EQ(framed->width, 106u);
    EXPECT_EQ(animation_of(framed->bytes).durations.size(), durations.size());
  }
  // An animated WebP stays one without a format; an animated GIF becomes its first frame as PNG.
  auto kept = run(fixture("webp/animated.webp"), "width=80");
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(animation_of(kept->bytes).durations.size(), durations.size());
  auto gif = run(fixture("animated-loop-3.gif"), "width=80");
  ASSERT_TRUE(gif.ok());
  EXPECT_EQ(gif->content_type, std::string("image/png"));
}

TEST(ImagePipeline, AnimationLimitsAreCheckedBeforeDecoding) {
  auto small = run(tiny_gif(8, 8, 30, 1), "format=webp");  // 10 ms: played as 100 ms, as browsers do
  ASSERT_TRUE(small.ok()) << small.message();
  const animation_facts f = animation_of(small->bytes);
  // Each frame adds a pixel until the row is full; libwebp merges the identical frames that
  // follow into one, their time added: 7 frames of 100 ms, then the last for 23 of them.
  EXPECT_EQ(f.durations, (std::vector<uint32_t>{100, 100, 100, 100, 100, 100, 100, 2300}));
  EXPECT_EQ(f.loop, 1u) << "no NETSCAPE2.0 extension: played once";
  auto many = run(tiny_gif(8, 8, 1000, 5), "format=webp");
  ASSERT_FALSE(many.ok());
  EXPECT_EQ(many.code(), error_code::too_large);
  EXPECT_NE(many.message().find("1000 frames or more"), std::string::npos) << many.message();
  auto area = run(tiny_gif(2000, 2000, 30, 5), "width=100,format=webp");  // 120 MP of canvases in all
  ASSERT_FALSE(area.ok());
  EXPECT_EQ(area.code(), error_code::too_large);
  EXPECT_NE(area.message().find("pixels in all"), std::string::npos) << area.message();
  auto first = run(tiny_gif(2000, 2000, 30, 5), "width=100,format=webp,anim=false");  // one frame is fine
  EXPECT_TRUE(first.ok()) << first.message();
  // A small animation blown up: the frames written count too (30 of 2000x2000).
  auto blown = run(tiny_gif(8, 8, 30, 5), "width=2000,height=2000,fit=cover,format=webp");
  ASSERT_FALSE(blown.ok());
  EXPECT_EQ(blown.code(), error_code::too_large);
  EXPECT_NE(blown.message().find("2000x2000 out"), std::string::npos) << blown.message();
}

// trim=border: the source cut to what differs from its border colour (the top-left pixel's, or
// trim.border.color) by more than trim.border.tolerance, widened by trim.border.keep.
TEST(ImagePipeline, TrimBorderFindsThePicture) {
  for (const char* format : {"png", "jpeg"}) {
    auto framed = run(fixture("320x240.jpg"), std::string("width=200,height=200,fit=pad,background=white,quality=95,format=") + format);
    ASSERT_TRUE(framed.ok()) << framed.message();  // 200x150 of picture between two white bands of 25
    const bytes source{std::string(framed->bytes.begin(), framed->bytes.end())};
    auto cut = run(source, "trim=border,format=png,trim.border.tolerance=40");
    ASSERT_TRUE(cut.ok()) << format << ": " << cut.message();
    EXPECT_EQ(cut->width, 200u) << format;
    EXPECT_GE(cut->height, 148u) << format;
    EXPECT_LE(cut->height, 152u) << format;
    auto kept = run(source, "trim=border,trim.border.keep=5,format=png,trim.border.tolerance=40");
    ASSERT_TRUE(kept.ok());
    EXPECT_EQ(kept->height, cut->height + 10) << format;
    // A colour that no pixel has: all of it is content, nothing is cut.
    auto none = run(source, "trim=border,trim.border.color=%23ff00ff,trim.border.tolerance=0,format=png");
    ASSERT_TRUE(none.ok());
    EXPECT_EQ(none->height, 200u) << format;
    // Then the rest of the options, as for any trim: resized after the cut.
    auto resized = run(source, "trim=border,trim.border.tolerance=40,width=100,format=png");
    ASSERT_TRUE(resized.ok());
    EXPECT_EQ(resized->width, 100u);
    EXPECT_NEAR(resized->height, 75.0, 1.0) << format;
  }
  // An image that is all border (every pixel within the tolerance) keeps its size.
  auto all = run(fixture("320x240.jpg"), "trim=border,trim.border.tolerance=255,format=png");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->width, 320u);
  EXPECT_EQ(all->height, 240u);
  // WebP and GIF sources are read whole first.
  auto gif = run(fixture("animated-loop-3.gif"), "trim=border,format=png");
  EXPECT_TRUE(gif.ok()) << gif.message();
}

// draw: overlays drawn on the output after everything else, each its own job (its options, its
// first frame), placed by its edges or gravity, tiled by repeat, its alpha times opacity.
TEST(ImagePipeline, OverlaysAreDrawnWhereTheySay) {
  auto red = wi::detail::make_pixels(20, 10, 3);
  ASSERT_TRUE(red.ok());
  for (size_t i = 0; i < red->size(); i += 3) std::memcpy(red->data() + i, "\xff\x00\x00", 3);
  auto red_png = wi::detail::encode_png(std::move(red).value());
  ASSERT_TRUE(red_png.ok());
  const bytes mark{std::string(red_png->begin(), red_png->end())};
  const bytes photo = fixture("320x240.jpg");
  const auto draw = [&](const std::string& main, std::vector<std::string> overlays) {
    std::vector<wi::overlay> list;
    for (const std::string& text : overlays) {
      auto ov = wi::parse_overlay(text);
      EXPECT_TRUE(ov.ok()) << text << ": " << ov.message();
      ov->data = mark.ptr();
      ov->size = mark.size();
      list.push_back(ov.value());
    }
    return wi::process_with_overlays(photo.ptr(), photo.size(), opts(main), 0, {}, list);
  };
  auto plain = run(photo, "width=100,format=png");
  ASSERT_TRUE(plain.ok());
  const wi::detail::pixels base = decode(plain.value());
  auto at = draw("width=100,format=png", {"top=5,left=10"});
  ASSERT_TRUE(at.ok()) << at.message();
  const wi::detail::pixels p = decode(at.value());
  EXPECT_TRUE(pixel_is(p, 10, 5, 255, 0, 0));
  EXPECT_TRUE(pixel_is(p, 29, 14, 255, 0, 0));
  EXPECT_TRUE(same_pixels(window_of(p, 30, 15, 70, 60), window_of(base, 30, 15, 70, 60))) << "nothing drawn elsewhere";
  // Half opacity: halfway between the picture and red; its own width; from the bottom-right.
  auto half = draw("width=100,format=png", {"bottom=0,right=0,opacity=0.5,width=10"});
  ASSERT_TRUE(half.ok()) << half.message();
  const wi::detail::pixels q = decode(half.value());
  const uint8_t* under = base.row(74) + 99 * base.channels;
  const uint8_t* over = q.row(74) + 99 * q.channels;
  EXPECT_NEAR(over[0], (255 * 128 + under[0] * 127 + 127) / 255, 1);
  EXPECT_NEAR(over[1], (under[1] * 127 + 127) / 255, 1);
  EXPECT_TRUE(same_pixels(window_of(q, 0, 0, 89, 69), window_of(base, 0, 0, 89, 69)));
  // repeat=x along the top; gravity as a point (the overlay centred on it, cut at the edge).
  auto tiled = draw("width=100,format=png", {"top=0,repeat=x", "gravity=1x1"});
  ASSERT_TRUE(tiled.ok()) << tiled.message();
  const wi::detail::pixels t = decode(tiled.value());
  for (uint32_t x = 0; x < 100; x += 9) EXPECT_TRUE(pixel_is(t, x, 3, 255, 0, 0)) << x;
  EXPECT_TRUE(pixel_is(t, 99, 74, 255, 0, 0));
  EXPECT_FALSE(pixel_is(t, 80, 60, 255, 0, 0));
  // JPEG out (no streaming past the overlays), a grey output becoming colour.
  auto grey = wi::process_with_overlays(fixture("concert.jpg").ptr(), fixture("concert.jpg").size(), opts("width=80,format=png"), 0, {},
                                        {[&] { auto ov = wi::parse_overlay("top=0,left=0").value(); ov.data = mark.ptr(); ov.size = mark.size(); return ov; }()});
  ASSERT_TRUE(grey.ok()) << grey.message();
  EXPECT_TRUE(pixel_is(decode(grey.value()), 1, 1, 255, 0, 0));
  // Refusals.
  EXPECT_EQ(wi::parse_overlay("top=1,bottom=2").message(), "option 'top': given with bottom");
  EXPECT_EQ(wi::parse_overlay("opacity=2").message(), "option 'opacity': expected a number 0..1, got '2'");
  EXPECT_EQ(wi::parse_overlay("repeat=yes").message(), "option 'repeat': expected true, x, y or false, got 'yes'");
  EXPECT_EQ(wi::parse_overlay("width=0").code(), error_code::invalid_value);
  auto many = draw("width=100", std::vector<std::string>(9, "top=0"));
  ASSERT_FALSE(many.ok());
  EXPECT_EQ(many.message(), "option 'draw': at most 8 overlays");
  const bytes gif = fixture("animated-loop-3.gif");
  auto ov = wi::parse_overlay("top=0").value();
  ov.data = mark.ptr();
  ov.size = mark.size();
  auto animated = wi::process_with_overlays(gif.ptr(), gif.size(), opts("width=50,format=webp"), 0, {}, {ov});
  ASSERT_FALSE(animated.ok());
  EXPECT_EQ(animated.message(), "option 'draw': not supported on an animation");
  ov.data = photo.ptr();  // a damaged overlay fails the job
  ov.size = 100;
  auto broken = wi::process_with_overlays(photo.ptr(), photo.size(), opts("width=50"), 0, {}, {ov});
  EXPECT_FALSE(broken.ok());
}

}  // namespace
