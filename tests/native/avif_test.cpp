// AVIF output (src/avif, whale::avif): the container's boxes as the AV1 Image File Format spec
// lays them out (read back here by a small box reader), an alpha item exactly when some pixel is
// not opaque, the handoff from the pipeline (the same bytes whether the encoder is installed or
// handed the pixels), the fallbacks to WebP (over 1200 px, animations), the memory meter and its
// estimate. Decoding by libavif and dav1d, and by Chromium, is checked in tests/js/image-avif.test.mjs
// and tests/e2e/image.test.mjs.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "test_util.h"
#include "whale/avif.h"
#include "whale/image.h"

namespace {

namespace wa = whale::avif;
namespace wi = whale::image;
using bytes = std::vector<uint8_t>;
using whale::error_code;

// w x h pixels of `channels`, a diagonal gradient; alpha (when there is one) from `alpha_at`.
bytes gradient(uint32_t w, uint32_t h, uint32_t channels, uint8_t (*alpha_at)(uint32_t, uint32_t) = nullptr) {
  bytes px(size_t{w} * h * channels);
  for (uint32_t y = 0; y < h; ++y) {
    for (uint32_t x = 0; x < w; ++x) {
      uint8_t* p = &px[(size_t{y} * w + x) * channels];
      const uint8_t v = static_cast<uint8_t>((x * 255 / (w > 1 ? w - 1 : 1) + y * 128 / (h > 1 ? h - 1 : 1)) / 2);
      for (uint32_t c = 0; c < channels; ++c) p[c] = static_cast<uint8_t>(v + c * 40);
      if (channels == 2 || channels == 4) p[channels - 1] = alpha_at ? alpha_at(x, y) : 255;
    }
  }
  return px;
}

uint32_t be32(const bytes& b, size_t at) {
  return uint32_t{b[at]} << 24 | uint32_t{b[at + 1]} << 16 | uint32_t{b[at + 2]} << 8 | b[at + 3];
}
uint32_t be16(const bytes& b, size_t at) { return uint32_t{b[at]} << 8 | b[at + 1]; }

struct box {
  std::string type;
  size_t start = 0, end = 0, body = 0;  // body: after the size and type
};

// The boxes laid one after the other in [from, to); each must fit.
std::vector<box> children(const bytes& b, size_t from, size_t to) {
  std::vector<box> out;
  size_t at = from;
  while (at < to) {
    EXPECT_LE(at + 8, to);
    if (at + 8 > to) break;
    const uint32_t size = be32(b, at);
    EXPECT_GE(size, 8u);
    EXPECT_LE(at + size, to);
    if (size < 8 || at + size > to) break;
    out.push_back({std::string(b.begin() + static_cast<std::ptrdiff_t>(at + 4), b.begin() + static_cast<std::ptrdiff_t>(at + 8)), at,
                   at + size, at + 8});
    at += size;
  }
  return out;
}

const box* find(const std::vector<box>& list, const std::string& type) {
  for (const box& x : list) {
    if (x.type == type) return &x;
  }
  return nullptr;
}

std::vector<std::string> types(const std::vector<box>& list) {
  std::vector<std::string> out;
  for (const box& x : list) out.push_back(x.type);
  return out;
}

// What the container says: its items' extents and the properties.
struct parsed {
  std::vector<box> top, meta, ipco;
  uint32_t items = 0;
  std::vector<std::pair<uint32_t, uint32_t>> extents;  // offset, length per item
  bool alpha_ref = false;
  uint32_t width = 0, height = 0;
};

parsed parse(const bytes& file) {
  parsed p;
  p.top = children(file, 0, file.size());
  EXPECT_EQ(types(p.top), (std::vector<std::string>{"ftyp", "meta", "mdat"}));
  if (p.top.size() != 3) return p;
  EXPECT_EQ(std::string(file.begin() + 8, file.begin() + 12), "avif");  // the major brand
  const box& meta = p.top[1];
  p.meta = children(file, meta.body + 4, meta.end);  // meta is a full box
  const box* iloc = find(p.meta, "iloc");
  EXPECT_NE(iloc, nullptr);
  if (iloc == nullptr) return p;
  EXPECT_EQ(file[iloc->body + 4], 0x44);  // 4-byte offsets and lengths
  p.items = be16(file, iloc->body + 6);
  size_t at = iloc->body + 8;
  for (uint32_t i = 0; i < p.items; ++i) {
    EXPECT_EQ(be16(file, at), i + 1);   // item id
    EXPECT_EQ(be16(file, at + 4), 1u);  // one extent
    p.extents.emplace_back(be32(file, at + 6), be32(file, at + 10));
    at += 14;
  }
  const box* iref = find(p.meta, "iref");
  if (iref != nullptr) {
    const auto refs = children(file, iref->body + 4, iref->end);
    p.alpha_ref = refs.size() == 1 && refs[0].type == "auxl" && be16(file, refs[0].body) == 2 && be16(file, refs[0].body + 4) == 1;
  }
  const box* iprp = find(p.meta, "iprp");
  EXPECT_NE(iprp, nullptr);
  if (iprp == nullptr) return p;
  const auto props = children(file, iprp->body, iprp->end);
  EXPECT_EQ(types(props), (std::vector<std::string>{"ipco", "ipma"}));
  p.ipco = children(file, props[0].body, props[0].end);
  if (const box* ispe = find(p.ipco, "ispe")) {
    p.width = be32(file, ispe->body + 4);
    p.height = be32(file, ispe->body + 8);
  }
  return p;
}

wa::settings fast() {
  wa::settings s;
  s.quality = 60;
  return s;
}

TEST(Avif, RgbImageIsOneItemInsideMdatStartingWithItsSequenceHeader) {
  const bytes px = gradient(97, 61, 3);
  auto out = wa::encode(px.data(), 97, 61, 3, fast());
  ASSERT_TRUE(out.ok()) << out.error().message;
  const bytes& file = out.value();
  const parsed p = parse(file);
  EXPECT_EQ(p.items, 1u);
  EXPECT_FALSE(p.alpha_ref);
  EXPECT_EQ(p.width, 97u);
  EXPECT_EQ(p.height, 61u);
  ASSERT_EQ(p.extents.size(), 1u);
  const box& mdat = p.top[2];
  EXPECT_EQ(p.extents[0].first, mdat.body);
  EXPECT_EQ(p.extents[0].first + p.extents[0].second, mdat.end);
  // The item's first OBU is the sequence header (type 1, with a size field): 0x0A.
  EXPECT_EQ(file[mdat.body], 0x0A);
  // av1C: marker and version 1, profile 0, 4:2:0, and the same sequence header OBU.
  const box* av1c = find(p.ipco, "av1C");
  ASSERT_NE(av1c, nullptr);
  EXPECT_EQ(file[av1c->body], 0x81);
  EXPECT_EQ(file[av1c->body + 1] >> 5, 0);     // profile 0
  EXPECT_EQ(file[av1c->body + 2] & 0x1c, 0x0c);  // not monochrome, subsampled in x and y
  const size_t config = av1c->end - (av1c->body + 4);
  EXPECT_EQ(std::memcmp(&file[av1c->body + 4], &file[mdat.body], config), 0);
  // colr: nclx, sRGB primaries and transfer, BT.601 matrix, full range.
  const box* colr = find(p.ipco, "colr");
  ASSERT_NE(colr, nullptr);
  EXPECT_EQ(std::string(file.begin() + static_cast<std::ptrdiff_t>(colr->body), file.begin() + static_cast<std::ptrdiff_t>(colr->body + 4)), "nclx");
  EXPECT_EQ(be16(file, colr->body + 4), 1u);
  EXPECT_EQ(be16(file, colr->body + 6), 13u);
  EXPECT_EQ(be16(file, colr->body + 8), 6u);
  EXPECT_EQ(file[colr->body + 10], 0x80);
  EXPECT_EQ(find(p.ipco, "auxC"), nullptr);
  // The same input, the same bytes.
  auto again = wa::encode(px.data(), 97, 61, 3, fast());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again.value(), file);
}

