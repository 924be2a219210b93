#!/usr/bin/env bash
# bench-vs-nginx.sh: measure mailproxy and nginx's mail module in the same
# run, interleaved, against the same mock auth_http server and mock backend,
# with HAProxy in TCP mode as the floor, and print one table of medians,
# mailproxy/nginx ratios, each row's target (met / missed) and the floor.
# Loopback only; every load run is bounded in time. Takes 8-10 minutes on a
# 2-core machine with the defaults.
#
#   scripts/bench-vs-nginx.sh                 # everything
#   DUR=3s REPS=1 scripts/bench-vs-nginx.sh   # quicker, noisier
#   ONLY="tls resume" scripts/bench-vs-nginx.sh   # some phases (space or comma list):
#       login    plaintext logins, closed loop at each of CONCS
#       rate     plaintext logins, open loop at each of RATES
#       tls      IMAP logins with a full TLS handshake, implicit TLS and
#                STARTTLS, with ECDH_CURVE on both sides (kx=X25519 rows)
#                and with each side's default key exchange (kx=default)
#       resume   the same with resumed TLS sessions: session tickets, and
#                nginx's server-side cache (ssl_session_tickets off;
#                ssl_session_cache shared), each side's own
#       relay    message throughput
#       idle     memory per held plaintext connection, pre-auth and relayed
#       idletls  the same over implicit TLS
#   NO_MAILPROXY=1 scripts/bench-vs-nginx.sh  # nginx (and the floor) only
#   MP_ENV="GOGC=50 GOMEMLIMIT=1GiB" scripts/bench-vs-nginx.sh
#
# Knobs (environment): DUR (per run, default 4s), REPS (interleaved
# repetitions, 2), LOOPS (nginx worker_processes = mailproxy event loops =
# HAProxy threads, 2), CONCS ("50 200"), PROTOS ("imap pop3 smtp": the
# login, rate and relay phases), RATES (open-loop login rates per second,
# c=200 cap, latency from the intended start, "2000"; "" skips), TLS_C
# (workers of the tls and resume phases, 50), RELAY_C (4), SIZE (relay
# message bytes, 1048576), IDLE_CONNS (plaintext pre-auth connections held,
# 19000), IDLE_SESSIONS (plaintext relayed sessions, 9000), IDLE_TLS_CONNS
# (implicit-TLS pre-auth connections, 9000), IDLE_TLS_SESSIONS (relayed
# implicit-TLS sessions, 6000), HOLD (idle: wait before sampling memory,
# 3s), TLS (1: the TLS phases, with a self-signed P-256 certificate, for
# each target whose -t accepts ssl and starttls; 0: off), ECDH_CURVE (the
# key exchange both sides are set to on the kx= rows, X25519; the resume and
# idletls phases use it too), FLOOR (1: HAProxy in TCP mode
# straight to the mock backend, no auth_http and no login dialogue of its
# own, runs every row it can: what a proxy costs just to pass the bytes;
# 0: off), MP_ENV (environment variables for the mailproxy process only,
# e.g. GC settings), MAILPROXY_BIN (use this binary instead of building
# ./cmd/mailproxy from the working tree), PORT_OFFSET (added to every port
# the run listens on, 0; the run stops if one is taken), OUT (results dir).
#
# Idle counts are capped by the open-file limit: the generator holds one
# descriptor per connection, mailproxy two per relayed session, HAProxy two
# per connection (it dials the backend at once), so the floor may hold
# fewer than the proxies (the table's "held" row says how many).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DUR=${DUR:-4s}
REPS=${REPS:-2}
LOOPS=${LOOPS:-2}
CONCS=${CONCS:-"50 200"}
PROTOS=${PROTOS:-"imap pop3 smtp"}
RATES=${RATES-"2000"}
TLS_C=${TLS_C:-50}
RELAY_C=${RELAY_C:-4}
SIZE=${SIZE:-1048576}
IDLE_CONNS=${IDLE_CONNS:-19000}
IDLE_SESSIONS=${IDLE_SESSIONS:-9000}
IDLE_TLS_CONNS=${IDLE_TLS_CONNS:-9000}
IDLE_TLS_SESSIONS=${IDLE_TLS_SESSIONS:-6000}
HOLD=${HOLD:-3s}
TLS=${TLS:-1}
ECDH_CURVE=${ECDH_CURVE:-X25519}
FLOOR=${FLOOR:-1}
MP_ENV=${MP_ENV:-}
ONLY=${ONLY:-}

