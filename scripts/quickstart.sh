#!/usr/bin/env bash
# quickstart.sh: build mailproxy and mailbench into ./bin, start a mock
# auth_http server and a mock IMAP/POP3/SMTP backend on loopback, and run
# mailproxy in the foreground with a demo config. Ctrl-C stops all three.
#
#   scripts/quickstart.sh           # run the demo
#   scripts/quickstart.sh --check   # start everything, log in once with curl
#                                   # through each proxied protocol, exit 0/1
#
# Demo listeners: IMAP 127.0.0.1:1143, POP3 :1110, SMTP :1025 (POP3 and SMTP
# only if "mailproxy -t" accepts them). Any user name works with the
# password "pass" or "secret". Mocks: auth_http on :18080, backends on
# :18143 (imap) :18110 (pop3) :18025 (smtp).
set -euo pipefail

CHECK=0
case "${1:-}" in
--check) CHECK=1 ;;
"") ;;
*) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN="$ROOT/bin"
mkdir -p "$BIN"
echo "building mailproxy and mailbench into $BIN" >&2
(cd "$ROOT" && go build -o "$BIN/mailproxy" ./cmd/mailproxy && go build -o "$BIN/mailbench" ./bench/cmd/mailbench)

DIR=$(mktemp -d /tmp/mailproxy-quickstart.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# shellcheck source=scripts/lib/wait.sh
. "$ROOT/scripts/lib/wait.sh"

"$BIN/mailbench" mockauth -listen 127.0.0.1:18080 -pass pass,secret \
	-imap 127.0.0.1:18143 -pop3 127.0.0.1:18110 -smtp 127.0.0.1:18025 2>"$DIR/mockauth.log" &
PIDS+=($!)
"$BIN/mailbench" mockbackend -imap 127.0.0.1:18143 -pop3 127.0.0.1:18110 -smtp 127.0.0.1:18025 \
	-size 2048 -name backend.demo 2>"$DIR/mockbackend.log" &
PIDS+=($!)
wait_port 127.0.0.1:18080
wait_port 127.0.0.1:18143

# write_conf SERVERS...: the demo config with the given server blocks.
write_conf() {
	{
		cat <<CONF
# mailproxy demo config (nginx mail syntax)
worker_processes 2;
error_log stderr info;
events { worker_connections 1024; }
mail {
    server_name mail.demo;
    auth_http 127.0.0.1:18080/auth;
    proxy_pass_error_message on;
    imap_capabilities IMAP4rev1 IDLE;
CONF
		for s in "$@"; do
			case $s in
			imap) echo "    server { listen 127.0.0.1:1143; protocol imap; }" ;;
			pop3) echo "    server { listen 127.0.0.1:1110; protocol pop3; }" ;;
			smtp) echo "    server { listen 127.0.0.1:1025; protocol smtp; smtp_auth plain login; xclient on; }" ;;
			esac
		done
		echo "}"
	} >"$DIR/mail.conf"
}

# Keep every protocol the binary accepts; IMAP is required.
PROTOS=(imap)
write_conf imap
if ! "$BIN/mailproxy" -t -c "$DIR/mail.conf" >"$DIR/t.log" 2>&1; then
	cat "$DIR/t.log" >&2
	echo "mailproxy rejects the IMAP demo config" >&2
	exit 1
fi
for p in pop3 smtp; do
	write_conf "${PROTOS[@]}" "$p"
	if "$BIN/mailproxy" -t -c "$DIR/mail.conf" >"$DIR/t.log" 2>&1; then
		PROTOS+=("$p")
	else
		echo "note: leaving $p out, mailproxy -t says: $(grep -m1 -E 'emerg|error' "$DIR/t.log" || head -1 "$DIR/t.log")" >&2
	fi
done
write_conf "${PROTOS[@]}"

has() { [[ " ${PROTOS[*]} " == *" $1 "* ]]; }

if [ $CHECK -eq 1 ]; then
	"$BIN/mailproxy" -c "$DIR/mail.conf" >"$DIR/mailproxy.log" 2>&1 &
	PIDS+=($!)
	wait_port 127.0.0.1:1143
	rc=0
	if out=$(curl -sS --max-time 10 'imap://demo:pass@127.0.0.1:1143/INBOX;UID=1' 2>&1) &&
		grep -q 'Subject: mailbench message' <<<"$out"; then
		echo "imap: ok (logged in through 127.0.0.1:1143 and fetched the message)"
	else
		echo "imap: FAILED: $out"; rc=1
	fi
	if out=$(curl -sS --max-time 10 'imap://demo:wrong@127.0.0.1:1143/INBOX;UID=1' 2>&1); then
		echo "imap bad password: FAILED (login accepted)"; rc=1
	else
		echo "imap bad password: ok (rejected)"
	fi
	if has pop3; then
		if out=$(curl -sS --max-time 10 'pop3://demo:pass@127.0.0.1:1110/1' 2>&1) &&
			grep -q 'Subject: mailbench message' <<<"$out"; then
			echo "pop3: ok (logged in through 127.0.0.1:1110 and retrieved the message)"
		else
			echo "pop3: FAILED: $out"; rc=1
		fi
	fi
	if has smtp; then
		if out=$(printf 'Subject: quickstart\r\n\r\nhello\r\n' | curl -sS --max-time 10 --mail-from demo@example.com \
			--mail-rcpt rcpt@example.com --login-options AUTH=PLAIN -T - 'smtp://demo:pass@127.0.0.1:1025' 2>&1); then
			echo "smtp: ok (authenticated through 127.0.0.1:1025 and sent a message)"
		else
			echo "smtp: FAILED: $out"; rc=1
		fi
	fi
	if [ $rc -ne 0 ]; then
		echo "--- mailproxy log" >&2; tail -20 "$DIR/mailproxy.log" >&2
	fi
	exit $rc
fi

cat <<MSG

mailproxy demo: ${PROTOS[*]} on 127.0.0.1 (config: $DIR/mail.conf)
Any user name logs in with the password "pass" or "secret"; other passwords
get nginx's "NO Invalid login or password".

  curl -v 'imap://demo:pass@127.0.0.1:1143/INBOX;UID=1'
  python3 -c 'import imaplib; m=imaplib.IMAP4("127.0.0.1",1143); print(m.login("demo","pass")); m.select(); print(m.fetch("1","(BODY[])")[1][0][1][:120]); m.logout()'
MSG
if has pop3; then
	cat <<MSG
  curl -v 'pop3://demo:pass@127.0.0.1:1110/1'
  python3 -c 'import poplib; p=poplib.POP3("127.0.0.1",1110); p.user("demo"); print(p.pass_("pass")); print(p.stat()); p.quit()'
MSG
fi
if has smtp; then
	cat <<MSG
  swaks --server 127.0.0.1:1025 --auth PLAIN --auth-user demo --auth-password pass --to rcpt@example.com
  python3 -c 'import smtplib; s=smtplib.SMTP("127.0.0.1",1025); print(s.login("demo","pass")); s.sendmail("a@example.com",["b@example.com"],"Subject: hi\r\n\r\nhello\r\n"); s.quit()'
MSG
fi
cat <<MSG
  $BIN/mailbench login -proto imap -addr 127.0.0.1:1143 -c 20 -d 5s     # a small load run

Ctrl-C stops mailproxy and the mocks.

MSG
"$BIN/mailproxy" -c "$DIR/mail.conf"
