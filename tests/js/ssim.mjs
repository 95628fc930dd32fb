// SSIM over luma (Wang et al. 2004, the constants for 8-bit samples), 8x8 windows with stride 4,
// over a region (x, y, w, h) of two images `width` samples wide: the tests' and the image bench's.
export function ssim(a, b, width, height, region = { x: 0, y: 0, w: width, h: height }) {
  const c1 = (0.01 * 255) ** 2;
  const c2 = (0.03 * 255) ** 2;
  let sum = 0;
  let count = 0;
  for (let y = region.y; y + 8 <= region.y + region.h; y += 4) {
    for (let x = region.x; x + 8 <= region.x + region.w; x += 4) {
      let sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
      for (let j = 0; j < 8; j++) {
        for (let i = 0; i < 8; i++) {
          const p = a[(y + j) * width + x + i];
          const q = b[(y + j) * width + x + i];
          sa += p; sb += q; saa += p * p; sbb += q * q; sab += p * q;
        }
      }
      const ma = sa / 64, mb = sb / 64;
      const va = saa / 64 - ma * ma, vb = sbb / 64 - mb * mb, cov = sab / 64 - ma * mb;
      sum += ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2));
      count++;
    }
  }
  return sum / count;
}
