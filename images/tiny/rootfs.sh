#!/bin/sh
# rootfs.sh KERNELDIR OVERLAY AGENT OUT: build the Berth Tiny root filesystem and
# write it as a zstd-compressed qcow2 base image (ext4 on the whole disk, no
# partition table, so root=/dev/vda; 256 MiB virtual, grown at boot when the
# disk is bigger).
# Contents: static busybox (+ applet links), the kernel's full module tree
# (same deb as the kernel, with modules.dep), dropbear, dropbearkey, dbclient,
# sftp-server, e2fsck/resize2fs/mke2fs, their shared libraries (found with
# ldd), the files under OVERLAY (init scripts, the seed handling) and Berth's
# guest agent AGENT (a static binary, cmd/berth-guest-agent) as
# /sbin/berth-guest-agent.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"
[ $# = 4 ] || die "usage: rootfs.sh KERNELDIR OVERLAY AGENT OUT"
kdir=$1 overlay=$2 agent=$3 out=$4
ldd "$agent" >/dev/null 2>&1 && die "$agent is not static"
SIZE=${BERTH_TINY_SIZE:-256M}
need_root

kver=$(cat "$kdir/version")
bb=$(command -v busybox) || die "busybox not found (busybox-static)"
ldd "$bb" >/dev/null 2>&1 && die "$bb is not static (install busybox-static)"

tmp=$(mktemp -d "${out}.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
r="$tmp/root"
for d in bin sbin usr/bin usr/sbin usr/lib lib/x86_64-linux-gnu lib64 etc/dropbear dev proc sys run tmp \
	root home mnt media var/lib/berth var/log var/tmp var/spool/cron/crontabs; do
	mkdir -p "$r/$d"
done
chmod 700 "$r/root" "$r/var/lib/berth"
chmod 1777 "$r/tmp" "$r/var/tmp"
ln -s /run "$r/var/run"
ln -s /proc/mounts "$r/etc/mtab"

# busybox: every applet as a symlink at its usual path.
cp "$bb" "$r/bin/busybox"
"$bb" --list-full | while read -r p; do
	[ "$p" = bin/busybox ] && continue
	[ -e "$r/$p" ] || [ -L "$r/$p" ] || ln -s /bin/busybox "$r/$p"
done
ln -sf /bin/busybox "$r/sbin/init"

# Real tools over busybox applets where both exist.
copy_bin "$r" /usr/sbin/dropbear
copy_bin "$r" /usr/bin/dropbearkey
copy_bin "$r" /usr/bin/dbclient
copy_bin "$r" /usr/lib/openssh/sftp-server /usr/lib/sftp-server
for p in e2fsck resize2fs mke2fs tune2fs; do
	rm -f "$r/sbin/$p"
	copy_bin "$r" "/sbin/$p"
done
for p in fsck.ext2 fsck.ext3 fsck.ext4; do ln -sf e2fsck "$r/sbin/$p"; done
for p in mkfs.ext2 mkfs.ext3 mkfs.ext4; do rm -f "$r/sbin/$p"; ln -s mke2fs "$r/sbin/$p"; done
cp /etc/mke2fs.conf "$r/etc/mke2fs.conf"

# Kernel modules: the whole tree from the kernel's deb, so modprobe works.
mkdir -p "$r/lib/modules"
cp -a "$kdir/root/lib/modules/$kver" "$r/lib/modules/"

cp -a "$overlay/." "$r/"
install -m 755 "$agent" "$r/sbin/berth-guest-agent"
chmod 600 "$r/etc/shadow"
chmod 755 "$r/etc/init.d/"* "$r/lib/berth/sshd" "$r/lib/berth/uevent" "$r/lib/berth/console" \
	"$r/etc/acpi/PWRF/00000080" "$r/etc/udhcpc/default.script" "$r/usr/sbin/chpasswd"
{
	echo "NAME=\"Berth Tiny\""
	echo "KERNEL=$kver"
	echo "BUILT=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	sed 's/^/PACKAGE_/' "$kdir/stamp"
} > "$r/etc/berth-release"
chown -R 0:0 "$r"

truncate -s "$SIZE" "$tmp/disk.raw"
# -T default: 4 KiB blocks (mke2fs would pick 1 KiB for a "small" fs), so
# the filesystem grows well when Berth enlarges the disk.
mkfs.ext4 -q -F -T default -L berth-root -d "$r" "$tmp/disk.raw"
# zstd-compressed clusters: ~28 MB instead of ~96 MB (mostly modules); QEMU
# decompresses on read (host side), and VM overlays write uncompressed.
qemu-img convert -c -o compression_type=zstd -f raw -O qcow2 "$tmp/disk.raw" "$tmp/disk.qcow2"
mv "$tmp/disk.qcow2" "$out"
log "$out: $(du -k "$r" | tail -1 | cut -f1) KiB tree, $(wc -c < "$out") bytes qcow2, $SIZE virtual"
