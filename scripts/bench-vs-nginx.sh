#!/usr/bin/env bash
# bench-vs-nginx.sh: measure mailproxy and nginx's mail module in the same
# run, interleaved, against the same mock auth_http server and mock backend,
# and print mailproxy/nginx ratios. Loopback only; every load run is bounded
# in time. Takes about 6 minutes on a 2-core machine with the defaults.
#
#   scripts/bench-vs-nginx.sh                 # everything
#   DUR=3s REPS=1 scripts/bench-vs-nginx.sh   # quicker, noisier
#   ONLY=login scripts/bench-vs-nginx.sh      # login | rate | tls | relay | idle
#                                             # (tls: IMAPS and IMAP STARTTLS logins)
#   NO_MAILPROXY=1 scripts/bench-vs-nginx.sh  # nginx figures only
#
# Knobs (environment): DUR (per run, default 5s), REPS (interleaved
# repetitions, 2), LOOPS (nginx worker_processes = mailproxy event loops, 2),
# CONCS ("50 200"), PROTOS ("imap pop3 smtp"), RELAY_C (4), SIZE (relay
# message bytes, 1048576), IDLE_CONNS (pre-auth connections held, 19000),
# IDLE_SESSIONS (relayed sessions held, 9000), TLS (1: also IMAPS logins on
# 2x993 and IMAP STARTTLS logins on 2x144, with a self-signed P-256
# certificate, for each target whose -t accepts ssl and starttls; 0: off),
# MAILPROXY_BIN (use this binary instead of building
# ./cmd/mailproxy from the working tree), RATES (open-loop IMAP login rates per second, c=200
# cap, latency from the intended start; "" skips), OUT (results dir),
# ECDH_CURVE (ssl_ecdh_curve for both targets, e.g. X25519 so both agree on
# the key exchange; default: each one's own default), FLOOR (1, the default:
# also run the login phase through HAProxy in
# plain TCP mode straight to the mock backend, no auth_http and no login
# dialogue of its own: what a proxy costs per login just to pass the
# bytes, printed as its own table; 0: off).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DUR=${DUR:-5s}
REPS=${REPS:-2}
LOOPS=${LOOPS:-2}
CONCS=${CONCS:-"50 200"}
PROTOS=${PROTOS:-"imap pop3 smtp"}
RELAY_C=${RELAY_C:-4}
SIZE=${SIZE:-1048576}
IDLE_CONNS=${IDLE_CONNS:-19000}
IDLE_SESSIONS=${IDLE_SESSIONS:-9000}
# One generator process holds the idle connections: keep them under its
# open-file limit (Go raises the soft limit to the hard one).
NOFILE=$(ulimit -Hn)
if [ "$NOFILE" != unlimited ] && [ $((IDLE_CONNS + 100)) -gt "$NOFILE" ]; then
	IDLE_CONNS=$((NOFILE - 100))
	echo "open files are capped at $NOFILE: holding $IDLE_CONNS idle pre-auth connections" >&2
fi
if [ "$NOFILE" != unlimited ] && [ $((2 * IDLE_SESSIONS + 100)) -gt "$NOFILE" ]; then
	IDLE_SESSIONS=$(((NOFILE - 100) / 2))
	echo "open files are capped at $NOFILE: holding $IDLE_SESSIONS idle relayed sessions" >&2
fi
ONLY=${ONLY:-}
TLS=${TLS:-1}
RATES=${RATES:-"2000"}
ECDH_CURVE=${ECDH_CURVE:-}
FLOOR=${FLOOR:-1}
OUT=${OUT:-$(mktemp -d /tmp/bench-vs-nginx.XXXXXX)}
mkdir -p "$OUT"

AUTH=127.0.0.1:19080
declare -A BACKEND=([imap]=127.0.0.1:19143 [pop3]=127.0.0.1:19110 [smtp]=127.0.0.1:19025)
declare -A PORT=([imap]=143 [pop3]=110 [smtp]=025)
declare -A BASE=([nginx]=21 [mailproxy]=22 [floor]=20)   # nginx imap on :21143, mailproxy on :22143, floor on :20143

log() { printf '%s\n' "$*" >&2; }

# --- build and install -------------------------------------------------------
mkdir -p "$ROOT/bin"
(cd "$ROOT" && go build -o bin/mailbench ./bench/cmd/mailbench)
TARGETS="nginx mailproxy"
MP_BIN=${MAILPROXY_BIN:-$ROOT/bin/mailproxy}
if [ -n "${NO_MAILPROXY:-}" ]; then
	TARGETS="nginx"
