#!/bin/sh
# inputs.sh: print the Debian package versions Berth Tiny is built from.
# The Makefile keeps the output in $(BERTH_CACHE)/tiny/inputs and rewrites it
# only when it changes, so a new kernel or busybox rebuilds the image.
set -eu
. "$(dirname "$0")/../lib.sh"

# kernel_dep prints "PACKAGE VERSION" of the versioned kernel package that the
# candidate linux-image-cloud-amd64 depends on.
kernel_dep() {
	apt-cache show --no-all-versions linux-image-cloud-amd64 2>/dev/null |
		sed -n 's/^Depends: \(linux-image-[^ ,]*\) (= \([^)]*\)).*/\1 \2/p' | head -1
}
dep=$(kernel_dep)
if [ -z "$dep" ]; then
	log "linux-image-cloud-amd64 unknown to apt, running apt-get update"
	apt-get update -qq >&2 || die "apt-get update failed"
	dep=$(kernel_dep)
fi
[ -n "$dep" ] || die "cannot resolve linux-image-cloud-amd64 (check /etc/apt/sources.list.d)"
echo "kernel_package=${dep% *}"
echo "kernel_package_version=${dep#* }"
for p in busybox-static dropbear-bin openssh-sftp-server e2fsprogs libc6; do
	echo "$p=$(pkg_version "$p")"
done
