// gravity=auto (include/whale/image.h): the crop window with the most visual energy. The image is
// box-averaged onto a grid of at most 128 cells on its long side, in three opponent channels
// (luma, red-green, yellow-blue). A cell's energy is its centre-surround contrast: how far the
// average colour of a small box around it lies from that of a large box, at two scales. Fine
// texture (gravel, grass, foliage) averages out in both boxes and scores little; a smooth gradient
// scores nothing; a subject that differs from what surrounds it scores high. Energy is weighted
// down towards the edges of the image; a summed-area table then scores every window position on
// the grid. Integer arithmetic only, so every target picks the same window.
#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include "whale/image.h"

namespace whale::image {
namespace {

constexpr uint32_t max_grid_side = 128;
constexpr uint32_t precision = 16;  // cell channels are kept x16: luma 0..4080
constexpr uint32_t offset = 255 * precision;  // keeps the signed colour channels >= 0: 0..8160
constexpr uint32_t edge_weight = 192;  // of 256: a cell on the border counts 3/4 of a central one
// A difference of 2/255 in a channel between centre and surround is noise (JPEG banding, grain).
constexpr uint32_t noise_floor = 2 * precision;
// Windows whose energies differ by less than this per cell (a contrast of 1/64 level at full
// weight: rounding in a smooth gradient, not a subject) are equally good; the one nearer the
// middle wins.
constexpr uint64_t slack_per_cell = 256 * 256 * precision / 64;

// Box radii in cells. Centre boxes of 3 and 5 cells average texture out; surrounds of 13 and 25
// cells (a tenth and a fifth of a 128-cell grid) see the background a subject stands against.
struct scale {
  uint32_t centre, surround;
};
constexpr std::array<scale, 2> scales{{{1, 6}, {2, 12}}};
constexpr uint32_t max_radius = 12;
static_assert(scales[0].surround <= max_radius && scales[1].surround <= max_radius);
constexpr uint32_t max_box_area = (2 * max_radius + 1) * (2 * max_radius + 1);

// 2^32 / area rounded up, for every box area: sum * reciprocal >> 32 is sum / area, without a
// division, exactly while sum * area < 2^32 (here sum <= 625 * 8160 and area <= 625).
constexpr auto reciprocals = [] {
  std::array<uint64_t, max_box_area + 1> r{};
  for (uint64_t area = 1; area <= max_box_area; ++area) r[area] = ((uint64_t{1} << 32) + area - 1) / area;
  return r;
}();

// The downsampled image: per cell, average luma, red-green and yellow-blue (x precision, colour
// channels offset to be >= 0), premultiplied by alpha so that transparent areas are black.
struct grid {
  uint32_t cell = 1;  // source pixels per cell side
  uint32_t w = 0, h = 0;
  std::array<std::vector<uint32_t>, 3> channels;
};

grid downsample(const uint8_t* rgba, uint32_t w, uint32_t h, size_t stride) {
  grid g;
  g.cell = (std::max(w, h) - 1) / max_grid_side + 1;  // w, h >= 1
  g.w = (w + g.cell - 1) / g.cell;
  g.h = (h + g.cell - 1) / g.cell;
  // Sums per cell of r * alpha, g * alpha and b * alpha.
  std::vector<std::array<uint64_t, 3>> sums(size_t{g.w} * g.h);
  for (uint32_t y = 0; y < h; ++y) {
    const uint8_t* p = rgba + y * stride;
    std::array<uint64_t, 3>* cell_sums = sums.data() + size_t{y / g.cell} * g.w;
    for (uint32_t x0 = 0; x0 < w; x0 += g.cell, ++cell_sums) {
      uint64_t r = 0, gr = 0, b = 0;  // of one row of the cell
      for (const uint8_t* end = p + size_t{std::min(g.cell, w - x0)} * 4; p < end; p += 4) {
        r += uint32_t{p[0]} * p[3];
        gr += uint32_t{p[1]} * p[3];
        b += uint32_t{p[2]} * p[3];
      }
      (*cell_sums)[0] += r;
      (*cell_sums)[1] += gr;
      (*cell_sums)[2] += b;
    }
  }
  for (auto& c : g.channels) c.resize(sums.size());
  for (uint32_t gy = 0; gy < g.h; ++gy) {
    for (uint32_t gx = 0; gx < g.w; ++gx) {
      // Cells on the right and bottom edges may be partial.
      const uint64_t pixels = uint64_t{std::min(g.cell, w - gx * g.cell)} * std::min(g.cell, h - gy * g.cell);
      const size_t i = size_t{gy} * g.w + gx;
      const auto mean = [&](uint32_t k) { return static_cast<int32_t>(sums[i][k] * precision / (pixels * 255)); };
      const int32_t r = mean(0), gr = mean(1), b = mean(2);
      g.channels[0][i] = static_cast<uint32_t>((77 * r + 150 * gr + 29 * b) / 256);  // BT.601
      g.channels[1][i] = static_cast<uint32_t>(r - gr + int32_t{offset});
      g.channels[2][i] = static_cast<uint32_t>((r + gr) / 2 - b + int32_t{offset});
    }
  }
  return g;
}

// Summed-area table with a zero row and column in front: sum of [x0, x1) x [y0, y1) in O(1).
class summed_area {
 public:
  template <class Value>
  summed_area(const std::vector<Value>& values, uint32_t w, uint32_t h)
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

// Mean of the box of radius (rx, ry) centred on cell (x, y), which lies inside the grid.
uint32_t box_mean(const summed_area& t, uint32_t x, uint32_t y, uint32_t rx, uint32_t ry) {
  const uint64_t sum = t.sum(x - rx, y - ry, x + rx + 1, y + ry + 1);
  return static_cast<uint32_t>(sum * reciprocals[(2 * rx + 1) * (2 * ry + 1)] >> 32);
}

// 192..256 from the border to the middle of an axis of n cells.
uint64_t axis_weight(uint32_t i, uint32_t n) {
  const uint32_t from_edge = std::min(2 * i + 1, 2 * (n - i) - 1);  // 1 at a border, ~n in the middle
  return edge_weight + (256 - edge_weight) * uint64_t{from_edge} / n;
}

// Energy of every cell: per scale and channel, |centre mean - surround mean| less the noise
// floor, times the edge weights. Near a border both boxes shrink to stay centred on the cell
// (a box cut by the border would see a gradient as contrast).
std::vector<uint64_t> energy(const grid& g) {
  const std::array<summed_area, 3> tables{summed_area(g.channels[0], g.w, g.h),
                                          summed_area(g.channels[1], g.w, g.h),
                                          summed_area(g.channels[2], g.w, g.h)};
  std::vector<uint64_t> e(size_t{g.w} * g.h);
  for (uint32_t y = 0; y < g.h; ++y) {
    const uint32_t room_y = std::min(y, g.h - 1 - y);
    for (uint32_t x = 0; x < g.w; ++x) {
      const uint32_t room_x = std::min(x, g.w - 1 - x);
      uint64_t contrast = 0;
      for (const scale& s : scales) {
        const uint32_t cx = std::min(s.centre, room_x), cy = std::min(s.centre, room_y);
        const uint32_t sx = std::min(s.surround, room_x), sy = std::min(s.surround, room_y);
        for (const summed_area& t : tables) {
          const uint32_t centre = box_mean(t, x, y, cx, cy), surround = box_mean(t, x, y, sx, sy);
          const uint32_t difference = centre > surround ? centre - surround : surround - centre;
          contrast += difference > noise_floor ? difference - noise_floor : 0;
        }
      }
      e[size_t{y} * g.w + x] = contrast * axis_weight(x, g.w) * axis_weight(y, g.h);
    }
  }
  return e;
}

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

