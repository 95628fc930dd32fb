// libFuzzer target for whale::image::exif_orientation. Input: any bytes (seeds are the first
// 4 KB of JPEG fixtures and hand-made PNGs with an eXIf chunk). The reader never reads out of
// bounds (ASan), answers 1..8, and answers the same for the same bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "whale/image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const int orientation = whale::image::exif_orientation(data, size);
  if (orientation < 1 || orientation > 8) std::abort();
  if (whale::image::exif_orientation(data, size) != orientation) std::abort();
  return 0;
}
