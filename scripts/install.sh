#!/usr/bin/env bash
# Installs edgecd as a systemd service on Debian 13 (or 12 with Node.js >= 20),
# from this source tree. Run it again to upgrade: keys, certificates and
# evidence stay as they are. IT installs the Debian package instead
# (scripts/build-deb.sh); this stays for installing from a checkout, with the
# site name and addresses given at install time, into /opt and /usr/local,
# where software that no package owns belongs.
#
#   build      /opt/edgecd (compiled JavaScript and runtime dependencies only)
#   config     /etc/edgecd/edgecd.json (listen 0.0.0.0:443; mode 0600, service user)
#   evidence   /var/lib/edgecd (credentials, TLS keys, audit trail, recordings)
#   service    /etc/systemd/system/edgecd.service, user edgecd (systemd-sysusers)
#   command    /usr/local/bin/edgecd (runs as the service user when started by root)
#
set -euo pipefail

usage() {
  cat <<'EOF'
usage: scripts/install.sh [--site NAME] [--ip IP ...] [--hostname NAME ...] [--no-start]
       scripts/install.sh --root DIR [--no-init] [--arch x64|arm64]
       scripts/install.sh --uninstall [--delete-evidence] [--root DIR]

  --site NAME       the station's name, shown in the Body Worn Manager
  --ip, --hostname  addresses the cameras use (default: every address of this machine)
  --no-start        install and enable, but do not start the service now
  --root DIR        install into the filesystem tree DIR (an image), never starting anything
  --no-init         leave /var/lib/edgecd empty (first boot of an image initialises it)
  --arch ARCH       the target's CPU, for LevelDB's prebuilt binary (default: this machine's)
  --uninstall       remove the service and the build; keeps evidence, keys and config
  --delete-evidence with --uninstall: also delete /var/lib/edgecd, /etc/edgecd and the user
EOF
}

say() { printf 'install.sh: %s\n' "$*"; }
die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }

SRC=$(cd "$(dirname "$0")/.." && pwd)
ROOT=/ INIT=1 START=1 UNINSTALL=0 DELETE_EVIDENCE=0 SITE='' ARCH=''
NAMES=()
while [ $# -gt 0 ]; do
  case "$1" in
    --root) ROOT=${2:?--root needs a directory}; START=0; shift ;;
    --no-init) INIT=0 ;;
    --no-start) START=0 ;;
    --site) SITE=${2:?--site needs a name}; shift ;;
    --ip | --hostname) NAMES+=("$1" "${2:?$1 needs a value}"); shift ;;
    --arch) ARCH=${2:?--arch needs x64 or arm64}; shift ;;
    --uninstall) UNINSTALL=1 ;;
    --delete-evidence) DELETE_EVIDENCE=1 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option $1" ;;
  esac
  shift
done
[ "$(id -u)" = 0 ] || die "run as root (it creates a system user and a service)"
[ -d "$ROOT" ] || die "$ROOT is not a directory"
ROOT=$(cd "$ROOT" && pwd)
R=${ROOT%/} # prefix for paths: empty for the running system

OPT=$R/opt/edgecd
ETC=$R/etc/edgecd
DATA=$R/var/lib/edgecd
UNIT=$R/etc/systemd/system/edgecd.service
SYSUSERS=$R/etc/sysusers.d/edgecd.conf
BIN=$R/usr/local/bin/edgecd
systemd_running() { [ -z "$R" ] && [ -d /run/systemd/system ]; }
systemctl_() { if [ -z "$R" ]; then systemctl "$@"; else systemctl --root="$ROOT" "$@"; fi; }

if [ "$UNINSTALL" = 1 ]; then
  if systemd_running; then systemctl disable --now edgecd.service 2>/dev/null || true
  elif [ -e "$UNIT" ]; then systemctl_ disable edgecd.service 2>/dev/null || true; fi
  rm -rf "$OPT" "$OPT.new" "$OPT.old"
  rm -f "$UNIT" "$BIN"
  if systemd_running; then systemctl daemon-reload; fi
  if [ "$DELETE_EVIDENCE" = 1 ]; then
    rm -rf "$DATA" "$ETC"
    rm -f "$SYSUSERS"
    if grep -q '^edgecd:' "$R/etc/passwd" 2>/dev/null; then
      if [ -z "$R" ]; then userdel edgecd; else userdel --prefix "$ROOT" edgecd; fi
    fi
    say "removed edgecd, its evidence, keys, configuration and user"
  else
    say "removed the service and /opt/edgecd; kept ${DATA:-/var/lib/edgecd} (evidence, keys, audit trail), $ETC and the user edgecd"
    say "(scripts/install.sh --uninstall --delete-evidence removes those too)"
  fi
  exit 0
