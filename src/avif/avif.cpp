// AVIF still images: pixels to YUV 4:2:0 (BT.601, full range), aom's all-intra encoder, and the
// AVIF container written here (the HEIF items, their properties, and the AV1 stream in `mdat`),
// following the AV1 Image File Format spec (AVIF 1.0) and ISO/IEC 14496-12's box layouts.
#include "whale/avif.h"

#include <aom/aom_encoder.h>
#include <aom/aomcx.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

namespace whale::avif {
namespace {

// ---- the allocation meter: every aom allocation goes through the functions below ----
// (cmake/avifdeps.cmake renames malloc, calloc, realloc and free in aom's sources). Past the
// limit an allocation fails, which aom reports as a memory error. Global: the CLI and avif.wasm
// are single-threaded, and encode() sets the limit for one encode at a time.
struct aom_meter {
  size_t live = 0;
  size_t peak = 0;
  size_t limit = SIZE_MAX;
  bool refused = false;
} meter;

constexpr size_t block_header = 16;  // keeps malloc's alignment

}  // namespace
}  // namespace whale::avif

extern "C" {
void* whale_aom_malloc(size_t n) {
  using whale::avif::meter;
  if (n > SIZE_MAX - whale::avif::block_header || n > meter.limit || meter.live > meter.limit - n) {
    meter.refused = true;
    return nullptr;
  }
  auto* p = static_cast<unsigned char*>(std::malloc(n + whale::avif::block_header));
  if (p == nullptr) return nullptr;
  std::memcpy(p, &n, sizeof n);
  meter.live += n;
  meter.peak = std::max(meter.peak, meter.live);
  return p + whale::avif::block_header;
}

void whale_aom_free(void* p) {
  if (p == nullptr) return;
  unsigned char* block = static_cast<unsigned char*>(p) - whale::avif::block_header;
  size_t n = 0;
  std::memcpy(&n, block, sizeof n);
  whale::avif::meter.live -= n;
  std::free(block);
}

void* whale_aom_calloc(size_t count, size_t size) {
  if (size != 0 && count > SIZE_MAX / size) return nullptr;
  void* p = whale_aom_malloc(count * size);
  if (p != nullptr) std::memset(p, 0, count * size);
  return p;
}

void* whale_aom_realloc(void* p, size_t n) {
  if (p == nullptr) return whale_aom_malloc(n);
  size_t old = 0;
  std::memcpy(&old, static_cast<unsigned char*>(p) - whale::avif::block_header, sizeof old);
  void* q = whale_aom_malloc(n);
  if (q == nullptr) return nullptr;  // p stays valid, as realloc promises
  std::memcpy(q, p, std::min(old, n));
  whale_aom_free(p);
  return q;
}
}

