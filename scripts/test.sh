#!/usr/bin/env bash
# The README's test command: installs what is missing, builds every preset and runs every test
# through ctest (GoogleTest, fuzz corpus replays, node --test suites, the workerd e2e suite).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
# The Release origin too: the soak (e2e.soak) measures the origin as it is deployed; the debug
# build's sanitizers make it slower than the edge it serves.
if [ ! -f build/bench/CMakeCache.txt ]; then cmake --preset bench >/dev/null; fi
echo "build: bench (whale-origin)"
if ! cmake --build build/bench --target whale_origin -j "$(nproc)" >build/bench/last-build.log 2>&1; then
  cat build/bench/last-build.log
  echo "build: bench failed" >&2
  exit 1
fi
ctest --test-dir build/native --output-on-failure -j 2 "$@"
# The conformance counts, from the logs of the runs above.
grep -h "growthbook conformance" build/native/Testing/Temporary/LastTest.log | sort -u || true
