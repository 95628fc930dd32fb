// gravity=auto (include/whale/image.h): the crop window with the most visual energy. The image is
// box-averaged onto a grid of at most 128 cells on its long side; a cell's energy is its luma
// gradient plus its colour saturation, weighted down towards the edges of the image; a
// summed-area table then scores every window position on the grid. Integer arithmetic only, so
// every target picks the same window.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "whale/image.h"

namespace whale::image {
namespace {

constexpr uint32_t max_grid_side = 128;
constexpr uint64_t precision = 16;     // cell luma and saturation are kept x16 (0..4080)
constexpr uint32_t edge_weight = 192;  // of 256: a cell on the border counts 3/4 of a central one

// The downsampled image: per cell, average luma and saturation (x precision), premultiplied by
// alpha so that transparent areas carry no energy.
struct grid {
  uint32_t cell = 1;  // source pixels per cell side
  uint32_t w = 0, h = 0;
  std::vector<int32_t> luma;
  std::vector<int32_t> saturation;
};

grid downsample(const uint8_t* rgba, uint32_t w, uint32_t h, size_t stride) {
  grid g;
  g.cell = (std::max(w, h) - 1) / max_grid_side + 1;  // w, h >= 1
  g.w = (w + g.cell - 1) / g.cell;
  g.h = (h + g.cell - 1) / g.cell;
  // Sums per cell of luma * alpha (luma is BT.601 x256) and of (max - min) * alpha.
  std::vector<uint64_t> luma_sum(size_t{g.w} * g.h), saturation_sum(size_t{g.w} * g.h);
  for (uint32_t y = 0; y < h; ++y) {
    const uint8_t* row = rgba + y * stride;
    const size_t grid_row = size_t{y / g.cell} * g.w;
    for (uint32_t x = 0; x < w; ++x) {
      const uint8_t* p = row + size_t{x} * 4;
      const uint32_t alpha = p[3];
      const uint32_t luma = 77u * p[0] + 150u * p[1] + 29u * p[2];
      const uint32_t saturation = std::max({p[0], p[1], p[2]}) - std::min({p[0], p[1], p[2]});
      luma_sum[grid_row + x / g.cell] += uint64_t{luma} * alpha;
      saturation_sum[grid_row + x / g.cell] += uint64_t{saturation} * alpha;
    }
  }
  g.luma.resize(luma_sum.size());
  g.saturation.resize(saturation_sum.size());
  for (uint32_t gy = 0; gy < g.h; ++gy) {
    for (uint32_t gx = 0; gx < g.w; ++gx) {
      // Cells on the right and bottom edges may be partial.
      const uint64_t pixels = uint64_t{std::min(g.cell, w - gx * g.cell)} * std::min(g.cell, h - gy * g.cell);
      const size_t i = size_t{gy} * g.w + gx;
      g.luma[i] = static_cast<int32_t>(luma_sum[i] * precision / (pixels * 256 * 255));
      g.saturation[i] = static_cast<int32_t>(saturation_sum[i] * precision / (pixels * 255));
    }
  }
  return g;
}

// 192..256 from the border to the middle of an axis of n cells.
uint64_t axis_weight(uint32_t i, uint32_t n) {
  const uint32_t from_edge = std::min(2 * i + 1, 2 * (n - i) - 1);  // 1 at a border, ~n in the middle
  return edge_weight + (256 - edge_weight) * uint64_t{from_edge} / n;
}

// Energy of every cell: |dx| + |dy| of luma (central differences, one-sided at the borders) plus
// saturation, times the edge weights.
std::vector<uint64_t> energy(const grid& g) {
  std::vector<uint64_t> e(g.luma.size());
  for (uint32_t y = 0; y < g.h; ++y) {
    for (uint32_t x = 0; x < g.w; ++x) {
      const auto at = [&g](uint32_t cx, uint32_t cy) { return g.luma[size_t{cy} * g.w + cx]; };
      const int32_t dx = at(std::min(x + 1, g.w - 1), y) - at(x > 0 ? x - 1 : 0, y);
      const int32_t dy = at(x, std::min(y + 1, g.h - 1)) - at(x, y > 0 ? y - 1 : 0);
      const uint64_t raw = static_cast<uint64_t>(std::abs(dx)) + static_cast<uint64_t>(std::abs(dy)) +
                           static_cast<uint64_t>(g.saturation[size_t{y} * g.w + x]);
      e[size_t{y} * g.w + x] = raw * axis_weight(x, g.w) * axis_weight(y, g.h);
    }
  }
  return e;
}

// Summed-area table with a zero row and column in front: sum of [x0, x1) x [y0, y1) in O(1).
class summed_area {
 public:
  summed_area(const std::vector<uint64_t>& values, uint32_t w, uint32_t h)
      : w_(w + 1), table_(size_t{w + 1} * (h + 1)) {
    for (uint32_t y = 0; y < h; ++y) {
      uint64_t row = 0;
      for (uint32_t x = 0; x < w; ++x) {
        row += values[size_t{y} * w + x];
        table_[index(x + 1, y + 1)] = table_[index(x + 1, y)] + row;
      }
    }
  }
  uint64_t sum(uint32_t x0, uint32_t y0, uint32_t x1, uint32_t y1) const {
    return table_[index(x1, y1)] - table_[index(x0, y1)] - table_[index(x1, y0)] + table_[index(x0, y0)];
  }