namespace whale::avif {
namespace {

// ---- RGB to YUV ----

// BT.601 full range (matrix_coefficients 6), the matrix AVIF readers assume for sRGB content, in
// 16-bit fixed point (the same bytes on every target): Y = 0.299 R + 0.587 G + 0.114 B,
// Cb = (B - Y) / 1.772 + 128, Cr = (R - Y) / 1.402 + 128.
constexpr int32_t kr = 19595, kg = 38470, kb = 7471;  // 0.299, 0.587, 0.114 times 65536
constexpr int32_t half = 1 << 15;

uint8_t clamp8(int32_t v) { return static_cast<uint8_t>(std::clamp(v, 0, 255)); }

uint8_t luma(int32_t r, int32_t g, int32_t b) { return clamp8((kr * r + kg * g + kb * b + half) >> 16); }


// The chroma of a block from its mean R, G and B (0..255 each): the block's Cb and Cr, the mean
// of its pixels' (the matrix is linear). The offset keeps the sum positive before the shift.
uint8_t chroma_blue(int32_t r, int32_t g, int32_t b) {  // -0.168736 R - 0.331264 G + 0.5 B + 128
  return clamp8((-11058 * r - 21710 * g + 32768 * b + (128 << 16) + half) >> 16);
}
uint8_t chroma_red(int32_t r, int32_t g, int32_t b) {  // 0.5 R - 0.418688 G - 0.081312 B + 128
  return clamp8((32768 * r - 27439 * g - 5329 * b + (128 << 16) + half) >> 16);
}

struct rgb {
  int32_t r, g, b;
};

rgb pixel_at(const uint8_t* p, uint32_t channels) {
  if (channels < 3) return {p[0], p[0], p[0]};
  return {p[0], p[1], p[2]};
}

struct image_deleter {
  void operator()(aom_image_t* img) const { aom_img_free(img); }
};
using image_ptr = std::unique_ptr<aom_image_t, image_deleter>;

// The colour planes: Y for every pixel, Cb and Cr for every 2x2 block (edge blocks of odd sizes
// average the pixels they have).
void fill_colour(aom_image_t& img, const uint8_t* px, uint32_t w, uint32_t h, uint32_t channels) {
  const size_t stride = size_t{w} * channels;
  for (uint32_t y = 0; y < h; ++y) {
    const uint8_t* row = px + y * stride;
    uint8_t* out = img.planes[AOM_PLANE_Y] + size_t{y} * img.stride[AOM_PLANE_Y];
    for (uint32_t x = 0; x < w; ++x) {
      const rgb c = pixel_at(row + size_t{x} * channels, channels);
      out[x] = luma(c.r, c.g, c.b);
    }
  }
  for (uint32_t by = 0; by < (h + 1) / 2; ++by) {
    uint8_t* u = img.planes[AOM_PLANE_U] + size_t{by} * img.stride[AOM_PLANE_U];
    uint8_t* v = img.planes[AOM_PLANE_V] + size_t{by} * img.stride[AOM_PLANE_V];
    const uint32_t rows = std::min<uint32_t>(2, h - by * 2);
    for (uint32_t bx = 0; bx < (w + 1) / 2; ++bx) {
      const uint32_t cols = std::min<uint32_t>(2, w - bx * 2);
      int32_t r = 0, g = 0, b = 0;
      for (uint32_t dy = 0; dy < rows; ++dy) {
        const uint8_t* row = px + (by * 2 + dy) * stride + size_t{bx} * 2 * channels;
        for (uint32_t dx = 0; dx < cols; ++dx) {
          const rgb c = pixel_at(row + size_t{dx} * channels, channels);
          r += c.r, g += c.g, b += c.b;
        }
      }
      const int32_t n = static_cast<int32_t>(rows * cols);
      r = (r + n / 2) / n, g = (g + n / 2) / n, b = (b + n / 2) / n;
      u[bx] = chroma_blue(r, g, b);
      v[bx] = chroma_red(r, g, b);
    }
  }
}

// The alpha plane as a monochrome image (its chroma planes, which aom allocates, unread).
void fill_alpha(aom_image_t& img, const uint8_t* px, uint32_t w, uint32_t h, uint32_t channels) {
  for (uint32_t y = 0; y < h; ++y) {
    const uint8_t* row = px + size_t{y} * w * channels;
    uint8_t* out = img.planes[AOM_PLANE_Y] + size_t{y} * img.stride[AOM_PLANE_Y];
    for (uint32_t x = 0; x < w; ++x) out[x] = row[size_t{x} * channels + channels - 1];
  }
  for (int plane : {AOM_PLANE_U, AOM_PLANE_V}) {
    for (uint32_t y = 0; y < (h + 1) / 2; ++y) {
      std::memset(img.planes[plane] + size_t{y} * img.stride[plane], 128, (w + 1) / 2);
    }
  }
}

bool has_transparency(const uint8_t* px, uint32_t w, uint32_t h, uint32_t channels) {
  if (channels != 2 && channels != 4) return false;
  const size_t n = size_t{w} * h;
  for (size_t i = 0; i < n; ++i) {
    if (px[i * channels + channels - 1] != 255) return true;
  }
  return false;
}

// ---- AV1 ----

// One encoded image: its OBUs without temporal delimiters (the AV1 Image File Format's item
// data), and the sequence header's fields av1C repeats.
struct av1_stream {
  std::vector<uint8_t> obus;
  std::vector<uint8_t> sequence_header;  // the whole OBU, header included (av1C's configOBUs)
  uint8_t profile = 0, level = 0, tier = 0;
};

failure aom_failure(aom_codec_ctx_t& ctx, const char* what) {
  if (meter.refused) {
    return {error_code::too_large, std::string("AVIF encode needs more memory than the job's budget leaves (") + what + ")"};
  }
  const char* detail = aom_codec_error_detail(&ctx);
  return {error_code::internal, std::string("AVIF encoder: ") + what + ": " + aom_codec_error(&ctx) +
                                    (detail != nullptr ? std::string(" (") + detail + ")" : std::string())};
}

// leb128 as AV1 writes sizes (at most 8 bytes; 0 = malformed).
size_t read_leb128(const uint8_t* p, size_t n, uint64_t& value) {
  value = 0;
  for (size_t i = 0; i < 8 && i < n; ++i) {
    value |= uint64_t{p[i] & 0x7fu} << (7 * i);
    if ((p[i] & 0x80) == 0) return i + 1;
  }
  return 0;
}

// Splits aom's temporal unit into OBUs: drops temporal delimiters (type 2) and padding (15),
// keeps the rest, and reads the reduced still-picture sequence header aom writes for a single
// frame (g_limit = 1): seq_profile (3 bits), still_picture, reduced_still_picture_header,
// seq_level_idx (5 bits); tier is 0 in a reduced header.
result<av1_stream> split_obus(const std::vector<uint8_t>& unit) {
  av1_stream s;
  size_t at = 0;
  while (at < unit.size()) {
    const uint8_t header = unit[at];
    const uint8_t type = (header >> 3) & 15;
    const size_t header_bytes = (header & 4) ? 2 : 1;
    if ((header & 2) == 0 || at + header_bytes > unit.size()) {
      return failure{error_code::internal, "AVIF encoder: an OBU without a size field"};
    }
    uint64_t payload = 0;
    const size_t leb = read_leb128(unit.data() + at + header_bytes, unit.size() - at - header_bytes, payload);
    const size_t start = at + header_bytes + leb;
    if (leb == 0 || payload > unit.size() - start) return failure{error_code::internal, "AVIF encoder: a truncated OBU"};
    const size_t end = start + static_cast<size_t>(payload);
    if (type == 1) {
      if (payload < 2) return failure{error_code::internal, "AVIF encoder: a short sequence header"};
      const uint8_t b0 = unit[start], b1 = unit[start + 1];
      if ((b0 & 0x08) == 0) return failure{error_code::internal, "AVIF encoder: not a reduced still-picture header"};
      s.profile = b0 >> 5;
      s.level = static_cast<uint8_t>(((b0 & 0x07) << 2) | (b1 >> 6));
      s.sequence_header.assign(unit.begin() + static_cast<std::ptrdiff_t>(at), unit.begin() + static_cast<std::ptrdiff_t>(end));
    }
    if (type != 2 && type != 15) {
      s.obus.insert(s.obus.end(), unit.begin() + static_cast<std::ptrdiff_t>(at), unit.begin() + static_cast<std::ptrdiff_t>(end));
    }
    at = end;
  }
  if (s.sequence_header.empty()) return failure{error_code::internal, "AVIF encoder: no sequence header"};
  return s;
}

struct codec_closer {
  void operator()(aom_codec_ctx_t* ctx) const { aom_codec_destroy(ctx); }
};

// One all-intra frame: `mono` encodes only Y (the alpha plane).
result<av1_stream> encode_av1(const aom_image_t& img, bool mono, uint32_t quantizer, uint32_t speed) {
  aom_codec_iface_t* iface = aom_codec_av1_cx();
  aom_codec_enc_cfg_t cfg;
  aom_codec_ctx_t ctx{};
  if (aom_codec_enc_config_default(iface, &cfg, AOM_USAGE_ALL_INTRA) != AOM_CODEC_OK) {
    return failure{error_code::internal, "AVIF encoder: no all-intra configuration"};
  }
  cfg.g_w = img.d_w;
  cfg.g_h = img.d_h;
  cfg.g_threads = 1;
  cfg.g_limit = 1;  // a still picture: aom writes the reduced sequence header
  cfg.g_profile = 0;
  cfg.monochrome = mono ? 1 : 0;
  cfg.rc_end_usage = AOM_Q;
  cfg.rc_min_quantizer = quantizer;
  cfg.rc_max_quantizer = quantizer;
  if (aom_codec_enc_init(&ctx, iface, &cfg, 0) != AOM_CODEC_OK) return aom_failure(ctx, "init");
  std::unique_ptr<aom_codec_ctx_t, codec_closer> closer(&ctx);
  bool ok = aom_codec_control(&ctx, AOME_SET_CPUUSED, static_cast<int>(speed)) == AOM_CODEC_OK &&
            aom_codec_control(&ctx, AOME_SET_CQ_LEVEL, quantizer) == AOM_CODEC_OK &&
            aom_codec_control(&ctx, AV1E_SET_COLOR_RANGE, AOM_CR_FULL_RANGE) == AOM_CODEC_OK;
  if (ok && !mono) {
    ok = aom_codec_control(&ctx, AV1E_SET_COLOR_PRIMARIES, AOM_CICP_CP_BT_709) == AOM_CODEC_OK &&
         aom_codec_control(&ctx, AV1E_SET_TRANSFER_CHARACTERISTICS, AOM_CICP_TC_SRGB) == AOM_CODEC_OK &&
         aom_codec_control(&ctx, AV1E_SET_MATRIX_COEFFICIENTS, AOM_CICP_MC_BT_601) == AOM_CODEC_OK;
  }
  if (!ok) return aom_failure(ctx, "settings");
  std::vector<uint8_t> unit;
  for (const aom_image_t* frame : {&img, static_cast<const aom_image_t*>(nullptr)}) {  // the frame, then flush
    if (aom_codec_encode(&ctx, frame, 0, 1, 0) != AOM_CODEC_OK) return aom_failure(ctx, "encode");
    aom_codec_iter_t iter = nullptr;
    while (const aom_codec_cx_pkt_t* pkt = aom_codec_get_cx_data(&ctx, &iter)) {
      if (pkt->kind != AOM_CODEC_CX_FRAME_PKT) continue;
      const auto* data = static_cast<const uint8_t*>(pkt->data.frame.buf);
      unit.insert(unit.end(), data, data + pkt->data.frame.sz);
    }
  }
  return split_obus(unit);
}

// ---- the container ----

class writer {
 public:
  std::vector<uint8_t> out;

