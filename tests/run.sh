#!/bin/sh
# Runs the whole suite: unit tests and integration tests, against the plain
# build and the ASan+UBSan build. Prints "N passed, N failed" last.
set -u
cd "$(dirname "$0")/.."
passed=0
failed=0
failures=""
PY=/usr/bin/python3
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

run() {	# name command...
	name=$1
	shift
	start=$(date +%s)
	# A hang is a failure, not a stuck CI run.
	if timeout -k 10 "$TEST_TIMEOUT" "$@" >".output/test-logs/$name.log" 2>&1; then
		passed=$((passed + 1))
		echo "PASS $name ($(($(date +%s) - start))s)"
	else
		failed=$((failed + 1))
		failures="$failures $name"
		echo "FAIL $name ($(($(date +%s) - start))s) -- last lines of .output/test-logs/$name.log:"
		tail -n 30 ".output/test-logs/$name.log" | sed 's/^/    /'
	fi
}

TEST_TIMEOUT=${TEST_TIMEOUT:-600}
mkdir -p .output/test-logs
for build in std san; do
	for t in .output/$build/tests/test_*; do
		[ -x "$t" ] || continue
		run "unit-$build-$(basename "$t")" "$t"
	done
done
for build in std san; do
	for t in tests/integration/test_*.py; do
		[ -f "$t" ] || continue
		run "integration-$build-$(basename "$t" .py)" env VIGIL_BIN=".output/$build/vigil" \
			VIGIL_BUILD="$build" $PY "$t"
	done
done
# every fuzz target, bounded (make fuzz runs them longer)
run fuzz tests/fuzz/run.sh 20
[ -n "$failures" ] && echo "failed:$failures"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
