// The export attribute of the C ABIs (core_abi.cpp, image_abi.cpp): the function is exported under
// its own name from a wasm module; natively (tests link the ABI) it is an ordinary function.
#pragma once

#if defined(__wasm__)
#define WHALE_EXPORT(name) __attribute__((export_name(#name)))
#else
#define WHALE_EXPORT(name)
#endif
