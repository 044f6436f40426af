#!/usr/bin/env bash
# Smoke test of the Raspberry Pi image on an emulated arm64 machine
# (qemu-system-aarch64 -M virt, direct kernel boot with the image's own kernel
# and initramfs): first boot provisions it and edgecd answers over HTTPS, with
# LevelDB's prebuilt arm64 binary loaded (the index would not open without it).
# A real Pi boots the same root through its firmware and config.txt instead.
#
# Needs qemu-system-arm and curl. Not part of npm test.
set -euo pipefail
{ # parsed whole before it runs, so editing this file mid-run cannot change a run

HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/needs.sh"
needs test-arm64.sh qemu-system-aarch64:qemu-system-arm curl:curl
[ "${1:-}" = --no-build ] || "$HERE/build.sh" rpi-arm64
OUT=$HERE/out
WORK=$(mktemp -d /tmp/edgecd-arm64-XXXXXX)
PORT=$((20000 + RANDOM % 20000))
trap 'kill "$QEMU_PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT
cp --sparse=always "$OUT/edgecd-rpi-arm64.img" "$WORK/disk.img"
truncate -s 8G "$WORK/disk.img"

qemu-system-aarch64 -M virt -cpu cortex-a53 -smp 2 -m 1024 \
  -kernel "$OUT/edgecd-rpi-arm64.vmlinuz" -initrd "$OUT/edgecd-rpi-arm64.initrd" \
  -append "root=LABEL=edgecd-root rootwait ro console=ttyAMA0" \
  -drive file="$WORK/disk.img",format=raw,if=virtio \
  -nic user,model=virtio-net-pci,hostfwd=tcp:127.0.0.1:$PORT-:443 \
  -display none -serial file:"$WORK/serial.log" &
QEMU_PID=$!
started=$SECONDS
until curl -skf -o /dev/null --max-time 2 "https://127.0.0.1:$PORT/healthcheck"; do
  kill -0 "$QEMU_PID" 2>/dev/null || { tail -40 "$WORK/serial.log"; echo "test-arm64: FAIL: QEMU exited"; exit 1; }
  [ $((SECONDS - started)) -lt 900 ] || { tail -40 "$WORK/serial.log"; echo "test-arm64: FAIL: no service after 900 s"; exit 1; }
  sleep 2
done
echo "test-arm64: edgecd answered after $((SECONDS - started)) s on emulated arm64"
grep -a 'edgecd first boot: provisioned' "$WORK/serial.log" | sed 's/^.*edgecd first boot/test-arm64: first boot/'
grep -a -q 'edgecd first boot: provisioned' "$WORK/serial.log" || { echo "test-arm64: FAIL: first boot did not report on the console"; exit 1; }
echo "test-arm64: PASS"
exit
}
