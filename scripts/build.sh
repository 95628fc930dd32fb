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
  log="build/$preset/last-build.log"
  if ! cmake --build "build/$preset" -j "$jobs" >"$log" 2>&1; then
    cat "$log"
    echo "build: $preset failed" >&2
    exit 1
  fi
  grep -vE '^\[ *[0-9]+%\]|^-- |Built target|^wasm-opt|-> js-glue|^make|^gmake' "$log" || true
done
