# scripts/lib/wait.sh: shared by quickstart.sh, bench-vs-nginx.sh and the bench/ scripts.

# wait_port HOST:PORT: poll until something accepts TCP there, at most 10 s;
# says so on stderr and fails otherwise.
wait_port() {
	local host=${1%:*} port=${1##*:} i
	for i in $(seq 100); do
		if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	echo "nothing listens on $1" >&2
	return 1
}
