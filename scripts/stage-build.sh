#!/usr/bin/env bash
# Stages edgecd's runtime build into DEST (which must not exist): the compiled
# JavaScript, the runtime dependencies only, and LevelDB's prebuilt binary for
# ARCH (x64 or arm64) only. Shared by scripts/install.sh and scripts/build-deb.sh.
#
#   scripts/stage-build.sh DEST ARCH
set -euo pipefail
DEST=${1:?usage: stage-build.sh DEST x64|arm64} ARCH=${2:?usage: stage-build.sh DEST x64|arm64}
case "$ARCH" in x64 | arm64) ;; *) echo "stage-build.sh: x64 or arm64, not $ARCH" >&2; exit 2 ;; esac
[ ! -e "$DEST" ] || { echo "stage-build.sh: $DEST exists" >&2; exit 1; }
cd "$(dirname "$0")/.."
[ -x node_modules/.bin/tsc ] || npm ci --no-audit --no-fund >/dev/null
npm run --silent build
mkdir -p "$DEST"
cp -R dist package.json package-lock.json README.md LICENSE docs systemd "$DEST/"
# The runtime dependencies only: the build's tools (compiler, linter, browser
# driver) are most of node_modules, and copying them to prune them is slow on a Pi.
npm ls --omit=dev --all --parseable | tail -n +2 | while read -r dir; do
  rel=${dir#"$PWD"/}
  case $rel in node_modules/*/node_modules/*) continue ;; esac # inside a package already copied
  mkdir -p "$DEST/$(dirname "$rel")"
  cp -R "$dir" "$DEST/$rel"
done
(cd "$DEST" && npm prune --omit=dev --no-audit --no-fund >/dev/null)
# LevelDB ships prebuilt binaries for every platform, and its C++ sources; keep
# the target's glibc binary only (Debian is glibc; the sources are for building one).
LEVEL=$DEST/node_modules/classic-level
find "$LEVEL/prebuilds" -mindepth 1 -maxdepth 1 ! -name "linux-$ARCH" -exec rm -rf {} +
rm -rf "$LEVEL/prebuilds/linux-$ARCH/classic-level.musl.node" "$LEVEL/deps" "$LEVEL/binding.cc" "$LEVEL/binding.gyp"
compgen -G "$LEVEL/prebuilds/linux-$ARCH/*.node" >/dev/null || { echo "stage-build.sh: LevelDB has no prebuilt binary for linux-$ARCH" >&2; exit 1; }
# Nothing of the libraries' own repositories: editor, lint and VCS dotfiles, tests, benchmarks, web pages.
find "$DEST/node_modules" -mindepth 2 \( -name '.*' -o -name test -o -name benchmarks -o -name '*.html' \) -prune -exec rm -rf {} +
# Files are data (0644) but for programs (#!), directories 0755.
find "$DEST" -type d -exec chmod 0755 {} + -o -type f -exec chmod 0644 {} +
chmod 0755 "$DEST/dist/cli.js"
find "$DEST/node_modules" -type f \( -name '*.js' -o -name '*.sh' \) -exec sh -c 'for f; do [ "$(head -c2 "$f")" != "#!" ] || chmod 0755 "$f"; done' _ {} +
