#!/usr/bin/env bash
# Runs the ct-oee benchmark on an optimised build without sanitizers and prints its JSON
# (docs/performance.md, "OEE: what ct-oee costs").
# Usage: tests/bench/run_oee.sh [HISTORY [RATE]]
#   HISTORY  simulated time generated flat out (default 1h)
#   RATE     cells per simulated second (default 5)
# CT_BENCH_SPCGATE=0 leaves spc-gate (and its verdicts, which ct-oee also reads) out.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build="$root/build/bench"
command -v mosquitto_sub >/dev/null || { echo "mosquitto_sub is missing" >&2; exit 2; }
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCT_SANITIZE=OFF >/dev/null
cmake --build "$build" -j2 --target bench_oee it_pg_template >/dev/null
"$build/tests/integration/it_pg_template" >/dev/null
exec "$build/tests/bench/bench_oee" "${1:-1h}" "${2:-5}"
