#!/usr/bin/env bash
# syscalls-per-login.sh: what one login costs nginx's mail module and
# mailproxy on the same mocks, per login: user and system CPU time
# (/proc/PID/stat), system calls by name and context switches (perf stat
# tracepoints) and TCP segments (nstat, the whole host). The counts behind
# bench/RESULTS.md, issue 13, "Where a login's CPU goes against nginx".
#
#   bench/syscalls-per-login.sh                          # IMAP, open loop 2,000/s
#   PROTO=pop3 LOAD="-c 50 -d 4s" bench/syscalls-per-login.sh
#   LOAD="-rate 200 -c 50 -n 2000 -d 30s" bench/syscalls-per-login.sh
#   TLS=1 CLI="-tls -resume" LOAD="-c 50 -d 4s" bench/syscalls-per-login.sh
#
# PROTO (imap, pop3, smtp), LOAD (mailbench login flags for the measured
# run), TLS=1 (implicit TLS with a self-signed P-256 certificate and
# ssl_ecdh_curve X25519 on both sides, ssl_protocols TLS_PROTOCOLS, by
# default "TLSv1.2 TLSv1.3": nginx 1.22's own default stops at TLSv1.2;
# CLI adds mailbench flags such as -tls -resume), MP_ENV (environment of mailproxy), MAILPROXY_BIN,
# PROFILE=1 (then perf record -g of mailproxy under the same load, into
# the run's directory). Needs perf (linux-perf), nstat (iproute2), nginx
# with libnginx-mod-mail; loopback only, ports 33080/331xx/34143/35143,
# every run bounded by its -n or -d.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/wait.sh
. scripts/lib/wait.sh
# shellcheck source=scripts/lib/cert.sh
. scripts/lib/cert.sh
proto=${PROTO:-imap}
load=${LOAD:--rate 2000 -c 200 -n 10000 -d 30s}
case $proto in imap) bp=33143 ;; pop3) bp=33110 ;; smtp) bp=33025 ;; *) echo "PROTO: imap, pop3 or smtp" >&2; exit 2 ;; esac
d=$(mktemp -d /tmp/syscalls-per-login.XXXXXX)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true' EXIT
go build -o "$d/mailbench" ./bench/cmd/mailbench
mp=${MAILPROXY_BIN:-$d/mailproxy}
[ -n "${MAILPROXY_BIN:-}" ] || go build -o "$mp" ./cmd/mailproxy
listen_ssl="" ssl=""
if [ "${TLS:-0}" = 1 ]; then
	self_signed_cert "$d" mx.bench
	listen_ssl=ssl
	# ssl_protocols: nginx 1.22 stops at TLSv1.2 by default (mailproxy: 1.2 and 1.3)
	ssl="ssl_certificate $d/cert.pem; ssl_certificate_key $d/key.pem; ssl_ecdh_curve X25519; ssl_protocols ${TLS_PROTOCOLS:-TLSv1.2 TLSv1.3};"
fi
conf() { # conf PORT PIDFILE [nginx]
	cat <<CONF
${3:+load_module /usr/lib/nginx/modules/ngx_mail_module.so;}
daemon off;
worker_processes 2;
pid $2;
error_log $d/error-$1.log;
events { worker_connections 4000; }
mail {
    auth_http 127.0.0.1:33080/auth;
    imap_capabilities IMAP4rev1;
    $ssl
    server { listen 127.0.0.1:$1 $listen_ssl; protocol $proto; }
}
CONF
}
conf 34143 "$d/nginx.pid" nginx >"$d/nginx.conf"
conf 35143 "$d/mailproxy.pid" >"$d/mailproxy.conf"
"$d/mailbench" mockauth -listen 127.0.0.1:33080 "-$proto" "127.0.0.1:$bp" >/dev/null 2>&1 &
pids+=($!)
"$d/mailbench" mockbackend "-$proto" "127.0.0.1:$bp" >/dev/null 2>&1 &
pids+=($!)
wait_port 127.0.0.1:33080
wait_port "127.0.0.1:$bp"
ev=raw_syscalls:sys_enter
for s in epoll_wait epoll_pwait read write recvfrom sendto readv writev futex nanosleep epoll_ctl connect close accept4 getsockopt setsockopt socket; do
	ev="$ev,syscalls:sys_enter_$s"