elif [ -n "${MAILPROXY_BIN:-}" ]; then
	log "using $MAILPROXY_BIN"
elif ! (cd "$ROOT" && go build -o bin/mailproxy ./cmd/mailproxy) 2>"$OUT/mailproxy-build.log"; then
	log "mailproxy does not build (see $OUT/mailproxy-build.log): measuring nginx only"
	TARGETS="nginx"
fi
MB="$ROOT/bin/mailbench"
# nginx + its mail module, openssl for the TLS phase's certificate, haproxy
# for the floor, curl for the mock's counters: the test suite's installer (apt-get update first, as a fresh machine needs; no
# service started, the Debian nginx on :80 stopped afterwards).
# shellcheck source=scripts/lib/install.sh
. "$ROOT/scripts/lib/install.sh"
TEST_PKGS=(nginx libnginx-mod-mail openssl haproxy curl)
install_test_deps || { log "cannot install nginx (run as root on Debian, or install nginx + libnginx-mod-mail)"; exit 1; }

# --- processes ---------------------------------------------------------------
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

# shellcheck source=scripts/lib/wait.sh
. "$ROOT/scripts/lib/wait.sh"

"$MB" mockauth -listen $AUTH -imap ${BACKEND[imap]} -pop3 ${BACKEND[pop3]} -smtp ${BACKEND[smtp]} \
	2>"$OUT/mockauth.log" &
AUTH_PID=$!; PIDS+=($AUTH_PID)
"$MB" mockbackend -imap ${BACKEND[imap]} -pop3 ${BACKEND[pop3]} -smtp ${BACKEND[smtp]} -size "$SIZE" \
	2>"$OUT/mockbackend.log" &
BACKEND_PID=$!; PIDS+=($BACKEND_PID)
wait_port $AUTH; wait_port ${BACKEND[imap]}
MOCKS="$AUTH_PID,$BACKEND_PID"

# TLS: one throwaway certificate for both targets.
declare -A TLS_OK=([nginx]=0 [mailproxy]=0)
if [ "$TLS" = 1 ]; then
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=mx.bench \
		-keyout "$OUT/key.pem" -out "$OUT/cert.pem" 2>/dev/null
fi

# write_conf TARGET [TLS]: the same nginx-syntax config for both, ports
# 2x143 etc.; with TLS=1 also an implicit-TLS IMAP server on 2x993 and a
# plaintext one offering STARTTLS on 2x144 (same certificate).
write_conf() {
	local t=$1 b=${BASE[$1]} dir="$OUT/$1" tls=${2:-${TLS_OK[$1]}}
	local ssl="" sslsrv="" starttlssrv=""
	if [ "$tls" = 1 ]; then
		ssl="ssl_certificate $OUT/cert.pem; ssl_certificate_key $OUT/key.pem;"
		if [ -n "$ECDH_CURVE" ]; then ssl="$ssl ssl_ecdh_curve $ECDH_CURVE;"; fi
		sslsrv="server { listen 127.0.0.1:${b}993 ssl; protocol imap; }"
		starttlssrv="server { listen 127.0.0.1:${b}144; protocol imap; starttls on; }"
	fi
	mkdir -p "$dir"
	cat >"$dir/mail.conf" <<CONF
load_module /usr/lib/nginx/modules/ngx_mail_module.so;
daemon off;
master_process on;
worker_processes $LOOPS;
worker_rlimit_nofile 20000;
pid $dir/$t.pid;
error_log $dir/error.log;
events { worker_connections 20000; }
mail {
    server_name mx.bench;
    auth_http $AUTH/auth;
    proxy_pass_error_message on;
    timeout 5m;
    imap_capabilities IMAP4rev1;
    smtp_auth plain login;
    xclient on;
    $ssl
    $sslsrv
    $starttlssrv
    server { listen 127.0.0.1:${b}143; protocol imap; }
    server { listen 127.0.0.1:${b}110; protocol pop3; }
    server { listen 127.0.0.1:${b}025; protocol smtp; }
}
CONF
}