TEST(Avif, TransparencyAddsAnAlphaItemAndOpaqueAlphaIsDropped) {
  const bytes see_through = gradient(40, 30, 4, [](uint32_t x, uint32_t) { return static_cast<uint8_t>(x * 6); });
  auto out = wa::encode(see_through.data(), 40, 30, 4, fast());
  ASSERT_TRUE(out.ok()) << out.error().message;
  const bytes& file = out.value();
  const parsed p = parse(file);
  EXPECT_EQ(p.items, 2u);
  EXPECT_TRUE(p.alpha_ref);
  const box* auxc = find(p.ipco, "auxC");
  ASSERT_NE(auxc, nullptr);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(&file[auxc->body + 4])), "urn:mpeg:mpegB:cicp:systems:auxiliary:alpha");
  ASSERT_EQ(p.extents.size(), 2u);
  EXPECT_EQ(p.extents[1].first, p.extents[0].first + p.extents[0].second);  // alpha right after colour
  EXPECT_EQ(p.extents[1].first + p.extents[1].second, p.top[2].end);
  // The alpha item's av1C says monochrome.
  int monochrome = 0;
  for (const box& b : p.ipco) {
    if (b.type == "av1C" && (file[b.body + 2] & 0x10)) ++monochrome;
  }
  EXPECT_EQ(monochrome, 1);

  const bytes opaque = gradient(40, 30, 4);
  auto solid = wa::encode(opaque.data(), 40, 30, 4, fast());
  ASSERT_TRUE(solid.ok());
  EXPECT_EQ(parse(solid.value()).items, 1u);
  // Opaque RGBA is RGB: the same file.
  const bytes rgb = gradient(40, 30, 3);
  auto plain = wa::encode(rgb.data(), 40, 30, 3, fast());
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(solid.value(), plain.value());
}