done
ev="$ev,context-switches,task-clock"
cputicks() { # cputicks PID,PID...: utime and stime of the processes, in clock ticks
	local q
	for q in ${1//,/ }; do cut -d' ' -f14,15 "/proc/$q/stat"; done | awk '{u += $1; s += $2} END {print u, s}'
}
measure() { # measure NAME PORT PIDS
	# shellcheck disable=SC2086
	"$d/mailbench" login -proto "$proto" -addr "127.0.0.1:$2" -c 20 -n 1000 -src 8 -progress=false ${CLI:-} >/dev/null 2>&1 # warm-up
	nstat -n >/dev/null
	local t0 t1 perf n
	t0=$(cputicks "$3")
	perf stat -x, -e "$ev" -p "$3" -o "$d/stat-$1.txt" &
	perf=$!
	sleep 0.3
	# shellcheck disable=SC2086
	n=$("$d/mailbench" login -proto "$proto" -addr "127.0.0.1:$2" $load -src 8 -progress=false ${CLI:-} 2>&1 | awk '/logins:/ {print $2}')
	kill -INT "$perf"
	wait "$perf" 2>/dev/null || true
	t1=$(cputicks "$3")
	[ "${n:-0}" -gt 0 ] || { echo "$1: no login succeeded" >&2; exit 1; }
	local hz
	hz=$(getconf CLK_TCK)
	{
		echo "$t0 $t1" | awk -v n="$n" -v hz="$hz" '{printf "logins=%d user_us=%.1f sys_us=%.1f ", n, ($3-$1)*1e6/hz/n, ($4-$2)*1e6/hz/n}'
		awk -F, -v n="$n" '$3 ~ /sys_enter|context|task/ {e = $3; sub(/.*sys_enter_?/, "", e); if (e == "") e = "syscalls"
			if ($3 ~ /task/) {v = $1 * 1000 / n; e = "task_clock_us"} else v = $1 / n
			if (v >= 0.05) printf "%s=%.2f ", e, v}' "$d/stat-$1.txt"
		nstat 2>/dev/null | awk -v n="$n" '/^TcpOutSegs|^TcpActiveOpens/ {printf "%s=%.2f ", $1, $2 / n}'
	} | awk -v name="$1" '{printf "%-10s %s\n", name, $0}'
}
nginx -p "$d" -c "$d/nginx.conf" >/dev/null 2>&1 &
pids+=($!)
wait_port 127.0.0.1:34143
workers=""
for _ in $(seq 50); do # the listener is open before the workers are forked
	workers=$(pgrep -d, -P "${pids[-1]}" || true)
	[ "$(tr , '\n' <<<"$workers" | grep -c .)" -ge 2 ] && break
	sleep 0.1
done
[ -n "$workers" ] || { echo "nginx started no workers" >&2; exit 1; }
measure nginx 34143 "$workers"
kill "${pids[-1]}"
sleep 0.5
# shellcheck disable=SC2086
env ${MP_ENV:-} "$mp" -c "$d/mailproxy.conf" >/dev/null 2>"$d/mailproxy.err" &
pids+=($!)
wait_port 127.0.0.1:35143
measure "mailproxy${MP_ENV:+ ($MP_ENV)}" 35143 "${pids[-1]}"
if [ "${PROFILE:-0}" = 1 ]; then
	perf record -F 1999 -g -o "$d/mailproxy.perf" -p "${pids[-1]}" -- sleep 4 >/dev/null 2>&1 &
	q=$!
	# shellcheck disable=SC2086
	"$d/mailbench" login -proto "$proto" -addr 127.0.0.1:35143 $load -src 8 -progress=false ${CLI:-} >/dev/null 2>&1 || true
	wait "$q" || true
	echo "profile: perf report -i $d/mailproxy.perf"
fi
