#!/usr/bin/env bash
# Installs BullMQ 6 and ioredis into DIR (a build directory, never the source tree) next to a copy of
# bench.mjs, and prints the command bench/durable.cpp runs (set it as JOBQ_BULLMQ_RUN). Exits 1
# without node or npm.
set -euo pipefail
dir=$1
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
command -v node >/dev/null && command -v npm >/dev/null || { echo "bench/bullmq: node or npm missing" >&2; exit 1; }
mkdir -p "$dir"
cp "$here/bench.mjs" "$dir/bench.mjs"
if [ ! -d "$dir/node_modules/bullmq" ] || [ ! -d "$dir/node_modules/ioredis" ]; then
  (cd "$dir" && { [ -f package.json ] || echo '{"private":true,"type":"module"}' > package.json; } &&
    npm install --silent --no-audit --no-fund bullmq@6 ioredis@5 >&2)
fi
echo "node $dir/bench.mjs"
