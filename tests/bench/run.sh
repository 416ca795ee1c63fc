#!/usr/bin/env bash
# Runs the pipeline benchmark on an optimised build without sanitizers and prints its JSON.
# Usage: tests/bench/run.sh [CELLS [nosync]]   (default 2000 cells; "nosync": the services
# run with spool.sync=false, no fdatasync of their spool at commits)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build="$root/build/bench"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCT_SANITIZE=OFF >/dev/null
cmake --build "$build" -j2 >/dev/null
"$build/tests/integration/it_pg_template" >/dev/null
exec "$build/tests/bench/bench_pipeline" "${1:-2000}" "${@:2}"
