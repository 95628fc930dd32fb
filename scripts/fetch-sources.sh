#!/usr/bin/env bash
# Fetches the C libraries image.wasm is built from as Debian source packages
# (docs/architecture.md#dependencies-and-where-they-come-from), with an apt configuration of the
# project's own: its own sources list (deb-src lines for the mirror the machine's apt sources
# already use, read from them), lists and cache under build/_deps. apt verifies every download
# against the signed index; dpkg-source applies Debian's patches.
# Pinned by package and suite; the versions used are written to build/_deps/versions.txt.
# Idempotent: once the sources are unpacked it does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

# package suite
PINS=(
  "libjpeg-turbo bookworm"
  "libwebp bookworm"
  "libstb trixie"      # stb_image_resize2 (bookworm's libstb has only v1)
  "zlib bookworm"      # PNG: deflate for the encoder
  "aom bookworm"       # AVIF: the AV1 encoder (avif.wasm)
)

root="$PWD/build/_deps"
src="$root/src"
done_all=1
for pin in "${PINS[@]}"; do
  set -- $pin
  [ -e "$src/$1/.whale-ok" ] || done_all=0
done
if ((done_all)); then exit 0; fi

# The machine's Debian mirror: the first URI of its deb822 sources, else of sources.list.
mirror=""
for f in /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] || continue
  mirror=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i ~ /debian\/?$/) { print $i; exit } }' "$f")
  [ -n "$mirror" ] && break
done
if [ -z "$mirror" ] && [ -f /etc/apt/sources.list ]; then
  mirror=$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^(https?|file):/) { print $i; exit } }' /etc/apt/sources.list)
fi
if [ -z "$mirror" ]; then
  echo "fetch-sources: no Debian mirror found in /etc/apt/sources.list{,.d}" >&2
  exit 1
fi
keyring=/usr/share/keyrings/debian-archive-keyring.gpg

apt_dir="$root/apt"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$src"
suites=$(printf '%s\n' "${PINS[@]}" | awk '{print $2}' | sort -u | tr '\n' ' ')
: >"$apt_dir/sources.list"
for s in $suites; do
  echo "deb-src [signed-by=$keyring] $mirror $s main" >>"$apt_dir/sources.list"
done
APT_OPTS=(
  -o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
  -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache"
  -o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts=/dev/null
  -o APT::Sandbox::User=root -o Acquire::Retries=3
)
echo "fetch-sources: apt-get update ($suites)"
apt-get "${APT_OPTS[@]}" update -qq

for pin in "${PINS[@]}"; do
  set -- $pin
  pkg=$1 suite=$2
  if [ -e "$src/$pkg/.whale-ok" ]; then continue; fi
  echo "fetch-sources: $pkg/$suite"
  rm -rf "$src/$pkg" "$src/$pkg".tmp
  mkdir -p "$src/$pkg.tmp"
  (cd "$src/$pkg.tmp" && apt-get "${APT_OPTS[@]}" source -qq "$pkg/$suite" >/dev/null 2>"$root/$pkg.log") || {
    cat "$root/$pkg.log" >&2; echo "fetch-sources: $pkg failed" >&2; exit 1; }
  dir=$(find "$src/$pkg.tmp" -mindepth 1 -maxdepth 1 -type d | head -1)
  mv "$dir" "$src/$pkg"
  mv "$src/$pkg.tmp"/* "$apt_dir/cache/archives/" 2>/dev/null || true   # the verified tarballs
  rm -rf "$src/$pkg.tmp"
  version=$(sed -n '1s/.*(\(.*\)).*/\1/p' "$src/$pkg/debian/changelog")
  echo "$pkg $suite $version" >"$src/$pkg/.whale-ok"
done
cat "$src"/*/.whale-ok >"$root/versions.txt"
echo "fetch-sources: ok ($(tr '\n' ';' <"$root/versions.txt"))"
