#!/bin/bash
# smoke.sh tiny|debian12 MANIFEST: boot a built image under TCG and check it
# end to end. Needs root (network namespace, tap), qemu-system-x86, socat,
# jq, genisoimage, openssh-client, busybox (make images-deps installs them).
#
# tiny: seed ISO per the Berth seed contract; BERTH-BOOTED with the seeded
# hostname; the run command and the script ran (BERTH-RUN-DONE rc=0,
# BERTH-SCRIPT-DONE rc=3); SSH as root and as the login user with the seeded
# key, and the login user's password, over a tap on a bridge inside a
# private network namespace (192.0.2.0/24, 2001:db8::/64); the serial
# console shell; pc-dimm and vCPU hotplug seen by the guest; a hot-added NIC
# configured from the seed; a hot-added disk formatted and mounted; guest
# reboot and QMP system_reset (addresses kept, run not repeated); QMP
# system_powerdown makes QEMU exit.
#
# debian12: a cloud-init seed (hostname, a user with an SSH key, static
# network-config v2); SSH as that user; cloud-init status done; powerdown.
#
# Prints one "PASS"/"FAIL" line per check and the timings; exits non-zero on
# the first failure. BERTH_SMOKE_KEEP=1 keeps the work directory.
set -euo pipefail

[ $# = 2 ] || { echo "usage: smoke.sh tiny|debian12 MANIFEST" >&2; exit 2; }
KIND=$1 MANIFEST=$2
[ "$(id -u)" = 0 ] || { echo "smoke.sh: needs root" >&2; exit 2; }
for t in qemu-system-x86_64 qemu-img socat jq genisoimage ssh ssh-keygen dbclient busybox ip; do
	command -v "$t" > /dev/null || { echo "smoke.sh: $t missing (make images-deps)" >&2; exit 2; }
done

WORK=$(mktemp -d /tmp/berth-smoke.XXXXXX)
NS=berth-imgtest-$$
QEMU_PID=""
T0=$(date +%s.%N)

cleanup() {
	rc=$?
	if [ -n "${QMP_PID:-}" ]; then kill "$QMP_PID" 2> /dev/null || true; fi
	if [ -n "$QEMU_PID" ] && kill -0 "$QEMU_PID" 2> /dev/null; then
		kill "$QEMU_PID" 2> /dev/null || true
		wait "$QEMU_PID" 2> /dev/null || true
	fi
	ip netns del "$NS" 2> /dev/null || true
	if [ $rc != 0 ]; then
		echo "--- serial log tail ($WORK/serial.log)"
		tail -n 40 "$WORK/serial.log" 2> /dev/null || true
	fi
	if [ "${BERTH_SMOKE_KEEP:-}" = 1 ] || [ $rc != 0 ]; then
		echo "work directory kept: $WORK"
	else
		rm -rf "$WORK"
	fi
	exit $rc
}
trap cleanup EXIT

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
pass() { echo "PASS $*"; }
fail() {
	echo "FAIL $*"
	exit 1
}

# wait_for DEADLINE_S DESCRIPTION CMD...: poll CMD every 0.2 s until it succeeds.
wait_for() {
	local limit=$1 what=$2 start
	shift 2
	start=$(now)
	until "$@" > /dev/null 2>&1; do
		if awk -v a="$start" -v b="$(now)" -v l="$limit" 'BEGIN { exit !(b - a > l) }'; then
			fail "$what (no success within ${limit}s)"
		fi
		sleep 0.2
	done
}

# log_count PATTERN prints how many serial log lines match PATTERN.
log_count() { grep -c -a -- "$1" "$WORK/serial.log" 2> /dev/null || true; }
log_has() { grep -q -a -- "$1" "$WORK/serial.log" 2> /dev/null; }
log_count_ge() { [ "$(log_count "$1")" -ge "$2" ]; }

field() { jq -er ".$1" "$MANIFEST"; }
DISK=$(field disk) KERNEL=$(field kernel) INITRD=$(field initrd) CMDLINE=$(field cmdline)
for f in "$DISK" "$KERNEL" "$INITRD"; do [ -f "$f" ] || fail "manifest file missing: $f"; done
pass "manifest $MANIFEST ($(field label), kernel $(field kernel_version), $(field size_mb) MB)"

# Network: a bridge with 192.0.2.1/24 and 2001:db8::1/64 inside $NS, taps for the guest.
ip netns add "$NS"
nsx() { ip netns exec "$NS" "$@"; }
nsx ip link set lo up
nsx ip link add br0 type bridge
nsx ip addr add 192.0.2.1/24 dev br0
nsx ip addr add 2001:db8::1/64 dev br0 nodad
nsx ip link set br0 up
for t in tap0 tap1; do
	nsx ip tuntap add "$t" mode tap
	nsx ip link set "$t" master br0
	nsx ip link set "$t" up
done

ssh-keygen -q -t ed25519 -N '' -C berth-smoke -f "$WORK/id"
SSH_OPTS=(-i "$WORK/id" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
	-o BatchMode=yes -o ConnectTimeout=15 -o LogLevel=ERROR)
gssh() { nsx ssh "${SSH_OPTS[@]}" "$@"; }

# QMP over one socat connection (a coprocess: its fds exist only in this
# shell, so qmp sets QMP_REPLY instead of printing into a $(...) subshell).
qmp_open() {
	coproc QMP { socat - UNIX-CONNECT:"$WORK/qmp.sock"; }
	local line
	read -r -t 10 line <&"${QMP[0]}" || fail "no QMP greeting"
	qmp '{"execute":"qmp_capabilities"}'
}
# qmp CMD sends CMD and sets QMP_REPLY to its reply, skipping events; it
# fails the test on an "error" reply.
qmp() {
	local line
	echo "$1" >&"${QMP[1]}"
	while read -r -t 20 line <&"${QMP[0]}"; do
		case "$line" in
		*'"return"'*)
			QMP_REPLY=$line
			return 0
			;;
		*'"error"'*) fail "QMP $1: $line" ;;
		esac
	done
	fail "no QMP reply to $1"
}

