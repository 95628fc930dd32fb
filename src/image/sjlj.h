// setjmp/longjmp for libjpeg-turbo's error exit, which must not return. Native builds use the C
// library's. Both wasm builds lower them to wasm exception handling (clang's -wasm-enable-sjlj;
// emscripten's -sSUPPORT_LONGJMP=wasm): no JS imports, and a longjmp unwinds through libjpeg's
// frames like a native one. wasi-libc has no <setjmp.h>, so the two functions are declared here
// and their runtime support lives in sjlj_wasi.cpp.
#pragma once

#if defined(__wasi__)
#include <cstdint>
extern "C" {
typedef uintptr_t jmp_buf[4];  // the lowering keeps one id in it
int setjmp(jmp_buf env) __attribute__((returns_twice));
[[noreturn]] void longjmp(jmp_buf env, int value);
}
#else
#include <csetjmp>
using std::jmp_buf;
#endif
