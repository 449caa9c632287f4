#!/usr/bin/env bash
# Start the push service on embedded defaults, watch three simulated diagnoses
# live (one repeated, so it comes from the cache), then stop the service.
set -euo pipefail
diagops=${1:-diagops}
port=${DIAGOPS_DEMO_PORT:-8765}
export DIAGOPS_JWT_SECRET=${DIAGOPS_JWT_SECRET:-$(head -c 24 /dev/urandom | base64)}
export DIAGOPS_ENGINE__SPEED=${DIAGOPS_ENGINE__SPEED:-4}
log=$(mktemp)
"$diagops" serve --port "$port" >"$log" 2>&1 &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  kill -0 $pid 2>/dev/null || { cat "$log"; exit 3; }
  sleep 0.1
done
url="http://127.0.0.1:$port"
"$diagops" run --url "$url" --brand "Acme Tea" --lang en
"$diagops" run --url "$url" --brand "龙井茶" --platform qwen --platform kimi
"$diagops" run --url "$url" --brand "acme  TEA" --lang en   # same request, served from the cache
