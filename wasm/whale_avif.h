/* avif.wasm: the AVIF encoder (include/whale/avif.h), a module of its own beside image.wasm so
 * that only AVIF jobs pay for its compile and memory.
 *
 * image.wasm answers an AVIF job with its final pixels (content type
 * "application/x-whale-avif-pixels": whale::avif's handoff header and the pixels); the host copies
 * them into this module (whale_avif_alloc) and calls whale_avif_encode. Same convention as
 * whale_image.h: a whale::error_code number (0 = ok), the result or a UTF-8 message through
 * whale_avif_out* until the next call. Single-threaded; not reentrant. */
#ifndef WHALE_AVIF_H
#define WHALE_AVIF_H
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif
/* major << 16 | minor */
#define WHALE_AVIF_ABI_VERSION 0x00010000u
uint32_t whale_avif_abi_version(void);
/* Zeroed memory for the input; free with whale_avif_free. NULL when out of memory. */
uint8_t* whale_avif_alloc(uint32_t size);
void whale_avif_free(uint8_t* p);
/* ok: out = the AVIF file. Errors: invalid_value (not a handoff), too_large (over the memory
 * budget the header carries), internal (the encoder failed). */
uint32_t whale_avif_encode(const uint8_t* handoff, uint32_t len);
const uint8_t* whale_avif_out(void);
uint32_t whale_avif_out_len(void);
/* Frees the last output. */
void whale_avif_reset(void);
#ifdef __cplusplus
}
#endif
#endif /* WHALE_AVIF_H */
