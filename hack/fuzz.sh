#!/usr/bin/env bash
# Runs every Go fuzz target of the module, one after the other, for FUZZTIME each.
#
# The targets are found in the source (func FuzzXxx(f *testing.F) in a *_test.go file), so a new
# target is fuzzed without editing this script or the Makefile. `go test -fuzz` fuzzes one target
# per run, hence one run per target. Targets are not listed with `go test -list`: that would
# build every test binary and run the TestMains that start a control plane.
#
# A finding fails the run: a new failing input written to <package>/testdata/fuzz/<target>/ (keep
# it: it is the regression case once the code is fixed), or a failing seed or regression input.
# A run that fails with nothing but "context deadline exceeded" and writes no input is the Go
# fuzzing coordinator's race at the end of -fuzztime on a loaded machine, not a finding: it is
# retried once, then reported as a flake without failing the run.
#
# Environment:
#   FUZZTIME          budget per target, as go test -fuzztime takes it (10s, 2m, 5000x) [10s]
#   FUZZMINIMIZETIME  budget for minimizing each new input (-fuzzminimizetime) [100x]: a count,
#                     so that slow targets do not spend their FUZZTIME minimizing; raise it (e.g.
#                     60s) to get a smaller failing input when reproducing a finding
#   FUZZPARALLEL      fuzzing workers per target (-parallel) [1]
#   FUZZ              extended regexp selecting targets by name [.]
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZTIME="${FUZZTIME:-10s}"
FUZZMINIMIZETIME="${FUZZMINIMIZETIME:-100x}"
FUZZPARALLEL="${FUZZPARALLEL:-1}"
FUZZ="${FUZZ:-.}"

# "<dir> <target>" for every fuzz target, sorted.
targets() {
	find . \( -name .git -o -name bin -o -name dist -o -name testdata -o -name vendor \) -prune -o \
		-name '*_test.go' -type f -print0 |
		xargs -0 grep -HoE '^func Fuzz[A-Za-z0-9_]*\(f \*testing\.F\)' |
		sed -E 's#^(.*)/[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]*)\(.*#\1 \2#' |
		grep -E " (${FUZZ})" | sort -u || true
}

corpus_files() { # corpus_files DIR TARGET: the inputs kept for the target
	ls "$1/testdata/fuzz/$2" 2>/dev/null | sort || true
}

log="$(mktemp)"
trap 'rm -f "$log"' EXIT

# fuzz DIR TARGET: 0 passed, 1 finding, 2 flake (deadline race only, nothing written)
fuzz() {
	local dir="$1" target="$2" before
	before="$(corpus_files "$dir" "$target")"
	if go test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" -fuzzminimizetime "$FUZZMINIMIZETIME" \
		-parallel "$FUZZPARALLEL" "$dir" >"$log" 2>&1; then
		return 0
	fi
	if [[ "$(corpus_files "$dir" "$target")" == "$before" ]] && grep -q 'context deadline exceeded' "$log" &&
		! grep -qE 'Failing input written|failure while testing seed corpus|panic:' "$log"; then
		return 2
	fi
	return 1
}

start=$SECONDS
mapfile -t all < <(targets)
if [[ ${#all[@]} -eq 0 ]]; then
	echo "no fuzz targets match FUZZ=${FUZZ}" >&2
	exit 1
fi
echo "== ${#all[@]} fuzz targets, ${FUZZTIME} each (minimize ${FUZZMINIMIZETIME}, ${FUZZPARALLEL} worker(s))"
failed=() flaky=()
for entry in "${all[@]}"; do
	read -r dir target <<<"$entry"
	t0=$SECONDS
	rc=0
	fuzz "$dir" "$target" || rc=$?
	if [[ $rc -eq 2 ]]; then
		echo "   ${target} (${dir}): deadline race with nothing written, retrying once"
		rc=0
		fuzz "$dir" "$target" || rc=$?
	fi
	execs="$(grep -oE 'execs: [0-9]+' "$log" | tail -1 || true)"
	case $rc in
	0) echo "ok ${target} (${dir}) $((SECONDS - t0))s${execs:+, ${execs}}" ;;
	2)
		echo "?? ${target} (${dir}) $((SECONDS - t0))s: flake (context deadline exceeded twice, nothing written)"
		flaky+=("$target")
		;;
	*)
		echo "FAIL ${target} (${dir}) $((SECONDS - t0))s"
		grep -vE '^fuzz: elapsed' "$log" | tail -40 | sed 's/^/   /'
		failed+=("$target")
		;;
	esac
done
echo "== fuzzed ${#all[@]} targets in $((SECONDS - start))s: ${#failed[@]} failed, ${#flaky[@]} flaky"
if [[ ${#failed[@]} -gt 0 ]]; then
	echo "failed: ${failed[*]}; each failing input is under <package>/testdata/fuzz/<target>/ (go test -run '<target>/<file>' ./<package>/ reproduces it)" >&2
	exit 1
fi
