#!/usr/bin/env bash
# scripts/fuzz.sh — build the libFuzzer harnesses and run one (fuzz/README.md).
#
#   scripts/fuzz.sh NAME SECONDS [libFuzzer flags…]   run harness NAME for SECONDS
#   scripts/fuzz.sh all SECONDS                       each harness in turn, SECONDS each
#   scripts/fuzz.sh build                             only build
#   scripts/fuzz.sh cmin NAME                         minimise fuzz/corpus/NAME in place
#                                                     (seed-* and regress-* inputs stay)
#   scripts/fuzz.sh replay NAME [FILE|DIR…]           run inputs once (default: the corpus)
#
# NAME is cron, org, body or router. The build is clang with -fsanitize=fuzzer,address,
# undefined in $FUZZ_BUILD_DIR (default build-fuzz/, ignored by git). A run fuzzes a
# scratch copy of fuzz/corpus/NAME in a new directory under ${TMPDIR:-/tmp} (named on
# stdout, with its log), then merges the inputs that add edges into fuzz/corpus/NAME.
# Crashes, leaks and timeouts land in <run dir>/crashes/ (printed at the end); the exit
# status is 1 if there is any.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${FUZZ_BUILD_DIR:-build-fuzz}
JOBS=${JOBS:-2}
HARNESSES=(cron org body router)

# Per-harness libFuzzer flags: the longest input, and leak checking per input (the HTTP
# harnesses share the process with the server's threads, whose allocations in flight
# would make libFuzzer suspect every input; their leaks are caught by the replay tests
# under LeakSanitizer at exit instead).
flags_for() {
	case "$1" in
	cron) echo "-max_len=512" ;;
	org) echo "-max_len=16384 -rss_limit_mb=4096" ;;
	body) echo "-max_len=8192 -detect_leaks=0" ;;
	router) echo "-max_len=4096 -detect_leaks=0" ;;
	*) echo "scripts/fuzz.sh: unknown harness '$1' (cron, org, body, router)" >&2; exit 2 ;;
	esac
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

build() {
	cmake -S . -B "$BUILD" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug \
		-DCMAKE_C_FLAGS_DEBUG="-g -O1" -DCOLONY_SANITIZE=ON -DCOLONY_FUZZ=ON >/dev/null
	local targets=()
	for h in "$@"; do targets+=(--target "fuzz_$h"); done
	cmake --build "$BUILD" -j "$JOBS" "${targets[@]}"
}

run() {
	local name=$1 secs=$2
	shift 2
	local bin="$BUILD/fuzz/fuzz_$name" corpus="$ROOT/fuzz/corpus/$name"
	local dict="$ROOT/fuzz/dict/$name.dict"
	local work
	work=$(mktemp -d "${TMPDIR:-/tmp}/colony-fuzz-$name.XXXXXX")
	mkdir -p "$work/corpus" "$work/crashes"
	cp "$corpus"/* "$work/corpus/"
	local extra=()
	[ -f "$dict" ] && extra+=("-dict=$dict")
	echo "== fuzz_$name for ${secs}s in $work (log: $work/fuzz.log)"
	local start end rc=0
	start=$(date +%s)
	# shellcheck disable=SC2046
	"$bin" "$work/corpus" -max_total_time="$secs" -timeout=30 -print_final_stats=1 \
		-artifact_prefix="$work/crashes/" $(flags_for "$name") "${extra[@]}" "$@" \
		>"$work/fuzz.log" 2>&1 || rc=$?
	end=$(date +%s)
	echo "== ran $((end - start))s (exit $rc); last status line:"
	grep -E '^#[0-9]+' "$work/fuzz.log" | tail -1 || true
	grep -E '^stat::' "$work/fuzz.log" || true
	# Keep what adds coverage: merged into the committed corpus. Edges only
	# (-use_counters=0), not hit counts, so the corpus stays a few hundred inputs.
	local before after
	before=$(find "$corpus" -type f | wc -l)
	# shellcheck disable=SC2046
	"$bin" -merge=1 -use_counters=0 $(flags_for "$name") "$corpus" "$work/corpus" \
		>"$work/merge.log" 2>&1 ||
		echo "== merge failed (see $work/merge.log)"
	after=$(find "$corpus" -type f | wc -l)
	echo "== corpus fuzz/corpus/$name: $before -> $after inputs"
	if compgen -G "$work/crashes/*" >/dev/null; then
		echo "== FINDINGS in $work/crashes:"
		ls -l "$work/crashes"
		return 1
	fi
	[ "$rc" -eq 0 ] || { echo "== fuzz_$name exited $rc: see $work/fuzz.log"; return 1; }
	echo "== no findings"
}

cmin() {
	local name=$1 bin="$BUILD/fuzz/fuzz_$1" corpus="$ROOT/fuzz/corpus/$1"
	local tmp
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/colony-cmin-$name.XXXXXX")
	# The hand-written seeds (seed-*) and regression inputs (regress-*) stay; of the rest,
	# only what adds edges to them.
	find "$corpus" -type f \( -name 'seed-*' -o -name 'regress-*' \) -exec cp {} "$tmp/" \;
	# shellcheck disable=SC2046
	"$bin" -merge=1 -use_counters=0 $(flags_for "$name") "$tmp" "$corpus" >"$tmp.log" 2>&1
	local before after
	before=$(find "$corpus" -type f | wc -l)
	after=$(find "$tmp" -type f | wc -l)
	[ "$after" -gt 0 ] || { echo "cmin produced nothing (see $tmp.log)"; exit 1; }
	find "$corpus" -type f -delete
	cp "$tmp"/* "$corpus/"
	rm -rf "$tmp" "$tmp.log"
	echo "fuzz/corpus/$name: $before -> $(find "$corpus" -type f | wc -l) inputs"
}

case "${1:-}" in
build)
	build "${HARNESSES[@]}" ;;
all)
	secs=${2:?usage: scripts/fuzz.sh all SECONDS}
	build "${HARNESSES[@]}"
	status=0
	for h in "${HARNESSES[@]}"; do run "$h" "$secs" || status=1; done
	exit $status ;;
cmin)
	name=${2:?usage: scripts/fuzz.sh cmin NAME}
	flags_for "$name" >/dev/null
	build "$name"
	cmin "$name" ;;
replay)
	name=${2:?usage: scripts/fuzz.sh replay NAME [FILE|DIR…]}
	flags_for "$name" >/dev/null
	build "$name"
	shift 2
	[ $# -gt 0 ] || set -- "$ROOT/fuzz/corpus/$name"
	"$BUILD/fuzz/fuzz_$name" -runs=0 "$@" ;;
cron | org | body | router)
	name=$1
	secs=${2:?usage: scripts/fuzz.sh NAME SECONDS [libFuzzer flags…]}
	shift 2
	build "$name"
	run "$name" "$secs" "$@" ;;
*)
	sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
	exit 2 ;;
esac
