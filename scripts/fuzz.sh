#!/usr/bin/env bash
# scripts/fuzz.sh: run every Go fuzz target in the module for a bounded time.
#
#   bash scripts/fuzz.sh                   # CI: the whole campaign in under 2 minutes
#   FUZZTIME=10m bash scripts/fuzz.sh      # before a release: 10 minutes per target
#   FUZZ_RUN=Proxy FUZZTIME=1h bash scripts/fuzz.sh   # one parser, longer
#
# The targets are discovered, not listed here: every Fuzz* function that
# "go test -list" finds in any package of the module, so moving or renaming
# a package needs no change to this file. They run one at a time ("go test
# -fuzz" takes one target per run), each with its seeds from f.Add and from
# the package's testdata/fuzz/FuzzName/ (the regression corpus, committed),
# plus what earlier runs left in the Go build cache's fuzz corpus.
#
# A crash writes the failing input to PKG/testdata/fuzz/FuzzName/HASH; this
# script names the target and that file and exits non-zero. Fix the parser,
# then commit the file: from then on plain "go test" replays it.
#
# Environment:
#   FUZZTIME          time per target (a Go duration, or Nx for N runs);
#                     default: FUZZ_BUDGET spread over the targets
#   FUZZ_BUDGET       seconds of fuzzing for the whole campaign when FUZZTIME
#                     is unset (default 45, at least 2 s per target: with
#                     15 targets about 95 s on a cold build cache)
#   FUZZ_RUN          only targets whose "package.FuzzName" matches this
#                     extended regular expression
#   FUZZ_PARALLEL     fuzzing workers per target (go test -parallel;
#                     default GOMAXPROCS)
#   FUZZMINIMIZETIME  time to minimise each crasher and each input that
#                     finds new code (default 1s: the fuzzer runs nothing
#                     else meanwhile, and 10s cut the throughput by 10x)
#
# Prints one summary line: "fuzz.sh: PASS: ..." or "fuzz.sh: FAIL: ...".
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
	export PATH="/usr/local/go/bin:$PATH"
fi

START=$(date +%s)
elapsed() { echo "$(($(date +%s) - START))s"; }
fail() {
	printf 'fuzz.sh: FAIL: %s (%s)\n' "$*" "$(elapsed)"
	exit 1
}
command -v go >/dev/null 2>&1 || fail "no go toolchain on PATH"

# Discover: "go test -list" prints each package's matching names, then its
# "ok  <import path>  <time>" line.
list=$(go test -count=1 -list '^Fuzz' ./... 2>&1) || {
	printf '%s\n' "$list" | grep -v '^ok\|^?' >&2
	fail "cannot list the fuzz targets (go test -list failed)"
}
targets=() # "import/path FuzzName"
names=()
while IFS= read -r line; do
	case "$line" in
	Fuzz*) names+=("$line") ;;
	ok*)
		read -r _ pkg _ <<<"$line"
		for n in "${names[@]}"; do
			if [ -z "${FUZZ_RUN:-}" ] || [[ "${pkg##*/}.$n" =~ ${FUZZ_RUN} ]]; then
				targets+=("$pkg $n")
			fi
		done
		names=()
		;;
	esac
done <<<"$list"
[ "${#targets[@]}" -gt 0 ] || fail "no fuzz targets found${FUZZ_RUN:+ matching FUZZ_RUN=$FUZZ_RUN}"

fuzztime=${FUZZTIME:-}
if [ -z "$fuzztime" ]; then
	per=$((${FUZZ_BUDGET:-45} / ${#targets[@]}))
	[ "$per" -ge 2 ] || per=2
	fuzztime=${per}s
fi
minimize=${FUZZMINIMIZETIME:-1s}

# seconds DURATION: a Go duration made of h/m/s parts in whole seconds,
# or nothing when it is not one (Nx, ms): the watchdog is then off.
seconds() {
	local d=$1 total=0 n u
	while [[ "$d" =~ ^([0-9]+)([hms])(.*)$ ]]; do
		n=${BASH_REMATCH[1]} u=${BASH_REMATCH[2]} d=${BASH_REMATCH[3]}
		case "$u" in h) total=$((total + n * 3600)) ;; m) total=$((total + n * 60)) ;; s) total=$((total + n)) ;; esac
	done
	[ -z "$d" ] && echo "$total"
}
# The fuzzer has no timeout of its own (-timeout is off while fuzzing): a
# run that hangs (a parser in an endless loop) is killed by this watchdog,
# which leaves room for the build, the seed corpus and a minimisation.
watchdog=() limit=""
if s=$(seconds "$fuzztime") && [ -n "$s" ] && command -v timeout >/dev/null 2>&1; then
	m=$(seconds "$minimize")
	limit=$((s + ${m:-60} + 300))
	watchdog=(timeout --kill-after=10s "${limit}s")
fi
parallel=()
[ -n "${FUZZ_PARALLEL:-}" ] && parallel=(-parallel "$FUZZ_PARALLEL")

