// blur=<radius>: a Gaussian of sigma = radius / 2. Small ones (sigma < 3) by the kernel itself,
// 3 sigma each side; larger ones by three box blurs (each pass a running sum, so the cost does not
// grow with the radius), the boxes' widths chosen so that their variances add up to the
// Gaussian's (the method of W. Wells, "Efficient synthesis of Gaussian filters by cascaded
// uniform filters", 1986). Edges repeat the border pixel. Colours are premultiplied by alpha for
// the blur, so transparent pixels do not bleed their hidden colour. sharpen=<strength>: an unsharp
// mask over that blur.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "pixels.h"

namespace whale::image::detail {
namespace {

// The odd widths of three boxes whose cascade has the variance of a Gaussian of `sigma`: m of
// width w and 3 - m of width w + 2, w the largest odd width not past the ideal one.
std::vector<uint32_t> box_widths(double sigma) {
  constexpr int n = 3;
  const double ideal = std::sqrt(12.0 * sigma * sigma / n + 1.0);
  int w = static_cast<int>(std::floor(ideal));
  if (w % 2 == 0) --w;
  const double m_ideal = (12.0 * sigma * sigma - n * w * w - 4.0 * n * w - 3.0 * n) / (-4.0 * w - 4.0);
  const int m = static_cast<int>(std::floor(m_ideal + 0.5));
  std::vector<uint32_t> widths;
  for (int i = 0; i < n; ++i) widths.push_back(static_cast<uint32_t>(std::max(1, i < m ? w : w + 2)));
  return widths;
}

// One box pass along a line of `count` samples `step` apart (a row: the channel count; a column:
// the row stride), through `line` (a copy of the input). Rounded half up.
void box_line(uint8_t* first, size_t step, uint32_t count, uint32_t width, uint8_t* line) {
  const int64_t r = width / 2;
  for (uint32_t i = 0; i < count; ++i) line[i] = first[i * step];
  const auto at = [&](int64_t i) { return line[static_cast<size_t>(std::clamp<int64_t>(i, 0, count - 1))]; };
  uint64_t sum = 0;
  for (int64_t i = -r; i <= r; ++i) sum += at(i);
  for (uint32_t i = 0; i < count; ++i) {
    first[i * step] = static_cast<uint8_t>((sum + width / 2) / width);
    sum += at(int64_t{i} + r + 1);
    sum -= at(int64_t{i} - r);
  }
}

// One pass of a small Gaussian kernel (weights[0] the centre, symmetric) along a line, as box_line.
void kernel_line(uint8_t* first, size_t step, uint32_t count, const std::vector<uint32_t>& weights, uint64_t total,
                 uint8_t* line) {
  const int64_t r = static_cast<int64_t>(weights.size()) - 1;
  for (uint32_t i = 0; i < count; ++i) line[i] = first[i * step];
  const auto at = [&](int64_t i) { return uint64_t{line[static_cast<size_t>(std::clamp<int64_t>(i, 0, count - 1))]}; };
  for (uint32_t i = 0; i < count; ++i) {
    uint64_t sum = weights[0] * at(i);
    for (int64_t k = 1; k <= r; ++k) sum += weights[static_cast<size_t>(k)] * (at(int64_t{i} - k) + at(int64_t{i} + k));
    first[i * step] = static_cast<uint8_t>((sum + total / 2) / total);
  }
}

// Below this sigma three boxes are a coarse Gaussian: the kernel itself is used, 3 sigma wide.
constexpr double kernel_below_sigma = 3.0;

// Alpha is the last channel of grey+alpha and RGBA.
void premultiply(pixels& image, rect area, bool undo) {
  const uint32_t c = image.channels, a = c - 1;
  for (uint32_t y = area.y; y < area.y + area.h; ++y) {
    for (uint32_t x = area.x; x < area.x + area.w; ++x) {
      uint8_t* p = image.row(y) + x * c;
      const uint32_t alpha = p[a];
      for (uint32_t k = 0; k < a; ++k) {
        if (!undo) {
          p[k] = static_cast<uint8_t>((p[k] * alpha + 127) / 255);
        } else {
          p[k] = alpha == 0 ? 0 : static_cast<uint8_t>(std::min<uint32_t>(255, (p[k] * 255 + alpha / 2) / alpha));
        }
      }
    }
  }
}

}  // namespace

result<void> blur(pixels& image, rect area, uint32_t radius_milli) {
  area.w = std::min(area.w, image.w > area.x ? image.w - area.x : 0);
  area.h = std::min(area.h, image.h > area.y ? image.h - area.y : 0);
  if (radius_milli == 0 || area.w == 0 || area.h == 0) return {};
  const double sigma = radius_milli / 2000.0;
  const std::unique_ptr<uint8_t, free_deleter> buffer(static_cast<uint8_t*>(std::malloc(std::max(area.w, area.h))));
  if (buffer == nullptr) return fail(error_code::out_of_memory, "blur: no memory for a line");
  uint8_t* line = buffer.get();
  const bool alpha = image.has_alpha_channel();
  if (alpha) premultiply(image, area, false);
  const uint32_t c = image.channels;
  if (sigma < kernel_below_sigma) {
    // Integer weights (the exponential rounded to 1/65536: the same on every target).
    std::vector<uint32_t> weights;
    uint64_t total = 0;
    for (int k = 0; k <= static_cast<int>(std::ceil(3 * sigma)); ++k) {
      weights.push_back(static_cast<uint32_t>(std::floor(65536.0 * std::exp(-k * k / (2 * sigma * sigma)) + 0.5)));
      total += (k == 0 ? 1 : 2) * uint64_t{weights.back()};
    }
    for (uint32_t y = area.y; y < area.y + area.h; ++y) {
      for (uint32_t k = 0; k < c; ++k) kernel_line(image.row(y) + area.x * c + k, c, area.w, weights, total, line);
    }
    for (uint32_t x = area.x; x < area.x + area.w; ++x) {
      for (uint32_t k = 0; k < c; ++k) kernel_line(image.row(area.y) + x * c + k, image.stride(), area.h, weights, total, line);
    }
  }
  for (const uint32_t width : sigma < kernel_below_sigma ? std::vector<uint32_t>{} : box_widths(sigma)) {
    if (width <= 1) continue;
    for (uint32_t y = area.y; y < area.y + area.h; ++y) {
      for (uint32_t k = 0; k < c; ++k) box_line(image.row(y) + area.x * c + k, c, area.w, width, line);
    }
    for (uint32_t x = area.x; x < area.x + area.w; ++x) {
      for (uint32_t k = 0; k < c; ++k) box_line(image.row(area.y) + x * c + k, image.stride(), area.h, width, line);
    }
  }
  if (alpha) premultiply(image, area, true);
  return {};
}

result<void> sharpen(pixels& image, rect area, uint32_t strength_milli) {
  area.w = std::min(area.w, image.w > area.x ? image.w - area.x : 0);
  area.h = std::min(area.h, image.h > area.y ? image.h - area.y : 0);
  if (strength_milli == 0 || area.w == 0 || area.h == 0) return {};
  WHALE_TRY(pixels soft, make_pixels(area.w, area.h, image.channels));
  for (uint32_t y = 0; y < area.h; ++y) {
    std::memcpy(soft.row(y), image.row(area.y + y) + size_t{area.x} * image.channels, soft.stride());
  }
  WHALE_TRY_VOID(blur(soft, rect{0, 0, area.w, area.h}, 2000));  // radius 2: sigma 1
  const uint32_t colours = image.has_alpha_channel() ? image.channels - 1 : image.channels;
  for (uint32_t y = 0; y < area.h; ++y) {
    uint8_t* row = image.row(area.y + y) + size_t{area.x} * image.channels;
    const uint8_t* blurred = soft.row(y);
    for (uint32_t x = 0; x < area.w; ++x) {
      for (uint32_t k = 0; k < colours; ++k) {
        const size_t i = size_t{x} * image.channels + k;
        // v + (v - b) * strength / 2, in two-thousandths, rounded half up (floor of x + 1/2).
        const int64_t n = int64_t{row[i]} * 2000 + (int64_t{row[i]} - blurred[i]) * strength_milli + 1000;
        row[i] = static_cast<uint8_t>(std::clamp<int64_t>(n >= 0 ? n / 2000 : -1, 0, 255));
      }
    }
  }
  return {};
}

}  // namespace whale::image::detail
