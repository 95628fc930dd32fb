#!/usr/bin/env bash
# The README's main command: installs and builds what is missing, then starts the local stack
# (scripts/stack.mjs): the origin (whale-origin, database build/origin/local.db) with every
# fixture vendor's config.json published, and three workerd edges that pull, verify and serve the
# signed snapshots. Prints what to open; Ctrl-C (or SIGTERM) stops everything.
#
# Ports: WHALE_ORIGIN_PORT (default 8788), WHALE_EDGE_PORTS (default 8787,8797,8807; the first
# one also from WHALE_EDGE_PORT), WHALE_MEDIA_PORT (default 8790). A port in use is replaced by a
# free one. State (database, tokens, generated edge configs): WHALE_STATE_DIR (default
# build/origin), so that two stacks can run side by side from one checkout.
# WHALE_EDGE_RUNTIME=wrangler: the three edges are `wrangler dev --env local` with the real
# edge-workers/wrangler.toml (KV, queues, Durable Objects local), published to the Cloudflare way.
# WHALE_ORIGIN_STORAGE=postgres: a throwaway PostgreSQL primary, replica and PgBouncer, and two
# origin processes on it, instead of the SQLite file (a fresh database each run).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh

edge_ports="${WHALE_EDGE_PORTS:-${WHALE_EDGE_PORT:-8787},8797,8807}"
node scripts/stack.mjs --dir "${WHALE_STATE_DIR:-build/origin}" --origin-port "${WHALE_ORIGIN_PORT:-8788}" \
  --edge-ports "$edge_ports" --media-port "${WHALE_MEDIA_PORT:-8790}" --runtime "${WHALE_EDGE_RUNTIME:-workerd}" \
  --storage "${WHALE_ORIGIN_STORAGE:-sqlite}" &
stack=$!
# The stack stops its processes on SIGTERM; a second signal while it does so is ignored here.
trap 'trap "" INT TERM; kill -TERM "$stack" 2>/dev/null || true; wait "$stack" || true; exit 0' INT TERM
wait "$stack"