  void u8(uint32_t v) { out.push_back(static_cast<uint8_t>(v)); }
  void u16(uint32_t v) { u8(v >> 8), u8(v); }
  void u32(uint32_t v) { u16(v >> 16), u16(v & 0xffff); }
  void text(std::string_view s) { out.insert(out.end(), s.begin(), s.end()); }
  void bytes(const std::vector<uint8_t>& b) { out.insert(out.end(), b.begin(), b.end()); }
  // A box: its size is patched by end().
  size_t begin(std::string_view type) {
    const size_t at = out.size();
    u32(0);
    text(type);
    return at;
  }
  size_t begin_full(std::string_view type, uint32_t version, uint32_t flags) {
    const size_t at = begin(type);
    u32(version << 24 | flags);
    return at;
  }
  void end(size_t at) { patch32(at, static_cast<uint32_t>(out.size() - at)); }
  void patch32(size_t at, uint32_t v) {
    for (int i = 0; i < 4; ++i) out[at + i] = static_cast<uint8_t>(v >> (24 - 8 * i));
  }
};

// av1C (AV1 Codec ISOBMFF binding, 2.3): marker and version, then the sequence header's
// profile, level, tier and colour layout, then the sequence header OBU itself.
void write_av1c(writer& w, const av1_stream& s, bool mono) {
  const size_t box = w.begin("av1C");
  w.u8(0x81);
  w.u8(static_cast<uint32_t>(s.profile) << 5 | s.level);
  // tier, high_bitdepth 0, twelve_bit 0, monochrome, subsampling x 1, y 1, sample position 0
  w.u8(static_cast<uint32_t>(s.tier) << 7 | (mono ? 1u : 0u) << 4 | 1u << 3 | 1u << 2);
  w.u8(0);  // no initial presentation delay
  w.bytes(s.sequence_header);
  w.end(box);
}

void write_pixi(writer& w, uint32_t channels) {
  const size_t box = w.begin_full("pixi", 0, 0);
  w.u8(channels);
  for (uint32_t i = 0; i < channels; ++i) w.u8(8);
  w.end(box);
}

constexpr std::string_view alpha_urn = "urn:mpeg:mpegB:cicp:systems:auxiliary:alpha";

// ftyp, meta (hdlr, pitm, iloc, iinf, iref, iprp), mdat: item 1 the colour image, item 2 its
// alpha (an auxiliary image referring to item 1) when there is one.
std::vector<uint8_t> write_container(uint32_t width, uint32_t height, const av1_stream& colour, const av1_stream* alpha) {
  writer w;
  const uint32_t items = alpha != nullptr ? 2 : 1;
  size_t box = w.begin("ftyp");
  w.text("avif");
  w.u32(0);
  w.text("avifmif1miaf");
  w.end(box);

  const size_t meta = w.begin_full("meta", 0, 0);
  box = w.begin_full("hdlr", 0, 0);
  w.u32(0);
  w.text("pict");
  w.u32(0), w.u32(0), w.u32(0);
  w.u8(0);  // an empty name
  w.end(box);

  box = w.begin_full("pitm", 0, 0);
  w.u16(1);
  w.end(box);

  box = w.begin_full("iloc", 0, 0);
  w.u8(0x44);  // offset_size 4, length_size 4
  w.u8(0x00);  // base_offset_size 0
  w.u16(items);
  size_t offset_at[2] = {0, 0};
  for (uint32_t item = 1; item <= items; ++item) {
    w.u16(item);
    w.u16(0);  // data_reference_index: this file
    w.u16(1);  // one extent
    offset_at[item - 1] = w.out.size();
    w.u32(0);  // patched once mdat's place is known
    w.u32(static_cast<uint32_t>(item == 1 ? colour.obus.size() : alpha->obus.size()));
  }
  w.end(box);

  box = w.begin_full("iinf", 0, 0);
  w.u16(items);
  for (uint32_t item = 1; item <= items; ++item) {
    const size_t infe = w.begin_full("infe", 2, 0);
    w.u16(item);
    w.u16(0);  // no protection
    w.text("av01");
    w.text(item == 1 ? "Color" : "Alpha");
    w.u8(0);
    w.end(infe);
  }
  w.end(box);

  if (alpha != nullptr) {
    box = w.begin_full("iref", 0, 0);
    const size_t auxl = w.begin("auxl");
    w.u16(2);  // the alpha item is auxiliary to
    w.u16(1);
    w.u16(1);  // the colour item
    w.end(auxl);
    w.end(box);
  }

  // Properties, 1-based: 1 ispe, 2 pixi (3 channels), 3 av1C, 4 colr; with alpha 5 av1C,
  // 6 pixi (1 channel), 7 auxC.
  const size_t iprp = w.begin("iprp");
  const size_t ipco = w.begin("ipco");
  box = w.begin_full("ispe", 0, 0);
  w.u32(width);
  w.u32(height);
  w.end(box);
  write_pixi(w, 3);
  write_av1c(w, colour, false);
  box = w.begin("colr");
  w.text("nclx");
  w.u16(AOM_CICP_CP_BT_709);
  w.u16(AOM_CICP_TC_SRGB);
  w.u16(AOM_CICP_MC_BT_601);
  w.u8(0x80);  // full range
  w.end(box);
  if (alpha != nullptr) {
    write_av1c(w, *alpha, true);
    write_pixi(w, 1);
    box = w.begin_full("auxC", 0, 0);
    w.text(alpha_urn);
    w.u8(0);
    w.end(box);
  }
  w.end(ipco);
  box = w.begin_full("ipma", 0, 0);
  w.u32(items);
  w.u16(1);
  w.u8(4);
  w.u8(1), w.u8(2), w.u8(0x80 | 3), w.u8(4);  // av1C essential
  if (alpha != nullptr) {
    w.u16(2);
    w.u8(4);
    w.u8(1), w.u8(6), w.u8(0x80 | 5), w.u8(0x80 | 7);  // av1C and auxC essential
  }
  w.end(box);
  w.end(iprp);
  w.end(meta);

  box = w.begin("mdat");
  w.patch32(offset_at[0], static_cast<uint32_t>(w.out.size()));
  w.bytes(colour.obus);
  if (alpha != nullptr) {
    w.patch32(offset_at[1], static_cast<uint32_t>(w.out.size()));
    w.bytes(alpha->obus);
  }
  w.end(box);
  return std::move(w.out);
}

// Restores the meter's limit whatever happens.
struct meter_scope {
  explicit meter_scope(uint64_t limit) {
    meter.limit = limit == 0 ? SIZE_MAX : static_cast<size_t>(std::min<uint64_t>(limit, SIZE_MAX));
    meter.refused = false;
    meter.peak = meter.live;
  }
  ~meter_scope() { meter.limit = SIZE_MAX; }
};

}  // namespace

result<std::vector<uint8_t>> encode(const uint8_t* pixels, uint32_t w, uint32_t h, uint32_t channels,
                                    const settings& s) {
  if (pixels == nullptr || w == 0 || h == 0 || channels == 0 || channels > 4) {
    return failure{error_code::invalid_value, "AVIF encode: no pixels"};
  }
  if (w > 65536 || h > 65536) return failure{error_code::too_large, "AVIF encode: a side over 65536"};
  const meter_scope scope(s.max_memory);
  const uint32_t q = quantizer(s.quality);
  const uint32_t speed = std::min<uint32_t>(s.speed, 9);
  av1_stream colour;
  {
    image_ptr img(aom_img_alloc(nullptr, AOM_IMG_FMT_I420, w, h, 16));
    if (!img) return failure{error_code::too_large, "AVIF encode needs more memory than the job's budget leaves (image)"};
    img->range = AOM_CR_FULL_RANGE;
    fill_colour(*img, pixels, w, h, channels);
    WHALE_TRY(colour, encode_av1(*img, false, q, speed));
  }
  if (!has_transparency(pixels, w, h, channels)) return write_container(w, h, colour, nullptr);
  av1_stream alpha;
  {
    image_ptr img(aom_img_alloc(nullptr, AOM_IMG_FMT_I420, w, h, 16));
    if (!img) return failure{error_code::too_large, "AVIF encode needs more memory than the job's budget leaves (alpha)"};
    img->range = AOM_CR_FULL_RANGE;
    img->monochrome = 1;
    fill_alpha(*img, pixels, w, h, channels);
    WHALE_TRY(alpha, encode_av1(*img, true, q, speed));
  }
  return write_container(w, h, colour, &alpha);
}

result<std::vector<uint8_t>> encode_handoff(const uint8_t* blob, size_t len) {
  WHALE_TRY(const handoff h, read_handoff(blob, len));
  return encode(blob + handoff::header_bytes, h.width, h.height, h.channels, h.s);
}

size_t last_encode_peak() { return meter.peak; }

}  // namespace whale::avif
