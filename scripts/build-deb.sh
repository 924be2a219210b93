#!/usr/bin/env bash
# scripts/build-deb.sh: build the mailproxy Debian package with dpkg-deb
# alone (no debhelper, no network).
#
#   bash scripts/build-deb.sh [OUTDIR]     # default OUTDIR: bin/
#
# Prints the path of the .deb it wrote. The version comes from the build:
# on a commit tagged vX.Y.Z (clean tree) it is X.Y.Z; otherwise
# BASE+gitYYYYMMDD.HASH (BASE is loop.Version, the date the commit's; a
# ".dirty" suffix for uncommitted changes), and the binary is linked with
# the same string so "mailproxy -v" names the package's version.
#
# Contents: /usr/sbin/mailproxy, /lib/systemd/system/mailproxy.service
# (scripts/mailproxy.service with the package's paths),
# /etc/mailproxy/mail.conf (conffile: scripts/mailproxy.conf.example),
# /etc/logrotate.d/mailproxy (conffile), mailproxy(8), README, copyright
# and changelog under /usr/share/doc/mailproxy, and the fail2ban filter
# when scripts/fail2ban/ has one. The maintainer scripts are in
# scripts/debian/: postinst adds the mailproxy system user and the log
# directory, postrm --purge removes the logs (the user stays).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
out=${1:-bin}
mkdir -p "$out"
out=$(cd "$out" && pwd)

if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
	export PATH="/usr/local/go/bin:$PATH"
fi

base=$(sed -n 's/^var Version = "\(.*\)"$/\1/p' loop/server.go)
[ -n "$base" ] || {
	echo "build-deb.sh: no Version in loop/server.go" >&2
	exit 1
}
desc=$(git describe --tags --always --dirty 2>/dev/null || echo unknown)
case "$desc" in
v[0-9]*.[0-9]*.[0-9]*)
	# An exact tag: "v1.2.3" (a commit past it reads v1.2.3-N-gHASH).
	if [[ "$desc" =~ ^v[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
		version=${desc#v}
	fi
	;;
esac
if [ -z "${version:-}" ]; then
	hash=$(git rev-parse --short=7 HEAD 2>/dev/null || echo unknown)
	date=$(git log -1 --format=%cd --date=format:%Y%m%d 2>/dev/null || date -u +%Y%m%d)
	version="$base+git$date.$hash"
	case "$desc" in *-dirty) version="$version.dirty" ;; esac
fi
arch=$(dpkg --print-architecture)
case "$arch" in
amd64 | arm64 | riscv64 | ppc64el | s390x) goarch=${arch/ppc64el/ppc64le} ;;
i386) goarch=386 ;;
armhf) goarch=arm ;;
*)
	echo "build-deb.sh: no GOARCH for $arch" >&2
	exit 1
	;;
esac

stage=$(mktemp -d /tmp/mailproxy-deb.XXXXXX)
trap 'rm -rf "$stage"' EXIT
pkg=$stage/mailproxy
doc=$pkg/usr/share/doc/mailproxy
install -d -m 0755 "$pkg/DEBIAN" "$pkg/usr/sbin" "$pkg/lib/systemd/system" \
	"$pkg/etc/mailproxy" "$pkg/etc/logrotate.d" "$pkg/usr/share/man/man8" "$doc"

# A stripped, reproducible, position-independent binary without cgo: no
# libc dependency to declare (static-pie, which lintian takes as shared).
CGO_ENABLED=0 GOARCH=$goarch go build -trimpath -buildvcs=false -buildmode=pie \
	-ldflags "-s -w -X mailproxy/loop.Version=$version" \
	-o "$pkg/usr/sbin/mailproxy" ./cmd/mailproxy
chmod 0755 "$pkg/usr/sbin/mailproxy"

# The unit with the package's paths; its install notes are for a source
# install and stay out.
{
	echo "# systemd unit for mailproxy, as the Debian package installs it"
	echo "# (built from scripts/mailproxy.service by scripts/build-deb.sh)."
	echo "# Edit /etc/mailproxy/mail.conf, then: systemctl enable --now mailproxy"
	echo "#"
	awk 'skip && /^#$/ { skip = 0; next } /^# systemd unit for mailproxy/ { skip = 1 } !skip' \
		scripts/mailproxy.service |
		sed -e 's|/usr/local/bin/mailproxy|/usr/sbin/mailproxy|g' \
			-e 's|^Documentation=.*|Documentation=man:mailproxy(8) file:///usr/share/doc/mailproxy/README.md|'
} >"$pkg/lib/systemd/system/mailproxy.service"
chmod 0644 "$pkg/lib/systemd/system/mailproxy.service"

