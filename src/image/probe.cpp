// whale::image::probe: what a source is, read from its header only (no pixel is decoded), so
// that the pixel-area limit is checked before any decoder allocates; and the header facts the
// memory estimate needs (detail::read_layout).
#include <cstring>
#include <string>
#include <string_view>

#include "pixels.h"

namespace whale::image {
namespace {

// At most this many GIF frames are counted: enough to say "animated", and the walk stays short.
constexpr uint32_t max_counted_frames = 1000;

uint32_t be16(const uint8_t* p) { return uint32_t{p[0]} << 8 | p[1]; }
uint32_t be32(const uint8_t* p) { return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3]; }
uint32_t le16(const uint8_t* p) { return uint32_t{p[1]} << 8 | p[0]; }
uint32_t le24(const uint8_t* p) { return uint32_t{p[2]} << 16 | uint32_t{p[1]} << 8 | p[0]; }
uint32_t le32(const uint8_t* p) { return uint32_t{p[3]} << 24 | uint32_t{p[2]} << 16 | uint32_t{p[1]} << 8 | p[0]; }

failure corrupt(const char* what) { return fail(error_code::corrupt_input, what); }

bool starts_with(const uint8_t* data, size_t size, const char* magic, size_t n) {
  return size >= n && std::memcmp(data, magic, n) == 0;
}

// SOFn markers: C0..CF except DHT (C4), JPG (C8) and DAC (CC).
bool is_sof(uint8_t m) { return m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC; }

result<info> probe_jpeg(const uint8_t* data, size_t size) {
  size_t pos = 2;  // after SOI
  for (;;) {
    while (pos < size && data[pos] != 0xFF) ++pos;  // libjpeg skips stray bytes too (with a warning)
    while (pos < size && data[pos] == 0xFF) ++pos;  // fill bytes
    if (pos >= size) return corrupt("JPEG: truncated before the frame header");
    const uint8_t marker = data[pos++];
    if (marker == 0xD8 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) continue;  // no length
    if (marker == 0xD9 || marker == 0xDA) return corrupt("JPEG: no frame header before the image data");
    if (size - pos < 2) return corrupt("JPEG: truncated before the frame header");
    const uint32_t length = be16(data + pos);
    if (length < 2) return corrupt("JPEG: bad marker length");
    if (is_sof(marker)) {
      if (length < 8 || size - pos < 8) return corrupt("JPEG: truncated frame header");
      const uint8_t* sof = data + pos + 2;
      if (marker != 0xC0 && marker != 0xC1 && marker != 0xC2) {
        return fail(error_code::unsupported_format,
                    "JPEG: lossless, hierarchical and arithmetic-coded JPEGs are not supported (SOF" +
                        std::to_string(marker - 0xC0) + ")");
      }
      if (sof[0] != 8) {
        return fail(error_code::unsupported_format, "JPEG: " + std::to_string(sof[0]) + "-bit samples are not supported");
      }
      info out;
      out.fmt = format::jpeg;
      out.name = "jpeg";
      out.height = be16(sof + 1);
      out.width = be16(sof + 3);
      if (out.height == 0) return fail(error_code::unsupported_format, "JPEG: height given by a DNL marker is not supported");
      if (out.width == 0 || sof[5] == 0) return corrupt("JPEG: zero width or no components in the frame header");
      out.orientation = exif_orientation(data, size);
      return out;
    }
    pos += length;
  }
}

result<info> probe_png(const uint8_t* data, size_t size) {
  // signature (8), IHDR length (4), "IHDR" (4), width, height (4 + 4), depth, colour type, ...
  if (size < 8 + 8 + 13) return corrupt("PNG: truncated before the IHDR chunk");
  if (std::memcmp(data + 12, "IHDR", 4) != 0 || be32(data + 8) != 13) return corrupt("PNG: the first chunk is not IHDR");
  info out;
  out.fmt = format::png;
  out.name = "png";
  out.width = be32(data + 16);
  out.height = be32(data + 20);
  if (out.width == 0 || out.height == 0 || out.width > 0x7FFFFFFFu || out.height > 0x7FFFFFFFu) {
    return corrupt("PNG: bad image size in IHDR");
  }
  out.orientation = exif_orientation(data, size);
  return out;
}

// Skips GIF data sub-blocks from pos; returns the position after the terminator, or size.
size_t skip_sub_blocks(const uint8_t* data, size_t size, size_t pos) {
  while (pos < size) {
    const uint8_t n = data[pos++];
    if (n == 0) return pos;
    pos += n;
  }
  return size;
}

result<info> probe_gif(const uint8_t* data, size_t size) {
  if (size < 13) return corrupt("GIF: truncated logical screen descriptor");
  info out;
  out.fmt = format::source;
  out.name = "gif";
  out.width = le16(data + 6);
  out.height = le16(data + 8);
  if (out.width == 0 || out.height == 0) return corrupt("GIF: zero logical screen size");
  size_t pos = 13;
  if (data[10] & 0x80) pos += 3u << ((data[10] & 7) + 1);  // global colour table
  uint32_t frames = 0;
  while (pos < size && frames < max_counted_frames) {
    const uint8_t block = data[pos++];
    if (block == 0x3B) break;  // trailer
    if (block == 0x21) {       // extension: label, then sub-blocks
      pos = skip_sub_blocks(data, size, pos + 1);
    } else if (block == 0x2C) {  // image descriptor (9 bytes), local colour table, LZW size, data
      if (size - pos < 9) break;
      const uint8_t flags = data[pos + 8];
      pos += 9;
      if (flags & 0x80) pos += 3u << ((flags & 7) + 1);
      ++frames;
      pos = skip_sub_blocks(data, size, pos + 1);
    } else {
      break;  // garbage: stb_image decides whether the first frame is readable
    }
  }
  out.frames = frames == 0 ? 1 : frames;
  return out;
}

result<info> probe_bmp(const uint8_t* data, size_t size) {
  if (size < 26) return corrupt("BMP: truncated header");
  info out;
  out.fmt = format::source;
  out.name = "bmp";
  const uint32_t header = le32(data + 14);
  if (header == 12) {
    out.width = le16(data + 18);
    out.height = le16(data + 20);
  } else if (header >= 40) {
    const int32_t w = static_cast<int32_t>(le32(data + 18));
    const int32_t h = static_cast<int32_t>(le32(data + 22));
    if (w <= 0 || h == 0 || h == INT32_MIN) return corrupt("BMP: bad image size");
    out.width = static_cast<uint32_t>(w);
    out.height = static_cast<uint32_t>(h < 0 ? -h : h);  // negative: stored top-down
  } else {
    return fail(error_code::unsupported_format, "BMP: unsupported header size " + std::to_string(header));
  }
  if (out.width == 0 || out.height == 0) return corrupt("BMP: bad image size");
  return out;
}

// WebP: its size and, for an animation, its frame count (still images are decoded, decode_webp).
result<info> probe_webp(const uint8_t* data, size_t size) {
  if (size < 30) return corrupt("WebP: truncated header");
  info out;
  out.fmt = format::webp;
  out.name = "webp";
  const uint8_t* chunk = data + 12;
  if (std::memcmp(chunk, "VP8X", 4) == 0) {
    out.width = le24(data + 24) + 1;
    out.height = le24(data + 27) + 1;
    if (data[20] & 0x02) {  // animation flag: count ANMF chunks
      uint32_t frames = 0;
      size_t pos = 12;
      while (size - pos >= 8 && frames < max_counted_frames) {
        const uint32_t length = le32(data + pos + 4);
        if (std::memcmp(data + pos, "ANMF", 4) == 0) ++frames;
        const uint64_t next = uint64_t{pos} + 8 + length + (length & 1);
        if (next > size) break;
        pos = static_cast<size_t>(next);
      }
      out.frames = frames == 0 ? 1 : frames;
    }
  } else if (std::memcmp(chunk, "VP8 ", 4) == 0) {
    if (data[23] != 0x9D || data[24] != 0x01 || data[25] != 0x2A) return corrupt("WebP: bad VP8 start code");
    out.width = le16(data + 26) & 0x3FFF;
    out.height = le16(data + 28) & 0x3FFF;
  } else if (std::memcmp(chunk, "VP8L", 4) == 0) {
    if (data[20] != 0x2F) return corrupt("WebP: bad VP8L signature");
    const uint32_t bits = le32(data + 21);
    out.width = (bits & 0x3FFF) + 1;
    out.height = ((bits >> 14) & 0x3FFF) + 1;
  } else {
    return corrupt("WebP: unknown first chunk");
  }
  if (out.width == 0 || out.height == 0) return corrupt("WebP: zero image size");
  return out;
}

}  // namespace

