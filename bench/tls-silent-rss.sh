#!/usr/bin/env bash
# Memory per waiting TLS connection: starts mailproxy on an ssl listener,
# opens N connections that send nothing (silent) or one ClientHello and
# then nothing (hello: the handshake is half done), and prints VmRSS
# before and after and the difference per connection.
#
#   bench/tls-silent-rss.sh [BINARY] [N] [silent|hello]
#
# BINARY defaults to a fresh build of ./cmd/mailproxy. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/cert.sh
. scripts/lib/cert.sh
bin=${1:-}
n=${2:-4000}
mode=${3:-silent}
dir=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
if [ -z "$bin" ]; then
	bin=$dir/mailproxy
	go build -o "$bin" ./cmd/mailproxy
fi
self_signed_cert "$dir" mx.test
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$dir/mailproxy.conf" <<EOF
worker_processes 2;
error_log $dir/error.log warn;
pid $dir/mailproxy.pid;
events { worker_connections 20000; }
mail {
    server_name mx.test;
    auth_http 127.0.0.1:9/auth;
    timeout 10m;
    ssl_certificate $dir/cert.pem;
    ssl_certificate_key $dir/key.pem;
    server {
        listen 127.0.0.1:$port ssl;
        protocol imap;
    }
}
EOF
"$bin" -c "$dir/mailproxy.conf" &
pid=$!
python3 - "$port" "$n" "$mode" "$pid" <<'EOF'
import socket, ssl, sys, time
port, n, mode, pid = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]

def rss():
    for line in open("/proc/%s/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])

def hello():
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    obj = ctx.wrap_bio(ssl.MemoryBIO(), out := ssl.MemoryBIO(), server_hostname="mx.test")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()

for _ in range(500):  # wait for the listener
    try:
        socket.create_connection(("127.0.0.1", port)).close()
        break
    except OSError:
        time.sleep(0.01)
time.sleep(1)
before = rss()
ch = hello() if mode == "hello" else b""
conns = []
for _ in range(n):
    c = socket.create_connection(("127.0.0.1", port))
    if ch:
        c.sendall(ch)
    conns.append(c)
time.sleep(3)  # let the proxy take them in and settle
after = rss()
print("mode %s, %d connections: VmRSS %d kB -> %d kB, %.1f kB per connection" % (mode, n, before, after, (after - before) / n))
EOF
