#!/bin/sh
# debootstrap.sh INPUTS ROOT: debootstrap Debian bookworm (minbase + the
# packages in packages.sh) from the mirror named in INPUTS into ROOT. The
# downloaded .debs are kept in ROOT/../debootstrap-cache for the next run.
# ROOT/.berth-debootstrap is written last.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"
[ $# = 2 ] || die "usage: debootstrap.sh INPUTS ROOT"
inputs=$1 root=$2
need_root
mirror=$(sed -n 's/^mirror=//p' "$inputs")
suite=$(sed -n 's/^suite=//p' "$inputs")
include=$(sed -n 's/^include=//p' "$inputs")
cache=$(cd "$(dirname "$root")" && pwd)/debootstrap-cache
mkdir -p "$cache"
tmp="$root.tmp"
rm -rf "$tmp"
log "debootstrap $suite from $mirror (takes a minute or two)"
dlog=$(dirname "$root")/debootstrap.log
debootstrap --variant=minbase --cache-dir="$cache" --include="$include" "$suite" "$tmp" "$mirror" > "$dlog" 2>&1 ||
	{ tail -n 30 "$dlog" >&2; die "debootstrap failed (log: $dlog)"; }
cp "$inputs" "$tmp/.berth-debootstrap"
rm -rf "$root"
mv "$tmp" "$root"
log "$root: $(du -sm "$root" | cut -f1) MB"