start_vm() { # start_vm MEM EXTRA_ARGS...
	local mem=$1
	shift
	qemu-img create -q -f qcow2 -b "$DISK" -F qcow2 "$WORK/disk.qcow2"
	# ip netns exec execs QEMU, so $! is QEMU's pid.
	ip netns exec "$NS" qemu-system-x86_64 -name "smoke-$KIND" -machine pc -accel tcg -cpu qemu64 \
		-m "$mem,slots=4,maxmem=2G" -smp 1,maxcpus=4 -nodefaults -display none -no-user-config \
		-chardev "socket,id=ser0,path=$WORK/serial.sock,server=on,wait=off,logfile=$WORK/serial.log" \
		-serial chardev:ser0 -qmp "unix:$WORK/qmp.sock,server=on,wait=off" \
		-kernel "$KERNEL" -initrd "$INITRD" -append "$CMDLINE" \
		-blockdev "{\"driver\":\"qcow2\",\"node-name\":\"root\",\"file\":{\"driver\":\"file\",\"filename\":\"$WORK/disk.qcow2\"}}" \
		-device virtio-blk-pci,drive=root,id=vda \
		-blockdev "{\"driver\":\"raw\",\"node-name\":\"seed\",\"read-only\":true,\"file\":{\"driver\":\"file\",\"filename\":\"$WORK/seed.iso\"}}" \
		-device virtio-blk-pci,drive=seed,id=seed \
		-netdev tap,id=n0,ifname=tap0,script=no,downscript=no \
		-device virtio-net-pci,netdev=n0,id=nic0,mac=52:54:00:12:34:56 \
		-device virtio-rng-pci \
		"$@" > "$WORK/qemu.out" 2>&1 &
	QEMU_PID=$!
	BOOT_T0=$(now)
	wait_for 10 "QMP socket" test -S "$WORK/qmp.sock"
	qmp_open
}

# qemu_exited reports whether QEMU (our child) has exited: gone or a zombie.
qemu_exited() {
	! kill -0 "$QEMU_PID" 2> /dev/null || grep -q '^[0-9]* ([^)]*) Z' "/proc/$QEMU_PID/stat" 2> /dev/null
}

powerdown() {
	local t
	t=$(now)
	qmp '{"execute":"system_powerdown"}'
	wait_for 60 "QEMU exits after system_powerdown" qemu_exited
	wait "$QEMU_PID" 2> /dev/null || true
	QEMU_PID=""
	pass "system_powerdown: QEMU exited after $(since "$t") s"
}

