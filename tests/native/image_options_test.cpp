// Tests for whale::image::parse_options and normalize: every Cloudflare option and Cloudinary
// alias, the error messages (they name the option as written), and the canonical text.
#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "whale/image.h"

namespace {

using whale::error_code;
using whale::image::fit_mode;
using whale::image::format;
using whale::image::gravity_mode;
using whale::image::metadata_mode;
using whale::image::normalize;
using whale::image::options;
using whale::image::parse_options;

options parsed(std::string_view text) {
  auto r = parse_options(text);
  EXPECT_TRUE(r.ok()) << "'" << text << "': " << r.message();
  return r.ok() ? *r : options{};
}

std::string normalized(std::string_view text) { return normalize(parsed(text)); }

// The message of a parse that must fail with invalid_value.
std::string error_of(std::string_view text) {
  auto r = parse_options(text);
  EXPECT_FALSE(r.ok()) << "'" << text << "' parsed";
  EXPECT_EQ(r.code(), error_code::invalid_value) << "'" << text << "': " << r.message();
  return r.message();
}

bool same_colour(whale::image::rgba8 a, whale::image::rgba8 b) {
  return a.r == b.r && a.g == b.g && a.b == b.b && a.a == b.a;
}

::testing::AssertionResult same_options(const options& a, const options& b) {
  const bool same = a.width == b.width && a.height == b.height && a.fit == b.fit && a.fit_given == b.fit_given &&
                    a.gravity == b.gravity && a.gravity_x == b.gravity_x && a.gravity_y == b.gravity_y &&
                    a.quality == b.quality && a.fmt == b.fmt && a.dpr == b.dpr &&
                    same_colour(a.background, b.background) && a.background_given == b.background_given &&
                    a.rotate == b.rotate && a.metadata == b.metadata && a.onerror_redirect == b.onerror_redirect &&
                    a.anim == b.anim && a.progressive == b.progressive && a.sig == b.sig;
  if (same) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << normalize(a) << " vs " << normalize(b);
}

TEST(ImageOptions, WidthAndHeight) {
  EXPECT_EQ(parsed("width=400").width, 400u);
  EXPECT_EQ(parsed("w=1").width, 1u);
  EXPECT_EQ(parsed("w=4096").width, 4096u);
  EXPECT_EQ(parsed("w=0400").width, 400u);
  EXPECT_EQ(parsed("height=300").height, 300u);
  EXPECT_EQ(parsed("h=4096").height, 4096u);
  const options o = parsed("w=400,h=300");
  EXPECT_EQ(o.width, 400u);
  EXPECT_EQ(o.height, 300u);
  EXPECT_FALSE(o.fit_given);
}

// A URL may escape anything, and people write "width=400, fit=cover": %XX is decoded in names and
// values, and spaces around either are not part of them.
TEST(ImageOptions, EscapesAndSpaces) {
  EXPECT_EQ(normalized("width=400,%20fit=cover"), normalized("width=400,fit=cover"));
  EXPECT_EQ(normalized("width=400, fit=cover"), normalized("width=400,fit=cover"));
  EXPECT_EQ(normalized("width=%20400%20,fit%3Dcover"), normalized("width=400,fit=cover"));
  EXPECT_EQ(normalized("%77idth=400"), normalized("width=400"));
  EXPECT_EQ(normalized("w_400, c_fill"), normalized("w_400,c_fill"));
  EXPECT_TRUE(same_colour(parsed("background=%23ff0000").background, parsed("background=#ff0000").background));
  EXPECT_NE(error_of("width=400,%20").find("empty option"), std::string::npos);
  EXPECT_NE(error_of("width=4%2000").find("option 'width'"), std::string::npos);  // "4 00"
}

TEST(ImageOptions, BadSizesNameTheOption) {
  EXPECT_EQ(error_of("width=abc"), "option 'width': expected an integer 1..4096 or auto, got 'abc'");
  EXPECT_EQ(error_of("w=0"), "option 'w': expected an integer 1..4096 or auto, got '0'");
  EXPECT_EQ(error_of("h=4097"), "option 'h': expected an integer 1..4096, got '4097'");
  EXPECT_EQ(error_of("height=-1"), "option 'height': expected an integer 1..4096, got '-1'");
  EXPECT_EQ(error_of("w=1.5"), "option 'w': expected an integer 1..4096 or auto, got '1.5'");
  EXPECT_EQ(error_of("w="), "option 'w': expected an integer 1..4096 or auto, got ''");
  EXPECT_EQ(error_of("w=99999999999999999999"), "option 'w': expected an integer 1..4096 or auto, got '99999999999999999999'");
  EXPECT_EQ(error_of("w=+400"), "option 'w': expected an integer 1..4096 or auto, got '+400'");
  EXPECT_EQ(error_of("w_0"), "option 'w': expected an integer 1..4096 or auto, got '0'");
}

TEST(ImageOptions, Fit) {
  EXPECT_EQ(parsed("fit=scale-down").fit, fit_mode::scale_down);
  EXPECT_EQ(parsed("fit=contain").fit, fit_mode::contain);
  EXPECT_EQ(parsed("fit=cover").fit, fit_mode::cover);
  EXPECT_EQ(parsed("fit=crop").fit, fit_mode::crop);
  EXPECT_EQ(parsed("fit=pad").fit, fit_mode::pad);
  EXPECT_TRUE(parsed("fit=scale-down").fit_given);
  EXPECT_EQ(error_of("fit=squeeze"), "option 'fit': expected scale-down, contain, cover, crop or pad, got 'squeeze'");
  EXPECT_EQ(error_of("fit=Cover"), "option 'fit': expected scale-down, contain, cover, crop or pad, got 'Cover'");
}

TEST(ImageOptions, Gravity) {
  EXPECT_EQ(parsed("gravity=auto").gravity, gravity_mode::auto_);
  EXPECT_EQ(parsed("g=left").gravity, gravity_mode::left);
  EXPECT_EQ(parsed("g=right").gravity, gravity_mode::right);
  EXPECT_EQ(parsed("g=top").gravity, gravity_mode::top);
  EXPECT_EQ(parsed("g=bottom").gravity, gravity_mode::bottom);
  EXPECT_EQ(parsed("g=center").gravity, gravity_mode::center);
  const options point = parsed("gravity=0.25x0.75");
  EXPECT_EQ(point.gravity, gravity_mode::point);
  EXPECT_EQ(point.gravity_x, 0.25f);
  EXPECT_EQ(point.gravity_y, 0.75f);
  const options corner = parsed("gravity=1x0");
  EXPECT_EQ(corner.gravity, gravity_mode::point);
  EXPECT_EQ(corner.gravity_x, 1.0f);
  EXPECT_EQ(corner.gravity_y, 0.0f);
  EXPECT_EQ(parsed("gravity=.5x.5").gravity, gravity_mode::center);  // the exact centre is the default
  EXPECT_EQ(parsed("gravity=0.3x.5").gravity_x, 0.3f);
  const char* expected = "option 'gravity': expected auto, left, right, top, bottom, center or XxY (X and Y in 0..1), got '";
  EXPECT_EQ(error_of("gravity=1.5x0"), std::string(expected) + "1.5x0'");
  EXPECT_EQ(error_of("gravity=0.5"), std::string(expected) + "0.5'");
  EXPECT_EQ(error_of("gravity=0.5x"), std::string(expected) + "0.5x'");
  EXPECT_EQ(error_of("gravity=x"), std::string(expected) + "x'");
  EXPECT_EQ(error_of("gravity=-0.1x0"), std::string(expected) + "-0.1x0'");
  EXPECT_EQ(error_of("gravity=face"), std::string(expected) + "face'");
  EXPECT_EQ(error_of("g=0.5x0.5x0.5"), "option 'g': expected auto, left, right, top, bottom, center or XxY "
                                       "(X and Y in 0..1), got '0.5x0.5x0.5'");
}

TEST(ImageOptions, Quality) {
  EXPECT_EQ(parsed("quality=1").quality, 1u);
  EXPECT_EQ(parsed("q=100").quality, 100u);
  EXPECT_EQ(parsed("q=85").quality, 0u);  // the default
  EXPECT_EQ(parsed("quality=high").quality, 90u);
  EXPECT_EQ(parsed("quality=medium-high").quality, 80u);
  EXPECT_EQ(parsed("quality=medium-low").quality, 65u);
  EXPECT_EQ(parsed("quality=low").quality, 50u);
  const char* expected = "option 'q': expected an integer 1..100 or high, medium-high, medium-low, low, got '";
  EXPECT_EQ(error_of("q=0"), std::string(expected) + "0'");
  EXPECT_EQ(error_of("q=101"), std::string(expected) + "101'");
  EXPECT_EQ(error_of("q=best"), std::string(expected) + "best'");
  EXPECT_EQ(error_of("q=80.5"), std::string(expected) + "80.5'");
}

TEST(ImageOptions, Format) {
  EXPECT_EQ(parsed("width=1").fmt, format::source);
  EXPECT_EQ(parsed("format=auto").fmt, format::auto_);
  EXPECT_EQ(parsed("format=jpeg").fmt, format::jpeg);
  EXPECT_TRUE(parsed("format=jpeg").progressive);
  EXPECT_EQ(parsed("f=jpg").fmt, format::jpeg);
  EXPECT_EQ(parsed("format=png").fmt, format::png);
  EXPECT_EQ(parsed("format=webp").fmt, format::webp);
  EXPECT_EQ(parsed("format=json").fmt, format::json);
  const options baseline = parsed("format=baseline-jpeg");
  EXPECT_EQ(baseline.fmt, format::jpeg);
  EXPECT_FALSE(baseline.progressive);
  EXPECT_EQ(parsed("format=avif").fmt, format::avif);
  EXPECT_EQ(error_of("format=heic"), "option 'format': expected auto, jpeg, baseline-jpeg, png, webp, avif or json, got 'heic'");
}

TEST(ImageOptions, Dpr) {
  EXPECT_EQ(parsed("dpr=2").dpr, 2.0f);
  EXPECT_EQ(parsed("dpr=1.5").dpr, 1.5f);
  EXPECT_EQ(parsed("dpr=3").dpr, 3.0f);
  EXPECT_EQ(parsed("dpr=1").dpr, 1.0f);
  EXPECT_EQ(parsed("dpr=2.0").dpr, 2.0f);
  EXPECT_EQ(parsed("dpr=1.2344").dpr, 1.234f);  // three decimals, half up
  EXPECT_EQ(parsed("dpr=1.2345").dpr, 1.235f);
  EXPECT_EQ(error_of("dpr=0.5"), "option 'dpr': expected a number 1..3, got '0.5'");
  EXPECT_EQ(error_of("dpr=3.001"), "option 'dpr': expected a number 1..3, got '3.001'");
  EXPECT_EQ(error_of("dpr=auto"), "option 'dpr': expected a number 1..3, got 'auto'");
  EXPECT_EQ(error_of("dpr=1e0"), "option 'dpr': expected a number 1..3, got '1e0'");
  EXPECT_EQ(error_of("dpr=2."), "option 'dpr': expected a number 1..3, got '2.'");
  EXPECT_EQ(error_of("dpr_auto"), "option 'dpr': expected a number 1..3, got 'auto'");
}

::testing::AssertionResult background_is(std::string_view text, uint8_t r, uint8_t g, uint8_t b, uint8_t a) {
  auto o = parse_options(text);
  if (!o) return ::testing::AssertionFailure() << text << ": " << o.message();
  if (!o->background_given) return ::testing::AssertionFailure() << text << ": background not given";
  const whale::image::rgba8 c = o->background;
  if (same_colour(c, {r, g, b, a})) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << text << ": got " << int{c.r} << "," << int{c.g} << "," << int{c.b} << ","
                                       << int{c.a};
}

TEST(ImageOptions, Background) {
  EXPECT_FALSE(parsed("w=1").background_given);
  EXPECT_TRUE(background_is("background=#fff", 255, 255, 255, 255));
  EXPECT_TRUE(background_is("background=#F00", 255, 0, 0, 255));
  EXPECT_TRUE(background_is("background=#f008", 255, 0, 0, 136));
  EXPECT_TRUE(background_is("background=#1a2b3c", 0x1a, 0x2b, 0x3c, 255));
  EXPECT_TRUE(background_is("background=#1a2b3c80", 0x1a, 0x2b, 0x3c, 0x80));
  EXPECT_TRUE(background_is("background=%23ff0000", 255, 0, 0, 255));
  EXPECT_TRUE(background_is("background=rgb(255,128,0)", 255, 128, 0, 255));
  EXPECT_TRUE(background_is("background=rgb(255 128 0)", 255, 128, 0, 255));
  EXPECT_TRUE(background_is("background=rgb(255%20128%200)", 255, 128, 0, 255));
  EXPECT_TRUE(background_is("background=rgba(255,0,0,0.5)", 255, 0, 0, 128));
  EXPECT_TRUE(background_is("background=rgba(255 0 0 / 0.5)", 255, 0, 0, 128));
  EXPECT_TRUE(background_is("background=rgb(100%,0%,50%)", 255, 0, 128, 255));
  EXPECT_TRUE(background_is("background=rgba(0,0,0,25%)", 0, 0, 0, 64));
  EXPECT_TRUE(background_is("background=rgba(255 255 0 100)", 255, 255, 0, 255));  // Cloudflare's example: clamps
  EXPECT_TRUE(background_is("background=rgb(300,0,0)", 255, 0, 0, 255));
  EXPECT_TRUE(background_is("background=white", 255, 255, 255, 255));
  EXPECT_TRUE(background_is("background=black", 0, 0, 0, 255));
  EXPECT_TRUE(background_is("background=transparent", 0, 0, 0, 0));
  EXPECT_TRUE(background_is("background=grey", 128, 128, 128, 255));
  EXPECT_TRUE(background_is("w=10,background=rgb(1,2,3),h=20", 1, 2, 3, 255));
  const char* expected = "option 'background': expected a CSS colour (#rgb, #rrggbb, #rrggbbaa, rgb(), rgba() or a name), got '";
  EXPECT_EQ(error_of("background=#ff"), std::string(expected) + "#ff'");
  EXPECT_EQ(error_of("background=#gggggg"), std::string(expected) + "#gggggg'");
  EXPECT_EQ(error_of("background=rgb(1,2)"), std::string(expected) + "rgb(1,2)'");
  EXPECT_EQ(error_of("background=rgb(1,2,3,4,5)"), std::string(expected) + "rgb(1,2,3,4,5)'");
  EXPECT_EQ(error_of("background=rgb(-1,2,3)"), std::string(expected) + "rgb(-1,2,3)'");
  EXPECT_EQ(error_of("background=rgb(1,2,3"), std::string(expected) + "rgb(1,2,3'");
  EXPECT_EQ(error_of("background=chartreuse"), std::string(expected) + "chartreuse'");
  // A '%' that is not an escape stays itself (and is then no colour).
  EXPECT_EQ(error_of("background=%2"), std::string(expected) + "%2'");
  EXPECT_EQ(error_of("background=%zz0000"), std::string(expected) + "%zz0000'");
  EXPECT_TRUE(background_is("background=rgba(0,0,0,50%25)", 0, 0, 0, 128));
}

TEST(ImageOptions, RotateMetadataOnerrorAnimSig) {
  EXPECT_EQ(parsed("rotate=90").rotate, 90u);
  EXPECT_EQ(parsed("rotate=180").rotate, 180u);
  EXPECT_EQ(parsed("rotate=270").rotate, 270u);
  EXPECT_EQ(parsed("rotate=0").rotate, 0u);
  EXPECT_EQ(error_of("rotate=45"), "option 'rotate': expected 0, 90, 180 or 270, got '45'");
  EXPECT_EQ(error_of("rotate=360"), "option 'rotate': expected 0, 90, 180 or 270, got '360'");
  EXPECT_EQ(parsed("w=1").metadata, metadata_mode::copyright);
  EXPECT_EQ(parsed("metadata=keep").metadata, metadata_mode::keep);
  EXPECT_EQ(parsed("metadata=none").metadata, metadata_mode::none);
  EXPECT_EQ(parsed("metadata=copyright").metadata, metadata_mode::copyright);
  EXPECT_EQ(error_of("metadata=all"), "option 'metadata': expected keep, copyright or none, got 'all'");
  EXPECT_TRUE(parsed("onerror=redirect").onerror_redirect);
  EXPECT_EQ(error_of("onerror=404"), "option 'onerror': expected redirect, got '404'");
  EXPECT_FALSE(parsed("anim=false").anim);
  EXPECT_TRUE(parsed("anim=true").anim);
  EXPECT_EQ(error_of("anim=0"), "option 'anim': expected true or false, got '0'");
  EXPECT_EQ(parsed("sig=0123abcdef").sig, "0123abcdef");
  EXPECT_EQ(parsed("s=AbC-_x==").sig, "AbC-_x==");
  EXPECT_EQ(error_of("sig=a+b"), "option 'sig': expected 1..512 characters of A-Z a-z 0-9 - _ =, got 'a+b'");
  EXPECT_EQ(error_of("s="), "option 's': expected 1..512 characters of A-Z a-z 0-9 - _ =, got ''");
}

TEST(ImageOptions, CloudinaryAliases) {
  const options o = parsed("w_400,h_300,c_fill,g_auto,q_80,f_webp,dpr_2,b_rgb:ff0000,a_90");
  EXPECT_EQ(o.width, 400u);
  EXPECT_EQ(o.height, 300u);
  EXPECT_EQ(o.fit, fit_mode::cover);
  EXPECT_TRUE(o.fit_given);
  EXPECT_EQ(o.gravity, gravity_mode::auto_);
  EXPECT_EQ(o.quality, 80u);
  EXPECT_EQ(o.fmt, format::webp);
  EXPECT_EQ(o.dpr, 2.0f);
  EXPECT_TRUE(same_colour(o.background, {255, 0, 0, 255}));
  EXPECT_EQ(o.rotate, 90u);

  EXPECT_EQ(parsed("c_fit").fit, fit_mode::contain);
  EXPECT_EQ(parsed("c_limit").fit, fit_mode::scale_down);
  EXPECT_EQ(parsed("c_scale").fit, fit_mode::contain);
  EXPECT_EQ(parsed("c_pad").fit, fit_mode::pad);
  EXPECT_EQ(parsed("c_crop").fit, fit_mode::crop);
  EXPECT_EQ(parsed("c_lfill").fit, fit_mode::crop);
  EXPECT_EQ(parsed("g_north").gravity, gravity_mode::top);
  EXPECT_EQ(parsed("g_south").gravity, gravity_mode::bottom);
  EXPECT_EQ(parsed("g_east").gravity, gravity_mode::right);
  EXPECT_EQ(parsed("g_west").gravity, gravity_mode::left);
  EXPECT_EQ(parsed("g_center").gravity, gravity_mode::center);
  const options north_east = parsed("g_north_east");
  EXPECT_EQ(north_east.gravity, gravity_mode::point);
  EXPECT_EQ(north_east.gravity_x, 1.0f);
  EXPECT_EQ(north_east.gravity_y, 0.0f);
  EXPECT_EQ(normalized("g_south_west"), "gravity=0x1");
  EXPECT_EQ(parsed("q_auto").quality, 0u);
  EXPECT_EQ(parsed("f_auto").fmt, format::auto_);
  EXPECT_EQ(parsed("f_jpg").fmt, format::jpeg);
  EXPECT_EQ(parsed("f_png").fmt, format::png);
  EXPECT_EQ(parsed("dpr_1.5").dpr, 1.5f);
  EXPECT_TRUE(same_colour(parsed("b_rgb:fff").background, {255, 255, 255, 255}));
  EXPECT_TRUE(same_colour(parsed("b_rgb:00000080").background, {0, 0, 0, 128}));
  EXPECT_TRUE(same_colour(parsed("b_black").background, {0, 0, 0, 255}));

  EXPECT_EQ(error_of("c_thumb"), "option 'c': expected fill, fit, limit, scale, pad, crop or lfill, got 'thumb'");
  EXPECT_EQ(error_of("g_face"), "option 'g': expected auto, center, north, south, east, west, north_east, "
                                "north_west, south_east or south_west, got 'face'");
  EXPECT_EQ(error_of("q_auto:good"), "option 'q': expected auto or an integer 1..100, got 'auto:good'");
  EXPECT_EQ(parsed("f_avif").fmt, format::avif);
  EXPECT_EQ(error_of("f_heic"), "option 'f': expected auto, jpg, png, webp or avif, got 'heic'");
  EXPECT_EQ(error_of("b_rgb:ff"), "option 'b': expected rgb:<hex> or a colour name, got 'rgb:ff'");
  EXPECT_EQ(error_of("e_sharpen"), "option 'e': unknown option");
}

TEST(ImageOptions, MixedForms) {
  const options o = parsed("w_400,fit=cover,q=high,g_north");
  EXPECT_EQ(o.width, 400u);
  EXPECT_EQ(o.fit, fit_mode::cover);
  EXPECT_EQ(o.quality, 90u);
  EXPECT_EQ(o.gravity, gravity_mode::top);
  EXPECT_EQ(normalize(o), "fit=cover,gravity=top,quality=90,width=400");
}

TEST(ImageOptions, DuplicatesAreRefused) {
  EXPECT_EQ(error_of("w=400,width=500"), "option 'width': given twice");
  EXPECT_EQ(error_of("w=400,w=400"), "option 'w': given twice");
  EXPECT_EQ(error_of("w_400,width=400"), "option 'width': given twice");
  EXPECT_EQ(error_of("c_fill,fit=cover"), "option 'fit': given twice");
  EXPECT_EQ(error_of("q_auto,quality=80"), "option 'quality': given twice");
  EXPECT_EQ(error_of("s=ab,sig=ab"), "option 'sig': given twice");
}

TEST(ImageOptions, MalformedText) {
  EXPECT_EQ(error_of(""), "no options");
  EXPECT_EQ(error_of("w=400,"), "empty option (a doubled or trailing comma)");
  EXPECT_EQ(error_of(",w=400"), "empty option (a doubled or trailing comma)");
  EXPECT_EQ(error_of("w=400,,h=300"), "empty option (a doubled or trailing comma)");
  EXPECT_EQ(error_of("cover"), "option 'cover': expected key=value or key_value");
  EXPECT_EQ(error_of("foo=1"), "option 'foo': unknown option");
  EXPECT_EQ(error_of("Width=1"), "option 'Width': unknown option");
  EXPECT_EQ(error_of("border=1"), "option 'border': not supported");
  EXPECT_EQ(error_of("zoom=0.5"), "option 'zoom': not supported");
  EXPECT_EQ(error_of("draw=1"), "option 'draw': not supported");
  EXPECT_EQ(error_of("w=\x01\xff"), "option 'w': expected an integer 1..4096 or auto, got '?\?'");  // two unprintable bytes
  EXPECT_EQ(error_of("w=" + std::string(100, 'x')),
            "option 'w': expected an integer 1..4096 or auto, got '" + std::string(64, 'x') + "...'");
}

TEST(ImageOptions, TooLarge) {
  const std::string long_text = "sig=" + std::string(2045, 'a');
  auto r = parse_options(long_text);
  EXPECT_EQ(r.code(), error_code::too_large);
  EXPECT_EQ(r.message(), "options longer than 2048 bytes");
  // 2048 bytes are read (and this one then fails on its value, not its size).
  EXPECT_EQ(parse_options(long_text.substr(0, 2048)).code(), error_code::invalid_value);
}

TEST(ImageOptions, NormalizeIsCanonical) {
  EXPECT_EQ(normalized("w=400,fit=cover"), "fit=cover,width=400");
  EXPECT_EQ(normalized("fit=cover,width=400"), "fit=cover,width=400");
  EXPECT_EQ(normalized("c_fill,w_400"), "fit=cover,width=400");
  EXPECT_EQ(normalized("width=400,height=300,fit=pad,background=%23FFF,gravity=left,quality=75,format=webp,dpr=2,"
                       "rotate=90,metadata=none,onerror=redirect,anim=false,sig=ab12"),
            "anim=false,background=%23ffffff,dpr=2,fit=pad,format=webp,gravity=left,height=300,metadata=none,"
            "onerror=redirect,quality=75,rotate=90,sig=ab12,width=400");
  EXPECT_EQ(normalized("background=rgba(0,0,0,0.5)"), "background=%2300000080");
  EXPECT_EQ(normalized("format=baseline-jpeg"), "format=baseline-jpeg");
  EXPECT_EQ(normalized("f=jpg"), "format=jpeg");
  EXPECT_EQ(normalized("g=0.125x0.7"), "gravity=0.125x0.7");
  EXPECT_EQ(normalized("g=0.33333x1.0"), "gravity=0.333x1");
  EXPECT_EQ(normalized("dpr=1.25"), "dpr=1.25");
  EXPECT_EQ(normalized("dpr=2.3335"), "dpr=2.334");
  EXPECT_EQ(normalized("dpr=1.0004"), "metadata=copyright");
  EXPECT_EQ(normalized("fit=scale-down"), "fit=scale-down");
}

TEST(ImageOptions, NormalizeDropsDefaults) {
  EXPECT_EQ(normalized("w=400,q=85,dpr=1,rotate=0,metadata=copyright,anim=true,g=center"), "width=400");
  EXPECT_EQ(normalized("w=400,q_auto,g=0.5x0.5"), "width=400");
  // An empty options segment is refused, so all-default options keep one explicit default.
  EXPECT_EQ(normalized("q=85"), "metadata=copyright");
  EXPECT_EQ(normalize(options{}), "metadata=copyright");
}

TEST(ImageOptions, NormalizeRoundTrips) {
  const char* texts[] = {
      "w=400",
      "w=400,fit=cover",
      "h=1,w=4096,fit=scale-down",
      "width=640,height=480,fit=pad,background=rgba(10 20 30 / 40%)",
      "g=0.001x0.999,fit=crop,w=10,h=10",
      "dpr=2.999,q=1",
      "format=baseline-jpeg,quality=low",
      "f=json",
      "c_limit,w_100,q_auto,f_auto,dpr_3,b_transparent,a_270,g_south_east",
      "metadata=keep,onerror=redirect,anim=false,sig=deadBEEF-_==",
      "background=%23abcdef,gravity=auto",
      "q=85",
  };
  for (const char* text : texts) {
    const options first = parsed(text);
    const std::string canonical = normalize(first);
    const options second = parsed(canonical);
    EXPECT_TRUE(same_options(first, second)) << text;
    EXPECT_EQ(normalize(second), canonical) << text;
  }
}

TEST(ImageOptions, OrderDoesNotMatter) {
  EXPECT_EQ(normalized("w=400,h=300,fit=cover,g=auto,q=80,f=webp"), normalized("f=webp,q=80,g=auto,fit=cover,h=300,w=400"));
  EXPECT_EQ(normalized("width=400,fit=cover"), normalized("c_fill,w_400"));
  EXPECT_EQ(normalized("g_north,h_10"), normalized("height=10,gravity=top"));
}

TEST(ImageOptions, BorderTrimAutoWidthAndSlowQuality) {
  EXPECT_EQ(normalized("border.width=2"), "border.bottom=2,border.color=%23000000,border.left=2,border.right=2,border.top=2");
  EXPECT_EQ(normalized("border.top=1,border.color=rgba(255,0,0,0.5)"),
            "border.bottom=0,border.color=%23ff000080,border.left=0,border.right=0,border.top=1");
  EXPECT_EQ(normalized("border.color=red,width=10"), "width=10");  // a colour without a width draws nothing
  EXPECT_EQ(error_of("border.width=2,border.top=1"), "option 'border.width': given with border.top, right, bottom or left");
  EXPECT_EQ(error_of("border.width=1001"), "option 'border.width': expected an integer 0..1000 (CSS pixels), got '1001'");
  EXPECT_EQ(error_of("border.color=nope"),
            "option 'border.color': expected a CSS colour (#rgb, #rrggbb, #rrggbbaa, rgb(), rgba() or a name), got 'nope'");
  EXPECT_EQ(normalized("trim=20;30;20;0"), "trim=20;30;20;0");
  EXPECT_EQ(normalized("trim.left=30,trim.top=40,trim.width=678,trim.height=600"),
            "trim=40;0;0;30,trim.height=600,trim.width=678");
  EXPECT_EQ(normalized("trim=0;0;0;0"), "metadata=copyright");
  EXPECT_EQ(error_of("trim=1;2;3"), "option 'trim': expected top;right;bottom;left (four integers 0..65535, source pixels) or border, got '1;2;3'");
  EXPECT_EQ(error_of("trim=1;2;3;4;5").find("option 'trim': expected top;right;bottom;left"), 0u);
  EXPECT_EQ(error_of("trim=1;-2;3;4").find("option 'trim': expected"), 0u);
  EXPECT_EQ(error_of("trim=1;2;3;4,trim.left=1"), "option 'trim': given with trim.left or trim.top");
  EXPECT_EQ(error_of("trim.width=0"), "option 'trim.width': expected an integer 1..65535 (source pixels), got '0'");
  EXPECT_EQ(normalized("trim=border"), "trim=border");
  EXPECT_EQ(normalized("trim.border.tolerance=10,trim=border,trim.border.keep=3,trim.border.color=white"),
            "trim=border,trim.border.color=%23ffffff,trim.border.keep=3");
  EXPECT_EQ(error_of("trim.border.keep=3"), "option 'trim.border.*': given without trim=border");
  EXPECT_EQ(error_of("trim=border,trim.width=3"), "option 'trim': border given with trim.width or trim.height");
  EXPECT_EQ(error_of("trim=border,trim.border.tolerance=256"),
            "option 'trim.border.tolerance': expected an integer 0..255, got '256'");
  EXPECT_EQ(normalized("w=auto"), "width=auto");
  EXPECT_EQ(normalized("w_auto,q=80"), "quality=80,width=auto");
  EXPECT_EQ(normalized("scq=low"), "slow-connection-quality=50");
  EXPECT_EQ(normalized("slow-connection-quality=85"), "slow-connection-quality=85");
  EXPECT_EQ(error_of("scq=0"), "option 'scq': expected an integer 1..100 or high, medium-high, medium-low, low, got '0'");
  // The canonical text parses back to itself.
  for (const char* text : {"border.left=3,border.color=%2300ff0080,trim=1;2;3;4,trim.width=5,scq=30,width=auto"}) {
    EXPECT_EQ(normalized(normalized(text)), normalized(text)) << text;
  }
}

}  // namespace
