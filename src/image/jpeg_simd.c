/* libjpeg-turbo's SIMD hooks (jsimd_*), filled for what a scaled decode and a small encode spend
 * their time in: the full 8x8 inverse DCT (jpeg_idct_islow, also what a chroma block takes at DCT
 * scale 1/2), the 4x4 one (jpeg_idct_4x4, every luma block at 1/2), YCbCr to RGB, and the
 * encoder's quantization.
 *
 * The IDCTs are written with GCC/clang vector extensions, so the same code runs natively (SSE2)
 * and in wasm (SIMD128): four 32-bit lanes doing exactly the C code's integer operations
 * (libjpeg-turbo's jidctint.c and jidctred.c, on wasm32 where JLONG is 32 bits), so every output
 * byte is the C path's; natively too, where the C path's 64-bit JLONG would part from wasm's on a
 * damaged stream whose sums overflow 32 bits. Pass 1 works on four columns at once, pass 2 on four rows after a
 * transpose. The C path's shortcuts for all-zero columns and rows give the same values as the
 * full arithmetic (their DC-only results are what the full formulas round to). YCbCr to RGB is
 * SIMD128 in wasm and a pixel at a time elsewhere, the same arithmetic; quantization is scalar
 * without the C code's branch on the sign.
 *
 * Every other hook stays jsimd_none.c's "cannot" (its copies of these are renamed away by
 * cmake/imagedeps.cmake). */

#define JPEG_INTERNALS
#include <stdint.h>
#include <string.h>

#include "jinclude.h"
#include "jpeglib.h"
#include "jdct.h"
#include "jsimddct.h"
#include "jsimd.h"

#ifdef __wasm_simd128__
#include <wasm_simd128.h>
#endif

typedef int32_t v4i __attribute__((vector_size(16)));
typedef uint32_t v4u __attribute__((vector_size(16)));
typedef int16_t v4s __attribute__((vector_size(8)));
typedef uint8_t v4b __attribute__((vector_size(4)));

#if defined(__clang__)
#define SHUFFLE(a, b, i, j, k, l) __builtin_shufflevector(a, b, i, j, k, l)
#else
#define SHUFFLE(a, b, i, j, k, l) __builtin_shuffle(a, b, (v4i){i, j, k, l})
#endif

#define CONST_BITS 13
#define PASS1_BITS 2

typedef int16_t v8s __attribute__((vector_size(16)));

static inline v4i splat(int32_t v) { return (v4i){v, v, v, v}; }

/* Left shifts as the C code does them: through an unsigned type, so a negative value is defined. */
static inline v4i shift_left(v4i v, int n) { return (v4i)((v4u)v << n); }

/* DESCALE: an arithmetic right shift, rounded. */
static inline v4i descale(v4i v, int n) { return (v + splat(1 << (n - 1))) >> n; }

/* The coefficients of a block row (four of them) times their quantization steps. */
static inline v4i dequantize(const JCOEF *coef, const ISLOW_MULT_TYPE *quant) {
  v4s c;
  memcpy(&c, coef, sizeof c);
  v4i q;
  if (sizeof(ISLOW_MULT_TYPE) == 4) {
    memcpy(&q, quant, sizeof q);
  } else {
    q = (v4i){quant[0], quant[1], quant[2], quant[3]};
  }
  return __builtin_convertvector(c, v4i) * q;
}

/* IDCT_range_limit(cinfo)[x & RANGE_MASK] without the table: x + 128 clamped to 0..255 when x is in
 * -512..511 (every value of a valid stream), and the table's wrap-around past that, so damaged
 * streams give the C path's bytes too. */
static inline v4i range_limit(v4i x) {
  const v4i y = (x + splat(CENTERJSAMPLE)) & splat(RANGE_MASK);
  const v4i low = y < splat(MAXJSAMPLE + 1);
  const v4i kept = y < splat(5 * (MAXJSAMPLE + 1) >> 1);
  return (y & low) | (splat(MAXJSAMPLE) & ~low & kept);
}

