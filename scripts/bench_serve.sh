#!/usr/bin/env bash
# Continuous batching's payoff, measured by the server itself: aggregate decode throughput of
# `lowbit serve` with one stream and with STREAMS concurrent streams (decode rows / seconds spent in
# decode steps, from /metrics), in ROUNDS interleaved rounds. Prints a Markdown table.
#
# Usage: scripts/bench_serve.sh MODEL [STREAMS (4)] [TOKENS per request (128)]
#   env: BIN (./build/lowbit), THREADS (all cores), ROUNDS (3)
set -euo pipefail
BIN=${BIN:-./build/lowbit}
MODEL=$1
STREAMS=${2:-4}
TOKENS=${3:-128}
THREADS=${THREADS:-$(nproc)}
ROUNDS=${ROUNDS:-3}
LOG=$(mktemp)
"$BIN" serve -m "$MODEL" --port 0 --parallel "$STREAMS" --ctx 1024 -t "$THREADS" 2> "$LOG" &
PID=$!
trap 'kill $PID 2> /dev/null || true; wait $PID 2> /dev/null || true; rm -f "$LOG"' EXIT
PORT=""
for _ in $(seq 600); do
  PORT=$(sed -n 's/.* on http:\/\/[^:]*:\([0-9]*\) .*/\1/p' "$LOG")
  [ -n "$PORT" ] && break
  kill -0 $PID 2> /dev/null || { cat "$LOG" >&2; exit 1; }
  sleep 0.2
done
[ -n "$PORT" ] || { echo "bench_serve: the server did not start" >&2; cat "$LOG" >&2; exit 1; }
URL=http://127.0.0.1:$PORT

# decode rows, decode seconds and decode steps so far
metrics() {
  curl -sf "$URL/metrics" | awk '$1 == "lowbit_decode_rows_total" { r = $2 }
    $1 == "lowbit_decode_seconds_total" { s = $2 } $1 == "lowbit_decode_steps_total" { n = $2 }
    END { print r, s, n }'
}
# $1 concurrent requests of TOKENS tokens each (sampled, seeded, through end-of-sequence), sent
# by one curl process (-Z: parallel transfers): a curl process per request started up and shut
# down on the same 2 cores as the server's decode steps, inflating them.
burst() {
  local args=()
  for i in $(seq "$1"); do
    [ "$i" -gt 1 ] && args+=(--next)
    args+=(-f "$URL/v1/completions" -H 'Content-Type: application/json' -o /dev/null
      -d "{\"prompt\": \"The history of the city\", \"max_tokens\": $TOKENS, \"temperature\": 0.8, \"seed\": $i, \"ignore_eos\": true}")
  done
  curl -s --no-progress-meter -Z --parallel-immediate --parallel-max "$1" "${args[@]}"
}

burst 1  # warm-up
declare -A rows secs steps
for k in 1 "$STREAMS"; do rows[$k]=0; secs[$k]=0; steps[$k]=0; done
for _ in $(seq "$ROUNDS"); do
  for k in 1 "$STREAMS"; do
    read -r r0 s0 n0 < <(metrics)
    burst "$k"
    read -r r1 s1 n1 < <(metrics)
    rows[$k]=$(python3 -c "print(${rows[$k]} + $r1 - $r0)")
    secs[$k]=$(python3 -c "print(${secs[$k]} + $s1 - $s0)")
    steps[$k]=$(python3 -c "print(${steps[$k]} + $n1 - $n0)")
  done
done
python3 - "$STREAMS" "${rows[1]}" "${secs[1]}" "${steps[1]}" "${rows[$STREAMS]}" "${secs[$STREAMS]}" "${steps[$STREAMS]}" <<'PY'
import sys
n = int(sys.argv[1])
r1, s1, k1, rn, sn, kn = map(float, sys.argv[2:])
t1, tn = r1 / s1, rn / sn
print("| streams | decode rows | decode steps | rows per step | decode time (s) | aggregate tokens/s | vs one stream |")
print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
print(f"| 1 | {r1:.0f} | {k1:.0f} | {r1 / k1:.2f} | {s1:.2f} | {t1:.1f} | 1.00x |")
print(f"| {n} | {rn:.0f} | {kn:.0f} | {rn / kn:.2f} | {sn:.2f} | {tn:.1f} | **{tn / t1:.2f}x** |")
PY
