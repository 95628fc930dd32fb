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

/* An animated GIF frame by frame (stbi_load_gif_from_memory keeps every frame in one buffer):
 * each call decodes the next frame onto stb's canvas and answers the canvas, RGBA, as
 * stbi_load_gif_from_memory's frame would be, with its delay in milliseconds. The last two
 * canvases are kept for frames disposed to "previous" (stb's two_back, which
 * stbi_load_gif_from_memory itself points before its buffer). */
struct whale_gif {
  stbi__context s;
  stbi__gif g;
  unsigned char* previous[2];
  int frames;
};

struct whale_gif* whale_gif_open(const unsigned char* data, int size) {
  struct whale_gif* gif = (struct whale_gif*)calloc(1, sizeof *gif);
  if (gif == NULL) return NULL;
  stbi__start_mem(&gif->s, data, size);
  if (!stbi__gif_test(&gif->s)) {
    free(gif);
    return NULL;
  }
  return gif;
}

/* The next frame's canvas (valid until the next call), or NULL: at the end (*failed 0) or on a
 * damaged or over-large file (*failed 1, stbi_failure_reason says why). */
const unsigned char* whale_gif_next(struct whale_gif* gif, int* w, int* h, int* delay_ms, int* failed) {
  int comp = 0;
  const int slot = gif->frames % 2; /* frame n-2's canvas, overwritten by frame n's below */
  unsigned char* two_back = gif->frames >= 2 ? gif->previous[slot] : NULL;
  unsigned char* canvas = stbi__gif_load_next(&gif->s, &gif->g, &comp, 4, two_back);
  *failed = 0;
  if (canvas == (unsigned char*)&gif->s) return NULL;
  if (canvas == NULL) {
    *failed = 1;
    return NULL;
  }
  const size_t bytes = (size_t)gif->g.w * (size_t)gif->g.h * 4;
  if (gif->previous[slot] == NULL) gif->previous[slot] = (unsigned char*)STBI_MALLOC(bytes);
  if (gif->previous[slot] == NULL) {
    *failed = 1;
    return NULL;
  }
  memcpy(gif->previous[slot], canvas, bytes);
  gif->frames++;
  *w = gif->g.w;
  *h = gif->g.h;
  *delay_ms = gif->g.delay;
  return canvas;
}

void whale_gif_close(struct whale_gif* gif) {
  if (gif == NULL) return;
  STBI_FREE(gif->g.out);
  STBI_FREE(gif->g.history);
  STBI_FREE(gif->g.background);
  STBI_FREE(gif->previous[0]);
  STBI_FREE(gif->previous[1]);
  free(gif);
}
