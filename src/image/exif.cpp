// EXIF orientation (include/whale/image.h): a bounded reader of the one tag the pipeline needs.
// JPEG: markers from SOI up to SOS, the first APP1 segment that starts "Exif\0\0". PNG: chunks
// from the signature up to IDAT, the eXIf chunk. Both hold a TIFF structure whose IFD0 may carry
// tag 0x0112. Only IFD0 is read, so no offset chain is ever followed (no loops), and every read
// is checked against the end of its segment.
#include <algorithm>
#include <cstring>

#include "whale/image.h"

namespace whale::image {
namespace {

constexpr size_t max_scan_bytes = 256 * 1024;  // EXIF sits in the first segments of a file
constexpr uint32_t max_ifd_entries = 64;       // IFD0 of a camera file has 10 to 20
constexpr uint16_t orientation_tag = 0x0112;
constexpr uint16_t tiff_short = 3;             // TIFF field type SHORT (uint16)
constexpr size_t ifd_entry_bytes = 12;         // tag, type, count, value or offset
constexpr int upright = 1;                     // orientation when there is none

constexpr uint8_t exif_header[6] = {'E', 'x', 'i', 'f', 0, 0};
constexpr uint8_t png_signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};

uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t be32(const uint8_t* p) { return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3]; }

bool starts_with(const uint8_t* data, size_t size, const uint8_t* prefix, size_t prefix_size) {
  return size >= prefix_size && std::memcmp(data, prefix, prefix_size) == 0;
}

// A TIFF structure in [data, data + size); the caller checks bounds before every read.
class tiff {
 public:
  tiff(const uint8_t* data, size_t size, bool little) : data_(data), size_(size), little_(little) {}

  bool has(size_t at, size_t n) const { return at <= size_ && n <= size_ - at; }
  uint16_t u16(size_t at) const {
    const uint8_t* p = data_ + at;
    return little_ ? static_cast<uint16_t>(p[1] << 8 | p[0]) : be16(p);
  }
  uint32_t u32(size_t at) const {
    const uint8_t* p = data_ + at;
    return little_ ? uint32_t{p[3]} << 24 | uint32_t{p[2]} << 16 | uint32_t{p[1]} << 8 | p[0] : be32(p);
  }

 private:
  const uint8_t* data_;
  size_t size_;
  bool little_;
};

// Orientation from the IFD0 of a TIFF structure ("II*\0" or "MM\0*", then IFD0's offset).
int tiff_orientation(const uint8_t* data, size_t size) {
  if (size < 8) return upright;
  const bool little = data[0] == 'I' && data[1] == 'I';
  const bool big = data[0] == 'M' && data[1] == 'M';
  if (!little && !big) return upright;
  const tiff t(data, size, little);
  if (t.u16(2) != 42) return upright;
  const size_t ifd = t.u32(4);
  if (!t.has(ifd, 2)) return upright;
  const uint32_t entries = std::min<uint32_t>(t.u16(ifd), max_ifd_entries);
  for (uint32_t i = 0; i < entries; ++i) {
    const size_t entry = ifd + 2 + i * ifd_entry_bytes;
    if (!t.has(entry, ifd_entry_bytes)) return upright;
    if (t.u16(entry) != orientation_tag) continue;
    // One SHORT, stored in the first two bytes of the value field.
    const uint32_t count = t.u32(entry + 4);
    if (t.u16(entry + 2) != tiff_short || count < 1 || count > 2) return upright;
    const uint16_t value = t.u16(entry + 8);
    return value >= 1 && value <= 8 ? value : upright;
  }
  return upright;
}

// JPEG: segments after SOI are FF <marker> <length: 2 bytes, counting itself> <payload>.
int jpeg_orientation(const uint8_t* data, size_t size) {
  size_t at = 2;
  while (size - at >= 4) {  // at <= size throughout
    if (data[at] != 0xFF) return upright;
    const uint8_t marker = data[at + 1];
    if (marker == 0xFF) {  // fill byte before a marker
      ++at;
      continue;
    }
    if (marker == 0xDA || marker == 0xD9) return upright;  // SOS, EOI: no metadata after them
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD8)) {  // TEM, RSTn, SOI: no length
      at += 2;
      continue;
    }
    const size_t length = be16(data + at + 2);
    if (length < 2) return upright;
    const size_t payload = at + 4;
    // A truncated segment is read as far as it goes; the TIFF reader stays inside it.
    const size_t end = std::min(at + 2 + length, size);
    if (marker == 0xE1 && starts_with(data + payload, end - payload, exif_header, sizeof exif_header)) {
      return tiff_orientation(data + payload + sizeof exif_header, end - payload - sizeof exif_header);
    }
    if (at + 2 + length > size) return upright;
    at += 2 + length;
  }
  return upright;
}

// PNG: chunks after the signature are <length: 4 bytes> <type: 4> <data> <CRC: 4>.
int png_orientation(const uint8_t* data, size_t size) {
  constexpr uint32_t max_chunk_length = 0x7FFFFFFF;  // the PNG spec's limit
  size_t at = sizeof png_signature;
  while (size - at >= 12) {  // at <= size throughout
    const uint32_t length = be32(data + at);
    const uint8_t* type = data + at + 4;
    if (length > max_chunk_length) return upright;
    if (std::memcmp(type, "IDAT", 4) == 0 || std::memcmp(type, "IEND", 4) == 0) return upright;
    const size_t available = std::min<size_t>(length, size - at - 8);
    if (std::memcmp(type, "eXIf", 4) == 0) {
      const uint8_t* exif = data + at + 8;
      // Some writers keep JPEG's "Exif\0\0" in front of the TIFF header.
      const size_t skip = starts_with(exif, available, exif_header, sizeof exif_header) ? sizeof exif_header : 0;
      return tiff_orientation(exif + skip, available - skip);
    }
    if (length > size - at - 12) return upright;
    at += 12 + size_t{length};
  }
  return upright;
}

}  // namespace

int exif_orientation(const uint8_t* data, size_t size) {
  if (data == nullptr) return upright;
  const size_t n = std::min(size, max_scan_bytes);
  if (n >= 2 && data[0] == 0xFF && data[1] == 0xD8) return jpeg_orientation(data, n);
  if (starts_with(data, n, png_signature, sizeof png_signature)) return png_orientation(data, n);
  return upright;
}

}  // namespace whale::image
