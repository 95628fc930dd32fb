#!/usr/bin/env bash
# Configures and builds the three presets: wasi, emscripten (the wasm the glue and the worker
# load) and native (tests, fuzz corpus runners, the native CLI).
set -euo pipefail
cd "$(dirname "$0")/.."
export NODE_PATH=/usr/share/nodejs   # Debian's emscripten finds acorn there
jobs=$(nproc)
for preset in wasi emscripten native "$@"; do
  if [ ! -f "build/$preset/CMakeCache.txt" ]; then
    cmake --preset "$preset" >/dev/null
  fi
  echo "build: $preset"
  cmake --build "build/$preset" -j "$jobs" 2>&1 | grep -vE '^\[ *[0-9]+%\]|^-- |Built target|^wasm-opt|-> js-glue' || true
  test "${PIPESTATUS[0]}" -eq 0
done