log() { printf '%s\n' "$*" >&2; }

PHASES="login rate tls resume relay idle idletls"
ONLY=${ONLY//,/ }
for p in $ONLY; do
	case " $PHASES " in *" $p "*) ;; *) log "ONLY: unknown phase $p (phases: $PHASES)"; exit 2 ;; esac
done
# want PHASE: is the phase selected?
want() { [ -z "$ONLY" ] || case " $ONLY " in *" $1 "*) true ;; *) false ;; esac; }
if [ "$TLS" != 1 ]; then
	for p in tls resume idletls; do if [ -n "$ONLY" ] && want $p; then log "TLS=0: no $p phase"; fi; done
fi
OUT=${OUT:-$(mktemp -d /tmp/bench-vs-nginx.XXXXXX)}
mkdir -p "$OUT"

# One generator process holds the idle connections: keep them under its
# open-file limit (Go raises the soft limit to the hard one), and the
# relayed ones under mailproxy's (two descriptors each).
NOFILE=$(ulimit -Hn)
cap_conns() { # cap_conns NAME VALUE PER_CONN: VALUE, lowered to fit NOFILE
	local name=$1 v=$2 per=$3
	if [ "$NOFILE" != unlimited ] && [ $((per * v + 100)) -gt "$NOFILE" ]; then
		v=$(((NOFILE - 100) / per))
		log "open files are capped at $NOFILE: $name=$v"
	fi
	echo "$v"
}
IDLE_CONNS=$(cap_conns IDLE_CONNS "$IDLE_CONNS" 1)
IDLE_SESSIONS=$(cap_conns IDLE_SESSIONS "$IDLE_SESSIONS" 2)
IDLE_TLS_CONNS=$(cap_conns IDLE_TLS_CONNS "$IDLE_TLS_CONNS" 1)
IDLE_TLS_SESSIONS=$(cap_conns IDLE_TLS_SESSIONS "$IDLE_TLS_SESSIONS" 2)
# HAProxy holds two descriptors per connection and cannot raise its limit
# above the hard one: its maxconn, and the most the floor's idle rows hold.
FLOOR_MAXCONN=20000
if [ "$NOFILE" != unlimited ]; then FLOOR_MAXCONN=$(((NOFILE - 200) / 2)); fi

# Ports: the mocks on 19080 (auth) and 19143/19110/19025; nginx imap on
# 21143, mailproxy on 22143, the floor on 20143 (pop3 2x110, smtp 2x025);
# IMAP TLS listeners with each side's default key exchange on 2x993
# (implicit) and 2x144 (STARTTLS), with ECDH_CURVE on 2x994 and 2x145,
# and with ECDH_CURVE, no session tickets and a shared session cache on
# 2x996 and 2x146 (the resume phase's "cache" rows), with ECDH_CURVE and
# TLS 1.2 only on 2x997 and 2x147 (its "TLSv1.2" rows).
# PORT_OFFSET moves them all, for a second run on the same machine.
PORT_OFFSET=${PORT_OFFSET:-0}
declare -A BASE=([mock]=19000 [haproxy]=20000 [nginx]=21000 [mailproxy]=22000)
declare -A PORT=([imap]=143 [pop3]=110 [smtp]=25)
declare -A TLSPORT=([tls-default]=993 [tls-same]=994 [tls-cache]=996 [tls-tls12]=997
	[starttls-default]=144 [starttls-same]=145 [starttls-cache]=146 [starttls-tls12]=147)
# port TARGET N: the target's port N (143, 993...).
port() { echo $((BASE[$1] + $2 + PORT_OFFSET)); }
addr() { echo "127.0.0.1:$(port "$1" "${PORT[$2]}")"; }
# tls_addr TARGET MODE VARIANT: MODE tls or starttls, VARIANT default, same,
# cache or tls12.
tls_addr() { echo "127.0.0.1:$(port "$1" "${TLSPORT[$2-$3]}")"; }
AUTH=127.0.0.1:$(port mock 80)
declare -A BACKEND=([imap]=$(addr mock imap) [pop3]=$(addr mock pop3) [smtp]=$(addr mock smtp))
declare -A TLSTAG=([default]=kx=default [same]=kx=$ECDH_CURVE [cache]="kx=$ECDH_CURVE cache"
	[tls12]="kx=$ECDH_CURVE TLSv1.2")

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
read -ra MP_ENV_VARS <<<"$MP_ENV"
MB="$ROOT/bin/mailbench"
# nginx + its mail module, openssl for the TLS phases' certificate, haproxy
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
# shellcheck source=scripts/lib/cert.sh
. "$ROOT/scripts/lib/cert.sh"

