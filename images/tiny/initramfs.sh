#!/bin/sh
# initramfs.sh KERNELDIR OUT: build the Berth Tiny initramfs (gzip'd newc cpio):
# static busybox, /init, and the modules below (with their dependencies) from
# the kernel unpacked by kernel.sh. ext4 is built into the Debian cloud kernel.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"
[ $# = 2 ] || die "usage: initramfs.sh KERNELDIR OUT"
kdir=$1 out=$2

MODULES="virtio_pci virtio_blk virtio_net failover net_failover virtio_balloon virtio_mem virtio_rng button evdev cdrom isofs qemu_fw_cfg"

kver=$(cat "$kdir/version")
mods="$kdir/root/lib/modules/$kver"
bb=$(command -v busybox) || die "busybox not found (busybox-static)"
ldd "$bb" >/dev/null 2>&1 && die "$bb is not static (install busybox-static)"

tmp=$(mktemp -d "${out}.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
t="$tmp/tree"
mkdir -p "$t/bin" "$t/sbin" "$t/dev" "$t/proc" "$t/sys" "$t/newroot" "$t/run" "$t/tmp" "$t/lib/modules/$kver"
cp "$bb" "$t/bin/busybox"
for a in $("$bb" --list); do
	[ "$a" = busybox ] || ln -s busybox "$t/bin/$a"
done
# The kernel needs /dev/console before /init runs when there is no devtmpfs.
mknod -m 600 "$t/dev/console" c 5 1

mod_closure "$mods" $MODULES > "$tmp/mods"
while read -r f; do
	mkdir -p "$t/lib/modules/$kver/$(dirname "$f")"
	cp "$mods/$f" "$t/lib/modules/$kver/$f"
done < "$tmp/mods"
cp "$mods/modules.builtin" "$mods/modules.order" "$t/lib/modules/$kver/"
busybox depmod -b "$t" "$kver"

sed "s/@MODULES@/$MODULES/" "$here/init" > "$t/init"
chmod 755 "$t/init"

(cd "$t" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -9 > "$tmp/initrd"
chmod 644 "$tmp/initrd"
mv "$tmp/initrd" "$out"
log "$out: $(wc -c < "$out") bytes, $(wc -l < "$tmp/mods") modules for $kver"