static inline void transpose(v4i *a, v4i *b, v4i *c, v4i *d) {
  const v4i t0 = SHUFFLE(*a, *b, 0, 4, 1, 5), t1 = SHUFFLE(*a, *b, 2, 6, 3, 7);
  const v4i t2 = SHUFFLE(*c, *d, 0, 4, 1, 5), t3 = SHUFFLE(*c, *d, 2, 6, 3, 7);
  *a = SHUFFLE(t0, t2, 0, 1, 4, 5);
  *b = SHUFFLE(t0, t2, 2, 3, 6, 7);
  *c = SHUFFLE(t1, t3, 0, 1, 4, 5);
  *d = SHUFFLE(t1, t3, 2, 3, 6, 7);
}

static inline void store4(JSAMPROW out, v4i v) {
  const v4b b = __builtin_convertvector(v, v4b);
  memcpy(out, &b, sizeof b);
}

/* Output samples (0..255), one vector a column (its lanes 4 rows), into rows [0, 4) of a block at
 * `col`: 4 columns, or 8 (columns 4-7 in `out + 4`). In wasm, packed with narrows and placed with
 * one shuffle per two rows; elsewhere transposed and stored four at a time. */
static inline void store_columns(v4i *out, int columns, JSAMPARRAY rows, JDIMENSION col) {
#ifdef __wasm_simd128__
  const v128_t low = wasm_u8x16_narrow_i16x8(wasm_i16x8_narrow_i32x4(out[0], out[1]), wasm_i16x8_narrow_i32x4(out[2], out[3]));
  if (columns == 4) {
    const v128_t r = wasm_i8x16_shuffle(low, low, 0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    wasm_v128_store32_lane(rows[0] + col, r, 0);
    wasm_v128_store32_lane(rows[1] + col, r, 1);
    wasm_v128_store32_lane(rows[2] + col, r, 2);
    wasm_v128_store32_lane(rows[3] + col, r, 3);
    return;
  }
  const v128_t high = wasm_u8x16_narrow_i16x8(wasm_i16x8_narrow_i32x4(out[4], out[5]), wasm_i16x8_narrow_i32x4(out[6], out[7]));
  const v128_t r01 = wasm_i8x16_shuffle(low, high, 0, 4, 8, 12, 16, 20, 24, 28, 1, 5, 9, 13, 17, 21, 25, 29);
  const v128_t r23 = wasm_i8x16_shuffle(low, high, 2, 6, 10, 14, 18, 22, 26, 30, 3, 7, 11, 15, 19, 23, 27, 31);
  wasm_v128_store64_lane(rows[0] + col, r01, 0);
  wasm_v128_store64_lane(rows[1] + col, r01, 1);
  wasm_v128_store64_lane(rows[2] + col, r23, 0);
  wasm_v128_store64_lane(rows[3] + col, r23, 1);
#else
  for (int half = 0; half < columns / 4; half++) {
    v4i *c = out + half * 4;
    transpose(c, c + 1, c + 2, c + 3);
    for (int i = 0; i < 4; i++) store4(rows[i] + col + half * 4, c[i]);
  }
#endif
}

/* Whether every lane of a vector is zero. */
static inline int all_zero(v4i v) {
  uint64_t h[2];
  memcpy(h, &v, sizeof h);
  return (h[0] | h[1]) == 0;
}

/* The AC coefficients of a block: rows 1-7 OR-ed together, and row 0 without its DC. A column
 * (or a half of them) whose bits here are zero holds a DC value at most. */
struct block_bits {
  uint64_t columns[2];  /* columns 0-3, 4-7 of rows 1-7 */
  uint64_t first_row;   /* row 0's AC coefficients */
};

static inline struct block_bits block_bits(const JCOEF *coef) {
  v8s rows[8];
  memcpy(rows, coef, sizeof rows);
  const v8s ac = rows[1] | rows[2] | rows[3] | rows[4] | rows[5] | rows[6] | rows[7];
  struct block_bits b;
  memcpy(b.columns, &ac, sizeof b.columns);
  uint64_t first[2];
  memcpy(first, &rows[0], sizeof first);
  b.first_row = (first[0] & ~(uint64_t)0xffff) | first[1];
  return b;
}

/* A block holding its DC coefficient only: every output sample is the same, which is what both
 * passes' arithmetic comes to for such a block (the C code's shortcuts). */
static inline int dc_only(const struct block_bits *b) { return (b->columns[0] | b->columns[1] | b->first_row) == 0; }

static void fill_dc(const JCOEF *coef, const ISLOW_MULT_TYPE *quant, JSAMPARRAY output_buf, JDIMENSION output_col,
                    int size) {
  const int32_t ws = (int32_t)((uint32_t)((int32_t)coef[0] * (int32_t)quant[0]) << PASS1_BITS);
  const v4i sample = range_limit(descale(splat(ws), PASS1_BITS + 3));
  for (int row = 0; row < size; row++) {
    for (int col = 0; col < size; col += 4) store4(output_buf[row] + output_col + col, sample);
  }
}

/* jidctint.c's 8-point transform on four lanes, outputs before their final descale. */
static inline void islow8(const v4i in[8], v4i out[8], int shift) {
  v4i z1 = (in[2] + in[6]) * splat(FIX(0.541196100));
  const v4i tmp2e = z1 + in[6] * splat(-FIX(1.847759065));
  const v4i tmp3e = z1 + in[2] * splat(FIX(0.765366865));
  const v4i tmp0e = shift_left(in[0] + in[4], CONST_BITS);
  const v4i tmp1e = shift_left(in[0] - in[4], CONST_BITS);
  const v4i tmp10 = tmp0e + tmp3e, tmp13 = tmp0e - tmp3e;
  const v4i tmp11 = tmp1e + tmp2e, tmp12 = tmp1e - tmp2e;

  v4i tmp0 = in[7], tmp1 = in[5], tmp2 = in[3], tmp3 = in[1];
  z1 = tmp0 + tmp3;
  v4i z2 = tmp1 + tmp2, z3 = tmp0 + tmp2, z4 = tmp1 + tmp3;
  const v4i z5 = (z3 + z4) * splat(FIX(1.175875602));
  tmp0 = tmp0 * splat(FIX(0.298631336));
  tmp1 = tmp1 * splat(FIX(2.053119869));
  tmp2 = tmp2 * splat(FIX(3.072711026));
  tmp3 = tmp3 * splat(FIX(1.501321110));
  z1 = z1 * splat(-FIX(0.899976223));
  z2 = z2 * splat(-FIX(2.562915447));
  z3 = z3 * splat(-FIX(1.961570560)) + z5;
  z4 = z4 * splat(-FIX(0.390180644)) + z5;
  tmp0 += z1 + z3;
  tmp1 += z2 + z4;
  tmp2 += z2 + z3;
  tmp3 += z1 + z4;

  out[0] = descale(tmp10 + tmp3, shift);
  out[7] = descale(tmp10 - tmp3, shift);
  out[1] = descale(tmp11 + tmp2, shift);
  out[6] = descale(tmp11 - tmp2, shift);
  out[2] = descale(tmp12 + tmp1, shift);
  out[5] = descale(tmp12 - tmp1, shift);
  out[3] = descale(tmp13 + tmp0, shift);
  out[4] = descale(tmp13 - tmp0, shift);
}

GLOBAL(int)
jsimd_can_idct_islow(void) { return DCTSIZE == 8 && BITS_IN_JSAMPLE == 8; }

GLOBAL(void)
jsimd_idct_islow(j_decompress_ptr cinfo, jpeg_component_info *compptr, JCOEFPTR coef_block,
                 JSAMPARRAY output_buf, JDIMENSION output_col) {
  (void)cinfo;
  const ISLOW_MULT_TYPE *quant = (const ISLOW_MULT_TYPE *)compptr->dct_table;
  const struct block_bits bits = block_bits(coef_block);
  if (dc_only(&bits)) {
    fill_dc(coef_block, quant, output_buf, output_col, 8);
    return;
  }
  /* Pass 1: columns 0-3, then 4-7; ws[half][row]. Columns with a DC value only come out as it. */
  v4i ws[2][8];
  for (int half = 0; half < 2; half++) {
    const v4i dc = dequantize(coef_block + half * 4, quant + half * 4);
    if (bits.columns[half] == 0) {
      for (int row = 0; row < 8; row++) ws[half][row] = shift_left(dc, PASS1_BITS);
      continue;
    }
    v4i in[8];
    in[0] = dc;
    for (int row = 1; row < 8; row++) {
      in[row] = dequantize(coef_block + row * DCTSIZE + half * 4, quant + row * DCTSIZE + half * 4);
    }
    islow8(in, ws[half], CONST_BITS - PASS1_BITS);
  }
  /* Pass 2: rows 0-3, then 4-7, each lane a row. */
  for (int group = 0; group < 2; group++) {
    v4i in[8], out[8];
    for (int half = 0; half < 2; half++) {
      v4i *c = in + half * 4;
      for (int i = 0; i < 4; i++) c[i] = ws[half][group * 4 + i];
      transpose(c, c + 1, c + 2, c + 3);
    }
    islow8(in, out, CONST_BITS + PASS1_BITS + 3);
    for (int i = 0; i < 8; i++) out[i] = range_limit(out[i]);
    store_columns(out, 8, output_buf + group * 4, output_col);
  }
}

/* jidctred.c's 4-point output from 8 inputs (the fourth one unused) on four lanes. */
static inline void reduce4(const v4i in[8], v4i out[4], int shift) {
  const v4i tmp0e = shift_left(in[0], CONST_BITS + 1);
  const v4i tmp2e = in[2] * splat(FIX(1.847759065)) + in[6] * splat(-FIX(0.765366865));
  const v4i tmp10 = tmp0e + tmp2e, tmp12 = tmp0e - tmp2e;
  const v4i z1 = in[7], z2 = in[5], z3 = in[3], z4 = in[1];
  const v4i tmp0 = z1 * splat(-FIX(0.211164243)) + z2 * splat(FIX(1.451774981)) +
                   z3 * splat(-FIX(2.172734803)) + z4 * splat(FIX(1.061594337));
  const v4i tmp2 = z1 * splat(-FIX(0.509795579)) + z2 * splat(-FIX(0.601344887)) +
                   z3 * splat(FIX(0.899976223)) + z4 * splat(FIX(2.562915447));
  out[0] = descale(tmp10 + tmp2, shift);
  out[3] = descale(tmp10 - tmp2, shift);
  out[1] = descale(tmp12 + tmp0, shift);
  out[2] = descale(tmp12 - tmp0, shift);
}

GLOBAL(int)
jsimd_can_idct_4x4(void) { return DCTSIZE == 8 && BITS_IN_JSAMPLE == 8; }

GLOBAL(void)
jsimd_idct_4x4(j_decompress_ptr cinfo, jpeg_component_info *compptr, JCOEFPTR coef_block,
               JSAMPARRAY output_buf, JDIMENSION output_col) {
  (void)cinfo;
  const ISLOW_MULT_TYPE *quant = (const ISLOW_MULT_TYPE *)compptr->dct_table;
  const struct block_bits bits = block_bits(coef_block);
  if (dc_only(&bits)) {
    fill_dc(coef_block, quant, output_buf, output_col, 4);
    return;
  }
  /* Pass 1: four output rows of columns 0-3, then of 4-7 (column 4's go unused). Columns with a
   * DC value only come out as it. */
  v4i ws[2][4];
  for (int half = 0; half < 2; half++) {
    const v4i dc = dequantize(coef_block + half * 4, quant + half * 4);
    if (bits.columns[half] == 0) {
      for (int row = 0; row < 4; row++) ws[half][row] = shift_left(dc, PASS1_BITS);
      continue;
    }
    v4i in[8];
    in[0] = dc;
    for (int row = 1; row < 8; row++) {
      if (row == 4) continue;
      in[row] = dequantize(coef_block + row * DCTSIZE + half * 4, quant + row * DCTSIZE + half * 4);
    }
    in[4] = splat(0);
    reduce4(in, ws[half], CONST_BITS - PASS1_BITS + 1);
  }
  /* Pass 2: the four rows, each lane a row. */
  v4i in[8], out[4];
  for (int half = 0; half < 2; half++) {
    v4i *c = in + half * 4;
    for (int i = 0; i < 4; i++) c[i] = ws[half][i];
    transpose(c, c + 1, c + 2, c + 3);
  }
  reduce4(in, out, CONST_BITS + PASS1_BITS + 3 + 1);
  for (int i = 0; i < 4; i++) out[i] = range_limit(out[i]);
  store_columns(out, 4, output_buf, output_col);
}

/* jdcolor.c's YCbCr to RGB: its tables' arithmetic (16 fraction bits) and clamping. In wasm, 16
 * pixels at a time with SIMD128 (saturating narrows clamp, shuffles interleave); elsewhere, and for
 * a row's last pixels and other pixel layouts, a pixel at a time. */
#define COLOR_BITS 16
#define COLOR_FIX(x) ((int32_t)((x) * (1L << COLOR_BITS) + 0.5))
#define COLOR_HALF (1 << (COLOR_BITS - 1))

static inline JSAMPLE clamp_sample(int32_t v) { return (JSAMPLE)(v < 0 ? 0 : v > MAXJSAMPLE ? MAXJSAMPLE : v); }

static inline void ycc_pixel(int y, int cb, int cr, JSAMPROW out, int red, int green, int blue) {
  const int32_t blue_diff = cb - CENTERJSAMPLE, red_diff = cr - CENTERJSAMPLE;
  out[red] = clamp_sample(y + ((red_diff * COLOR_FIX(1.40200) + COLOR_HALF) >> COLOR_BITS));
  out[green] = clamp_sample(
      y + ((blue_diff * -COLOR_FIX(0.34414) + COLOR_HALF + red_diff * -COLOR_FIX(0.71414)) >> COLOR_BITS));
  out[blue] = clamp_sample(y + ((blue_diff * COLOR_FIX(1.77200) + COLOR_HALF) >> COLOR_BITS));
}

#ifdef __wasm_simd128__
/* Bytes 4k..4k+3 of v, widened to 32 bits. */
static inline v128_t quarter(v128_t v, int k) {
  const v128_t words = k < 2 ? wasm_u16x8_extend_low_u8x16(v) : wasm_u16x8_extend_high_u8x16(v);
  return k % 2 == 0 ? wasm_u32x4_extend_low_u16x8(words) : wasm_u32x4_extend_high_u16x8(words);
}

/* 16 pixels of planes y, cb, cr to 48 bytes of RGB. */
static inline void ycc_rgb16(const JSAMPLE *y, const JSAMPLE *cb, const JSAMPLE *cr, JSAMPROW out) {
  const v128_t yv = wasm_v128_load(y), cbv = wasm_v128_load(cb), crv = wasm_v128_load(cr);
  const v128_t centre = wasm_i32x4_splat(CENTERJSAMPLE), half = wasm_i32x4_splat(COLOR_HALF);
  v128_t r[4], g[4], b[4];
  for (int k = 0; k < 4; k++) {
    const v128_t luma = quarter(yv, k);
    const v128_t blue_diff = wasm_i32x4_sub(quarter(cbv, k), centre);
    const v128_t red_diff = wasm_i32x4_sub(quarter(crv, k), centre);
    r[k] = wasm_i32x4_add(luma, wasm_i32x4_shr(wasm_i32x4_add(wasm_i32x4_mul(red_diff, wasm_i32x4_splat(COLOR_FIX(1.40200))), half), COLOR_BITS));
    const v128_t green = wasm_i32x4_add(wasm_i32x4_add(wasm_i32x4_mul(blue_diff, wasm_i32x4_splat(-COLOR_FIX(0.34414))), half),
                                        wasm_i32x4_mul(red_diff, wasm_i32x4_splat(-COLOR_FIX(0.71414))));
    g[k] = wasm_i32x4_add(luma, wasm_i32x4_shr(green, COLOR_BITS));
    b[k] = wasm_i32x4_add(luma, wasm_i32x4_shr(wasm_i32x4_add(wasm_i32x4_mul(blue_diff, wasm_i32x4_splat(COLOR_FIX(1.77200))), half), COLOR_BITS));
  }
  /* Saturating narrows: 32 to 16 bits (signed), 16 to 8 (unsigned): the clamp to 0..255. */
  const v128_t rb = wasm_u8x16_narrow_i16x8(wasm_i16x8_narrow_i32x4(r[0], r[1]), wasm_i16x8_narrow_i32x4(r[2], r[3]));
  const v128_t gb = wasm_u8x16_narrow_i16x8(wasm_i16x8_narrow_i32x4(g[0], g[1]), wasm_i16x8_narrow_i32x4(g[2], g[3]));
  const v128_t bb = wasm_u8x16_narrow_i16x8(wasm_i16x8_narrow_i32x4(b[0], b[1]), wasm_i16x8_narrow_i32x4(b[2], b[3]));
  /* Interleaved: red and green placed first (0: a slot blue fills next), then blue. */
  const v128_t rg0 = wasm_i8x16_shuffle(rb, gb, 0, 16, 0, 1, 17, 0, 2, 18, 0, 3, 19, 0, 4, 20, 0, 5);
  const v128_t rg1 = wasm_i8x16_shuffle(rb, gb, 21, 0, 6, 22, 0, 7, 23, 0, 8, 24, 0, 9, 25, 0, 10, 26);
  const v128_t rg2 = wasm_i8x16_shuffle(rb, gb, 0, 11, 27, 0, 12, 28, 0, 13, 29, 0, 14, 30, 0, 15, 31, 0);
  wasm_v128_store(out, wasm_i8x16_shuffle(rg0, bb, 0, 1, 16, 3, 4, 17, 6, 7, 18, 9, 10, 19, 12, 13, 20, 15));
  wasm_v128_store(out + 16, wasm_i8x16_shuffle(rg1, bb, 0, 21, 2, 3, 22, 5, 6, 23, 8, 9, 24, 11, 12, 25, 14, 15));
  wasm_v128_store(out + 32, wasm_i8x16_shuffle(rg2, bb, 26, 1, 2, 27, 4, 5, 28, 7, 8, 29, 10, 11, 30, 13, 14, 31));
}
#endif

GLOBAL(int)
jsimd_can_ycc_rgb(void) { return BITS_IN_JSAMPLE == 8; }

GLOBAL(void)
jsimd_ycc_rgb_convert(j_decompress_ptr cinfo, JSAMPIMAGE input_buf, JDIMENSION input_row, JSAMPARRAY output_buf,
                      int num_rows) {
  const int red = rgb_red[cinfo->out_color_space], green = rgb_green[cinfo->out_color_space];
  const int blue = rgb_blue[cinfo->out_color_space], size = rgb_pixelsize[cinfo->out_color_space];
  const int alpha = 6 - red - green - blue; /* a 4-byte pixel's fourth byte, set opaque */
  const JDIMENSION width = cinfo->output_width;
  while (--num_rows >= 0) {
    const JSAMPLE *y = input_buf[0][input_row], *cb = input_buf[1][input_row], *cr = input_buf[2][input_row];
    input_row++;
    JSAMPROW out = *output_buf++;
    JDIMENSION col = 0;
#ifdef __wasm_simd128__
    if (size == 3 && red == 0 && green == 1 && blue == 2) {
      for (; col + 16 <= width; col += 16, out += 48) ycc_rgb16(y + col, cb + col, cr + col, out);
    }
#endif
    for (; col < width; col++, out += size) {
      ycc_pixel(y[col], cb[col], cr[col], out, red, green, blue);
      if (size == 4) out[alpha] = MAXJSAMPLE;
    }
  }
}

/* jcdctmgr.c's quantization by reciprocal (its divisors table: reciprocal, correction, scale,
 * shift), without its branch on the sign: the magnitude's quotient, the sign put back. Half the
 * coefficients of a photo are negative, in no order a predictor learns. */
GLOBAL(int)
jsimd_can_quantize(void) { return BITS_IN_JSAMPLE == 8 && sizeof(DCTELEM) == 4; }

GLOBAL(void)
jsimd_quantize(JCOEFPTR coef_block, DCTELEM *divisors, DCTELEM *workspace) {
  for (int i = 0; i < DCTSIZE2; i++) {
    const DCTELEM value = workspace[i];
    const UDCTELEM recip = (UDCTELEM)divisors[i], corr = (UDCTELEM)divisors[i + DCTSIZE2];
    const int shift = divisors[i + DCTSIZE2 * 3] + (int)sizeof(DCTELEM) * 8;
    const UDCTELEM sign = (UDCTELEM)(value >> (sizeof(DCTELEM) * 8 - 1)); /* all ones when negative */
    const UDCTELEM magnitude = ((UDCTELEM)value ^ sign) - sign;
    const UDCTELEM quotient = (UDCTELEM)(((UDCTELEM2)(magnitude + corr) * recip) >> shift);
    coef_block[i] = (JCOEF)(DCTELEM)((quotient ^ sign) - sign);
  }
}
