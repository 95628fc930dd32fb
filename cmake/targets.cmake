# Per-target flags shared by every whale target.
# -ffp-contract=off: no fused multiply-add, so native, wasi and emscripten round alike.
function(whale_target_flags target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Werror -ffp-contract=off)
  if(CMAKE_SYSTEM_NAME STREQUAL "Emscripten" OR CMAKE_SYSTEM_NAME STREQUAL "WASI")
    target_compile_options(${target} PRIVATE -fno-exceptions -fno-rtti)
  else()
    target_compile_options(${target} PRIVATE -fno-exceptions)
  endif()
endfunction()

if(WHALE_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()

# Coverage instrumentation for libFuzzer over every target (the fuzz preset).
if(WHALE_LIBFUZZER)
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