TEST(Avif, GreyAndGreyAlphaAndTinyImages) {
  for (uint32_t channels : {1u, 2u}) {
    const bytes px = gradient(17, 9, channels, [](uint32_t x, uint32_t y) { return static_cast<uint8_t>((x + y) * 9); });
    auto out = wa::encode(px.data(), 17, 9, channels, fast());
    ASSERT_TRUE(out.ok()) << channels << ": " << out.error().message;
    EXPECT_EQ(parse(out.value()).items, channels == 2 ? 2u : 1u);
  }
  const uint8_t one[3] = {200, 10, 30};
  auto dot = wa::encode(one, 1, 1, 3, fast());
  ASSERT_TRUE(dot.ok()) << dot.error().message;
  EXPECT_EQ(parse(dot.value()).width, 1u);
}

TEST(Avif, BadInputsAndHandoffsAreRefused) {
  const bytes px = gradient(8, 8, 3);
  EXPECT_EQ(wa::encode(nullptr, 8, 8, 3, fast()).error().code, error_code::invalid_value);
  EXPECT_EQ(wa::encode(px.data(), 0, 8, 3, fast()).error().code, error_code::invalid_value);
  EXPECT_EQ(wa::encode(px.data(), 8, 8, 5, fast()).error().code, error_code::invalid_value);

  wa::handoff h;
  h.width = 8, h.height = 8, h.channels = 3;
  bytes blob(wa::handoff::header_bytes + px.size());
  wa::write_handoff_header(h, blob.data());
  std::memcpy(blob.data() + wa::handoff::header_bytes, px.data(), px.size());
  auto good = wa::encode_handoff(blob.data(), blob.size());
  ASSERT_TRUE(good.ok()) << good.error().message;
  EXPECT_EQ(good.value(), wa::encode(px.data(), 8, 8, 3, wa::settings{}).value());

  EXPECT_EQ(wa::encode_handoff(blob.data(), 10).error().code, error_code::invalid_value);
  EXPECT_EQ(wa::encode_handoff(blob.data(), blob.size() - 1).error().code, error_code::invalid_value);
  bytes other = blob;
  other[0] ^= 1;
  EXPECT_EQ(wa::encode_handoff(other.data(), other.size()).error().code, error_code::invalid_value);
  for (auto [quality, speed] : {std::pair{0u, 9u}, std::pair{101u, 9u}, std::pair{80u, 10u}}) {
    wa::handoff bad = h;
    bad.s.quality = quality;
    bad.s.speed = speed;
    wa::write_handoff_header(bad, blob.data());
    EXPECT_EQ(wa::encode_handoff(blob.data(), blob.size()).error().code, error_code::invalid_value) << quality << " " << speed;
  }
  bytes huge(wa::handoff::header_bytes);
  wa::handoff wide = h;
  wide.width = 1u << 20, wide.height = 1u << 20;  // the product overflows 32 bits, not 64
  wa::write_handoff_header(wide, huge.data());
  EXPECT_EQ(wa::encode_handoff(huge.data(), huge.size()).error().code, error_code::invalid_value);
}

