#!/usr/bin/env bash
# context-switches.sh: context switches, CPU migrations and task-clock per
# login (perf stat on the proxy's processes) for nginx's mail module and
# mailproxy, IMAP logins in the open loop, against the same mocks. The
# count behind bench/RESULTS.md, issue 13 ("hand-offs per login").
#
#   bench/context-switches.sh [RATE] [N]        # default 2000/s, 10000 logins
#   MP_ENV="GOMAXPROCS=2" bench/context-switches.sh
#
# Needs perf (Debian linux-perf) and nginx with libnginx-mod-mail; loopback
# only, ports 3x143 / 3x080, every run bounded by N and 30 s.
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-2000}
n=${2:-10000}
dir=$(mktemp -d /tmp/context-switches.XXXXXX)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true' EXIT
go build -o "$dir/mailbench" ./bench/cmd/mailbench
go build -o "$dir/mailproxy" ./cmd/mailproxy
"$dir/mailbench" mockauth -listen 127.0.0.1:33080 -imap 127.0.0.1:33143 2>/dev/null &
pids+=($!)
"$dir/mailbench" mockbackend -imap 127.0.0.1:33143 2>/dev/null &
pids+=($!)
conf() { # conf PORT PIDFILE
	cat <<CONF
load_module /usr/lib/nginx/modules/ngx_mail_module.so;
daemon off;
worker_processes 2;
pid $2;
error_log $dir/error-$1.log;
events { worker_connections 4000; }
mail {
    auth_http 127.0.0.1:33080/auth;
    imap_capabilities IMAP4rev1;
    server { listen 127.0.0.1:$1; protocol imap; }
}
CONF
}
conf 34143 "$dir/nginx.pid" >"$dir/nginx.conf"
conf 35143 "$dir/mailproxy.pid" >"$dir/mailproxy.conf"
sleep 0.5
measure() { # measure NAME ADDR PIDS
	"$dir/mailbench" login -proto imap -addr "$2" -c 20 -n 1000 -src 8 -progress=false >/dev/null 2>&1 # warm-up
	perf stat -e context-switches,cpu-migrations,task-clock -p "$3" -o "$dir/perf-$1.txt" &
	local perf=$!
	sleep 0.5
	local got
	got=$("$dir/mailbench" login -proto imap -addr "$2" -rate "$rate" -c 200 -n "$n" -d 30s -src 8 -progress=false 2>&1 |
		awk '/logins:/ {print $2}')
	kill -INT "$perf"
	wait "$perf" 2>/dev/null || true
	awk -v n="$got" -v name="$1" '
		/context-switches/ {gsub(",", "", $1); cs = $1 / n}
		/cpu-migrations/ {gsub(",", "", $1); mig = $1 / n}
		/task-clock/ {gsub(",", "", $1); tc = $1 * 1000 / n}
		END {printf "%-10s %6d logins  %6.2f context switches  %5.2f migrations  %6.1f µs task-clock  per login\n", name, n, cs, mig, tc}' "$dir/perf-$1.txt"
}
nginx -p "$dir" -c "$dir/nginx.conf" >/dev/null 2>&1 &
pids+=($!)
sleep 1
measure nginx 127.0.0.1:34143 "$(pgrep -d, -P "$(cat "$dir/nginx.pid")")"
kill "${pids[-1]}"
# shellcheck disable=SC2086
env ${MP_ENV:-} "$dir/mailproxy" -c "$dir/mailproxy.conf" >/dev/null 2>&1 &
pids+=($!)
sleep 1
measure "mailproxy${MP_ENV:+ ($MP_ENV)}" 127.0.0.1:35143 "$(cat "$dir/mailproxy.pid")"
