#!/usr/bin/env bash
# Runs the alert-router benchmark on an optimised build without sanitizers and prints its JSON
# (docs/performance.md, "Alerts through the router").
# Usage: tests/bench/run_alerts.sh [SAMPLES [RATE [FLOOD]]]
#   SAMPLES  samples per kind (raw round trip, router to MQTT, router to webhook) in the
#            steady phase (default 1000)
#   RATE     samples per kind per second in the steady phase, the kinds interleaved
#            (default 50)
#   FLOOD    samples of each kind published at full speed, one kind after the other
#            (default 5000)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build="$root/build/bench"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCT_SANITIZE=OFF >/dev/null
cmake --build "$build" -j2 >/dev/null
"$build/tests/integration/it_pg_template" >/dev/null
exec "$build/tests/bench/bench_alerts" "${1:-1000}" "${2:-50}" "${3:-5000}"
