/* stb_image_resize2's implementation (trixie's libstb), in a file of its own so that sanitizer
 * builds can leave UBSan off for it alone: it indexes its sRGB table through a pointer set before
 * the table's start (back in range once indexed), which clang's bounds check reports, and GCC
 * 12's object-size check misreads its gather-function tables at -O2. ASan still covers it.
 * It picks its SIMD path itself: SSE2 natively, SIMD128 in wasm (-msimd128); it is deterministic
 * across them as long as floats are not contracted (-ffp-contract=off). */
#define STB_IMAGE_RESIZE_IMPLEMENTATION
#include "stb_image_resize2.h"
