# scripts/lib/cert.sh: shared by bench-vs-nginx.sh and the bench/ scripts.

# self_signed_cert DIR CN: a throwaway self-signed P-256 certificate for CN,
# valid two days, as DIR/cert.pem and its key as DIR/key.pem.
self_signed_cert() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=$2" \
		-keyout "$1/key.pem" -out "$1/cert.pem" 2>/dev/null
}
