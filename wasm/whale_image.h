/* image.wasm: the C ABI of whale::image (include/whale/image.h), a module of its own beside
 * core.wasm so that a worker which never resizes never pays for it, and so that the edge can
 * throw the instance away after a large job (its memory never shrinks).
 *
 * Calling convention (same as whale_core.h): the host allocates input buffers with
 * whale_image_alloc, calls a function, then reads the result through whale_image_out* until the
 * next call. Every call returns a whale::error_code number (0 = ok); on failure whale_image_out
 * holds a UTF-8 message naming the problem and whale_image_out_type is "text/plain".
 * Single-threaded; not reentrant. */
#ifndef WHALE_IMAGE_H
#define WHALE_IMAGE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* major << 16 | minor. 1.1: whale_image_process takes max_memory_bytes and may overwrite src.
 * 1.2: whale_image_process_draw. 1.3: format=avif, answered as a handoff to avif.wasm
 * (content type "application/x-whale-avif-pixels", wasm/whale_avif.h). */
#define WHALE_IMAGE_ABI_VERSION 0x00010003u

uint32_t whale_image_abi_version(void);

/* Zeroed memory for inputs; free with whale_image_free. NULL when out of memory. */
uint8_t* whale_image_alloc(uint32_t size);
void whale_image_free(uint8_t* p);

/* Parses and validates the <options> segment of /cdn-cgi/image/<options>/<source>.
 * ok: out = the normalized options text (the cache key part). Error: out = message. */
uint32_t whale_image_options(const char* text, uint32_t len);

/* Reads the source's header: out = {"width":..,"height":..,"format":"jpeg","orientation":..,"frames":..} */
uint32_t whale_image_probe(const uint8_t* src, uint32_t src_len);

/* The whole job. accept: bit 0 = the client takes WebP, bit 1 = AVIF (format=auto).
 * max_pixels, max_input_bytes, max_output_side, max_memory_bytes: 0 = the default (16.8 MP,
 * 25 MB, 4096, 96 MB). max_memory_bytes bounds the job's peak memory, this module's whole memory
 * included: the job is refused (too_large, naming the estimate) when its estimate, made from the
 * header and the options before decoding, is over it. src is scratch: the call may overwrite it
 * (the host frees it after, as every input).
 * ok: out = the encoded image (or JSON for format=json), out_type its content type,
 * out_width/out_height its size. */
uint32_t whale_image_process(uint8_t* src, uint32_t src_len, const char* opts, uint32_t opts_len,
                             uint32_t accept, uint32_t max_pixels, uint32_t max_input_bytes,
                             uint32_t max_output_side, uint32_t max_memory_bytes);

/* The same job with overlays (draw) drawn on the output. draw holds, for each overlay in order,
 * a little-endian u32 byte count and the overlay's source, then a u32 byte count and its options
 * text (whale::image::parse_overlay: its own options plus opacity, repeat, top, left, bottom,
 * right). At most 8. src is read, not overwritten. ABI 1.2. */
uint32_t whale_image_process_draw(const uint8_t* src, uint32_t src_len, const char* opts, uint32_t opts_len,
                                  const uint8_t* draw, uint32_t draw_len, uint32_t accept, uint32_t max_pixels,
                                  uint32_t max_input_bytes, uint32_t max_output_side, uint32_t max_memory_bytes);

const uint8_t* whale_image_out(void);
uint32_t whale_image_out_len(void);
const char* whale_image_out_type(void); /* NUL-terminated */
uint32_t whale_image_out_width(void);
uint32_t whale_image_out_height(void);

/* Frees the last output (the host calls it once it has copied the bytes out). */
void whale_image_reset(void);

#ifdef __cplusplus
}
#endif

#endif /* WHALE_IMAGE_H */
