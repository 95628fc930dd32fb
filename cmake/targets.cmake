# Per-target flags shared by every whale target.
# -ffp-contract=off: no fused multiply-add, so native, wasi and emscripten round alike.
function(whale_target_flags target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Werror -ffp-contract=off)
  if(CMAKE_SYSTEM_NAME STREQUAL "Emscripten" OR CMAKE_SYSTEM_NAME STREQUAL "WASI")
    target_compile_options(${target} PRIVATE -fno-exceptions -fno-rtti ${WHALE_WASM_FEATURES})
  else()
    target_compile_options(${target} PRIVATE -fno-exceptions)
  endif()
endfunction()

# wasm features every runtime we serve has (workerd/V8, Node 20, current browsers):
# non-trapping float-to-int and sign extension; emscripten also gets bulk memory (memcpy and
# memset as single instructions). clang-14 refuses bulk memory for wasm32-wasi (its errno is
# thread-local then).
if(CMAKE_SYSTEM_NAME STREQUAL "Emscripten")
  set(WHALE_WASM_FEATURES -mbulk-memory -mnontrapping-fptoint -msign-ext)
  set(WHALE_WASM_OPT_FEATURES --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext)
else()
  set(WHALE_WASM_FEATURES -mnontrapping-fptoint -msign-ext)
  set(WHALE_WASM_OPT_FEATURES --enable-nontrapping-float-to-int --enable-sign-ext)
endif()

if(WHALE_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()

# Coverage instrumentation for libFuzzer over every target (the fuzz preset).
if(WHALE_LIBFUZZER)
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
