#!/usr/bin/env bash
# Builds the libFuzzer targets into build-fuzz/ (clang, ASan+UBSan) and runs
# each for SECONDS (default 30), as many at once as there are cores, on a
# temporary copy of its corpus, so fuzzing never grows the committed
# fuzz/corpus/.
#
#   fuzz/run.sh [SECONDS] [TARGET...]     e.g. fuzz/run.sh 60 fuzz_query
#
# Prints one line per target. Exits non-zero if any target finds a crash,
# leak, timeout, out-of-memory or failed invariant; the input is kept under
# build-fuzz/artifacts/ (path printed) with the fuzzer's log next to it.
# Environment: AUDITLOG_FUZZ_BUILD_DIR (<repo>/build-fuzz),
#              AUDITLOG_FUZZ_JOBS (nproc) for the build and the targets run
#              at once (each a single-threaded fuzzer on a core of its own).
set -euo pipefail

FUZZ_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$FUZZ_DIR/.." && pwd)
cd "$REPO_ROOT"

ALL_TARGETS=(fuzz_jsonapi fuzz_event fuzz_query fuzz_token fuzz_webpath fuzz_mediatype fuzz_jcs fuzz_note fuzz_merkle fuzz_bundle fuzz_trace fuzz_stream_id)
declare -A DICT=(
	[fuzz_jsonapi]=json.dict
	[fuzz_event]=json.dict
	[fuzz_query]=query.dict
	[fuzz_token]=token.dict
	[fuzz_webpath]=webpath.dict
	[fuzz_mediatype]=mediatype.dict
	[fuzz_jcs]=jcs.dict
	[fuzz_note]=note.dict
	[fuzz_merkle]=none
	[fuzz_bundle]=bundle.dict
	[fuzz_trace]=trace.dict
	[fuzz_stream_id]=stream_id.dict
)

SECS=${1:-30}
(($# == 0)) || shift
if ! [[ $SECS =~ ^[1-9][0-9]*$ ]]; then
	echo "usage: fuzz/run.sh [SECONDS] [TARGET...]" >&2
	exit 2
fi
TARGETS=("${ALL_TARGETS[@]}")
(($# == 0)) || TARGETS=("$@")
for t in "${TARGETS[@]}"; do
	[[ -n ${DICT[$t]+x} ]] || {
		echo "fuzz/run.sh: unknown target '$t' (known: ${ALL_TARGETS[*]})" >&2
		exit 2
	}
done

BUILD_DIR=${AUDITLOG_FUZZ_BUILD_DIR:-$REPO_ROOT/build-fuzz}
if [[ ! -f $BUILD_DIR/CMakeCache.txt ]] || [[ ! -f $BUILD_DIR/Makefile && ! -f $BUILD_DIR/build.ninja ]]; then
	command -v clang >/dev/null || {
		echo "fuzz/run.sh: clang is missing (packages clang libclang-rt-14-dev)" >&2
		exit 1
	}
	CC=clang cmake -S "$FUZZ_DIR" -B "$BUILD_DIR" >/dev/null
fi
cmake --build "$BUILD_DIR" -j"${AUDITLOG_FUZZ_JOBS:-$(nproc)}" >/dev/null

ARTIFACTS=$BUILD_DIR/artifacts
mkdir -p "$ARTIFACTS"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/auditlog-fuzz.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# final_stat NAME LOG: a value from -print_final_stats, or "?".
final_stat() {
	local v
	v=$(sed -n "s/^stat::$1: *//p" "$2" | tail -n1)
	echo "${v:-?}"
}

# run_target T: fuzzes T; prints its line (and, on failure, where to look);
# returns the fuzzer's status.
run_target() {
	local t=$1 bin corpus log marker rc last cov ft corp found
	local -a args
	bin=$BUILD_DIR/bin/$t
	corpus=$WORK/$t
	log=$WORK/$t.log
	mkdir -p "$corpus"
	if [[ -d $FUZZ_DIR/corpus/$t ]]; then
		cp -R "$FUZZ_DIR/corpus/$t/." "$corpus/"
	fi
	args=(-max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -max_len=65536
		-print_final_stats=1 -artifact_prefix="$ARTIFACTS/$t-")
	[[ -f $FUZZ_DIR/dict/${DICT[$t]} ]] && args+=(-dict="$FUZZ_DIR/dict/${DICT[$t]}")
	marker=$WORK/$t.start
	touch "$marker"
	rc=0
	"$bin" "${args[@]}" "$corpus" >"$log" 2>&1 || rc=$?

	# "#1234 DONE cov: 567 ft: 890 corp: 12/3456b ..." (or the last status line)
	last=$(grep -aE '^#[0-9]+[[:space:]].*cov: ' "$log" | tail -n1 || true)
	cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
	ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
	corp=$(sed -n 's/.* corp: \([0-9]*\)\/.*/\1/p' <<<"$last")
	printf '%-13s %10s execs %7s/s  cov %5s  ft %6s  corpus %s -> %s  ' "$t" \
		"$(final_stat number_of_executed_units "$log")" "$(final_stat average_exec_per_sec "$log")" \
		"${cov:-?}" "${ft:-?}" "$(find "$FUZZ_DIR/corpus/$t" -type f 2>/dev/null | wc -l)" \
		"${corp:-?}"
	if ((rc == 0)); then
		echo "ok"
		return 0
	fi
	cp "$log" "$ARTIFACTS/$t.log"
	found=$(find "$ARTIFACTS" -maxdepth 1 -type f -newer "$marker" \
		\( -name "$t-crash-*" -o -name "$t-leak-*" -o -name "$t-timeout-*" \
		-o -name "$t-oom-*" -o -name "$t-slow-unit-*" \) | sort)
	echo "FAILED (exit $rc)"
	echo "  log:   $ARTIFACTS/$t.log"
	if [[ -n $found ]]; then
		while IFS= read -r f; do echo "  input: $f"; done <<<"$found"
	else
		echo "  input: (none written; see the log)"
	fi
	grep -aE 'ERROR: |FUZZ INVARIANT FAILED|runtime error:|SUMMARY: ' "$log" | head -n 5 |
		sed 's/^/  /' || true
	echo "  reproduce: $bin <input>; minimise: $bin -minimize_crash=1 -max_total_time=30 <input>"
	return "$rc"
}

# The targets, as many at once as there are cores; their lines in order.
parallel=${AUDITLOG_FUZZ_JOBS:-$(nproc)}
for t in "${TARGETS[@]}"; do
	while (($(jobs -rp | wc -l) >= parallel)); do
		wait -n || true
	done
	(
		rc=0
		run_target "$t" >"$WORK/$t.out" 2>&1 || rc=$?
		echo "$rc" >"$WORK/$t.rc"
	) &
done
wait
failed=0
for t in "${TARGETS[@]}"; do
	cat "$WORK/$t.out"
	[[ $(cat "$WORK/$t.rc" 2>/dev/null) == 0 ]] || failed=1
done
exit "$failed"