smoke_tiny() {
	local s=$WORK/seed
	mkdir -p "$s/berth"
	printf 'instance-id: smoke-%s\nlocal-hostname: smoke-meta\n' "$$" > "$s/meta-data"
	printf '#cloud-config\n{}\n' > "$s/user-data"
	printf 'version: 2\nethernets: {}\n' > "$s/network-config"
	echo smoke-tiny > "$s/berth/hostname"
	echo smokeuser > "$s/berth/login"
	echo 'smoke pw 1' > "$s/berth/login_password"
	cp "$WORK/id.pub" "$s/berth/authorized_keys"
	echo 'echo "RUN-OUTPUT uid=$(id -u) host=$(hostname)"; touch /root/ran' > "$s/berth/run"
	printf '#!/bin/sh\necho SCRIPT-OUTPUT\nexit 3\n' > "$s/berth/script"
	cat > "$s/berth/ifaces" <<-EOF
		52:54:00:12:34:56 192.0.2.10/24 192.0.2.1
		52:54:00:12:34:56 2001:db8::10/64 2001:db8::1
		52:54:00:12:34:57 192.0.2.11/24 -
	EOF
	genisoimage -quiet -output "$WORK/seed.iso" -volid cidata -joliet -rock "$s"

	start_vm 256M
	wait_for 90 "BERTH-BOOTED" log_has 'BERTH-BOOTED host=smoke-tiny '
	pass "boot: $(grep -a -o 'BERTH-BOOTED.*' "$WORK/serial.log" | head -1 | tr -d '\r') after $(since "$BOOT_T0") s"
	wait_for 30 "BERTH-RUN-DONE" log_has 'BERTH-RUN-DONE rc=0'
	log_has 'RUN-OUTPUT uid=0 host=smoke-tiny' || fail "run command output missing"
	pass "run command: BERTH-RUN-DONE rc=0 with its output"
	wait_for 30 "BERTH-SCRIPT-DONE" log_has 'BERTH-SCRIPT-DONE rc=3'
	log_has 'SCRIPT-OUTPUT' || fail "script output missing"
	pass "script: BERTH-SCRIPT-DONE rc=3 with its output"

	local t
	t=$(now)
	wait_for 30 "ssh root@192.0.2.10" gssh root@192.0.2.10 true
	[ "$(gssh root@192.0.2.10 hostname)" = smoke-tiny ] || fail "ssh hostname"
	pass "ssh root@192.0.2.10 hostname = smoke-tiny ($(since "$t") s)"
	[ "$(gssh smokeuser@192.0.2.10 id -un)" = smokeuser ] || fail "ssh as the login user"
	pass "ssh smokeuser@192.0.2.10 (login user with the seeded key)"
	gssh root@2001:db8::10 true || fail "ssh over IPv6"
	pass "ssh root@[2001:db8::10] (IPv6 address and route from berth/ifaces)"
	[ "$(gssh root@192.0.2.10 "awk -F: '\$1==\"root\"{print \$2}' /etc/shadow")" = '*' ] ||
		fail "root password should be disabled without berth/root_password"
	pass "no berth/root_password: root password login disabled"
	[ "$(nsx env DROPBEAR_PASSWORD='smoke pw 1' dbclient -y -y smokeuser@192.0.2.10 id -un 2> /dev/null)" = smokeuser ] ||
		fail "password login of the login user"
	if nsx env DROPBEAR_PASSWORD='wrong' dbclient -y -y smokeuser@192.0.2.10 true > /dev/null 2>&1; then
		fail "a wrong password was accepted"
	fi
	pass "login user password from berth/login_password (and a wrong one refused)"

	printf 'echo CONSOLE-$((6*7))\n' | socat -t 1 - UNIX-CONNECT:"$WORK/serial.sock" > /dev/null
	wait_for 10 "console shell" log_has 'CONSOLE-42'
	pass "serial console shell"

	local mem0 mem1
	mem0=$(gssh root@192.0.2.10 "awk '/^MemTotal:/{print \$2}' /proc/meminfo")
	t=$(now)
	qmp '{"execute":"object-add","arguments":{"qom-type":"memory-backend-ram","id":"mem1","size":536870912}}'
	qmp '{"execute":"device_add","arguments":{"driver":"pc-dimm","id":"dimm1","memdev":"mem1"}}'
	mem_grown() { mem1=$(gssh root@192.0.2.10 "awk '/^MemTotal:/{print \$2}' /proc/meminfo") && [ "$mem1" -ge $((mem0 + 500000)) ]; }
	wait_for 20 "MemTotal grows by 512 MiB" mem_grown
	pass "memory hotplug: MemTotal $mem0 -> $mem1 kB ($(since "$t") s)"

	local cpu props
	qmp '{"execute":"query-hotpluggable-cpus"}'
	cpu=$(jq -c '[.return[] | select(has("qom-path") | not)] | last | .props' <<< "$QMP_REPLY")
	props=$(jq -c '{driver:"qemu64-x86_64-cpu", id:"cpu1"} + .' <<< "$cpu")
	t=$(now)
	qmp "{\"execute\":\"device_add\",\"arguments\":$props}"
	wait_for 20 "nproc = 2" bash -c "[ \"\$(ip netns exec $NS ssh ${SSH_OPTS[*]} root@192.0.2.10 nproc)\" = 2 ]"
	pass "cpu hotplug: nproc 1 -> 2 ($(since "$t") s)"

	t=$(now)
	qmp '{"execute":"netdev_add","arguments":{"type":"tap","id":"n1","ifname":"tap1","script":"no","downscript":"no"}}'
	qmp '{"execute":"device_add","arguments":{"driver":"virtio-net-pci","id":"nic1","netdev":"n1","mac":"52:54:00:12:34:57"}}'
	wait_for 20 "hot-added NIC answers on 192.0.2.11" nsx busybox ping -c 1 -W 1 192.0.2.11
	pass "NIC hotplug: 52:54:00:12:34:57 configured from the seed as 192.0.2.11 ($(since "$t") s)"

	t=$(now)
	qemu-img create -q -f qcow2 "$WORK/data.qcow2" 1G
	qmp "{\"execute\":\"blockdev-add\",\"arguments\":{\"driver\":\"qcow2\",\"node-name\":\"data1\",\"file\":{\"driver\":\"file\",\"filename\":\"$WORK/data.qcow2\"}}}"
	qmp '{"execute":"device_add","arguments":{"driver":"virtio-blk-pci","id":"vdisk1","drive":"data1","serial":"data1"}}'
	wait_for 20 "hot-added disk appears as /dev/vdc" gssh root@192.0.2.10 'test -b /dev/vdc && [ "$(cat /sys/block/vdc/serial)" = data1 ]'
	gssh root@192.0.2.10 'mkfs.ext4 -q /dev/vdc && mkdir -p /mnt/data && mount /dev/vdc /mnt/data && echo ok > /mnt/data/f && umount /mnt/data' ||
		fail "format and mount the hot-added disk"
	pass "disk hotplug: /dev/vdc (serial data1) formatted ext4 and mounted ($(since "$t") s)"

	t=$(now)
	gssh root@192.0.2.10 reboot || true
	wait_for 60 "BERTH-BOOTED after reboot" log_count_ge 'BERTH-BOOTED host=smoke-tiny ' 2
	wait_for 30 "ssh after reboot" gssh root@192.0.2.10 true
	[ "$(log_count 'BERTH-RUN-DONE')" = 1 ] || fail "run command ran again after reboot"
	pass "guest reboot: booted again, networking kept, run not repeated ($(since "$t") s)"

	t=$(now)
	qmp '{"execute":"system_reset"}'
	wait_for 60 "BERTH-BOOTED after system_reset" log_count_ge 'BERTH-BOOTED host=smoke-tiny ' 3
	wait_for 30 "ssh after system_reset" gssh root@192.0.2.10 true
	pass "QMP system_reset: booted again ($(since "$t") s)"

	powerdown
}

