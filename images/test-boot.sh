#!/usr/bin/env bash
# Boots the x86-64 appliance image in QEMU (software emulation is enough) and
# uses it as the Body Worn Manager and a body-worn system would:
#
#   1. build the image (images/build.sh x86-64; --no-build reuses images/out),
#      put an edgecd.txt with an admin account on its boot partition (mcopy,
#      no mount) and give it an 8 GiB disk;
#   2. first boot under UEFI: time to service; fetch connection.json through
#      the admin interface; a BWS upload (edgecd simulate) trusting only the
#      pinned certificate;
#   3. reboot under BIOS: the recordings are all there;
#   4. power cut (QEMU monitor "quit") in the middle of uploads, boot again:
#      every acknowledged object is intact, the interrupted one is whole or absent.
#
# Needs root, qemu-system-x86, ovmf, mtools, socat, curl, openssl. Not part of npm test:
# two to three minutes here, building included. Prints the figures docs/operators.md quotes.
set -euo pipefail
{ # parsed whole before it runs, so editing this file mid-run cannot change a run

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(dirname "$HERE")
[ "$(id -u)" = 0 ] || { echo "test-boot.sh: run as root (it builds the image)" >&2; exit 1; }
source "$HERE/needs.sh"
needs test-boot.sh qemu-system-x86_64:qemu-system-x86 /usr/share/OVMF/OVMF_CODE.fd:ovmf /usr/share/OVMF/OVMF_VARS.fd:ovmf \
  mcopy:mtools socat:socat curl:curl openssl:openssl
[ "${1:-}" = --no-build ] || "$HERE/build.sh" x86-64
IMAGE=$HERE/out/edgecd-x86-64.img
WORK=$(mktemp -d /tmp/edgecd-boot-XXXXXX)
PORT=$((20000 + RANDOM % 20000))
QEMU_PID=
cleanup() {
  [ -z "$QEMU_PID" ] || kill "$QEMU_PID" 2>/dev/null || true
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
say() { printf 'test-boot: %s\n' "$*"; }
fail() { printf 'test-boot: FAIL: %s\n' "$*" >&2; tail -n 40 "$WORK"/serial-*.log >&2 || true; exit 1; }

cp --sparse=always "$IMAGE" "$WORK/disk.img"
truncate -s 8G "$WORK/disk.img"
ADMIN_KEY=$(openssl rand -hex 16)
printf 'hostname = edgecd-boot-test\r\nsite_name = Boot Test\r\nadmin_user = it\r\nadmin_key = %s\r\n' "$ADMIN_KEY" >"$WORK/edgecd.txt"
mcopy -o -i "$WORK/disk.img@@1M" "$WORK/edgecd.txt" ::/edgecd.txt
cp /usr/share/OVMF/OVMF_VARS.fd "$WORK/vars.fd"

boot() { # boot N uefi|bios
  local firmware=()
  [ "$2" = uefi ] && firmware=(-drive if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE.fd -drive if=pflash,format=raw,file="$WORK/vars.fd")
  qemu-system-x86_64 -m 1024 -smp 2 "${firmware[@]}" \
    -drive file="$WORK/disk.img",format=raw,if=virtio \
    -nic user,model=virtio-net-pci,hostfwd=tcp:127.0.0.1:$PORT-:443 \
    -display none -serial file:"$WORK/serial-$1.log" -monitor unix:"$WORK/monitor",server,nowait &
  QEMU_PID=$!
  local started=$SECONDS
  until curl -skf -o /dev/null --max-time 2 "https://127.0.0.1:$PORT/healthcheck"; do # 200: ready
    kill -0 "$QEMU_PID" 2>/dev/null || fail "QEMU exited during boot $1"
    [ $((SECONDS - started)) -lt 600 ] || fail "boot $1 ($2): no service after 600 s"
    sleep 1
  done
  say "boot $1 ($2): edgecd answered after $((SECONDS - started)) s"
}
halt() { # a clean shutdown through ACPI, as the power button does
  echo system_powerdown | socat - "UNIX-CONNECT:$WORK/monitor" >/dev/null 2>&1 || true
  for _ in $(seq 1 120); do kill -0 "$QEMU_PID" 2>/dev/null || break; sleep 1; done
  kill -0 "$QEMU_PID" 2>/dev/null && fail "the VM did not power off"
  QEMU_PID=
}
power_cut() {
  echo quit | socat - "UNIX-CONNECT:$WORK/monitor" >/dev/null 2>&1 || true
  wait "$QEMU_PID" 2>/dev/null || true
  QEMU_PID=
}

# Curl as the BWS: trusting only the pinned certificate, reaching the guest's address through the port forward.
pinned() { curl -sS --cacert "$WORK/pinned.pem" --connect-to "$GUEST:443:127.0.0.1:$PORT" "$@"; }
login() { # user key → sets TOKEN and STORAGE
  local headers
  for _ in $(seq 1 10); do
    headers=$(pinned -D - -o /dev/null -H "X-Auth-User: $1" -H "X-Auth-Key: $2" "https://$GUEST/auth/v1.0" | tr -d '\r')
    TOKEN=$(printf '%s' "$headers" | awk -F': ' 'tolower($1) == "x-auth-token" { print $2 }')
    STORAGE=$(printf '%s' "$headers" | awk -F': ' 'tolower($1) == "x-storage-url" { print $2 }')
    [ -z "$TOKEN" ] || return 0
    sleep 3
  done
  fail "login as $1 refused: $(printf '%s' "$headers" | head -1)"
}

boot 1 uefi
# connection.json through the admin interface. First contact trusts on first use (-k), then the
# file's own pinned certificate must be what the box serves: everything after uses only it.
for _ in $(seq 1 10); do # an emulated box may still be busy (503 + Retry-After), as a BWS would find
  answer=$(curl -sk -D - -o /dev/null -H 'X-Auth-User: it' -H "X-Auth-Key: $ADMIN_KEY" "https://127.0.0.1:$PORT/auth/v1.0" | tr -d '\r')
  admin_token=$(printf '%s' "$answer" | awk -F': ' 'tolower($1) == "x-auth-token" { print $2 }')
  [ -z "$admin_token" ] || break
  sleep 3
done
[ -n "$admin_token" ] || fail "the preset admin account cannot log in: $(printf '%s' "$answer" | head -1)"
curl -sfk -H "X-Auth-Token: $admin_token" "https://127.0.0.1:$PORT/connection.json" -o "$WORK/connection.json" || fail "GET /connection.json as admin"
node -e "
  const f = require('$WORK/connection.json');
  require('fs').writeFileSync('$WORK/pinned.pem', Buffer.from(f.HTTPSCertificate[0], 'base64'));
  console.log(new URL(f.AuthenticationTokenURI[0]).hostname, f.SiteName);
" >"$WORK/guest"
read -r GUEST SITE <"$WORK/guest"
say "connection.json: station $SITE at https://$GUEST ($(openssl x509 -in "$WORK/pinned.pem" -noout -fingerprint -sha256 | cut -d= -f2))"
[ "$SITE" = "Boot Test" ] || fail "site name from edgecd.txt not applied: $SITE"
"$SRC/node_modules/.bin/tsx" "$SRC/src/cli.ts" connection-file --check "$WORK/connection.json" >/dev/null || fail "connection.json does not pass the BWS checks"

"$SRC/node_modules/.bin/tsx" "$SRC/src/cli.ts" simulate --connection "$WORK/connection.json" --connect-to "$GUEST:443:127.0.0.1:$PORT" \
  --users 2 --devices 2 --recordings 4 --clips 2 --clip-bytes 524288 >"$WORK/simulate.json" 2>"$WORK/simulate.log" \
  || fail "BWS upload: $(tail -3 "$WORK/simulate.log")"
node -e "const r = require('$WORK/simulate.json'); console.log(r.recordings.join('\n'))" >"$WORK/recordings"
say "BWS upload over pinned HTTPS: $(wc -l <"$WORK/recordings") recordings stored"
count_objects() { # → "recording objects" lines, as the uploader sees them (HEAD)
  login "$(node -p "require('$WORK/connection.json').BlobAPIUserName")" "$(node -p "require('$WORK/connection.json').BlobAPIKey")"
  while read -r rec; do
    printf '%s %s\n' "$rec" "$(pinned -I -H "X-Auth-Token: $TOKEN" "$STORAGE/$rec" | tr -d '\r' | awk -F': ' 'tolower($1) == "x-container-object-count" { print $2 }')"
  done <"$WORK/recordings"
}
count_objects >"$WORK/before"
# The login prompt (here the serial one; the screen shows the same) names the station and its certificate.
fingerprint=$(openssl x509 -in "$WORK/pinned.pem" -noout -fingerprint -sha256 | cut -d= -f2)
grep -a -q "edgecd content destination edgecd-boot-test: https://$GUEST" "$WORK/serial-1.log" || fail "no station banner at the login prompt"
grep -a -q "certificate $GUEST  SHA-256 $fingerprint" "$WORK/serial-1.log" || fail "the login prompt does not show the pinned certificate's fingerprint"
say "the login prompt shows the address and the pinned certificate's fingerprint"
halt

boot 2 bios
count_objects >"$WORK/after"
diff "$WORK/before" "$WORK/after" >/dev/null || fail "recordings changed across a reboot: $(diff "$WORK/before" "$WORK/after")"
say "after a reboot: all $(wc -l <"$WORK/after") recordings hold the same objects"

# Power cut during uploads: each acknowledged object must survive whole.
login "$(node -p "require('$WORK/connection.json').BlobAPIUserName")" "$(node -p "require('$WORK/connection.json').BlobAPIKey")"
CUT=powercut-test
code=$(pinned -o /dev/null -w '%{http_code}' -X PUT -H "X-Auth-Token: $TOKEN" "$STORAGE/$CUT")
case "$code" in 201 | 202) ;; *) fail "PUT container $CUT: $code" ;; esac
: >"$WORK/attempted"
: >"$WORK/acknowledged"
(
  for i in $(seq 1 400); do
    head -c 4194304 /dev/urandom >"$WORK/obj-$i"
    md5=$(md5sum "$WORK/obj-$i" | cut -d' ' -f1)
    echo "$i $md5" >>"$WORK/attempted"
    code=$(pinned -o /dev/null -w '%{http_code}' --max-time 60 -X PUT -T "$WORK/obj-$i" -H "X-Auth-Token: $TOKEN" -H "Etag: $md5" "$STORAGE/$CUT/clip-$i.mkv" 2>/dev/null) || code=000
    [ "$code" = 201 ] && echo "$i $md5" >>"$WORK/acknowledged"
    [ "$code" = 201 ] || break
  done
) &
uploader=$!
until [ "$(wc -l <"$WORK/acknowledged")" -ge 6 ]; do
  kill -0 "$uploader" 2>/dev/null || fail "uploads stopped before the power cut: $(tail -1 "$WORK/attempted")"
  sleep 0.2
