#!/usr/bin/env bash
# The auth cache (auth_http_cache) against nginx: nginx 1.22, mailproxy
# without the cache and mailproxy with it, all three running at once on
# the same mock auth_http server and mock backend, IMAP logins of one user
# repeated by C workers for DUR, the order alternated per repetition.
# Prints, per run: logins, auth_http requests the mock saw per login, and
# the proxy's CPU per login (its process tree, /proc).
#
#   DUR=10s C=50 REPS=2 bench/auth-cache.sh
#
# Needs nginx + libnginx-mod-mail and curl. Loopback only (ports 29xxx-32xxx).
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${DUR:-10s}; C=${C:-50}; REPS=${REPS:-2}
D=$(mktemp -d)
MB=$D/mailbench; MP=$D/mailproxy
go build -o "$MB" ./bench/cmd/mailbench
go build -o "$MP" ./cmd/mailproxy
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$D"' EXIT
"$MB" mockauth -listen 127.0.0.1:29080 -imap 127.0.0.1:29143 2>"$D/mockauth.log" & AP=$!; PIDS+=($AP)
"$MB" mockbackend -imap 127.0.0.1:29143 -pop3 "" -smtp "" 2>"$D/mockbackend.log" & BP=$!; PIDS+=($BP)
# shellcheck source=scripts/lib/wait.sh
. scripts/lib/wait.sh
wait_port 127.0.0.1:29080; wait_port 127.0.0.1:29143
conf() { # name port extra-directives
	mkdir -p "$D/$1"
	cat >"$D/$1/mail.conf" <<CONF
load_module /usr/lib/nginx/modules/ngx_mail_module.so;
daemon off;
master_process on;
worker_processes 2;
worker_rlimit_nofile 20000;
pid $D/$1/$1.pid;
error_log $D/$1/error.log;
events { worker_connections 20000; }
mail {
    server_name mx.bench;
    auth_http 127.0.0.1:29080/auth;
    $3
    timeout 5m;
    imap_capabilities IMAP4rev1;
    server { listen 127.0.0.1:$2; protocol imap; }
}
CONF
}
conf nginx 30143 ""
conf mpoff 31143 ""
conf mpon 32143 "auth_http_cache 10000 valid=5m invalid=30s;"
declare -A PORT=([nginx]=30143 [mpoff]=31143 [mpon]=32143) PID
nginx -p "$D/nginx" -c "$D/nginx/mail.conf" >"$D/nginx/out.log" 2>&1 & PID[nginx]=$!
"$MP" -c "$D/mpoff/mail.conf" >"$D/mpoff/out.log" 2>&1 & PID[mpoff]=$!
"$MP" -c "$D/mpon/mail.conf" >"$D/mpon/out.log" 2>&1 & PID[mpon]=$!
PIDS+=("${PID[@]}")
for t in nginx mpoff mpon; do wait_port 127.0.0.1:${PORT[$t]}; done
reqs() { curl -s 127.0.0.1:29080/stats | sed 's/.*"requests":\([0-9]*\).*/\1/'; }
for rep in $(seq "$REPS"); do
	order="nginx mpoff mpon"; [ $((rep % 2)) -eq 0 ] && order="mpon mpoff nginx"
	for t in $order; do
		r0=$(reqs)
		"$MB" login -json -label $t -proto imap -addr 127.0.0.1:${PORT[$t]} -user demo -pass pass \
			-c "$C" -d "$DUR" -src 8 -pid ${PID[$t]} -mockpid $AP,$BP -progress=false >"$D/login-$t-$rep.json"
		r1=$(reqs)
		python3 - "$D/login-$t-$rep.json" "$t" "$rep" $((r1 - r0)) <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
n = int(sys.argv[4])
print(f"{sys.argv[2]:6} rep={sys.argv[3]} logins={d['ok']} failed={d['failed']} logins/s={d['ok_per_s']:.0f} "
      f"auth_requests={n} per_login={n / max(d['ok'], 1):.4f} proxy_cpu_us/login={d['proxy']['cpu_us_per_op']:.1f} "
      f"login_p50_ms={d['login_latency']['p50_ms']}")
PY
	done
done