failed=()
logs=$(mktemp -d "${TMPDIR:-/tmp}/mailproxy-fuzz.XXXXXX") || fail "mktemp"
# Kept when a target failed, for the whole output.
trap '[ "${#failed[@]}" -gt 0 ] || rm -rf "$logs"' EXIT

goroot=$(go env GOROOT)
printf '==> fuzz: %d targets, %s each\n' "${#targets[@]}" "$fuzztime"
for t in "${targets[@]}"; do
	read -r pkg name <<<"$t"
	dir=$(go list -f '{{.Dir}}' "$pkg") || fail "go list $pkg"
	rel=${dir#"$PWD"/}
	log="$logs/${pkg//\//_}.$name.log"
	printf '==> %s %s\n' "$name" "$pkg"
	"${watchdog[@]}" go test -count=1 -run '^$' -fuzz "^${name}\$" \
		-fuzztime "$fuzztime" -fuzzminimizetime "$minimize" "${parallel[@]}" "$pkg" >"$log" 2>&1
	rc=$?
	# Go's fuzzer passes a run whose workers hang: at -fuzztime it stops
	# and says PASS, and the input is saved nowhere. Its progress lines
	# (every 3 s) then show no executions. So do they while it minimises
	# an input (up to -fuzzminimizetime): a hang is a run of "0/sec" lines
	# longer than that, the last line left out (it may cover only the
	# moment of stopping). Runs shorter than about 9 s cannot tell.
	stall=$(grep -o 'execs: [0-9]* ([0-9]*/sec)' "$log" | sed '$d' |
		awk '/\(0\/sec\)/ { n++; if (n > max) max = n; next } { n = 0 } END { print 3 * max }')
	hung=0
	[ "$stall" -gt "$(($(seconds "$minimize" || true) + 3))" ] 2>/dev/null && hung=1
	[ "$rc" -eq 0 ] && [ "$hung" -eq 0 ] && continue
	# Go's fuzzer sometimes fails a run at its -fuzztime deadline with a
	# bare "context deadline exceeded" and no input (a worker was busy as
	# the deadline hit; seen on a loaded machine): not a finding. Run such
	# a target once more.
	if [ "$rc" -ne 0 ] && grep -q '^\s*context deadline exceeded$' "$log" && ! grep -q 'Failing input written to' "$log"; then
		printf '    (go test stopped at its deadline with no input: running %s once more)\n' "$name"
		"${watchdog[@]}" go test -count=1 -run '^$' -fuzz "^${name}\$" \
			-fuzztime "$fuzztime" -fuzzminimizetime "$minimize" "${parallel[@]}" "$pkg" >"$log" 2>&1
		rc=$?
		[ "$rc" -eq 0 ] && continue
	fi

	# What failed: a new crasher the fuzzer wrote, an existing corpus entry
	# (a regression), or the run itself (build error, watchdog).
	what=""
	if crasher=$(grep -o 'Failing input written to [^ ]*' "$log" | tail -1) && [ -n "$crasher" ]; then
		what="crasher $rel/${crasher#Failing input written to }"
	elif entry=$(grep -o 'failure while testing seed corpus entry: [^ ]*' "$log" | tail -1) && [ -n "$entry" ]; then
		entry=${entry#failure while testing seed corpus entry: }
		if [ -f "$dir/testdata/fuzz/$entry" ]; then
			what="corpus entry $rel/testdata/fuzz/$entry"
		else
			what="seed $entry (an f.Add in the test)"
		fi
	elif [ "$rc" -eq 0 ]; then
		what="no input ran for ${stall}s: an input hangs the target (go test saves none)"
	elif [ -n "$limit" ] && { [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; }; then
		what="still running after the watchdog's ${limit}s (a hang?)"
	else
		what="go test exited $rc"
	fi
	printf -- '--- %s (%s): %s\n' "$name" "$pkg" "$what"
	# The assertion or panic, without the fuzzer's progress lines and the
	# goroutine dump.
	if [ "$rc" -eq 0 ]; then
		grep 'execs:' "$log" | tail -4 | sed 's/^/    /'
	elif [[ "$what" == "go test exited"* ]]; then
		tail -40 "$log" | sed 's/^/    /'
	else
		grep -v -e '^fuzz: elapsed' -e "^\s*$goroot/" -e '^\s*goroutine ' -e '^\s*created by ' \
			-e '^\s*\(runtime\|reflect\|testing\)[./].*(.*)$' "$log" | head -40 | sed 's/^/    /'
	fi
	failed+=("$name ($pkg): $what")
	printf '    (whole output: %s)\n' "$log"
done

if [ "${#failed[@]}" -gt 0 ]; then
	fail "$(printf '%s; ' "${failed[@]}" | sed 's/; $//')"
fi
printf 'fuzz.sh: PASS: %d targets, %s each (%s)\n' "${#targets[@]}" "$fuzztime" "$(elapsed)"
