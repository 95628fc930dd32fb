# simdjson 3.x, amalgamated, from npm @nozbe/simdjson (pinned with integrity in package-lock.json).
set(WHALE_SIMDJSON_DIR "${PROJECT_SOURCE_DIR}/node_modules/@nozbe/simdjson/src"
    CACHE PATH "Directory holding simdjson.h and simdjson.cpp")
if(NOT EXISTS "${WHALE_SIMDJSON_DIR}/simdjson.cpp")
  message(FATAL_ERROR "simdjson not found in ${WHALE_SIMDJSON_DIR}: run scripts/setup.sh (npm ci) first")
endif()
add_library(whale_simdjson STATIC ${WHALE_SIMDJSON_DIR}/simdjson.cpp)
add_library(whale::simdjson ALIAS whale_simdjson)
target_include_directories(whale_simdjson SYSTEM PUBLIC ${WHALE_SIMDJSON_DIR})
# Exceptions are off everywhere; simdjson reports errors as error codes.
target_compile_definitions(whale_simdjson PUBLIC SIMDJSON_EXCEPTIONS=0)
target_compile_options(whale_simdjson PRIVATE -fno-exceptions -ffp-contract=off)
if(CMAKE_SYSTEM_NAME STREQUAL "Emscripten" OR CMAKE_SYSTEM_NAME STREQUAL "WASI")
  target_compile_options(whale_simdjson PRIVATE ${WHALE_WASM_FEATURES})
endif()
# No threads anywhere: simdjson enables them only under _REENTRANT, which none of our builds set.
