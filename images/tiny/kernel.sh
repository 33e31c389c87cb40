#!/bin/sh
# kernel.sh INPUTS DEBDIR OUTDIR: download the Debian cloud kernel package named
# in INPUTS into DEBDIR (kept as a cache) and unpack it into OUTDIR:
#   OUTDIR/root/       the dpkg -x tree (boot/, lib/modules/KVER/ + modules.dep)
#   OUTDIR/vmlinuz     the kernel
#   OUTDIR/version     KVER, e.g. 6.1.0-56-cloud-amd64
#   OUTDIR/stamp       written last
# The modules used by the initramfs and the rootfs come from this same deb.
set -eu
. "$(dirname "$0")/../lib.sh"
[ $# = 3 ] || die "usage: kernel.sh INPUTS DEBDIR OUTDIR"
inputs=$1 debs=$2 out=$3

pkg=$(sed -n 's/^kernel_package=//p' "$inputs")
ver=$(sed -n 's/^kernel_package_version=//p' "$inputs")
[ -n "$pkg" ] && [ -n "$ver" ] || die "no kernel package in $inputs"
mkdir -p "$debs"
deb="$debs/${pkg}_$(printf '%s' "$ver" | sed 's/:/%3a/')_amd64.deb"
if [ ! -s "$deb" ]; then
	log "downloading $pkg=$ver"
	# apt-get download writes into the current directory; _apt cannot write
	# to root-owned cache dirs, which only costs a warning.
	(cd "$debs" && apt-get download -q "$pkg=$ver" 2>&1 | grep -v 'unsandboxed' >&2) ||
		(cd "$debs" && apt-get update -qq && apt-get download -q "$pkg=$ver" 2>&1 | grep -v 'unsandboxed' >&2) ||
		true
	[ -s "$deb" ] || die "download of $pkg=$ver failed"
fi

tmp="$out.tmp"
rm -rf "$tmp"
mkdir -p "$tmp"
dpkg -x "$deb" "$tmp/root"
kver=$(ls "$tmp/root/lib/modules")
[ -n "$kver" ] && [ -f "$tmp/root/boot/vmlinuz-$kver" ] || die "$deb has no kernel"
cp "$tmp/root/boot/vmlinuz-$kver" "$tmp/vmlinuz"
# The deb ships no modules.dep (its postinst runs depmod); busybox depmod
# writes one busybox modprobe understands.
busybox depmod -b "$tmp/root" "$kver"
[ -s "$tmp/root/lib/modules/$kver/modules.dep" ] || die "depmod failed"
echo "$kver" > "$tmp/version"
echo "$pkg $ver" > "$tmp/stamp"
rm -rf "$out"
mv "$tmp" "$out"
log "kernel $kver ready in $out"
