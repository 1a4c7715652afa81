#!/usr/bin/env bash
# The shop's payments as a fleet: a redis-server of its own (in a temporary directory, stopped by
# its pid), three worker processes and one storefront dispatching ORDERS charges (default 3000,
# every tenth declined). Checks that the workers charged every good card exactly once between them.
#
#   examples/shop/payments_fleet.sh BINARY [ORDERS]
set -euo pipefail
binary=$1
orders=${2:-3000}
dir=$(mktemp -d)
workers=()
cleanup() {
  for pid in "${workers[@]}"; do kill "$pid" 2>/dev/null || true; done
  # redis-server writes its AOF and its snapshot on the way out: the directory is removed once the
  # process is gone, or files it creates meanwhile would make the removal fail.
  if [ -f "$dir/redis.pid" ]; then
    redis_pid=$(cat "$dir/redis.pid")
    kill "$redis_pid" 2>/dev/null || true
    for _ in $(seq 200); do kill -0 "$redis_pid" 2>/dev/null || break; sleep 0.05; done
    if kill -0 "$redis_pid" 2>/dev/null; then kill -KILL "$redis_pid" 2>/dev/null || true; fi
  fi
  rm -rf "$dir"
}
trap cleanup EXIT
redis-server --port 0 --unixsocket "$dir/redis.sock" --dir "$dir" --daemonize yes --pidfile "$dir/redis.pid" \
  --appendonly yes --appendfsync everysec --logfile "$dir/redis.log"
for _ in $(seq 100); do [ -S "$dir/redis.sock" ] && break; sleep 0.05; done
for index in 1 2 3; do
  "$binary" worker "$dir/redis.sock" > "$dir/worker-$index.out" &
  workers+=($!)
done
"$binary" storefront "$dir/redis.sock" "$orders"
for pid in "${workers[@]}"; do kill -TERM "$pid"; done
for pid in "${workers[@]}"; do wait "$pid"; done
workers=()
cat "$dir"/worker-*.out
charged=$(sed -n 's/.*charged \([0-9]*\),.*/\1/p' "$dir"/worker-*.out | awk '{ sum += $1 } END { print sum + 0 }')
expected=$((orders - orders / 10))
echo "fleet: $charged cards charged by 3 worker processes, expected $expected"
[ "$charged" -eq "$expected" ]