# alive NAME PID LOG: the process is still running (it may have failed to
# bind, and wait_port may have found someone else's listener).
alive() {
	kill -0 "$2" 2>/dev/null && return 0
	log "$1 exited at start: $(tail -3 "$3" 2>/dev/null)"
	exit 1
}
# Another run (or a test) on these ports would be measured instead: stop.
{
	printf '%s\n' "$AUTH" "${BACKEND[@]}"
	for t in nginx mailproxy haproxy; do
		for p in "${PORT[@]}" "${TLSPORT[@]}"; do printf '127.0.0.1:%s\n' "$(port $t "$p")"; done
	done
} | while read -r a; do
	if (exec 3<>"/dev/tcp/${a%:*}/${a##*:}") 2>/dev/null; then
		log "something already listens on $a (another run?): stop it or set PORT_OFFSET"
		exit 1
	fi
done || exit 1

"$MB" mockauth -listen $AUTH -imap ${BACKEND[imap]} -pop3 ${BACKEND[pop3]} -smtp ${BACKEND[smtp]} \
	2>"$OUT/mockauth.log" &
AUTH_PID=$!; PIDS+=($AUTH_PID)
"$MB" mockbackend -imap ${BACKEND[imap]} -pop3 ${BACKEND[pop3]} -smtp ${BACKEND[smtp]} -size "$SIZE" \
	2>"$OUT/mockbackend.log" &
BACKEND_PID=$!; PIDS+=($BACKEND_PID)
wait_port $AUTH; wait_port ${BACKEND[imap]}
alive mockauth $AUTH_PID "$OUT/mockauth.log"; alive mockbackend $BACKEND_PID "$OUT/mockbackend.log"
MOCKS="$AUTH_PID,$BACKEND_PID"

# TLS: one throwaway certificate for all targets (HAProxy wants it and its
# key in one file).
declare -A TLS_OK=([nginx]=0 [mailproxy]=0 [haproxy]=0)
if [ "$TLS" = 1 ]; then
	self_signed_cert "$OUT" mx.bench
	cat "$OUT/cert.pem" "$OUT/key.pem" >"$OUT/cert-key.pem"
fi

# What each TLS variant's listeners add to the block's TLS settings: each
# side's defaults, ECDH_CURVE, ECDH_CURVE with sessions kept in a shared
# cache instead of tickets, ECDH_CURVE with TLS 1.2 only.
declare -A TLSCONF=([default]="" [same]="ssl_ecdh_curve $ECDH_CURVE;"
	[cache]="ssl_ecdh_curve $ECDH_CURVE; ssl_session_tickets off; ssl_session_cache shared:BENCH:10m;"
	[tls12]="ssl_ecdh_curve $ECDH_CURVE; ssl_protocols TLSv1.2;")

# write_conf TARGET [TLS]: the same nginx-syntax config for nginx and
# mailproxy, ports 2x143 etc.; with TLS=1 also the IMAP TLS listeners of
# TLSPORT, an implicit-TLS and a STARTTLS one per TLSCONF variant (same
# certificate).
write_conf() {
	local t=$1 dir="$OUT/$1" tls=${2:-${TLS_OK[$1]}}
	local ssl="" tlssrv="" v
	if [ "$tls" = 1 ]; then
		# ssl_protocols: nginx 1.22's default stops at TLSv1.2 (TLSv1.3
		# joined it in 1.23.4), mailproxy's is today's nginx default.
		ssl="ssl_certificate $OUT/cert.pem; ssl_certificate_key $OUT/key.pem; ssl_protocols TLSv1.2 TLSv1.3;"
		for v in default same cache tls12; do
			tlssrv+="
    server { listen $(tls_addr "$t" tls "$v") ssl; protocol imap; ${TLSCONF[$v]} }
    server { listen $(tls_addr "$t" starttls "$v"); protocol imap; starttls on; ${TLSCONF[$v]} }"
		done
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
    $tlssrv
    server { listen $(addr "$t" imap); protocol imap; }
    server { listen $(addr "$t" pop3); protocol pop3; }
    server { listen $(addr "$t" smtp); protocol smtp; }
}
CONF
}