result<info> probe(const uint8_t* data, size_t size) {
  if (data == nullptr || size == 0) return fail(error_code::unsupported_format, "empty input: not an image");
  if (starts_with(data, size, "\xFF\xD8\xFF", 3)) return probe_jpeg(data, size);
  if (starts_with(data, size, "\x89PNG\r\n\x1A\n", 8)) return probe_png(data, size);
  if (starts_with(data, size, "GIF87a", 6) || starts_with(data, size, "GIF89a", 6)) return probe_gif(data, size);
  if (starts_with(data, size, "BM", 2)) return probe_bmp(data, size);
  if (starts_with(data, size, "RIFF", 4) && size >= 12 && std::memcmp(data + 8, "WEBP", 4) == 0) {
    return probe_webp(data, size);
  }
  return fail(error_code::unsupported_format, "not a JPEG, PNG, GIF, BMP or WebP image");
}

namespace detail {
namespace {

// The SOF's components and sampling factors, then the first SOS: libjpeg keeps every coefficient
// when the file is progressive or its first scan lacks a component (jdinput.c initial_setup).
void read_jpeg_layout(const uint8_t* data, size_t size, source_layout& l) {
  size_t pos = 2;
  bool progressive = false, seen_sof = false;
  for (;;) {
    while (pos < size && data[pos] != 0xFF) ++pos;
    while (pos < size && data[pos] == 0xFF) ++pos;
    if (pos >= size) return;
    const uint8_t marker = data[pos++];
    if (marker == 0xD8 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) continue;
    if (marker == 0xD9 || size - pos < 3) return;
    const uint32_t length = be16(data + pos);
    if (length < 2) return;
    if (is_sof(marker) && !seen_sof && length >= 8 && size - pos >= 8) {
      const uint8_t* sof = data + pos + 2;
      seen_sof = true;
      progressive = marker == 0xC2;
      l.components = sof[5];
      for (uint32_t c = 0; c < 4 && c < l.components && 9 + 3 * c < length && pos + 9 + 3 * c < size; ++c) {
        const uint8_t factors = sof[6 + 3 * c + 1];
        l.h_samp[c] = static_cast<uint8_t>((factors >> 4) >= 1 && (factors >> 4) <= 4 ? factors >> 4 : 4);
        l.v_samp[c] = static_cast<uint8_t>((factors & 15) >= 1 && (factors & 15) <= 4 ? factors & 15 : 4);
      }
    } else if (marker == 0xDA) {
      if (seen_sof) l.multi_scan = progressive || data[pos + 2] < l.components;
      return;
    }
    pos += length;
  }
}

// IHDR, then every chunk up to IEND: tRNS, and the IDAT chunks' total, count and the buffer
// stb_image would grow for them (it starts at the first chunk's size, or 4 KB, and doubles).
void read_png_layout(const uint8_t* data, size_t size, source_layout& l) {
  const uint8_t* ihdr = data + 16;  // probe_png checked that IHDR is first and whole
  l.png_depth = ihdr[8];
  l.png_colour_type = ihdr[9];
  l.png_interlaced = ihdr[12] != 0;
  l.png_transparency = false;
  uint64_t capacity = 0;
  for (uint64_t pos = 8; pos + 12 <= size;) {
    const uint64_t length = be32(data + pos);
    const uint8_t* type = data + pos + 4;
    if (std::memcmp(type, "IEND", 4) == 0 || pos + 12 + length > size) break;  // a chunk past the end: no decoder goes on
    if (std::memcmp(type, "tRNS", 4) == 0) l.png_transparency = true;
    if (std::memcmp(type, "IDAT", 4) == 0) {
      if (capacity == 0) capacity = length > 4096 ? length : 4096;
      while (l.idat_bytes + length > capacity) capacity *= 2;
      l.idat_bytes += length;
      l.idat_chunks++;
    }
    pos += 12 + length;
  }
  l.stb_idata_bytes = capacity;
}

}  // namespace

source_layout read_layout(const uint8_t* data, size_t size, const info& source) {
  source_layout l;
  const std::string_view name = source.name;
  if (name == "jpeg") read_jpeg_layout(data, size, l);
  if (name == "png") read_png_layout(data, size, l);
  if (name == "bmp" && size >= 30) l.bmp_bits = le16(data + (le32(data + 14) == 12 ? 24 : 28));
  return l;
}

}  // namespace detail
}  // namespace whale::image
