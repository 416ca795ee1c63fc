#!/usr/bin/env bash
# Runs the closed-loop latency benchmark on an optimised build without sanitizers and prints
# its JSON (docs/performance.md, "Closed-loop latency").
# Usage: tests/bench/run_closed_loop.sh [SAMPLES [RATE [WARMUP_S]]]
#   SAMPLES   closed-loop and raw samples each, per phase (default 1000)
#   RATE      ct-linesim cells/s during the loaded phase (default 200: the most this 2-core machine
#             sustained beside other builds, see docs/performance.md)
#   WARMUP_S  seconds of load before the loaded phase measures (default 15)
# Environment: CT_BENCH_TRAVELER=0 leaves ct-traveler out; CT_BENCH_SPCGATE_BIN=PATH measures
# another ct-spc-gate build; CT_BENCH_GATE_SQL_LOG=1 adds the timing of spc-gate's batch saves
# from PostgreSQL's statement log (see bench_closed_loop.c).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build="$root/build/bench"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCT_SANITIZE=OFF >/dev/null
cmake --build "$build" -j2 >/dev/null
"$build/tests/integration/it_pg_template" >/dev/null
exec "$build/tests/bench/bench_closed_loop" "${1:-1000}" "${2:-200}" "${3:-15}"
