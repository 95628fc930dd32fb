// The C ABI of wasm/whale_image.h: one-line forwards into whale::image (cf. proxy-wasm).
#include "whale_image.h"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "whale/image.h"

#include "abi_export.h"

namespace {

// The last call's result: bytes, content type and pixel size; valid until the next call.
struct last_output {
  std::vector<uint8_t> bytes;
  const char* type = "text/plain";
  uint32_t width = 0, height = 0;
} last;

uint32_t answer(std::vector<uint8_t> bytes, const char* type, uint32_t width = 0, uint32_t height = 0) {
  last.bytes = std::move(bytes);
  last.type = type;
  last.width = width;
  last.height = height;
  return 0;
}

uint32_t answer_text(std::string_view text, const char* type) { return answer({text.begin(), text.end()}, type); }

uint32_t failed(const whale::failure& f) {
  answer_text(f.message, "text/plain");
  return static_cast<uint32_t>(f.code);
}

std::string_view text_of(const char* p, uint32_t n) { return p ? std::string_view(p, n) : std::string_view(); }

}  // namespace

extern "C" {

WHALE_EXPORT(whale_image_abi_version) uint32_t whale_image_abi_version(void) { return WHALE_IMAGE_ABI_VERSION; }
WHALE_EXPORT(whale_image_alloc) uint8_t* whale_image_alloc(uint32_t size) {
  return static_cast<uint8_t*>(std::calloc(size ? size : 1, 1));
}
WHALE_EXPORT(whale_image_free) void whale_image_free(uint8_t* p) { std::free(p); }

WHALE_EXPORT(whale_image_options) uint32_t whale_image_options(const char* text, uint32_t len) {
  auto parsed = whale::image::parse_options(text_of(text, len));
  if (!parsed.ok()) return failed(parsed.error());
  return answer_text(whale::image::normalize(parsed.value()), "text/plain");
}

WHALE_EXPORT(whale_image_probe) uint32_t whale_image_probe(const uint8_t* src, uint32_t src_len) {
  auto probed = whale::image::probe(src, src_len);
  if (!probed.ok()) return failed(probed.error());
  const whale::image::info& i = probed.value();
  char json[192];
  const int n = std::snprintf(json, sizeof json,
                              "{\"width\":%u,\"height\":%u,\"format\":\"%s\",\"orientation\":%d,\"frames\":%u}", i.width,
                              i.height, i.name, i.orientation, i.frames);
  return answer_text(std::string_view(json, n > 0 ? static_cast<size_t>(n) : 0), "application/json");
}

WHALE_EXPORT(whale_image_process)
uint32_t whale_image_process(uint8_t* src, uint32_t src_len, const char* opts, uint32_t opts_len, uint32_t accept,
                             uint32_t max_pixels, uint32_t max_input_bytes, uint32_t max_output_side,
                             uint32_t max_memory_bytes) {
  auto parsed = whale::image::parse_options(text_of(opts, opts_len));
  if (!parsed.ok()) return failed(parsed.error());
  whale::image::limits lim;
  if (max_pixels) lim.max_pixels = max_pixels;
  if (max_input_bytes) lim.max_input_bytes = max_input_bytes;
  if (max_output_side) lim.max_output_side = max_output_side;
  if (max_memory_bytes) lim.max_memory_bytes = max_memory_bytes;
  auto done = whale::image::process_in_place(src, src_len, parsed.value(), accept, lim);
  if (!done.ok()) return failed(done.error());
  whale::image::output& out = done.value();
  return answer(std::move(out.bytes), out.content_type, out.width, out.height);
}

WHALE_EXPORT(whale_image_process_draw)
uint32_t whale_image_process_draw(const uint8_t* src, uint32_t src_len, const char* opts, uint32_t opts_len,
                                  const uint8_t* draw, uint32_t draw_len, uint32_t accept, uint32_t max_pixels,
                                  uint32_t max_input_bytes, uint32_t max_output_side, uint32_t max_memory_bytes) {
  auto parsed = whale::image::parse_options(text_of(opts, opts_len));
  if (!parsed.ok()) return failed(parsed.error());
  std::vector<whale::image::overlay> overlays;
  const auto u32 = [draw](uint32_t at) {
    return uint32_t{draw[at]} | uint32_t{draw[at + 1]} << 8 | uint32_t{draw[at + 2]} << 16 | uint32_t{draw[at + 3]} << 24;
  };
  for (uint32_t at = 0; at < draw_len;) {
    if (overlays.size() == whale::image::max_overlays) {
      return failed(whale::failure{whale::error_code::invalid_value, "option 'draw': at most 8 overlays"});
    }
    if (draw_len - at < 4 || u32(at) > draw_len - at - 4) return failed(whale::failure{whale::error_code::invalid_value, "draw: truncated"});
    const uint32_t bytes = u32(at);
    const uint8_t* data = draw + at + 4;
    at += 4 + bytes;
    if (draw_len - at < 4 || u32(at) > draw_len - at - 4) return failed(whale::failure{whale::error_code::invalid_value, "draw: truncated"});
    const uint32_t text = u32(at);
    auto ov = whale::image::parse_overlay(text_of(reinterpret_cast<const char*>(draw + at + 4), text));
    if (!ov.ok()) return failed(ov.error());
    at += 4 + text;
    ov->data = data;
    ov->size = bytes;
    overlays.push_back(ov.value());
  }
  whale::image::limits lim;
  if (max_pixels) lim.max_pixels = max_pixels;
  if (max_input_bytes) lim.max_input_bytes = max_input_bytes;
  if (max_output_side) lim.max_output_side = max_output_side;
  if (max_memory_bytes) lim.max_memory_bytes = max_memory_bytes;
  auto done = whale::image::process_with_overlays(src, src_len, parsed.value(), accept, lim, overlays);
  if (!done.ok()) return failed(done.error());
  whale::image::output& out = done.value();
  return answer(std::move(out.bytes), out.content_type, out.width, out.height);
}

WHALE_EXPORT(whale_image_out) const uint8_t* whale_image_out(void) { return last.bytes.data(); }
WHALE_EXPORT(whale_image_out_len) uint32_t whale_image_out_len(void) { return static_cast<uint32_t>(last.bytes.size()); }
WHALE_EXPORT(whale_image_out_type) const char* whale_image_out_type(void) { return last.type; }
WHALE_EXPORT(whale_image_out_width) uint32_t whale_image_out_width(void) { return last.width; }
WHALE_EXPORT(whale_image_out_height) uint32_t whale_image_out_height(void) { return last.height; }

WHALE_EXPORT(whale_image_reset) void whale_image_reset(void) {
  last.bytes = std::vector<uint8_t>();  // gives the memory back to the allocator
  last.type = "text/plain";
  last.width = last.height = 0;
}

}  // extern "C"