done
sleep 0.$((RANDOM % 9 + 1)) # land somewhere inside the next upload
power_cut
wait "$uploader" 2>/dev/null || true
acked=$(wc -l <"$WORK/acknowledged")
say "power cut after $acked acknowledged uploads ($(wc -l <"$WORK/attempted") attempted)"

boot 3 uefi
login "$(node -p "require('$WORK/connection.json').BlobAPIUserName")" "$(node -p "require('$WORK/connection.json').BlobAPIKey")"
while read -r i md5; do
  etag=$(pinned -I -H "X-Auth-Token: $TOKEN" "$STORAGE/$CUT/clip-$i.mkv" | tr -d '\r' | awk -F': ' 'tolower($1) == "etag" { print $2 }')
  if grep -q "^$i " "$WORK/acknowledged"; then
    [ "$etag" = "$md5" ] || fail "acknowledged clip-$i is not intact after the power cut (etag '$etag', sent $md5)"
  else
    [ -z "$etag" ] || [ "$etag" = "$md5" ] || fail "unacknowledged clip-$i is partial (etag $etag)"
    say "the upload cut off (clip-$i) is ${etag:+whole}${etag:-absent}"
  fi
done <"$WORK/attempted"
count_objects >"$WORK/after-cut"
diff "$WORK/before" "$WORK/after-cut" >/dev/null || fail "recordings changed across the power cut"
say "after the power cut: all $acked acknowledged objects intact, earlier recordings unchanged"
halt
say "PASS"
exit
}
