#!/bin/sh
# manifest.sh NAME DIR KERNEL INITRD DISK KERNEL_VERSION: publish a built
# image and write DIR/manifest.json, which internal/image reads.
#
# Publishing hard-links each file to a content-addressed, read-only name
# (vmlinuz-<sha16>, initrd-<sha16>, disk-<sha16>.qcow2) and the manifest
# names those: a later rebuild writes new files and never changes one that
# existing VM overlays use as their backing file. Old versions stay until
# removed by hand (or make images-clean).
set -eu
. "$(dirname "$0")/lib.sh"
[ $# = 6 ] || die "usage: manifest.sh NAME DIR KERNEL INITRD DISK KERNEL_VERSION"
name=$1 dir=$(cd "$2" && pwd) kernel=$3 initrd=$4 disk=$5 kver=$6

case "$name" in
tiny)
	label="Berth Tiny" system="Berth" version=1
	cmdline="console=ttyS0 root=/dev/vda rw panic=-1 memhp_default_state=online_movable swiotlb=noforce quiet"
	;;
debian12)
	label="Debian 12" system="Debian" version=12
	cmdline="console=ttyS0,115200 root=/dev/vda rw panic=-1 memhp_default_state=online_movable swiotlb=noforce"
	;;
*) die "unknown image $name" ;;
esac

# publish FILE PREFIX SUFFIX prints the content-addressed path of FILE.
publish() {
	p="$dir/$2-$(sha16 "$1")$3"
	if [ ! -e "$p" ]; then
		ln "$1" "$p.tmp" 2>/dev/null || cp "$1" "$p.tmp"
		chmod 0444 "$p.tmp"
		mv "$p.tmp" "$p"
	fi
	echo "$p"
}
k=$(publish "$kernel" vmlinuz "")
i=$(publish "$initrd" initrd "")
d=$(publish "$disk" disk .qcow2)
bytes=$(qemu-img info --output=json "$d" | sed -n 's/^ *"virtual-size": *\([0-9]*\).*/\1/p' | head -1)
[ -n "$bytes" ] || die "cannot read the virtual size of $d"

# jstr prints a JSON string literal (the values here have no control chars).
jstr() { printf '"%s"' "$(printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g')"; }
tmp="$dir/manifest.json.tmp"
cat > "$tmp" <<JSON
{
  "name": $(jstr "$name"),
  "label": $(jstr "$label"),
  "os_arch": "x86-64",
  "system": $(jstr "$system"),
  "version": $(jstr "$version"),
  "disk": $(jstr "$d"),
  "size_mb": $((bytes / 1048576)),
  "kernel": $(jstr "$k"),
  "initrd": $(jstr "$i"),
  "cmdline": $(jstr "$cmdline"),
  "kernel_version": $(jstr "$kver"),
  "built": $(jstr "$(date -u +%Y-%m-%dT%H:%M:%SZ)")
}
JSON
mv "$tmp" "$dir/manifest.json"
log "$dir/manifest.json: $label, $((bytes / 1048576)) MB, kernel $kver"
