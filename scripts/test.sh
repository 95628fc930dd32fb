#!/usr/bin/env bash
# The README's test command: installs what is missing, builds every preset and runs every test
# through ctest (GoogleTest, fuzz corpus replays, node --test suites, the workerd e2e suite).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
ctest --test-dir build/native --output-on-failure -j 2 "$@"
# The conformance counts, from the logs of the runs above.
grep -h "growthbook conformance" build/native/Testing/Temporary/LastTest.log | sort -u || true
