# scripts/lib/install.sh: install the e2e tests' external programs on
# Debian 12, quietly and idempotently. Sourced by scripts/test.sh.
#
# install_test_deps: does nothing when every package is present. Otherwise
# (root only) waits for a background installer that logs to /tmp/apt.log
# (it ends with a "done" line), runs apt-get update + install with service
# starts denied, then stops and disables the services the packages bring:
# tests run private instances on their own ports.

TEST_PKGS=(dovecot-imapd dovecot-pop3d postfix swaks curl haproxy nginx
	libnginx-mod-mail prometheus openssl python3 fail2ban redis-server logrotate)
TEST_SERVICES=(dovecot postfix nginx haproxy prometheus prometheus-node-exporter fail2ban redis-server)

pkg_installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

missing_test_pkgs() {
	local p
	for p in "${TEST_PKGS[@]}"; do
		# python3 may come from elsewhere (pyenv, a base image): the command is enough.
		if [ "$p" = python3 ] && command -v python3 >/dev/null 2>&1; then
			continue
		fi
		pkg_installed "$p" || printf '%s\n' "$p"
	done
}

# apt_busy: is an apt-get/apt/dpkg process running? (no procps needed)
apt_busy() {
	local f c
	for f in /proc/[0-9]*/comm; do
		c=$(cat "$f" 2>/dev/null) || continue
		case "$c" in apt | apt-get | dpkg | unattended-upgr) return 0 ;; esac
	done
	return 1
}

# wait_background_apt: wait (at most 15 min) for another install to finish.
wait_background_apt() {
	local log=/tmp/apt.log i
	for ((i = 0; i < 900; i++)); do
		if [ -f "$log" ] && ! grep -q '^done' "$log" && apt_busy; then
			[ "$i" = 0 ] && echo "==> waiting for the background install (/tmp/apt.log) to finish"
			sleep 1
			continue
		fi
		return 0
	done
	echo "test.sh: background install still running after 15 min" >&2
	return 1
}

stop_test_services() {
	local s pf
	for s in "${TEST_SERVICES[@]}"; do
		service "$s" stop >/dev/null 2>&1 || true
		if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
			systemctl disable --now "$s" >/dev/null 2>&1 || true
		fi
		update-rc.d "$s" disable >/dev/null 2>&1 || true
	done
	# Without an init system the packages' daemons may still run: pidfiles.
	for pf in /run/dovecot/master.pid /run/nginx.pid /var/spool/postfix/pid/master.pid \
		/run/haproxy.pid /run/prometheus.pid; do
		if [ -s "$pf" ]; then
			kill "$(cat "$pf")" >/dev/null 2>&1 || true
		fi
	done
}

install_test_deps() {
	local missing log rc policy_created=0
	missing=$(missing_test_pkgs)
	[ -z "$missing" ] && return 0
	wait_background_apt || return 1
	missing=$(missing_test_pkgs) # the background install may have brought them
	[ -z "$missing" ] && return 0
	if [ "$(id -u)" != 0 ]; then
		echo "test.sh: missing packages:" $missing "- run as root to install them" >&2
		return 1
	fi
	echo "==> installing:" $missing
	# Deny service starts during the install (Debian's policy-rc.d hook).
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod +x /usr/sbin/policy-rc.d
		policy_created=1
	fi
	log=$(mktemp /tmp/mailproxy-test-apt.XXXXXX)
	export DEBIAN_FRONTEND=noninteractive
	# shellcheck disable=SC2086 # word splitting of the package list is wanted
	{ apt-get update -qq &&
		apt-get install -y -qq -o DPkg::Lock::Timeout=600 $missing; } >"$log" 2>&1
	rc=$?
	[ "$policy_created" = 1 ] && rm -f /usr/sbin/policy-rc.d
	stop_test_services
	if [ "$rc" != 0 ]; then
		echo "test.sh: apt-get failed (rc $rc); last lines of $log:" >&2
		tail -n 30 "$log" >&2
		return 1
	fi
	rm -f "$log"
	missing=$(missing_test_pkgs)
	if [ -n "$missing" ]; then
		echo "test.sh: still missing after install:" $missing >&2
		return 1
	fi
	return 0
}
