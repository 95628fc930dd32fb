// libFuzzer target for whale::avif: image.wasm's handoff as avif.wasm reads it (read_handoff,
// then the encoder), and small images of any size and channels made from the input's bytes.
// Never a crash; a refused handoff is invalid_value; every encode that succeeds writes an AVIF
// file whose boxes tile it (ftyp, meta, mdat) and whose first item starts inside mdat.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "whale/avif.h"

namespace {

uint32_t be32(const std::vector<uint8_t>& b, size_t at) {
  return uint32_t{b[at]} << 24 | uint32_t{b[at + 1]} << 16 | uint32_t{b[at + 2]} << 8 | b[at + 3];
}

void check_file(const std::vector<uint8_t>& file) {
  static const char* const order[] = {"ftyp", "meta", "mdat"};
  size_t at = 0;
  for (const char* type : order) {
    if (at + 8 > file.size()) std::abort();
    const uint32_t size = be32(file, at);
    if (size < 8 || at + size > file.size()) std::abort();
    for (int i = 0; i < 4; ++i) {
      if (file[at + 4 + i] != static_cast<uint8_t>(type[i])) std::abort();
    }
    at += size;
  }
  if (at != file.size()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  if (data[0] & 1) {
    // As a handoff: the header as given (the fuzzer finds the magic in the corpus), capped in
    // area so that a run stays quick.
    auto h = whale::avif::read_handoff(data + 1, size - 1);
    if (!h.ok()) {
      if (h.error().code != whale::error_code::invalid_value) std::abort();
      return 0;
    }
    if (uint64_t{h.value().width} * h.value().height > 4096) return 0;
    auto out = whale::avif::encode_handoff(data + 1, size - 1);
    if (out.ok()) check_file(out.value());
    return 0;
  }
  // As pixels: 1..64 x 1..64, 1..4 channels, quality and speed from the next bytes.
  if (size < 5) return 0;
  const uint32_t w = 1 + data[1] % 64, h = 1 + data[2] % 64, channels = 1 + data[3] % 4;
  whale::avif::settings s;
  s.quality = 1 + data[4] % 100;
  s.speed = 6 + (data[0] >> 1) % 4;
  s.max_memory = (data[0] & 0x80) ? (uint64_t{1} << 20) : 0;  // sometimes a budget too small
  std::vector<uint8_t> pixels(size_t{w} * h * channels);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = size > 5 ? data[5 + i % (size - 5)] : 0;
  auto out = whale::avif::encode(pixels.data(), w, h, channels, s);
  if (!out.ok()) {
    if (out.error().code != whale::error_code::too_large || s.max_memory == 0) std::abort();
    return 0;
  }
  check_file(out.value());
  return 0;
}
