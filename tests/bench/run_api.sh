#!/usr/bin/env bash
# Runs the ct-api benchmark on an optimised build without sanitizers and prints its JSON
# (docs/performance.md, "The dashboard's API over a week").
# Usage: tests/bench/run_api.sh [RATE [REQUESTS [WRK_SECONDS [WRK_CONNECTIONS]]]]
#   RATE             cells per simulated second of the generated week (default 0.5: 302,400
#                    cells); a dense week of one characteristic (3,024,000 values) is added
#                    by SQL either way
#   REQUESTS         timed requests per endpoint (default 50)
#   WRK_SECONDS      length of each wrk run (default 10)
#   WRK_CONNECTIONS  concurrent clients of wrk (default 32)
# Needs wrk (apt-get install wrk) and, for the page load, Debian's chromium.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build="$root/build/bench"
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 2; }
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCT_SANITIZE=OFF >/dev/null
cmake --build "$build" -j2 >/dev/null
"$build/tests/integration/it_pg_template" >/dev/null
exec "$build/tests/bench/bench_api" "${1:-0.5}" "${2:-50}" "${3:-10}" "${4:-32}"
