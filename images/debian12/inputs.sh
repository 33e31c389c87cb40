#!/bin/sh
# inputs.sh: print what the Debian 12 image is built from: the mirror, the
# package list, debootstrap's version and the versions the mirror's bookworm
# main offers for the key packages (from the host's apt lists, so run
# apt-get update to notice a point release). The Makefile keeps the output
# in $(BERTH_CACHE)/debian12/inputs and rewrites it only when it changes.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"
. "$here/packages.sh"
mirror=$("$here/mirror.sh")
echo "mirror=$mirror"
echo "security_mirror=$("$here/mirror.sh" bookworm-security)"
echo "suite=$SUITE"
echo "variant=minbase"
echo "include=$INCLUDE"
echo "debootstrap=$(pkg_version debootstrap)"
for p in linux-image-cloud-amd64 cloud-init systemd openssh-server; do
	v=$(apt-cache madison "$p" 2>/dev/null | awk -F'|' -v s=" $SUITE/main" 'index($3, s) { gsub(/ /, "", $2); print $2; exit }')
	echo "$p=${v:-unknown}"
done