# write_floor_conf: HAProxy in TCP mode from 20143/20110/20025 straight to
# the mock backend; with TLS=1 it also terminates implicit TLS on 20993
# (its default curves), 20994 (ECDH_CURVE), 20996 (ECDH_CURVE, no session
# tickets: resumed from its session cache) and 20997 (ECDH_CURVE, TLS 1.2
# only) in front of the IMAP mock (ports before PORT_OFFSET).
# Session cache and tickets are HAProxy's defaults (on).
write_floor_conf() {
	local dir="$OUT/haproxy" proto
	mkdir -p "$dir"
	{
		printf 'global\n    maxconn %d\n    nbthread %d\n' "$FLOOR_MAXCONN" "$LOOPS"
		printf 'defaults\n    mode tcp\n    maxconn %d\n    timeout connect 5s\n    timeout client 5m\n    timeout server 5m\n' "$FLOOR_MAXCONN"
		for proto in imap pop3 smtp; do
			printf 'listen %s\n    bind %s\n    server mock %s\n' "$proto" "$(addr haproxy "$proto")" "${BACKEND[$proto]}"
		done
		if [ "${TLS_OK[haproxy]}" = 1 ]; then
			printf 'listen imaps-default\n    bind %s ssl crt %s\n    server mock %s\n' \
				"$(tls_addr haproxy tls default)" "$OUT/cert-key.pem" "${BACKEND[imap]}"
			printf 'listen imaps-same\n    bind %s ssl crt %s curves %s\n    server mock %s\n' \
				"$(tls_addr haproxy tls same)" "$OUT/cert-key.pem" "$ECDH_CURVE" "${BACKEND[imap]}"
			printf 'listen imaps-cache\n    bind %s ssl crt %s curves %s no-tls-tickets\n    server mock %s\n' \
				"$(tls_addr haproxy tls cache)" "$OUT/cert-key.pem" "$ECDH_CURVE" "${BACKEND[imap]}"
			printf 'listen imaps-tls12\n    bind %s ssl crt %s curves %s ssl-max-ver TLSv1.2\n    server mock %s\n' \
				"$(tls_addr haproxy tls tls12)" "$OUT/cert-key.pem" "$ECDH_CURVE" "${BACKEND[imap]}"
		fi
	} >"$dir/haproxy.cfg"
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

# The floor joins every phase where it makes sense: FLOORS is "haproxy"
# or empty.
FLOORS=""
if [ "$FLOOR" = 1 ] && ! command -v haproxy >/dev/null 2>&1; then
	log "no haproxy: no floor figures"
elif [ "$FLOOR" = 1 ]; then
	TLS_OK[haproxy]=$TLS
	write_floor_conf
	if haproxy -c -f "$OUT/haproxy/haproxy.cfg" >"$OUT/haproxy/check.log" 2>&1; then
		FLOORS=haproxy
	else
		log "haproxy rejects its config (no floor figures): $(grep -m1 ALERT "$OUT/haproxy/check.log")"
	fi
fi

declare -A TPID
start_target() {
	local t=$1 dir="$OUT/$1"
	case $t in
	nginx)
		write_conf "$t"
		nginx -p "$dir" -c "$dir/mail.conf" >"$dir/stdout.log" 2>&1 &
		;;
	mailproxy)
		write_conf "$t"
		env "${MP_ENV_VARS[@]}" "$MP_BIN" -c "$dir/mail.conf" >"$dir/stdout.log" 2>&1 &
		;;
	haproxy)
		# In the foreground (-db), so its pid is the one sampled.
		haproxy -db -f "$dir/haproxy.cfg" >>"$dir/stdout.log" 2>&1 &
		;;
	esac
	TPID[$t]=$!; PIDS+=(${TPID[$t]})
	wait_port "$(addr "$t" imap)"
	alive "$t" "${TPID[$t]}" "$dir/stdout.log"
}
stop_target() {
	local t=$1
	kill "${TPID[$t]}" 2>/dev/null || true
	wait "${TPID[$t]}" 2>/dev/null || true
}
for t in $TARGETS $FLOORS; do start_target "$t"; done