# tls_check TARGET: does the target accept the TLS config?
tls_check() {
	local t=$1 dir="$OUT/$1"
	[ "$TLS" = 1 ] || return 1
	write_conf "$t" 1
	if [ "$t" = nginx ]; then
		nginx -t -p "$dir" -c "$dir/mail.conf" >"$dir/tls-check.log" 2>&1
	else
		"$MP_BIN" -t -c "$dir/mail.conf" >"$dir/tls-check.log" 2>&1
	fi
}
for t in $TARGETS; do
	if tls_check "$t"; then TLS_OK[$t]=1; elif [ "$TLS" = 1 ]; then
		log "$t rejects the TLS config (no TLS or STARTTLS figures for it): $(head -1 "$OUT/$t/tls-check.log")"
	fi
done

declare -A TPID
start_target() {
	local t=$1 dir="$OUT/$1"
	write_conf "$t"
	if [ "$t" = nginx ]; then
		nginx -p "$dir" -c "$dir/mail.conf" >"$dir/stdout.log" 2>&1 &
	else
		"$MP_BIN" -c "$dir/mail.conf" >"$dir/stdout.log" 2>&1 &
	fi
	TPID[$t]=$!; PIDS+=(${TPID[$t]})
	wait_port 127.0.0.1:${BASE[$t]}143
}
stop_target() {
	local t=$1
	kill "${TPID[$t]}" 2>/dev/null || true
	wait "${TPID[$t]}" 2>/dev/null || true
}
for t in $TARGETS; do start_target "$t"; done

# order REP [TARGET...]: alternate which target goes first in each
# repetition (default list: $TARGETS).
order() {
	local rep=$1 list
	shift
	list=${*:-$TARGETS}
	if [ $((rep % 2)) -eq 1 ]; then echo $list; else echo $list | tr ' ' '\n' | tac | tr '\n' ' '; fi
}
addr() { echo 127.0.0.1:${BASE[$1]}${PORT[$2]}; }

# The floor: HAProxy in TCP mode from 20143/20110/20025 straight to the
# mock backend, in the foreground (-db) so its pid is the one sampled.
LOGIN_TARGETS=$TARGETS
if [ "$FLOOR" = 1 ] && ! command -v haproxy >/dev/null 2>&1; then
	log "no haproxy: no floor figures"
elif [ "$FLOOR" = 1 ] && { [ -z "$ONLY" ] || [ "$ONLY" = login ]; }; then
	mkdir -p "$OUT/floor"
	{
		printf 'global\n    maxconn 4000\ndefaults\n    mode tcp\n    timeout connect 5s\n    timeout client 5m\n    timeout server 5m\n'
		for proto in imap pop3 smtp; do
			printf 'listen %s\n    bind %s\n    server mock %s\n' "$proto" "$(addr floor "$proto")" "${BACKEND[$proto]}"
		done
	} >"$OUT/floor/haproxy.cfg"
	haproxy -db -f "$OUT/floor/haproxy.cfg" >"$OUT/floor/stdout.log" 2>&1 &
	TPID[floor]=$!; PIDS+=(${TPID[floor]})
	if wait_port "$(addr floor imap)"; then LOGIN_TARGETS="$TARGETS floor"; else log "haproxy did not start: no floor figures"; fi
fi


# --- runs --------------------------------------------------------------------
if [ -z "$ONLY" ] || [ "$ONLY" = login ]; then
	for proto in $PROTOS; do for c in $CONCS; do for rep in $(seq "$REPS"); do for t in $(order "$rep" $LOGIN_TARGETS); do
		log "login $proto c=$c rep=$rep $t"
		dir=$OUT; [ "$t" = floor ] && dir=$OUT/floor
		"$MB" login -json -label "$t" -proto "$proto" -addr "$(addr $t $proto)" -c "$c" -d "$DUR" -src 8 \
			-pid "${TPID[$t]}" -mockpid "$MOCKS" >"$dir/login-$proto-c$c-$t-$rep.json"
	done; done; done; done
fi
if [ "$LOGIN_TARGETS" != "$TARGETS" ]; then
	# The floor's own table reads $OUT/floor: its runs and nginx's.
	for f in "$OUT"/login-*-nginx-*.json; do if [ -e "$f" ]; then ln -sf "$f" "$OUT/floor/"; fi; done
	stop_target floor
