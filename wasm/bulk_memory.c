// memcpy, memmove and memset as the bulk-memory instructions (memory.copy, memory.fill) for the
// emscripten build. Debian's emscripten 3.1.6 ships a libc whose standalone-wasm memcpy copies a
// word at a time, or a byte at a time when source and destination are differently aligned; a
// layout is appended to a string piece by piece, mostly unaligned, and that loop was a fifth of a
// render's time. With bulk memory enabled the compiler turns the builtins below into the single
// instructions (it does not call back into these functions). The results are byte for byte the
// same; only the time differs.
#include <stddef.h>

#if defined(__EMSCRIPTEN__) && defined(__wasm_bulk_memory__)

void* memcpy(void* restrict dest, const void* restrict src, size_t n) {
  __builtin_memcpy(dest, src, n);
  return dest;
}

void* memmove(void* dest, const void* src, size_t n) {
  __builtin_memmove(dest, src, n);
  return dest;
}

void* memset(void* dest, int c, size_t n) {
  __builtin_memset(dest, c, n);
  return dest;
}

#endif