# order REP TARGET...: alternate which goes first in each repetition.
order() {
	local rep=$1
	shift
	if [ $((rep % 2)) -eq 1 ]; then echo "$@"; else echo "$@" | tr ' ' '\n' | tac | tr '\n' ' '; fi
}
# tls_targets MODE: the targets that take TLS logins in MODE; HAProxy
# cannot do IMAP STARTTLS (the summary shows its implicit TLS there).
tls_targets() {
	local t
	for t in $TARGETS $FLOORS; do
		[ "${TLS_OK[$t]}" = 1 ] || continue
		[ "$t" = haproxy ] && [ "$1" = starttls ] && continue
		printf '%s ' "$t"
	done
}
# run_login TARGET FILE FLAG...: one bounded login run, its JSON in OUT.
run_login() {
	local t=$1 file=$2
	shift 2
	"$MB" login -json -label "$t" -d "$DUR" -src 8 -pid "${TPID[$t]}" -mockpid "$MOCKS" "$@" >"$OUT/$file"
}

# --- runs --------------------------------------------------------------------
if want login; then
	for proto in $PROTOS; do for c in $CONCS; do for rep in $(seq "$REPS"); do for t in $(order "$rep" $TARGETS $FLOORS); do
		log "login $proto c=$c rep=$rep $t"
		run_login "$t" "login-$proto-c$c-$t-$rep.json" -proto "$proto" -addr "$(addr "$t" "$proto")" -c "$c"
	done; done; done; done
fi
if want rate; then
	for rate in $RATES; do for proto in $PROTOS; do for rep in $(seq "$REPS"); do for t in $(order "$rep" $TARGETS $FLOORS); do
		log "login $proto open loop rate=$rate rep=$rep $t"
		run_login "$t" "rate-$proto-r$rate-$t-$rep.json" -rate "$rate" -proto "$proto" -addr "$(addr "$t" "$proto")" -c 200
	done; done; done; done
fi
if [ "$TLS" = 1 ] && want tls; then
	# Each run's tls or starttls flag and its -tag make its own summary
	# row ("login imap+tls c=50 kx=X25519"). Variants and modes alternate
	# inside each repetition too: a process's later runs cost a little
	# more than its earlier ones (TIME_WAIT sockets pile up), which would
	# otherwise all fall on whatever runs second.
	for rep in $(seq "$REPS"); do for variant in $(order "$rep" same default); do for mode in $(order "$rep" tls starttls); do
		for t in $(order "$rep" $(tls_targets "$mode")); do
			log "login imap+$mode ${TLSTAG[$variant]} c=$TLS_C rep=$rep $t"
			run_login "$t" "$mode-imap-$variant-c$TLS_C-$t-$rep.json" "-$mode" -tag "${TLSTAG[$variant]}" -proto imap \
				-addr "$(tls_addr "$t" "$mode" "$variant")" -c "$TLS_C"
		done
	done; done; done
fi
if [ "$TLS" = 1 ] && want resume; then
	# One client session cache per run: after the first handshakes every
	# login offers what the server gave it to resume with. The "same"
	# listeners of the kx= rows hand out session tickets (the session
	# sealed in the ticket); the "cache" ones keep the session in their
	# shared cache and hand out its key. Both are TLS 1.3, where resuming
	# still exchanges a key (clients offer only psk_dhe_ke); the "tls12"
	# ones resume TLS 1.2 sessions from tickets, which exchanges none (what
	# nginx 1.22 does by default: its ssl_protocols stop at TLSv1.2).
	for rep in $(seq "$REPS"); do for variant in $(order "$rep" same cache tls12); do for mode in $(order "$rep" tls starttls); do
		for t in $(order "$rep" $(tls_targets "$mode")); do
			log "login imap+$mode resumed ${TLSTAG[$variant]} c=$TLS_C rep=$rep $t"
			run_login "$t" "resume-$mode-imap-$variant-c$TLS_C-$t-$rep.json" "-$mode" -resume -tag "${TLSTAG[$variant]}" \
				-proto imap -addr "$(tls_addr "$t" "$mode" "$variant")" -c "$TLS_C"
		done
	done; done; done
fi
if want relay; then
	for proto in $PROTOS; do for rep in $(seq "$REPS"); do for t in $(order "$rep" $TARGETS $FLOORS); do
		log "relay $proto rep=$rep $t"
		"$MB" relay -json -label "$t" -proto "$proto" -addr "$(addr "$t" "$proto")" -c "$RELAY_C" -d "$DUR" -size "$SIZE" \
			-pid "${TPID[$t]}" -mockpid "$MOCKS" >"$OUT/relay-$proto-$t-$rep.json"
	done; done; done
fi