fi
if [ -z "$ONLY" ] || [ "$ONLY" = rate ]; then
	for rate in $RATES; do for rep in $(seq "$REPS"); do for t in $(order "$rep"); do
		log "login imap open loop rate=$rate rep=$rep $t"
		"$MB" login -json -label "$t" -rate "$rate" -proto imap -addr "$(addr $t imap)" -c 200 -d "$DUR" -src 8 \
			-pid "${TPID[$t]}" -mockpid "$MOCKS" >"$OUT/rate-imap-r$rate-$t-$rep.json"
	done; done; done
fi
if [ -z "$ONLY" ] || [ "$ONLY" = tls ]; then
	# Implicit TLS on 2x993 and STARTTLS on 2x144; the report's tls or
	# starttls flag makes its own summary row ("login imap+tls c=50",
	# "login imap+starttls c=50"). The two modes alternate inside each
	# repetition too: a process's later runs cost a little more than its
	# earlier ones (TIME_WAIT sockets pile up), which would otherwise all
	# fall on the mode that runs second.
	declare -A TLSPORT=([tls]=993 [starttls]=144)
	for rep in $(seq "$REPS"); do for mode in $(order "$rep" tls starttls); do for t in $(order "$rep"); do
		[ "${TLS_OK[$t]}" = 1 ] || continue
		log "login imap+$mode c=50 rep=$rep $t"
		"$MB" login -json -label "$t" "-$mode" -proto imap -addr "127.0.0.1:${BASE[$t]}${TLSPORT[$mode]}" -c 50 -d "$DUR" -src 8 \
			-pid "${TPID[$t]}" -mockpid "$MOCKS" >"$OUT/$mode-imap-c50-$t-$rep.json"
	done; done; done
fi
if [ -z "$ONLY" ] || [ "$ONLY" = relay ]; then
	for proto in $PROTOS; do for rep in $(seq "$REPS"); do for t in $(order "$rep"); do
		log "relay $proto rep=$rep $t"
		"$MB" relay -json -label "$t" -proto "$proto" -addr "$(addr $t $proto)" -c "$RELAY_C" -d "$DUR" -size "$SIZE" \
			-pid "${TPID[$t]}" -mockpid "$MOCKS" >"$OUT/relay-$proto-$t-$rep.json"
	done; done; done
fi
if [ -z "$ONLY" ] || [ "$ONLY" = idle ]; then
	# Fresh processes, so heap freed by earlier runs cannot absorb the
	# growth; one target at a time, the other stopped.
	for t in $TARGETS; do stop_target "$t"; done
	for t in $TARGETS; do
		start_target "$t"
		log "idle pre-auth imap $IDLE_CONNS $t"
		"$MB" idle -json -label "$t" -proto imap -addr "$(addr $t imap)" -conns "$IDLE_CONNS" -src 16 -hold 5s \
			-pid "${TPID[$t]}" >"$OUT/idle-preauth-$t.json"
		stop_target "$t"; start_target "$t"
		log "idle relayed imap $IDLE_SESSIONS $t"
		"$MB" idle -json -label "$t" -login -proto imap -addr "$(addr $t imap)" -conns "$IDLE_SESSIONS" -src 16 -hold 5s \
			-pid "${TPID[$t]}" >"$OUT/idle-relayed-$t.json"
		stop_target "$t"
	done
fi
curl -s "http://$AUTH/stats" >"$OUT/mockauth-stats.json" || true

# --- summary -----------------------------------------------------------------
{
	echo "machine: $(nproc) CPUs, $(uname -r), $(go version | cut -d' ' -f3-), $(nginx -v 2>&1 | cut -d' ' -f3-)"
	echo "mailproxy: ${MAILPROXY_BIN:-$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)}; loops/workers: $LOOPS; run: $DUR x $REPS interleaved"
	echo "mock auth_http: $(cat "$OUT/mockauth-stats.json" 2>/dev/null)"
	"$MB" summary -base nginx -cand mailproxy "$OUT"
	if [ "$LOGIN_TARGETS" != "$TARGETS" ] && [ -n "$(ls "$OUT"/floor/login-*-nginx-*.json 2>/dev/null)" ]; then
		echo
		echo "floor: HAProxy $(haproxy -v 2>/dev/null | head -1 | cut -d' ' -f3) in TCP mode straight to the mock backend (no auth_http, no login dialogue), same run:"
		"$MB" summary -base nginx -cand floor "$OUT/floor"
	fi
} | tee "$OUT/summary.txt"
log "raw JSON and logs: $OUT"
