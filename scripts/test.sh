#!/usr/bin/env bash
# scripts/test.sh — the whole test run (what `make test` and CI execute).
#
#  0. Starts a throwaway PostgreSQL server (scripts/pg-test-server.sh) and exports its
#     admin URL as COLONY_TEST_PG, so every suite runs on SQLite and on PostgreSQL,
#     and the replica suite runs two colonyd on one database. Stopped on exit.
#  1. gcc, RelWithDebInfo, -Wall -Wextra -Werror: build and run every test.
#  2. clang, -fsanitize=address,undefined, -Wall -Wextra -Werror: build and run every test
#     again. LeakSanitizer is on; any leak, ASan or UBSan report fails the run, including
#     those of the colonyd processes the HTTP tests start (they check its exit status).
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=$(nproc)

read -r COLONY_TEST_PG PG_DIR < <(bash scripts/pg-test-server.sh start)
export COLONY_TEST_PG
trap 'bash scripts/pg-test-server.sh stop "$PG_DIR"' EXIT
echo "== PostgreSQL test server: $COLONY_TEST_PG"

echo "== gcc build + tests"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=gcc >/dev/null
cmake --build build -j "$JOBS"
(cd build && ctest --output-on-failure -j "$JOBS")

echo "== clang ASan+UBSan build + tests"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang -DCOLONY_SANITIZE=ON >/dev/null
cmake --build build-asan -j "$JOBS"
export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=0:exitcode=23
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:exitcode=24
(cd build-asan && ctest --output-on-failure -j "$JOBS")
