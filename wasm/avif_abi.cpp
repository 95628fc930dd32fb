// The C ABI of wasm/whale_avif.h: one-line forwards into whale::avif.
#include "whale_avif.h"

#include <cstdlib>
#include <string>
#include <vector>

#include "whale/avif.h"

#include "abi_export.h"

namespace {

std::vector<uint8_t> last;  // the last call's AVIF file or error message

}  // namespace

extern "C" {

WHALE_EXPORT(whale_avif_abi_version) uint32_t whale_avif_abi_version(void) { return WHALE_AVIF_ABI_VERSION; }
WHALE_EXPORT(whale_avif_alloc) uint8_t* whale_avif_alloc(uint32_t size) {
  return static_cast<uint8_t*>(std::calloc(size ? size : 1, 1));
}
WHALE_EXPORT(whale_avif_free) void whale_avif_free(uint8_t* p) { std::free(p); }

WHALE_EXPORT(whale_avif_encode) uint32_t whale_avif_encode(const uint8_t* handoff, uint32_t len) {
  auto done = whale::avif::encode_handoff(handoff, len);
  if (!done.ok()) {
    const std::string& message = done.error().message;
    last.assign(message.begin(), message.end());
    return static_cast<uint32_t>(done.error().code);
  }
  last = std::move(done.value());
  return 0;
}

WHALE_EXPORT(whale_avif_out) const uint8_t* whale_avif_out(void) { return last.data(); }
WHALE_EXPORT(whale_avif_out_len) uint32_t whale_avif_out_len(void) { return static_cast<uint32_t>(last.size()); }
WHALE_EXPORT(whale_avif_reset) void whale_avif_reset(void) { std::vector<uint8_t>().swap(last); }

}  // extern "C"
