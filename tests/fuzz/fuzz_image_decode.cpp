// libFuzzer target for whale::image::probe and process on arbitrary bytes, with small limits
// (1 MP source, 256 px output, 48 MB of memory) so that each input stays fast. The last byte
// picks the options. probe and process must never crash; a failure is too_large,
// unsupported_format, corrupt_input or out_of_memory with a message; an image fits the output
// limit; probe and process agree on what the source is; process_in_place (which overwrites a
// copy of the input) answers what process answers, except where process, which copies a PNG's
// image data instead, is refused for memory.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "whale/image.h"

namespace {

const char* const option_sets[] = {
    "width=64",
    "width=48,height=48,fit=cover,format=png",
    "width=40,height=30,fit=pad,background=%2380808080,format=webp,quality=50",
    "width=32,height=64,fit=crop,gravity=auto,format=jpeg",
    "width=100,fit=contain,rotate=90,format=jpeg,quality=95",
    "height=20,fit=scale-down,format=auto",
    "width=16,height=16,fit=cover,gravity=0.1x0.9,format=png",
    "format=json",
    "width=40,flip=hv,brightness=2,contrast=0.5,gamma=1.8,saturation=1.5,format=png",
    "width=48,height=40,fit=pad,blur=30,format=png",
    "width=30,blur=2.5",
    "width=36,sharpen=10,saturation=0,format=png",
    "width=40,format=webp,border.width=2,border.color=red,trim=2;3;4;5",
    "trim=border,trim.border.keep=2,width=50,format=png",
    "width=auto,scq=20,height=30,fit=cover,format=webp",
    "trim.left=3,trim.top=1,trim.width=9,trim.height=7,format=png",
};

bool allowed_failure(whale::error_code code) {
  using whale::error_code;
  return code == error_code::too_large || code == error_code::unsupported_format || code == error_code::corrupt_input ||
         code == error_code::out_of_memory;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  whale::image::limits lim;
  lim.max_pixels = 1u << 20;
  lim.max_input_bytes = 1u << 24;  // above any input libFuzzer makes: probe sees every input
  lim.max_output_side = 256;
  lim.max_memory_bytes = 48u << 20;

  auto info = whale::image::probe(data, size);
  if (!info.ok() && (!allowed_failure(info.code()) || info.message().empty())) std::abort();
  if (info.ok() && (info->width == 0 || info->height == 0 || info->orientation < 1 || info->orientation > 8)) std::abort();

  const size_t pick = size == 0 ? 0 : data[size - 1] % (sizeof option_sets / sizeof option_sets[0]);
  auto options = whale::image::parse_options(option_sets[pick]);
  if (!options.ok()) std::abort();
  auto out = whale::image::process(data, size, options.value(), whale::image::accept_webp, lim);
  std::vector<uint8_t> scratch(data, data + size);
  auto in_place = whale::image::process_in_place(scratch.data(), size, options.value(), whale::image::accept_webp, lim);
  const bool copy_refused = !out.ok() && out.code() == whale::error_code::too_large;
  if (in_place.code() != out.code() && !copy_refused) std::abort();
  if (out.ok() && in_place->bytes != out->bytes) std::abort();
  // The input drawn over itself as an overlay (draw): never a crash, only documented failures.
  if (pick % 4 == 0) {
    auto ov = whale::image::parse_overlay("width=20,opacity=0.5,repeat=x,bottom=3");
    if (!ov.ok()) std::abort();
    ov->data = data;
    ov->size = size;
    auto drawn = whale::image::process_with_overlays(data, size, options.value(), whale::image::accept_webp, lim, {ov.value()});
    const bool refused = !drawn.ok() && (allowed_failure(drawn.code()) || drawn.code() == whale::error_code::invalid_value);
    if (!drawn.ok() && (!refused || drawn.message().empty())) std::abort();
    if (drawn.ok() && out.ok() && (drawn->width != out->width || drawn->height != out->height)) std::abort();
  }
  if (!info.ok()) {  // process refuses what probe refuses, the same way
    if (out.ok() || out.code() != info.code()) std::abort();
    return 0;
  }
  if (!out.ok()) {
    // A trim that leaves nothing of a small source is the options' fault, named as such.
    const bool trimmed_away = out.code() == whale::error_code::invalid_value && out.message().rfind("option 'trim'", 0) == 0;
    if ((!allowed_failure(out.code()) && !trimmed_away) || out.message().empty()) std::abort();
    return 0;
  }
  if (out->bytes.empty()) std::abort();
  if (options->fmt != whale::image::format::json &&
      (out->width == 0 || out->height == 0 || out->width > lim.max_output_side || out->height > lim.max_output_side)) {
    std::abort();
  }
  return 0;
}