# idle_row NAME COUNT TLS FLAG...: each target freshly started, alone (the
# others stopped), holding COUNT connections (the floor at most its
# maxconn); TLS 1 dials the implicit-TLS listener with ECDH_CURVE. Fresh
# processes, so heap freed by earlier runs cannot absorb the growth.
idle_row() {
	local name=$1 count=$2 tls=$3 t n a
	shift 3
	for t in $TARGETS $FLOORS; do
		if [ "$tls" = 1 ]; then
			[ "${TLS_OK[$t]}" = 1 ] || continue
			a=$(tls_addr "$t" tls same)
		else
			a=$(addr "$t" imap)
		fi
		n=$count
		if [ "$t" = haproxy ] && [ "$n" -gt $((FLOOR_MAXCONN - 100)) ]; then n=$((FLOOR_MAXCONN - 100)); fi
		start_target "$t"
		log "idle $name $n $t"
		"$MB" idle -json -label "$t" -proto imap -addr "$a" -conns "$n" -src 16 -hold "$HOLD" "$@" \
			-pid "${TPID[$t]}" >"$OUT/idle-$name-$t.json"
		stop_target "$t"
		# The stopped process's backend connections are now TIME_WAIT on
		# the backend address the next one dials. Linux hands their ports
		# to new connections only once they are about a second old
		# (net.ipv4.tcp_tw_reuse_delay); before that, 9,000 fresh ones
		# plus the floor's earlier ones left too few ephemeral ports (a
		# full run lost 42 of mailproxy's relayed sessions, started right
		# after nginx's, to "connect: cannot assign requested address").
		sleep 2
	done
}
if want idle || { [ "$TLS" = 1 ] && want idletls; }; then
	for t in $TARGETS $FLOORS; do stop_target "$t"; done
	if want idle; then
		idle_row preauth "$IDLE_CONNS" 0
		idle_row relayed "$IDLE_SESSIONS" 0 -login
	fi
	if [ "$TLS" = 1 ] && want idletls; then
		idle_row tls-preauth "$IDLE_TLS_CONNS" 1 -tls
		idle_row tls-relayed "$IDLE_TLS_SESSIONS" 1 -tls -login
	fi
fi
curl -s "http://$AUTH/stats" >"$OUT/mockauth-stats.json" || true

# --- summary -----------------------------------------------------------------
{
	echo "machine: $(nproc) CPUs, $(uname -r), $(go version | cut -d' ' -f3-), $(nginx -v 2>&1 | cut -d' ' -f3-)"
	echo "mailproxy: ${MAILPROXY_BIN:-$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)}; MP_ENV: ${MP_ENV:-(none)}; loops/workers: $LOOPS; run: $DUR x $REPS interleaved; phases: ${ONLY:-all}"
	if [ "$TLS" = 1 ] && { want tls || want resume || want idletls; }; then
		echo "TLS: self-signed P-256 certificate, IMAP, ssl_protocols TLSv1.2 TLSv1.3 on both sides (TLSv1.2 rows: TLSv1.2 only); kx=$ECDH_CURVE rows: ssl_ecdh_curve $ECDH_CURVE on both sides; kx=default: each side's own default; resumed kx=$ECDH_CURVE: session tickets, each side's default ticket keys; resumed kx=$ECDH_CURVE cache: ssl_session_tickets off, ssl_session_cache shared:BENCH:10m (HAProxy: no-tls-tickets, its default cache)"
	fi
	if want idle || { [ "$TLS" = 1 ] && want idletls; }; then
		echo "idle: plaintext $IDLE_CONNS pre-auth / $IDLE_SESSIONS relayed, implicit TLS $IDLE_TLS_CONNS / $IDLE_TLS_SESSIONS, hold $HOLD"
	fi
	if [ -n "$FLOORS" ]; then
		echo "haproxy floor: HAProxy $(haproxy -v 2>/dev/null | head -1 | cut -d' ' -f3), $LOOPS threads, TCP mode straight to the mock backend (no auth_http, no login dialogue), same run; TLS rows: HAProxy terminating implicit TLS (curves $ECDH_CURVE on the kx=$ECDH_CURVE rows); idle rows: at most $((FLOOR_MAXCONN - 100)) connections (two descriptors each)"
	fi
	echo "mock auth_http: $(cat "$OUT/mockauth-stats.json" 2>/dev/null)"
	echo
	"$MB" summary -base nginx -cand mailproxy -floor haproxy "$OUT"
} | tee "$OUT/summary.txt"
log "raw JSON and logs: $OUT"