fi

# The build: compile here, then stage the JavaScript and the runtime dependencies
# (scripts/stage-build.sh) next to the old install and swap them in, so a failed
# upgrade leaves the old one.
NODE=$(command -v node) || die "Node.js >= 20 is needed (Debian 13: apt install nodejs)"
"$NODE" -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' \
  || die "Node.js >= 20 is needed; this is $("$NODE" --version)"
[ -n "$ARCH" ] || ARCH=$("$NODE" -p process.arch)
case "$ARCH" in x64 | arm64) ;; *) die "--arch: x64 or arm64, not $ARCH" ;; esac
mkdir -p "$R/opt"
rm -rf "$OPT.new"
"$SRC/scripts/stage-build.sh" "$OPT.new" "$ARCH"
if [ -d "$OPT" ]; then rm -rf "$OPT.old"; mv "$OPT" "$OPT.old"; fi
mv "$OPT.new" "$OPT"
rm -rf "$OPT.old"

mkdir -p "$R/usr/local/bin" "$(dirname "$UNIT")" "$(dirname "$SYSUSERS")"
install -m 0644 "$SRC/systemd/edgecd.service" "$UNIT"
install -m 0644 "$SRC/systemd/edgecd.sysusers" "$SYSUSERS"
cat >"$BIN.new" <<'EOF'
#!/bin/sh
# edgecd's command line. Started by root, it runs as the service user, so the
# files it writes in /var/lib/edgecd stay the daemon's.
if [ "$(id -u)" = 0 ] && id edgecd >/dev/null 2>&1; then
  exec setpriv --reuid=edgecd --regid=edgecd --init-groups --reset-env /usr/bin/node /opt/edgecd/dist/cli.js "$@"
fi
exec /usr/bin/node /opt/edgecd/dist/cli.js "$@"
EOF
chmod 0755 "$BIN.new" && mv "$BIN.new" "$BIN"

if [ -z "$R" ]; then systemd-sysusers "$SYSUSERS"; else systemd-sysusers --root="$ROOT" "$SYSUSERS"; fi
ids=$(awk -F: '$1 == "edgecd" { print $3 ":" $4 }' "$R/etc/passwd")
[ -n "$ids" ] || die "the user edgecd was not created"

# Configuration: written once; later runs leave the operator's edits alone.
mkdir -p "$ETC" "$DATA"
chown "$ids" "$ETC" "$DATA" && chmod 0750 "$ETC" "$DATA"
if [ ! -e "$ETC/edgecd.json" ]; then
  printf '{\n  "listen": "0.0.0.0:443"\n}\n' >"$ETC/edgecd.json.new"
  chown "$ids" "$ETC/edgecd.json.new" && chmod 0600 "$ETC/edgecd.json.new"
  mv "$ETC/edgecd.json.new" "$ETC/edgecd.json"
fi

if [ "$INIT" = 1 ]; then
  if [ -e "$DATA/credentials.json" ]; then
    say "$DATA is already set up: credentials and certificates kept"
  else
    args=(init --data "$DATA" --config "$ETC/edgecd.json" --https "${NAMES[@]}")
    [ -n "$SITE" ] && args+=(--site "$SITE")
    # As the service user, so every file it makes is the daemon's from the start.
    setpriv --reuid="${ids%:*}" --regid="${ids#*:}" --clear-groups "$NODE" "$OPT/dist/cli.js" "${args[@]}"
  fi
fi

systemctl_ enable edgecd.service 2>/dev/null || die "systemctl could not enable edgecd.service"
if [ "$START" = 1 ]; then
  if systemd_running; then
    systemctl daemon-reload
    systemctl restart edgecd.service
    for _ in $(seq 1 30); do systemctl is-active --quiet edgecd.service && break; sleep 1; done
    systemctl is-active --quiet edgecd.service || die "edgecd did not start: journalctl -u edgecd"
    say "edgecd is running"
  else
    say "systemd is not running here: edgecd is enabled for the next boot"
  fi
fi

if [ "$INIT" = 1 ]; then
  say "connection file for the Body Worn Manager: ${DATA#"$R"}/connection.json"
  say "  (or GET https://<station>/connection.json with an admin account)"
  "$NODE" "$OPT/dist/cli.js" cert show --data "$DATA" | sed 's/^/install.sh: /'
fi