TEST(Avif, QualityMapsToTheQuantizerOnJpegsScale) {
  EXPECT_EQ(wa::quantizer(100), 6u);
  EXPECT_EQ(wa::quantizer(85), 16u);
  EXPECT_EQ(wa::quantizer(50), 38u);
  EXPECT_EQ(wa::quantizer(10), 63u);
  EXPECT_EQ(wa::quantizer(1), 63u);
  EXPECT_EQ(wa::quantizer(0), 63u);
  const bytes px = gradient(64, 64, 3);
  wa::settings low = fast(), high = fast();
  low.quality = 30;
  high.quality = 95;
  EXPECT_LT(wa::encode(px.data(), 64, 64, 3, low).value().size(), wa::encode(px.data(), 64, 64, 3, high).value().size());
}

TEST(Avif, TheMeterStopsAnEncodeOverItsBudgetAndTheEstimateCoversThePeak) {
  const bytes px = gradient(300, 200, 3);
  wa::settings tight = fast();
  tight.max_memory = 1 << 20;
  auto refused = wa::encode(px.data(), 300, 200, 3, tight);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, error_code::too_large);
  EXPECT_NE(refused.error().message.find("memory"), std::string::npos) << refused.error().message;
  // The meter is whole again: the same image within a budget encodes.
  wa::settings roomy = fast();
  roomy.max_memory = wa::encode_bytes(300, 200, roomy.speed);
  ASSERT_TRUE(wa::encode(px.data(), 300, 200, 3, roomy).ok());
  for (auto [w, h, channels] : {std::tuple{16u, 16u, 3u}, std::tuple{333u, 222u, 4u}, std::tuple{800u, 600u, 3u}}) {
    const bytes img = gradient(w, h, channels, [](uint32_t x, uint32_t y) { return static_cast<uint8_t>(x ^ y); });
    ASSERT_TRUE(wa::encode(img.data(), w, h, channels, wa::settings{}).ok());
    EXPECT_LE(wa::last_encode_peak(), wa::encode_bytes(w, h, wa::default_speed)) << w << "x" << h;
    EXPECT_GT(wa::last_encode_peak(), size_t{w} * h) << "the meter counts aom's blocks";
  }
}

whale::result<wi::output> run(const bytes& input, const char* options, uint32_t accept = 0) {
  auto parsed = wi::parse_options(options);
  EXPECT_TRUE(parsed.ok()) << options;
  return wi::process(input.data(), input.size(), parsed.value(), accept, wi::limits{});
}