 private:
  size_t index(uint32_t x, uint32_t y) const { return size_t{y} * w_ + x; }
  uint32_t w_;
  std::vector<uint64_t> table_;
};

// Source position of a crop of `crop` pixels centred on cells [first, first + cells), kept inside
// the image of `size` pixels.
uint32_t source_position(uint32_t first, uint32_t cells, uint32_t cell, uint32_t crop, uint32_t size) {
  const int64_t twice_centre = (2 * int64_t{first} + cells) * cell;
  const int64_t start = (twice_centre - crop) / 2;
  return static_cast<uint32_t>(std::clamp<int64_t>(start, 0, int64_t{size} - crop));
}

uint32_t distance(uint32_t a, uint32_t b) { return a > b ? a - b : b - a; }

}  // namespace

rect saliency_crop(const uint8_t* rgba, uint32_t w, uint32_t h, size_t stride, uint32_t crop_w, uint32_t crop_h) {
  crop_w = std::min(crop_w, w);
  crop_h = std::min(crop_h, h);
  const rect centred{(w - crop_w) / 2, (h - crop_h) / 2, crop_w, crop_h};
  if (rgba == nullptr || crop_w == 0 || crop_h == 0 || stride / 4 < w) return centred;

  const grid g = downsample(rgba, w, h, stride);
  const summed_area table(energy(g), g.w, g.h);
  // The window in cells never covers more than the crop, so a subject inside the best cells is
  // inside the crop once it is mapped back.
  const uint32_t cells_w = std::clamp(crop_w / g.cell, 1u, g.w);
  const uint32_t cells_h = std::clamp(crop_h / g.cell, 1u, g.h);

  rect best = centred;
  uint64_t best_energy = 0;
  uint32_t best_distance = UINT32_MAX;
  for (uint32_t gy = 0; gy + cells_h <= g.h; ++gy) {
    for (uint32_t gx = 0; gx + cells_w <= g.w; ++gx) {
      const uint64_t e = table.sum(gx, gy, gx + cells_w, gy + cells_h);
      const uint32_t x = source_position(gx, cells_w, g.cell, crop_w, w);
      const uint32_t y = source_position(gy, cells_h, g.cell, crop_h, h);
      // Ties go to the window closest to the centred one.
      const uint32_t d = distance(x, centred.x) + distance(y, centred.y);
      if (e > best_energy || (e == best_energy && e != 0 && d < best_distance)) {
        best = rect{x, y, crop_w, crop_h};
        best_energy = e;
        best_distance = d;
      }
    }
  }
  return best;  // no energy anywhere (a flat image): the centred window
}

}  // namespace whale::image
