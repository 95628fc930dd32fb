#!/usr/bin/env bash
# Installs whatever is missing on a fresh Debian 12 machine: the apt packages listed in
# docs/architecture.md#dependencies-and-where-they-come-from and the npm packages pinned in
# package-lock.json. Idempotent: when nothing is missing it only checks, in about a second.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  cmake g++ make pkg-config
  clang-14 lld-14 wasi-libc libc++-14-dev-wasm32 libc++abi-14-dev-wasm32 libclang-rt-14-dev-wasm32
  libclang-rt-14-dev                 # libFuzzer and sanitizer runtimes for the fuzz preset
  emscripten binaryen
  dpkg-dev                           # dpkg-source unpacks the image libraries' source packages
  libstb-dev libgtest-dev libbenchmark-dev
  libcpp-httplib-dev libsqlite3-dev libssl-dev
  sqlite3                            # the e2e queue test counts the events the origin stored
  postgresql libpq-dev pgbouncer     # the origin's PostgreSQL backend and its tests (scripts/pg.mjs)
  libboost-dev                       # Boost.Asio + Beast (header-only): the origin's HTTP server
  chromium                           # the glue's browser test (headless)
  libavif-bin                        # avifdec: the AVIF tests decode our output with libavif and dav1d
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm ci when node_modules does not match package-lock.json.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
# The Debian source packages image.wasm is built from (libjpeg-turbo, libwebp, trixie's libstb).
scripts/fetch-sources.sh
echo "setup: ok"
