#!/usr/bin/env bash
# TLS logins while relayed TLS sessions are held: GOGC values alternated
# on the same binary, mailproxy alone on the mocks. For each run: CPU per
# full X25519 login and per resumed login (50 workers, DUR each) while
# SESSIONS relayed implicit-TLS sessions stay open, and RSS per session.
#
#   bench/tls-mixed-gc.sh [BINARY]      # SESSIONS=4000 DUR=5s REPS=2 GOGCS="100 50"
#
# DUR is in whole seconds ("5s"): the held sessions' hold is derived from it.
# BINARY defaults to a fresh build of ./cmd/mailproxy. Loopback only;
# every run is bounded in time. Ports 19080 (auth), 19143 (backend),
# 22994 (mailproxy), as bench-vs-nginx.sh: do not run both at once.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/wait.sh
. scripts/lib/wait.sh
# shellcheck source=scripts/lib/cert.sh
. scripts/lib/cert.sh
bin=${1:-}
SESSIONS=${SESSIONS:-4000}
DUR=${DUR:-5s}
REPS=${REPS:-2}
GOGCS=${GOGCS:-"100 50"}
dir=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$dir"' EXIT
go build -o "$dir/mailbench" ./bench/cmd/mailbench
mb=$dir/mailbench
if [ -z "$bin" ]; then
	bin=$dir/mailproxy
	go build -o "$bin" ./cmd/mailproxy
fi
self_signed_cert "$dir" mx.bench
cat >"$dir/mail.conf" <<CONF
worker_processes 2;
error_log $dir/error.log warn;
pid $dir/mailproxy.pid;
events { worker_connections 20000; }
mail {
    server_name mx.bench;
    auth_http 127.0.0.1:19080/auth;
    timeout 5m;
    imap_capabilities IMAP4rev1;
    ssl_certificate $dir/cert.pem; ssl_certificate_key $dir/key.pem;
    server { listen 127.0.0.1:22994 ssl; protocol imap; ssl_ecdh_curve X25519; }
}
CONF
"$mb" mockauth -listen 127.0.0.1:19080 -imap 127.0.0.1:19143 -pop3 127.0.0.1:19110 -smtp 127.0.0.1:19025 2>"$dir/mockauth.log" &
pids+=($!); mocks=$!
"$mb" mockbackend -imap 127.0.0.1:19143 -pop3 127.0.0.1:19110 -smtp 127.0.0.1:19025 2>"$dir/mockbackend.log" &
pids+=($!); mocks=$mocks,$!
wait_port 127.0.0.1:19080
wait_port 127.0.0.1:19143
hold=$((${DUR%s} * 2 + 12))s
printf '%-6s %-4s %14s %16s %14s\n' GOGC rep "full µs/login" "resumed µs/login" "RSS B/session"
for rep in $(seq "$REPS"); do for g in $GOGCS; do
	env GOGC="$g" "$bin" -c "$dir/mail.conf" >"$dir/mp.log" 2>&1 &
	p=$!
	wait_port 127.0.0.1:22994
	"$mb" idle -json -proto imap -addr 127.0.0.1:22994 -tls -login -conns "$SESSIONS" -src 16 -hold "$hold" -pid "$p" >"$dir/idle.json" &
	i=$!
	for _ in $(seq 120); do [ "$(ls /proc/$p/fd | wc -l)" -gt $((SESSIONS * 2)) ] && break; sleep 0.5; done
	sleep 2
	"$mb" login -json -d "$DUR" -src 8 -pid "$p" -mockpid "$mocks" -tls -proto imap -addr 127.0.0.1:22994 -c 50 >"$dir/full.json"
	"$mb" login -json -d "$DUR" -src 8 -pid "$p" -mockpid "$mocks" -tls -resume -proto imap -addr 127.0.0.1:22994 -c 50 >"$dir/res.json"
	wait "$i"
	kill "$p"; wait "$p" 2>/dev/null || true
	python3 - "$g" "$rep" "$dir" <<'PY'
import json, sys
g, rep, d = sys.argv[1:]
f = json.load(open(d + "/full.json")); r = json.load(open(d + "/res.json")); i = json.load(open(d + "/idle.json"))
print("%-6s %-4s %14.0f %16.0f %14.0f" % (g, rep, f["proxy"]["cpu_us_per_op"], r["proxy"]["cpu_us_per_op"], i["idle"]["rss_per_conn"]))
if f["failed"] or r["failed"] or i["failed"]:
    print("  failed: full %d, resumed %d, held %d" % (f["failed"], r["failed"], i["failed"]))
PY
	sleep 3
done; done
