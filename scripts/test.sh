#!/usr/bin/env bash
# scripts/test.sh: mailproxy's test command (the one the README names).
#
#   bash scripts/test.sh
#
# On Debian 12, as root, it first installs what the end-to-end tests drive
# (Dovecot, nginx + its mail module, Postfix, swaks, curl, HAProxy,
# promtool, openssl, python3) when something is missing, and stops the
# system services those packages start: the tests run their own private
# instances on high loopback ports. Then: go mod tidy -diff (go.mod and
# go.sum must be tidy), go vet, go build, go test (unit and e2e; the e2e
# package builds ./cmd/mailproxy itself), and a short fuzz campaign over
# every Fuzz* target (scripts/fuzz.sh, under 2 minutes).
# Prints one summary line and exits non-zero on any failure.
#
# Environment: TEST_TIMEOUT (go test -timeout, default 8m),
# TEST_SKIP_INSTALL=1 to never touch packages, FUZZ=0 to skip the fuzz
# campaign (FUZZTIME, FUZZ_BUDGET: see scripts/fuzz.sh).
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
# shellcheck source=scripts/lib/install.sh
. scripts/lib/install.sh

START=$(date +%s)
elapsed() { echo "$(($(date +%s) - START))s"; }
say() { printf '==> %s\n' "$*"; }
summary_fail() {
	printf 'test.sh: FAIL: %s (%s)\n' "$*" "$(elapsed)"
	exit 1
}

if [ "${TEST_SKIP_INSTALL:-}" != 1 ]; then
	install_test_deps || summary_fail "installing test dependencies"
fi

if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
	export PATH="/usr/local/go/bin:$PATH"
fi
command -v go >/dev/null 2>&1 || summary_fail "no go toolchain on PATH (install Go 1.26 from https://go.dev/dl)"

vet=FAIL build=FAIL tests=SKIPPED tidy=FAIL fuzz=SKIPPED
# go.mod must say what the code imports: a direct dependency marked
# "// indirect", or a stale go.sum line, is a diff here. -diff changes no
# file; it prints the diff and exits 1 (it also exits non-zero, printing
# nothing on stdout, when it cannot load the module graph).
say "go mod tidy -diff"
if tidy_out=$(go mod tidy -diff); then
	tidy=ok
elif [ -n "$tidy_out" ]; then
	printf '%s\n' "$tidy_out"
	tidy="FAIL (go.mod/go.sum not tidy: run go mod tidy)"
else
	tidy="FAIL (go mod tidy -diff could not run)"
fi
say "go vet ./..."
go vet ./... && vet=ok
say "go build ./..."
go build ./... && build=ok
if [ "$build" = ok ]; then
	say "go test -count=1 ./..."
	tests=FAIL
	go test -count=1 -timeout "${TEST_TIMEOUT:-8m}" ./... && tests=ok
fi
# After the tests, so that a parser bug the unit tests show is reported
# there first; it runs even when they failed, as its findings are separate.
if [ "$build" = ok ] && [ "${FUZZ:-1}" != 0 ]; then
	say "bash scripts/fuzz.sh"
	fuzz=FAIL
	bash scripts/fuzz.sh && fuzz=ok
fi

if [ "$tidy" = ok ] && [ "$vet" = ok ] && [ "$build" = ok ] && [ "$tests" = ok ] && [ "$fuzz" != FAIL ]; then
	printf 'test.sh: PASS: tidy ok, vet ok, build ok, tests ok, fuzz %s (%s)\n' "$fuzz" "$(elapsed)"
	exit 0
fi
summary_fail "tidy $tidy, vet $vet, build $build, tests $tests, fuzz $fuzz"
