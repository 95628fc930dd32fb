/* The stb implementations image.wasm uses, compiled once (trixie's libstb headers).
 * stb_image is limited to PNG, GIF and BMP: JPEG goes through libjpeg-turbo (shrink-on-load,
 * and stb's JPEG path carries most of its open CVEs); no HDR, no PSD, no file I/O.
 * stb_image_resize2 picks its SIMD path itself: SSE2 natively, SIMD128 in wasm (-msimd128). */
#define STBI_ONLY_PNG
#define STBI_ONLY_GIF
#define STBI_ONLY_BMP
#define STBI_NO_STDIO
#define STBI_NO_LINEAR
#define STBI_NO_HDR
#define STBI_NO_FAILURE_STRINGS_OFF
#define STBI_MAX_DIMENSIONS 65536
#define STB_IMAGE_IMPLEMENTATION
#include "stb_image.h"

#define STBI_WRITE_NO_STDIO
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include "stb_image_write.h"

#define STB_IMAGE_RESIZE_IMPLEMENTATION
#include "stb_image_resize2.h"
