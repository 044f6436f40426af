#!/usr/bin/env bash
# Builds a flashable edgecd appliance image from Debian 13 (trixie) packages:
#
#   images/build.sh x86-64      generic PC, BIOS (syslinux) and UEFI (systemd-boot)
#   images/build.sh rpi-arm64   Raspberry Pi 3 and 4 SD card (arm64 through qemu-user)
#
# options: --out DIR (default images/out), --cache DIR (default images/cache),
#          --mirror URL (default http://deb.debian.org/debian)
#
# Two layers: the Debian root filesystem (mmdebstrap, cached as a tarball keyed
# by everything that shapes it; minutes, or a quarter of an hour for arm64) and
# the edgecd layer (the Debian package of scripts/build-deb.sh and images/rootfs/; seconds).
# The disk is put together from files, with no loop devices or mounts:
# mkfs.vfat + mcopy for the boot partition, mkfs.ext4 -d for the root and
# sfdisk + dd for the partition table. Needs root (for file ownership in the tree).
#
# Partitions: 1 boot (FAT: firmware or EFI, kernel, edgecd.txt presets),
# 2 root (ext4, fixed size). First boot grows the root to ROOT_SIZE_MIB and puts
# evidence on an attached disk or a third partition made from the free space.
set -euo pipefail
{ # parsed whole before it runs, so editing this file mid-run cannot change a run

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(dirname "$HERE")
TARGET=${1:-}
shift || true
OUT=$HERE/out CACHE=$HERE/cache MIRROR=http://deb.debian.org/debian
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT=$2; shift ;;
    --cache) CACHE=$2; shift ;;
    --mirror) MIRROR=$2; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

BOOT_MIB=256 # kernel, initrd, (Pi) firmware and device trees, with room for one kernel update
# Packages of both images: boot, first-boot tools (sfdisk, partx, resize2fs, mkfs),
# network (systemd-networkd, resolved for DNS and mDNS), time (chrony as a client),
# edgecd's runtime (nodejs), and ssh for IT (started only with a key preset).
COMMON=systemd-sysv,udev,kmod,initramfs-tools,e2fsprogs,fdisk,dosfstools,util-linux,iproute2,systemd-resolved,libnss-resolve,chrony,nodejs,ca-certificates,openssh-server,less
case "$TARGET" in
  x86-64) ARCH=amd64 NODE_ARCH=x64 COMPONENTS=main PACKAGES=$COMMON,linux-image-amd64,systemd-boot-efi ;;
  rpi-arm64) ARCH=arm64 NODE_ARCH=arm64 COMPONENTS=main,non-free-firmware PACKAGES=$COMMON,linux-image-arm64,raspi-firmware,firmware-brcm80211 ;;
  *) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
[ "$(id -u)" = 0 ] || { echo "build.sh: run as root (the image's files belong to root and edgecd)" >&2; exit 1; }
# Everything the build needs (gptmbr.bin comes from syslinux-common, which syslinux
# only recommends).
source "$HERE/needs.sh"
NEEDS=(mmdebstrap:mmdebstrap mkfs.vfat:dosfstools mcopy:mtools mkfs.ext4:e2fsprogs sfdisk:fdisk
  node:nodejs npm:npm setpriv:util-linux sha256sum:coreutils dpkg-deb:dpkg)
case "$TARGET" in
  x86-64) NEEDS+=(syslinux:syslinux /usr/lib/syslinux/mbr/gptmbr.bin:syslinux-common) ;;
  rpi-arm64) [ "$(uname -m)" = aarch64 ] || NEEDS+=(update-binfmts:binfmt-support /usr/bin/qemu-aarch64-static:qemu-user-static) ;;
