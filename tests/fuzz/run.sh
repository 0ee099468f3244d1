#!/bin/sh
# Builds every tests/fuzz/fuzz_NAME.c with libFuzzer, ASan and UBSan and runs
# each for SECONDS seconds, starting from a temporary copy of
# tests/fuzz/corpus/NAME/ so the repository is never modified.
#
# Usage: tests/fuzz/run.sh SECONDS [NAME...]   (NAME: dns or fuzz_dns; default all)
#
# A target names what it links in comment lines at its top:
#   // sources: src/enrich/dns.c src/lib/buf.c
#   // libs: -lz                                   (optional)
# Exits non-zero if a target fails to build or finds a crash, leak, timeout
# or sanitizer report; the input that did it is kept in
# .output/fuzz/artifacts/NAME/ and the log in .output/fuzz/NAME.log.
set -u
cd "$(dirname "$0")/../.." || exit 2

secs=${1:-}
case "$secs" in
'' | *[!0-9]*)
	echo "usage: $0 SECONDS [NAME...]" >&2
	exit 2
	;;
esac
shift

CLANG=${CLANG:-clang}
WARN="-Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes"
CFLAGS="-g -O1 -std=gnu11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
-fno-sanitize-recover=undefined -fno-omit-frame-pointer"
out=.output/fuzz
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

if [ $# -eq 0 ]; then
	set -- tests/fuzz/fuzz_*.c
else
	for n in "$@"; do
		n=${n#fuzz_}
		set -- "$@" "tests/fuzz/fuzz_${n%.c}.c"
		shift
	done
fi

mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
passed=0
failed=0
for src in "$@"; do
	if [ ! -f "$src" ]; then
		echo "fuzz: $src: no such target" >&2
		failed=$((failed + 1))
		continue
	fi
	target=$(basename "$src" .c)
	name=${target#fuzz_}
	sources=$(sed -n '1,10s|^// sources:[[:space:]]*||p' "$src" | head -n 1)
	libs=$(sed -n '1,10s|^// libs:[[:space:]]*||p' "$src" | head -n 1)
	if [ -z "$sources" ]; then
		echo "FAIL $target: no '// sources:' line in its first 10 lines" >&2
		failed=$((failed + 1))
		continue
	fi
	# shellcheck disable=SC2086 # word splitting of the lists is intended
	if ! $CLANG $CFLAGS $WARN -Isrc -I.output/gen "$src" $sources $libs \
		-o "$out/$target" >"$out/$target.build.log" 2>&1; then
		echo "FAIL $target: build failed:" >&2
		sed 's/^/    /' "$out/$target.build.log" >&2
		failed=$((failed + 1))
		continue
	fi

	corpus=$work/$name
	mkdir -p "$corpus" "$out/artifacts/$name"
	if [ -d "tests/fuzz/corpus/$name" ]; then
		cp -R "tests/fuzz/corpus/$name/." "$corpus/"
	fi
	log=$out/$name.log
	start=$(date +%s)
	"$out/$target" -max_total_time="$secs" -max_len=65536 -timeout=5 \
		-print_final_stats=1 -artifact_prefix="$out/artifacts/$name/" \
		"$corpus" >"$log" 2>&1
	rc=$?
	stats=$(grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE).*cov:' "$log" | tail -n 1 |
		sed -E 's/^#([0-9]+)[[:space:]]+[A-Z]+[[:space:]]+/\1 runs, /')
	if [ $rc -eq 0 ]; then
		passed=$((passed + 1))
		echo "PASS $target ($(($(date +%s) - start))s): $stats"
	else
		failed=$((failed + 1))
		echo "FAIL $target (exit $rc) -- last lines of $log:"
		tail -n 40 "$log" | sed 's/^/    /'
	fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
