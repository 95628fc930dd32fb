/* The stb implementations image.wasm uses, compiled once (trixie's libstb headers).
 * stb_image is limited to PNG, GIF and BMP: JPEG goes through libjpeg-turbo (shrink-on-load,
 * and stb's JPEG path carries most of its open CVEs); no HDR, no PSD, no file I/O.
 * stb_image_resize2's implementation is in stb_resize_impl.c.
 * stb_image allocates zeroed memory (calloc, and a realloc that zeroes what it adds): a decoder
 * that stops early on a damaged file leaves zeros, never bytes of an earlier request; and the
 * pipeline frees stb's pixel buffers with free(). */
#include <stdlib.h>
#include <string.h>

static void* whale_stbi_realloc_zeroed(void* p, size_t old_size, size_t new_size) {
  unsigned char* q = (unsigned char*)realloc(p, new_size);
  if (q != NULL && new_size > old_size) memset(q + old_size, 0, new_size - old_size);
  return q;
}
#define STBI_MALLOC(size) calloc(1, size)
#define STBI_REALLOC_SIZED(p, old_size, new_size) whale_stbi_realloc_zeroed(p, old_size, new_size)
#define STBI_FREE(p) free(p)
#define STBI_ONLY_PNG
#define STBI_ONLY_GIF
#define STBI_ONLY_BMP
#define STBI_NO_STDIO
#define STBI_NO_LINEAR
#define STBI_NO_HDR
#define STBI_NO_FAILURE_STRINGS_OFF
#define STBI_NO_THREAD_LOCALS  /* single-threaded; emscripten with bulk memory would keep TLS */
#define STBI_MAX_DIMENSIONS 65536
#define STB_IMAGE_IMPLEMENTATION
#include "stb_image.h"

#define STBI_WRITE_NO_STDIO
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include "stb_image_write.h"