TEST(AvifPipeline, InstalledOrHandedOverTheEncoderGetsTheSameBytes) {
  const bytes photo = whale::testing::fixture_bytes("images/320x240.jpg");
  wi::set_avif_encoder(nullptr);
  auto handed = run(photo, "width=200,format=avif");
  ASSERT_TRUE(handed.ok()) << handed.error().message;
  EXPECT_STREQ(handed.value().content_type, wi::avif_handoff_type);
  auto header = wa::read_handoff(handed.value().bytes.data(), handed.value().bytes.size());
  ASSERT_TRUE(header.ok()) << header.error().message;
  EXPECT_EQ(header.value().width, 200u);
  EXPECT_EQ(header.value().height, 150u);
  EXPECT_EQ(header.value().channels, 3u);
  EXPECT_EQ(header.value().s.quality, 85u);
  EXPECT_GT(header.value().s.max_memory, wa::encode_bytes(200, 150, wa::default_speed));

  wi::set_avif_encoder(wa::encode_handoff);
  auto encoded = run(photo, "width=200,format=avif");
  ASSERT_TRUE(encoded.ok()) << encoded.error().message;
  EXPECT_STREQ(encoded.value().content_type, "image/avif");
  EXPECT_EQ(encoded.value().width, 200u);
  EXPECT_EQ(encoded.value().bytes, wa::encode_handoff(handed.value().bytes.data(), handed.value().bytes.size()).value());
  wi::set_avif_encoder(nullptr);
}

TEST(AvifPipeline, AutoPicksAvifForClientsThatTakeItAndWebpPastTheLimits) {
  wi::set_avif_encoder(wa::encode_handoff);
  const bytes photo = whale::testing::fixture_bytes("images/2569067123_aca715a2ee_o.jpg");
  auto is = [&](const char* options, uint32_t accept, const char* type, uint32_t width) {
    auto out = run(photo, options, accept);
    ASSERT_TRUE(out.ok()) << options << ": " << out.error().message;
    EXPECT_STREQ(out.value().content_type, type) << options;
    EXPECT_EQ(out.value().width, width) << options;
  };
  is("width=300,format=auto", wi::accept_avif | wi::accept_webp, "image/avif", 300);
  is("width=300,format=auto", wi::accept_webp, "image/webp", 300);
  is("width=300,format=auto,compression=fast", wi::accept_avif | wi::accept_webp, "image/jpeg", 300);
  is("width=1200,format=avif", 0, "image/avif", 1200);   // the longest side at the limit
  is("width=1201,format=avif", 0, "image/webp", 1201);   // past it: WebP
  is("width=1300,format=auto", wi::accept_avif, "image/webp", 1300);
  // An animation stays one, as WebP; anim=false makes its first frame an AVIF.
  const bytes gif = whale::testing::fixture_bytes("images/animated-loop-3.gif");
  auto animated = run(gif, "width=60,format=avif");
  ASSERT_TRUE(animated.ok()) << animated.error().message;
  EXPECT_STREQ(animated.value().content_type, "image/webp");
  auto still = run(gif, "width=60,format=avif,anim=false");
  ASSERT_TRUE(still.ok()) << still.error().message;
  EXPECT_STREQ(still.value().content_type, "image/avif");
  wi::set_avif_encoder(nullptr);
}

TEST(AvifPipeline, OptionsNameAvif) {
  for (const char* text : {"format=avif", "f=avif", "f_avif"}) {
    auto parsed = wi::parse_options(text);
    ASSERT_TRUE(parsed.ok()) << text;
    EXPECT_EQ(parsed.value().fmt, wi::format::avif) << text;
    EXPECT_EQ(wi::normalize(parsed.value()), "format=avif") << text;
  }
  auto wrong = wi::parse_options("format=avi");
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.error().message.find("avif"), std::string::npos) << wrong.error().message;
}

}  // namespace
