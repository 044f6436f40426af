#!/usr/bin/env bash
# Builds edgecd's Debian package with dpkg-deb alone:
#
#   scripts/build-deb.sh amd64|arm64 [--out DIR] [--version VERSION]
#
# writes DIR/edgecd_<version>_<arch>.deb (DIR: images/out, beside the images).
# Inside: the build and its runtime dependencies in /usr/lib/edgecd (LevelDB's
# prebuilt binary for the target only), /usr/bin/edgecd, the systemd unit, its
# sysusers and tmpfiles entries, /etc/edgecd/edgecd.json (a conffile), a man
# page made from `edgecd help`, and the maintainer scripts of scripts/debian/.
# Depends: nodejs (>= 20). --version overrides package.json's (an upgrade test).
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
DEB_ARCH=${1:-}
shift || true
OUT=$SRC/images/out VERSION=''
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT=${2:?--out needs a directory}; shift ;;
    --version) VERSION=${2:?--version needs a version}; shift ;;
    *) echo "build-deb.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
case "$DEB_ARCH" in
  amd64) NODE_ARCH=x64 ;;
  arm64) NODE_ARCH=arm64 ;;
  *) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
for tool in dpkg-deb gzip; do command -v "$tool" >/dev/null || { echo "build-deb.sh: $tool is missing (apt-get install dpkg gzip)" >&2; exit 1; }; done
[ -n "$VERSION" ] || VERSION=$(node -p "require('$SRC/package.json').version")

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
PKG=$WORK/edgecd
"$SRC/scripts/stage-build.sh" "$PKG/usr/lib/edgecd" "$NODE_ARCH"
LIB=$PKG/usr/lib/edgecd DOC=$PKG/usr/share/doc/edgecd
# The guides belong in /usr/share/doc; the licence is the copyright file.
mkdir -p "$DOC"
mv "$LIB/README.md" "$LIB/docs" "$DOC/"
rm -rf "$LIB/LICENSE" "$LIB/systemd"

# The service and its user, with the unit's paths where the package puts the build.
{
  printf '# edgecd: the content destination daemon, as its Debian package installs it (build in\n'
  printf '# /usr/lib/edgecd, configuration in /etc/edgecd, evidence in /var/lib/edgecd).\n'
  sed -e '/^\[Unit\]/,$!d' -e 's#file:///opt/edgecd/README.md#file:///usr/share/doc/edgecd/README.md#' -e 's#/opt/edgecd#/usr/lib/edgecd#g' "$SRC/systemd/edgecd.service"
} | install -D -m 0644 /dev/stdin "$PKG/usr/lib/systemd/system/edgecd.service"
install -D -m 0644 "$SRC/systemd/edgecd.sysusers" "$PKG/usr/lib/sysusers.d/edgecd.conf"
install -D -m 0644 "$SRC/systemd/edgecd.tmpfiles" "$PKG/usr/lib/tmpfiles.d/edgecd.conf"
install -D -m 0644 /dev/stdin "$PKG/etc/edgecd/edgecd.json" <<<'{
  "listen": "0.0.0.0:443"
}'
install -D -m 0755 /dev/stdin "$PKG/usr/bin/edgecd" <<'SH'
#!/bin/sh
# edgecd's command line. Started by root, it runs as the service user, so the
# files it writes in /var/lib/edgecd stay the daemon's.
if [ "$(id -u)" = 0 ] && id edgecd >/dev/null 2>&1; then
  exec setpriv --reuid=edgecd --regid=edgecd --init-groups --reset-env /usr/bin/node /usr/lib/edgecd/dist/cli.js "$@"
fi
exec /usr/bin/node /usr/lib/edgecd/dist/cli.js "$@"
SH

# A man page from the help text: one source for both.
DATE=$(date -u -d "@${SOURCE_DATE_EPOCH:-$(git -C "$SRC" log -1 --format=%ct 2>/dev/null || date +%s)}" +%Y-%m-%d)
mkdir -p "$PKG/usr/share/man/man1"
{
  printf '.TH EDGECD 1 "%s" "edgecd %s" "edgecd"\n.SH NAME\nedgecd \\- content destination for body-worn camera systems\n' "$DATE" "$VERSION"
  printf '.SH SYNOPSIS\n.B edgecd\n.I command\n[options]\n.SH DESCRIPTION\n'
  printf 'Each command is listed with its usage and what it does; \\fBedgecd\\fR \\fIcommand\\fR \\fB\\-\\-help\\fR shows one with examples.\n'
  printf 'The guides are in /usr/share/doc/edgecd.\n.SH COMMANDS\n.nf\n'
  node "$LIB/dist/cli.js" help | tail -n +4 | sed -e 's/\\/\\e/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"
  printf '.fi\n.SH FILES\n.TP\n/etc/edgecd/edgecd.json\nconfiguration\n.TP\n/var/lib/edgecd\nevidence, keys, audit trail, connection.json\n'
} | gzip -9n >"$PKG/usr/share/man/man1/edgecd.1.gz"

cat >"$DOC/copyright" <<'TXT'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: edgecd
Comment: The JavaScript libraries edgecd runs on are in /usr/lib/edgecd/node_modules,
 each with its own licence file there (MIT, ISC, BSD-3-Clause, Apache-2.0).

Files: *
Copyright: 2026 the edgecd authors
License: Apache-2.0
 On Debian systems, the full text of the Apache License, Version 2.0 is in
 /usr/share/common-licenses/Apache-2.0.
TXT
printf 'edgecd (%s) unstable; urgency=medium\n\n  * Built from the edgecd source tree by scripts/build-deb.sh.\n\n -- edgecd maintainers <maintainers@edgecd.invalid>  %s\n' \
  "$VERSION" "$(date -u -R -d "@${SOURCE_DATE_EPOCH:-$(date +%s)}")" | gzip -9n >"$DOC/changelog.gz"

mkdir -p "$PKG/DEBIAN"
cat >"$PKG/DEBIAN/control" <<TXT
Package: edgecd
Version: $VERSION
Architecture: $DEB_ARCH
Maintainer: edgecd maintainers <maintainers@edgecd.invalid>
Depends: nodejs (>= 20), libc6 (>= 2.28), libstdc++6, libgcc-s1, systemd
Section: net
Priority: optional
Installed-Size: $(du -sk --exclude=DEBIAN "$PKG" | cut -f1)
Description: content destination for Axis body-worn camera systems
 edgecd stores the recordings a body-worn system uploads over the Body Worn
 Integration API (a subset of OpenStack Swift) durably on local disk, with
 hashes at arrival and a hash-chained audit trail, serves NTP to the docking
 stations, and replicates completed recordings to the agency's central store.
TXT
echo /etc/edgecd/edgecd.json >"$PKG/DEBIAN/conffiles"
install -m 0755 "$SRC/scripts/debian/postinst" "$SRC/scripts/debian/prerm" "$SRC/scripts/debian/postrm" "$PKG/DEBIAN/"
(cd "$PKG" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum >DEBIAN/md5sums)
chmod 0644 "$PKG/DEBIAN/control" "$PKG/DEBIAN/conffiles" "$PKG/DEBIAN/md5sums"
find "$PKG" -type d -exec chmod 0755 {} +

mkdir -p "$OUT"
DEB=$OUT/edgecd_${VERSION}_${DEB_ARCH}.deb
dpkg-deb --root-owner-group -Zxz --build "$PKG" "$DEB" >/dev/null
echo "$DEB $(stat -c %s "$DEB") bytes"