install -m 0644 scripts/mailproxy.conf.example "$pkg/etc/mailproxy/mail.conf"
install -m 0644 scripts/debian/logrotate "$pkg/etc/logrotate.d/mailproxy"
gzip -9n <scripts/mailproxy.8 >"$pkg/usr/share/man/man8/mailproxy.8.gz"
chmod 0644 "$pkg/usr/share/man/man8/mailproxy.8.gz"
install -m 0644 README.md "$doc/README.md"

# fail2ban: the filter (and jail example) once scripts/fail2ban/ has them.
if [ -d scripts/fail2ban ]; then
	install -d -m 0755 "$pkg/etc/fail2ban/filter.d"
	for f in scripts/fail2ban/filter.d/*.conf scripts/fail2ban/jail.d/*.conf; do
		[ -f "$f" ] || continue
		case "$f" in
		*/filter.d/*) install -m 0644 "$f" "$pkg/etc/fail2ban/filter.d/$(basename "$f")" ;;
		*/jail.d/*)
			# An example, not enabled: the operator copies it to jail.d.
			install -d -m 0755 "$doc/examples"
			install -m 0644 "$f" "$doc/examples/fail2ban-jail-$(basename "$f")"
			;;
		esac
	done
	for f in "$pkg"/etc/fail2ban/filter.d/*.conf; do
		[ -f "$f" ] && echo "${f#"$pkg"}" >>"$stage/conffiles.extra"
	done
	rmdir "$pkg/etc/fail2ban/filter.d" "$pkg/etc/fail2ban" 2>/dev/null || true
fi

# copyright: mailproxy's own notice, then the licence of every Go module
# compiled into the binary, from the module cache the build used.
{
	echo "mailproxy"
	echo
	echo "Copyright: the mailproxy authors."
	echo "The source tree carries no licence grant of its own."
	echo
	echo "The binary contains these Go modules; their licences follow."
	go version -m "$pkg/usr/sbin/mailproxy" | awk '$1 == "dep" { print "  " $2 " " $3 }'
	modcache=$(go env GOMODCACHE)
	go version -m "$pkg/usr/sbin/mailproxy" | awk '$1 == "dep" { print $2 "@" $3 }' |
		while read -r mod; do
			dir=$(go list -m -f '{{.Dir}}' "${mod%@*}" 2>/dev/null || true)
			[ -n "$dir" ] || dir="$modcache/$mod"
			for lic in "$dir"/LICENSE "$dir"/LICENSE.txt "$dir"/LICENSE.md "$dir"/COPYING; do
				[ -f "$lic" ] || continue
				echo
				echo "----------------------------------------------------------------------"
				echo "$mod ($(basename "$lic")):"
				echo
				if grep -q 'Apache License' "$lic" && grep -q 'Version 2.0, January 2004' "$lic"; then
					# Debian ships this one: point at it (lintian insists).
					echo "Apache License, Version 2.0: /usr/share/common-licenses/Apache-2.0"
				else
					cat "$lic"
				fi
				break
			done
		done
} >"$doc/copyright"
chmod 0644 "$doc/copyright"

# A native package's changelog: one entry for this build.
when=$(git log -1 --format=%cD 2>/dev/null || date -R)
maint=$(sed -n 's/^Maintainer: //p' scripts/debian/control.in)
{
	echo "mailproxy ($version) unstable; urgency=medium"
	echo
	echo "  * Built from commit $(git rev-parse HEAD 2>/dev/null || echo unknown)."
	echo "    The project's history is in its git log."
	echo
	echo " -- $maint  $when"
} | gzip -9n >"$doc/changelog.gz"
chmod 0644 "$doc/changelog.gz"

for s in postinst prerm postrm; do
	install -m 0755 "scripts/debian/$s" "$pkg/DEBIAN/$s"
done
install -m 0644 scripts/debian/conffiles "$pkg/DEBIAN/conffiles"
if [ -f "$stage/conffiles.extra" ]; then
	cat "$stage/conffiles.extra" >>"$pkg/DEBIAN/conffiles"
fi
size=$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" \
	scripts/debian/control.in >"$pkg/DEBIAN/control"
(cd "$pkg" && find . -path ./DEBIAN -prune -o -type f -printf '%P\n' | LC_ALL=C sort |
	xargs md5sum) >"$pkg/DEBIAN/md5sums"
chmod 0644 "$pkg/DEBIAN/control" "$pkg/DEBIAN/md5sums"

# Root-owned files whatever the builder's umask or user; stable mtimes.
find "$pkg" -type d -exec chmod 0755 {} +
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
export SOURCE_DATE_EPOCH
find "$pkg" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
deb="$out/mailproxy_${version}_$arch.deb"
dpkg-deb --root-owner-group -Zxz --build "$pkg" "$deb" >/dev/null
echo "$deb"
