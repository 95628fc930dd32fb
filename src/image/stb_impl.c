/* The stb implementations image.wasm uses, compiled once (trixie's libstb headers).
 * stb_image is limited to PNG, GIF and BMP: JPEG goes through libjpeg-turbo (shrink-on-load,
 * and stb's JPEG path carries most of its open CVEs); no HDR, no PSD, no file I/O.
 * stb_image_resize2's implementation is in stb_resize_impl.c.
 * stb_image allocates zeroed memory (calloc, and a realloc that zeroes what it adds): a decoder
 * that stops early on a damaged file leaves zeros, never bytes of an earlier request; and the
 * pipeline frees stb's pixel buffers with free(). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The largest block stb_image may allocate: decode_stb (src/image/decode.cpp) sets it around one
 * decode from the job's memory estimate, so that a PNG whose data inflates past its size cannot
 * grow stb's buffer without bound; stb_image checks every allocation and fails cleanly. Global:
 * image.wasm and the CLI are single-threaded. */
size_t whale_stbi_max_block = SIZE_MAX;
int whale_stbi_refused = 0;

static void* whale_stbi_calloc(size_t size) {
  if (size > whale_stbi_max_block) {
    whale_stbi_refused = 1;
    return NULL;
  }
  return calloc(1, size);
}

static void* whale_stbi_realloc_zeroed(void* p, size_t old_size, size_t new_size) {
  unsigned char* q;
  if (new_size > whale_stbi_max_block) {
    whale_stbi_refused = 1;
    return NULL;
  }
  q = (unsigned char*)realloc(p, new_size);
  if (q != NULL && new_size > old_size) memset(q + old_size, 0, new_size - old_size);
  return q;
}
#define STBI_MALLOC(size) whale_stbi_calloc(size)
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

/* stb_image_write is not used by the pipeline (src/image/encode.cpp writes PNG with zlib); it
 * stays for tests/native/image_memory_test.cpp, which compares stream sizes with it. The linker
 * drops it from image.wasm. */
#define STBI_WRITE_NO_STDIO
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include "stb_image_write.h"