smoke_debian12() {
	local s=$WORK/seed
	mkdir -p "$s"
	printf 'instance-id: smoke-%s\nlocal-hostname: smoke-deb\n' "$$" > "$s/meta-data"
	cat > "$s/user-data" <<-EOF
		#cloud-config
		hostname: smoke-deb
		manage_etc_hosts: true
		users:
		  - name: smokeuser
		    shell: /bin/bash
		    lock_passwd: true
		    sudo: "ALL=(ALL) NOPASSWD:ALL"
		    ssh_authorized_keys:
		      - $(cat "$WORK/id.pub")
		ssh_pwauth: false
		runcmd:
		  - [sh, -c, 'echo "SMOKE-RUNCMD host=\$(hostname)" > /dev/console']
	EOF
	cat > "$s/network-config" <<-EOF
		version: 2
		ethernets:
		  nic0:
		    match:
		      macaddress: "52:54:00:12:34:56"
		    addresses: [192.0.2.20/24]
		    gateway4: 192.0.2.1
	EOF
	genisoimage -quiet -output "$WORK/seed.iso" -volid cidata -joliet -rock "$s"

	start_vm 1024M
	local t
	t=$(now)
	wait_for 300 "ssh smokeuser@192.0.2.20" gssh smokeuser@192.0.2.20 true
	pass "debian12: ssh as the cloud-init user after $(since "$BOOT_T0") s"
	[ "$(gssh smokeuser@192.0.2.20 hostname)" = smoke-deb ] || fail "debian12 hostname"
	pass "debian12: hostname smoke-deb"
	gssh smokeuser@192.0.2.20 sudo -n true || fail "debian12 sudo"
	pass "debian12: passwordless sudo"
	wait_for 180 "cloud-init done" bash -c "ip netns exec $NS ssh ${SSH_OPTS[*]} smokeuser@192.0.2.20 cloud-init status | grep -q 'status: done'"
	log_has 'SMOKE-RUNCMD host=smoke-deb' || fail "debian12 runcmd marker"
	pass "debian12: cloud-init status done, runcmd ran ($(since "$BOOT_T0") s after start)"
	wait_for 60 "BERTH-BOOTED" log_has 'BERTH-BOOTED host=smoke-deb '
	pass "debian12: $(grep -a -o 'BERTH-BOOTED.*' "$WORK/serial.log" | head -1 | tr -d '\r')"
	powerdown
}

case "$KIND" in
tiny) smoke_tiny ;;
debian12) smoke_debian12 ;;
*) fail "unknown image kind $KIND" ;;
esac
echo "smoke $KIND: all checks passed in $(since "$T0") s"
