#!/usr/bin/env bash
# The README's main command: installs and builds what is missing, then starts the local edge
# (a real workerd serving edge-workers/worker.js with every fixture vendor) and prints what to
# open. Ctrl-C stops it. WHALE_EDGE_PORT picks the port (default 8787).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
port="${WHALE_EDGE_PORT:-8787}"
out="build/edge"
node edge-workers/gen-config.mjs --port "$port" --out "$out" >/dev/null
vendors=$(node -e "import('./edge-workers/gen-config.mjs').then(m => console.log(m.listVendors().join(' ')))")

node_modules/.bin/workerd serve "$out/workerd.capnp" &
edge=$!
trap 'kill $edge 2>/dev/null || true' EXIT INT TERM
for _ in $(seq 1 100); do
  if node -e "fetch('http://127.0.0.1:$port/healthz').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"; then
    break
  fi
  if ! kill -0 "$edge" 2>/dev/null; then echo "start: workerd exited" >&2; exit 1; fi
  sleep 0.2
done

cat <<EOT

WhaleTools Edge is running (workerd on 127.0.0.1:$port, vendors: $vendors).
Open:
  http://127.0.0.1:$port/healthz
EOT
for v in $vendors; do
  echo "  http://127.0.0.1:$port/v1/assign?vendor=$v&country=US&device=mobile"
done
cat <<EOT
  POST http://127.0.0.1:$port/v1/assign?vendor=flora-distro with {"attributes":{"id":"u-1","country":"CA"}}
Harness: npx whale --help    Tests: scripts/test.sh    Stop: Ctrl-C
EOT
wait "$edge"
