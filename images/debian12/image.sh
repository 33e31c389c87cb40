#!/bin/sh
# image.sh ROOT FILES OUTDIR: turn the debootstrap tree ROOT into the Debian 12
# image: per-instance state removed (machine-id, SSH host keys: cloud-init
# makes new ones), the files under FILES added (cloud-init datasource and
# locale, CPU/memory hotplug udev rule, console autologin, BERTH-BOOTED
# unit), then an ext4 filesystem on the whole disk (root=/dev/vda, 2 GiB
# virtual) as OUTDIR/disk.qcow2, with the kernel and initrd from ROOT/boot as
# OUTDIR/vmlinuz and OUTDIR/initrd.img (direct kernel boot, no bootloader).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"
[ $# = 3 ] || die "usage: image.sh ROOT FILES OUTDIR"
R=$1 files=$2 out=$3
SIZE=${BERTH_DEBIAN12_SIZE:-2G}
need_root
[ -f "$R/.berth-debootstrap" ] || die "$R is not a finished debootstrap tree"
mirror=$(sed -n 's/^mirror=//p' "$R/.berth-debootstrap")
security=$(sed -n 's/^security_mirror=//p' "$R/.berth-debootstrap")

rm -f "$R"/var/cache/apt/archives/*.deb "$R"/var/cache/apt/*.bin
rm -rf "$R"/var/lib/apt/lists/*
mkdir -p "$R/var/lib/apt/lists/partial"
echo '/dev/vda / ext4 rw,discard,errors=remount-ro 0 1' > "$R/etc/fstab"
echo debian > "$R/etc/hostname"
printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' > "$R/etc/hosts"
: > "$R/etc/resolv.conf"
: > "$R/etc/machine-id"
rm -f "$R/var/lib/dbus/machine-id" "$R"/etc/ssh/ssh_host_*
cat > "$R/etc/apt/sources.list" <<SRC
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb ${security:-http://deb.debian.org/debian-security} bookworm-security main
SRC
cp -R "$files/." "$R/"
chmod 755 "$R/usr/local/lib/berth/booted"
# e2scrub_reap costs seconds under TCG and does nothing on a fresh image.
ln -sf /dev/null "$R/etc/systemd/system/e2scrub_reap.service"
mkdir -p "$R/etc/systemd/system/cloud-init.target.wants"
ln -sf /etc/systemd/system/berth-booted.service "$R/etc/systemd/system/cloud-init.target.wants/berth-booted.service"

kver=$(ls "$R/lib/modules" | sort -V | tail -n 1)
[ -f "$R/boot/vmlinuz-$kver" ] && [ -f "$R/boot/initrd.img-$kver" ] || die "no kernel/initrd for $kver in $R/boot"

tmp=$(mktemp -d "$out/image.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
truncate -s "$SIZE" "$tmp/disk.raw"
mkfs.ext4 -q -F -L rootfs -d "$R" "$tmp/disk.raw"
# zstd-compressed clusters: ~40% of the uncompressed size; QEMU decompresses
# on read (host side) and VM overlays write uncompressed.
qemu-img convert -c -o compression_type=zstd -f raw -O qcow2 "$tmp/disk.raw" "$tmp/disk.qcow2"
# New files renamed into place (never written over): the previous ones may
# be hard links to published, content-addressed files.
cp "$R/boot/vmlinuz-$kver" "$tmp/vmlinuz"
cp "$R/boot/initrd.img-$kver" "$tmp/initrd.img"
echo "$kver" > "$tmp/kernel-version"
for f in vmlinuz initrd.img kernel-version disk.qcow2; do mv -f "$tmp/$f" "$out/$f"; done
log "$out/disk.qcow2: $(wc -c < "$out/disk.qcow2") bytes, $SIZE virtual, kernel $kver"