esac
needs build.sh "${NEEDS[@]}"
if [ "$ARCH" = arm64 ] && [ "$(uname -m)" != aarch64 ] && [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
  # arm64 programs run through qemu-user; containers often start without the binfmt registration.
  mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  update-binfmts --enable qemu-aarch64
fi
mkdir -p "$OUT" "$CACHE"
started=$(date +%s)
log() { printf '[%4ss] %s\n' $(($(date +%s) - started)) "$*"; }

# --- layer 1: Debian -------------------------------------------------------
# update-initramfs is diverted while packages install (each kernel or hook
# would rebuild it) and runs once at the end: a quarter of the arm64 build.
# FSTYPE=ext4: built in a chroot, initramfs-tools cannot see the root's type and
# would leave fsck out.
hooks=(
  --essential-hook='chroot "$1" dpkg-divert --quiet --local --rename --add /usr/sbin/update-initramfs && ln -s /bin/true "$1/usr/sbin/update-initramfs"'
  --essential-hook='mkdir -p "$1/etc/initramfs-tools/conf.d" && echo FSTYPE=ext4 > "$1/etc/initramfs-tools/conf.d/edgecd-fstype"'
)
if [ "$TARGET" = rpi-arm64 ]; then
  # raspi-firmware in a chroot would write root=/dev/mmcblk0p2 and a tty0-only console.
  # Set after it is installed (before, dpkg stops to ask about the changed conffile);
  # its initramfs hook then writes cmdline.txt when the initramfs is made below.
  hooks+=(--customize-hook='printf "%s\n" "ROOTPART=LABEL=edgecd-root" "CONSOLES=\"ttyS1,115200 tty0\"" "KERNEL_ARCH=arm64" > "$1/etc/default/raspi-firmware"')
fi
hooks+=(
  --customize-hook='rm "$1/usr/sbin/update-initramfs" && chroot "$1" dpkg-divert --quiet --local --rename --remove /usr/sbin/update-initramfs'
  --customize-hook='chroot "$1" update-initramfs -c -k all'
  # The build host's identity must not leak into the image.
  --customize-hook='echo edgecd > "$1/etc/hostname" && ln -sf ../run/systemd/resolve/stub-resolv.conf "$1/etc/resolv.conf"'
  --customize-hook=': > "$1/etc/machine-id" && rm -f "$1/var/lib/dbus/machine-id" "$1"/etc/ssh/ssh_host_*'
  --customize-hook='rm -rf "$1"/var/cache/apt/archives/*.deb "$1"/var/lib/apt/lists/* "$1"/usr/share/doc/* "$1"/usr/share/man/*'
)
key=$( { echo "$TARGET $ARCH $COMPONENTS $PACKAGES $MIRROR"; printf '%s\n' "${hooks[@]}"; } | sha256sum | cut -c1-16)
ROOTFS=$CACHE/debian-trixie-$TARGET-$key.tar
if [ -s "$ROOTFS" ]; then
  log "Debian layer from cache: $ROOTFS"
else
  log "building the Debian layer for $ARCH (through qemu-user for arm64: about a quarter of an hour)"
  mmdebstrap --format=tar --variant=minbase --arch="$ARCH" --components="$COMPONENTS" --include="$PACKAGES" \
    --aptopt='Acquire::Retries "3"' --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \
    "${hooks[@]}" trixie "$ROOTFS.new" "$MIRROR"
  mv "$ROOTFS.new" "$ROOTFS"
  log "Debian layer built: $(du -h "$ROOTFS" | cut -f1)"
fi

# --- layer 2: edgecd ---------------------------------------------------------
WORK=$(mktemp -d "$OUT/.work-XXXXXX")
trap 'rm -rf "$WORK"' EXIT
TREE=$WORK/root
mkdir -p "$TREE" && chmod 0755 "$TREE"
tar -C "$TREE" --numeric-owner -xpf "$ROOTFS"
# The same Debian package IT installs (scripts/build-deb.sh), in the image's own dpkg
# database so that apt upgrades it later. Its keys are made by first boot, on the
# box they will live on, not here (EDGECD_SKIP_INIT).
"$SRC/scripts/build-deb.sh" "$ARCH" --out "$WORK" >/dev/null
EDGECD_SKIP_INIT=yes dpkg --root="$TREE" --force-script-chrootless -i "$WORK"/edgecd_*_"$ARCH".deb >/dev/null
rm -f "$WORK"/edgecd_*.deb
# LevelDB's prebuilt binary must load on the target's CPU (through qemu-user for arm64).
chroot "$TREE" /usr/bin/node -e "require('/usr/lib/edgecd/node_modules/classic-level')" \
  || { echo "build.sh: LevelDB's binary does not load on $ARCH" >&2; exit 1; }
log "classic-level loads on $ARCH under the image's own node ($(chroot "$TREE" /usr/bin/node --version))"
cp -R --preserve=mode "$HERE/rootfs/." "$TREE/"
# Units of the appliance, enabled offline as systemctl would on the box.
systemctl --root="$TREE" enable systemd-networkd.service systemd-resolved.service edgecd-firstboot.service edgecd-clock.timer >/dev/null 2>&1
systemctl --root="$TREE" disable ssh.service >/dev/null 2>&1 || true # first boot starts it if IT preset a key
# The clock starts from the build time, not 1970 (the Pi has no RTC); edgecd-clock.timer keeps it moving.
mkdir -p "$TREE/var/lib/systemd/timesync" && touch "$TREE/var/lib/systemd/timesync/clock"
echo "BUILD_TIME=$(date -u +%Y-%m-%dT%H:%M:%SZ) EDGECD_VERSION=$(node -p "require('$SRC/package.json').version") TARGET=$TARGET" >"$TREE/etc/edgecd-image"

# The boot partition's contents come out of the tree: it is mounted over /boot/firmware.
BOOT=$WORK/boot
mkdir -p "$BOOT"
kernel=$(cd "$TREE/boot" && ls vmlinuz-* | sort -V | tail -1)
version=${kernel#vmlinuz-}
if [ "$TARGET" = rpi-arm64 ]; then
  # raspi-firmware's hooks filled /boot/firmware (firmware, device trees, config.txt, cmdline.txt).
  cp -R "$TREE/boot/firmware/." "$BOOT/"
  grep -q 'root=LABEL=edgecd-root' "$BOOT/cmdline.txt" || { echo "build.sh: cmdline.txt does not name the root by label: $(cat "$BOOT/cmdline.txt")" >&2; exit 1; }
  grep -q rootwait "$BOOT/cmdline.txt" || sed -i 's/$/ rootwait/' "$BOOT/cmdline.txt"
else
  cp "$TREE/boot/$kernel" "$BOOT/vmlinuz"
  cp "$TREE/boot/initrd.img-$version" "$BOOT/initrd.img"
  # The screen (last console=) is the main console, where first boot shows connection.json;
  # the serial port gets a login prompt with the address and fingerprint (/etc/issue.d).
  cmdline="root=LABEL=edgecd-root ro console=ttyS0,115200 console=tty0 quiet"
  mkdir -p "$BOOT/EFI/BOOT" "$BOOT/loader/entries" "$BOOT/syslinux"
  cp "$TREE/usr/lib/systemd/boot/efi/systemd-bootx64.efi" "$BOOT/EFI/BOOT/BOOTX64.EFI"
  printf 'default edgecd.conf\ntimeout 0\n' >"$BOOT/loader/loader.conf"
  printf 'title edgecd\nlinux /vmlinuz\ninitrd /initrd.img\noptions %s\n' "$cmdline" >"$BOOT/loader/entries/edgecd.conf"
  printf 'DEFAULT edgecd\nTIMEOUT 0\nLABEL edgecd\n  LINUX /vmlinuz\n  INITRD /initrd.img\n  APPEND %s\n' "$cmdline" >"$BOOT/syslinux/syslinux.cfg"
fi
cp "$HERE/edgecd.txt" "$BOOT/edgecd.txt"
rm -rf "${TREE:?}/boot/firmware" && mkdir -p "$TREE/boot/firmware"

# --- the disk ----------------------------------------------------------------
MiB=$((1024 * 1024))
used_mib=$(du -s --block-size=1M "$TREE" | cut -f1)
root_mib=$((used_mib * 115 / 100 + 256)) # the tree, 15 % for the filesystem, 256 MiB of room for logs and updates
IMAGE=$OUT/edgecd-$TARGET.img
log "filesystems: boot $BOOT_MIB MiB, root $root_mib MiB ($used_mib MiB of files)"
truncate -s 0 "$WORK/boot.fat" && truncate -s $((BOOT_MIB * MiB)) "$WORK/boot.fat"
mkfs.vfat -F 32 -n EDGECD-BOOT "$WORK/boot.fat" >/dev/null
(cd "$BOOT" && mcopy -s -i "$WORK/boot.fat" ./* ::/)
mkfs.ext4 -q -L edgecd-root -d "$TREE" -E root_owner=0:0 "$WORK/root.ext4" "${root_mib}M"

rm -f "$IMAGE.new"
truncate -s $(((1 + BOOT_MIB + root_mib + 1) * MiB)) "$IMAGE.new"
if [ "$TARGET" = rpi-arm64 ]; then
  # The Pi's firmware reads an MBR whose first partition is FAT.
  sfdisk --quiet "$IMAGE.new" <<EOF
label: dos
start=1MiB, size=${BOOT_MIB}MiB, type=c, bootable
size=${root_mib}MiB, type=83
EOF
else
  # GPT: the ESP is also the BIOS boot partition (legacy-bootable attribute, read by syslinux's gptmbr).
  sfdisk --quiet "$IMAGE.new" <<EOF
label: gpt
start=1MiB, size=${BOOT_MIB}MiB, type=uefi, name=boot, attrs=LegacyBIOSBootable
size=${root_mib}MiB, type=linux, name=root
EOF
  # The BIOS loader goes onto the FAT file itself (mtools, no mount); its config needs no modules.
  syslinux --install --directory /syslinux "$WORK/boot.fat"
  dd if=/usr/lib/syslinux/mbr/gptmbr.bin of="$IMAGE.new" bs=440 count=1 conv=notrunc status=none
fi
dd if="$WORK/boot.fat" of="$IMAGE.new" bs=1M seek=1 conv=notrunc,sparse status=none
dd if="$WORK/root.ext4" of="$IMAGE.new" bs=1M seek=$((1 + BOOT_MIB)) conv=notrunc,sparse status=none
mv "$IMAGE.new" "$IMAGE"
# The kernel and initrd next to the image, for direct kernel boots (QEMU tests).
cp "$TREE/boot/$kernel" "$OUT/edgecd-$TARGET.vmlinuz"
cp "$TREE/boot/initrd.img-$version" "$OUT/edgecd-$TARGET.initrd"
log "built $IMAGE: $(du -h --apparent-size "$IMAGE" | cut -f1) ($(du -h "$IMAGE" | cut -f1) allocated); xz -T0 it for download"
exit
}
