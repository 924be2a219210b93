#!/usr/bin/env bash
# literal-plus.sh: what LITERAL+ towards the backend saves per IMAP login.
# mailproxy logs in to the backend with LOGIN and two literals; a backend
# that advertises LITERAL+ (RFC 7888) gets them non-synchronising, one
# write, instead of waiting for "+ go ahead" twice. The same mailproxy
# against the mock backend with and without LITERAL+ in its greeting,
# alternated; prints login latency and proxy CPU per login.
#
#   bench/literal-plus.sh [REPS] [RATE]        # default 3 repetitions, 1000/s
#
# Loopback only, ports 36080/36143/37143; every run bounded (5 s).
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${1:-3}
rate=${2:-1000}
dir=$(mktemp -d /tmp/literal-plus.XXXXXX)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true' EXIT
go build -o "$dir/mailbench" ./bench/cmd/mailbench
go build -o "$dir/mailproxy" ./cmd/mailproxy
"$dir/mailbench" mockauth -listen 127.0.0.1:36080 -imap 127.0.0.1:36143 2>/dev/null &
pids+=($!)
cat >"$dir/mailproxy.conf" <<CONF
worker_processes 2;
pid $dir/mailproxy.pid;
error_log $dir/error.log;
mail {
    auth_http 127.0.0.1:36080/auth;
    server { listen 127.0.0.1:37143; protocol imap; }
}
CONF
"$dir/mailproxy" -c "$dir/mailproxy.conf" 2>/dev/null &
pids+=($!)
sleep 1
mp=$(cat "$dir/mailproxy.pid")
for rep in $(seq "$reps"); do
	for mode in literal-plus synchronising; do
		flag=""
		[ "$mode" = synchronising ] && flag=-no-literal-plus
		"$dir/mailbench" mockbackend -imap 127.0.0.1:36143 -pop3 "" -smtp "" $flag 2>/dev/null &
		be=$!
		sleep 0.5
		for load in "-rate $rate -c 200" "-c 50"; do
			# shellcheck disable=SC2086
			"$dir/mailbench" login -proto imap -addr 127.0.0.1:37143 $load -d 5s -src 8 -pid "$mp" -progress=false 2>&1 |
				awk -v m="$mode" -v r="$rep" -v l="$load" '/logins:/ {ps=$6} /login:/ {p50=$3; p99=$5} /proxy:/ {cpu=$2}
					END {printf "rep %d  %-14s %-16s logins/s %7s  login p50 %8s  p99 %8s  proxy CPU %6s µs/login\n", r, m, l, ps, p50, p99, cpu}'
		done
		kill "$be"
		wait "$be" 2>/dev/null || true
	done
done