  // The most energy in any window, then the window closest to the centred one among those
  // within the slack of it.
  const auto window_energy = [&](uint32_t gx, uint32_t gy) { return table.sum(gx, gy, gx + cells_w, gy + cells_h); };
  uint64_t most = 0;
  for (uint32_t gy = 0; gy + cells_h <= g.h; ++gy) {
    for (uint32_t gx = 0; gx + cells_w <= g.w; ++gx) most = std::max(most, window_energy(gx, gy));
  }
  const uint64_t slack = uint64_t{cells_w} * cells_h * slack_per_cell;
  if (most <= slack) return centred;  // nothing stands out: a flat image, a smooth gradient
  rect best = centred;
  uint32_t best_distance = UINT32_MAX;
  for (uint32_t gy = 0; gy + cells_h <= g.h; ++gy) {
    for (uint32_t gx = 0; gx + cells_w <= g.w; ++gx) {
      if (window_energy(gx, gy) + slack < most) continue;
      const uint32_t x = source_position(gx, cells_w, g.cell, crop_w, w);
      const uint32_t y = source_position(gy, cells_h, g.cell, crop_h, h);
      const uint32_t d = distance(x, centred.x) + distance(y, centred.y);
      if (d < best_distance) {
        best = rect{x, y, crop_w, crop_h};
        best_distance = d;
      }
    }
  }
  return best;
}

}  // namespace whale::image
