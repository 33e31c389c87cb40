# Berth Tiny /lib/berth/functions.sh: guest side of Berth's seed contract (sourced by
# rcS, the uevent handler and the network helper). See images/README.md.
# shellcheck shell=sh

PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH
BERTH_RUN=/run/berth          # this boot: the seed copy, locks, pids
BERTH_VAR=/var/lib/berth      # persistent: instance marker, seed copy, logs
SEED=$BERTH_RUN/seed          # the current seed files (a copy, not a mount)

# say prints a line on the serial console (the markers tests grep for).
say() { echo "$*" > /dev/console; }

# note prints a berth: line on the console and into syslog.
note() {
	say "berth: $* [$(cut -d" " -f1 /proc/uptime)]"
	logger -t berth "$*" 2>/dev/null || true
}

# seed_device prints the first block device that is ISO9660 with volume id
# "cidata" (the volume identifier is at byte 32808 = 16*2048+40).
seed_device() {
	for b in /sys/block/vd* /sys/block/sr* /sys/block/sd*; do
		[ -e "$b" ] || continue
		d=/dev/${b##*/}
		[ -b "$d" ] || continue
		id=$(dd if="$d" bs=8 skip=4101 count=1 2>/dev/null | tr -d ' \0' | tr 'A-Z' 'a-z')
		if [ "$id" = cidata ]; then
			echo "$d"
			return 0
		fi
	done
	return 1
}

# seed_load copies the seed device's files to $SEED. With no seed device it
# falls back to the copy kept from an earlier boot ($BERTH_VAR/seed), so a
# reboot after the seed was detached keeps hostname, keys and addresses.
seed_load() {
	mkdir -p "$BERTH_RUN"
	chmod 700 "$BERTH_RUN"
	dev=$(seed_device) || dev=""
	if [ -n "$dev" ]; then
		modprobe -q cdrom 2>/dev/null
		modprobe -q isofs 2>/dev/null
		# The host may have rewritten the ISO since it was last read.
		blockdev --flushbufs "$dev" 2>/dev/null
		mnt=$BERTH_RUN/seed-mnt
		mkdir -p "$mnt"
		if mount -t iso9660 -o ro "$dev" "$mnt" 2>/dev/null; then
			rm -rf "$SEED.new"
			cp -R "$mnt" "$SEED.new"
			umount "$mnt"
			chmod -R go-rwx "$SEED.new"
			rm -rf "$SEED"
			mv "$SEED.new" "$SEED"
			SEED_DEV=$dev
			return 0
		fi
		note "cannot mount seed $dev"
	fi
	if [ -d "$BERTH_VAR/seed" ] && [ ! -d "$SEED" ]; then
		cp -R "$BERTH_VAR/seed" "$SEED"
		SEED_DEV="$BERTH_VAR/seed"
		return 0
	fi
	[ -d "$SEED" ]
}

# seed_keep saves the non-secret seed files for later boots without a seed.
seed_keep() {
	[ -d "$SEED" ] || return 0
	rm -rf "$BERTH_VAR/seed.new"
	mkdir -p "$BERTH_VAR/seed.new/berth"
	[ -f "$SEED/meta-data" ] && cp "$SEED/meta-data" "$BERTH_VAR/seed.new/"
	for f in hostname login authorized_keys ifaces; do
		[ -f "$SEED/berth/$f" ] && cp "$SEED/berth/$f" "$BERTH_VAR/seed.new/berth/"
	done
	rm -rf "$BERTH_VAR/seed"
	mv "$BERTH_VAR/seed.new" "$BERTH_VAR/seed"
}

# seed_line FILE prints the first line of berth/FILE without CR/LF.
seed_line() {
	[ -f "$SEED/berth/$1" ] || return 1
	head -n 1 "$SEED/berth/$1" | tr -d '\r\n'
}

# meta KEY prints a top-level "KEY: value" from meta-data, unquoted.
meta() {
	[ -f "$SEED/meta-data" ] || return 1
	tr -d '\r' < "$SEED/meta-data" |
		sed -n "s/^$1:[[:space:]]*//p" | head -n 1 |
		sed -e 's/[[:space:]]*$//' -e "s/^[\"']\(.*\)[\"']\$/\1/"
}

# valid_hostname accepts RFC 1123 names (dots allowed), at most 253 chars.
valid_hostname() {
	[ ${#1} -le 253 ] && echo "$1" | grep -Eq '^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$'
}

# valid_user accepts a conventional login name.
valid_user() { echo "$1" | grep -Eq '^[a-z_][a-z0-9_-]{0,31}$'; }

# apply_hostname sets the hostname: berth/hostname, else meta-data
# local-hostname, else the one already in /etc/hostname, else "berth".
apply_hostname() {
	h=$(seed_line hostname) || h=""
	[ -n "$h" ] || h=$(meta local-hostname) || h=""
	if [ -n "$h" ] && ! valid_hostname "$h"; then
		note "ignoring invalid hostname '$h'"
		h=""
	fi
	[ -n "$h" ] || h=$(cat /etc/hostname 2>/dev/null) || h=""
	[ -n "$h" ] || h=berth
	hostname "$h"
	echo "$h" > /etc/hostname
	short=${h%%.*}
	if [ "$short" = "$h" ]; then names=$h; else names="$h $short"; fi
	printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' "$names" > /etc/hosts
}

# set_shadow USER FIELD replaces USER's password field in /etc/shadow.
set_shadow() {
	awk -F: -v OFS=: -v u="$1" -v p="$2" '$1 == u { $2 = p } { print }' /etc/shadow > /etc/shadow.new
	chmod 600 /etc/shadow.new
	mv /etc/shadow.new /etc/shadow
}

# password_field FILE prints the crypt(3) SHA-512 hash of berth/FILE's first
# line, or "*" (no password login) when the file is absent or empty.
password_field() {
	pw=$(seed_line "$1") || pw=""
	if [ -z "$pw" ]; then
		echo '*'
		return
	fi
	printf '%s\n' "$pw" | mkpasswd -m sha512 -P 0
}

# add_user NAME creates a user with its own group and home (uid >= 1000).
add_user() {
	u=$1
	grep -q "^$u:" /etc/passwd && return 0
	uid=1000
	while cut -d: -f3 /etc/passwd | grep -qx "$uid" || cut -d: -f3 /etc/group | grep -qx "$uid"; do
		uid=$((uid + 1))
	done
	echo "$u:x:$uid:$uid:$u:/home/$u:/bin/sh" >> /etc/passwd
	echo "$u:x:$uid:" >> /etc/group
	echo "$u:*:$(($(date +%s) / 86400)):0:99999:7:::" >> /etc/shadow
	mkdir -p "/home/$u"
	chown "$uid:$uid" "/home/$u"
	chmod 750 "/home/$u"
	note "created user $u (uid $uid)"
}

# apply_users sets passwords and creates the login user (once per instance).
apply_users() {
	set_shadow root "$(password_field root_password)"
	u=$(seed_line login) || u=""
	[ -n "$u" ] || return 0
	if ! valid_user "$u" || [ "$u" = root ]; then
		note "ignoring invalid login '$u'"
		return 0
	fi
	add_user "$u"
	set_shadow "$u" "$(password_field login_password)"
}

# install_keys USER HOME writes berth/authorized_keys between BEGIN/END berth
# markers in HOME/.ssh/authorized_keys, keeping any other lines.
install_keys() {
	user=$1 home=$2
	[ -d "$home" ] || return 0
	ak=$home/.ssh/authorized_keys
	mkdir -p "$home/.ssh"
	{
		[ -f "$ak" ] && sed '/^# BEGIN berth$/,/^# END berth$/d' "$ak"
		if [ -s "$SEED/berth/authorized_keys" ]; then
			echo '# BEGIN berth'
			tr -d '\r' < "$SEED/berth/authorized_keys" | grep -v '^[[:space:]]*$'
			echo '# END berth'
		fi
	} > "$ak.new"
	mv "$ak.new" "$ak"
	chmod 700 "$home/.ssh"
	chmod 600 "$ak"
	chown -R "$user:" "$home/.ssh" 2>/dev/null || chown -R "$user" "$home/.ssh"
}

# apply_keys installs the seed's keys for root and the login user.
apply_keys() {
	install_keys root /root
	u=$(seed_line login) || u=""
	if [ -n "$u" ] && valid_user "$u" && grep -q "^$u:" /etc/passwd; then
		install_keys "$u" "$(awk -F: -v u="$u" '$1 == u { print $6 }' /etc/passwd)"
	fi
}

# host_keys generates the ed25519 host key if missing (other types are made
# by dropbear -R on first use: RSA generation takes seconds under TCG) and
# prints the public host keys (BERTH-HOSTKEY <type> <base64>).
host_keys() {
	mkdir -p /etc/dropbear
	k=/etc/dropbear/dropbear_ed25519_host_key
	[ -s "$k" ] || dropbearkey -t ed25519 -f "$k" > /dev/null 2>&1 || note "dropbearkey ed25519 failed"
	for k in /etc/dropbear/dropbear_*_host_key; do
		[ -s "$k" ] && say "BERTH-HOSTKEY $(dropbearkey -y -f "$k" 2>/dev/null | grep -E '^(ssh|ecdsa)-' | cut -d' ' -f1-2)"
	done
}

# iface_lock NAME serializes configuration of one interface (boot coldplug
# and the uevent handler can race on the same NIC).
iface_lock() {
	mkdir -p "$BERTH_RUN/lock"
	n=0
	until mkdir "$BERTH_RUN/lock/$1" 2>/dev/null; do
		n=$((n + 1))
		[ $n -gt 100 ] && break
		usleep 50000
	done
}
iface_unlock() { rmdir "$BERTH_RUN/lock/$1" 2>/dev/null; }

# seed_addrs MAC prints "<cidr> <gateway-or-dash>" for each address of MAC in the seed.
seed_addrs() {
	[ -f "$SEED/berth/ifaces" ] || return 0
	tr -d '\r' < "$SEED/berth/ifaces" | awk -v m="$1" 'tolower($1) == m && NF >= 2 { print $2, (NF >= 3 ? $3 : "-") }'
}

# no_dad NAME turns off IPv6 duplicate address detection on NAME ("all" and
# "default" too): the addresses Berth assigns are unique, and without DAD they
# are usable at once instead of "tentative" for a second or more after the
# interface comes up (BERTH-BOOTED means the addresses answer).
no_dad() {
	f=/proc/sys/net/ipv6/conf/$1/accept_dad
	[ -w "$f" ] && echo 0 > "$f"
	return 0
}

# configure_iface NAME brings NAME up with the seed's addresses for its MAC
# (berth/ifaces lines "<mac> <cidr> <gateway-or-dash>"), or starts udhcpc.
configure_iface() {
	i=$1
	[ "$i" = lo ] && return 0
	[ -e "/sys/class/net/$i/address" ] || return 0
	[ -e "/sys/class/net/$i/device" ] || return 0 # skip virtual interfaces
	mac=$(tr 'A-Z' 'a-z' < "/sys/class/net/$i/address")
	iface_lock "$i"
	no_dad "$i"
	ip link set dev "$i" up
	lines=$(seed_addrs "$mac")
	if [ -n "$lines" ]; then
		echo "$lines" | while read -r addr gw; do
			case "$addr" in *:*) fam=-6 ;; *) fam=-4 ;; esac
			ip "$fam" addr add "$addr" dev "$i" 2>/dev/null
			if [ -n "$gw" ] && [ "$gw" != - ]; then
				ip "$fam" route replace default via "$gw" dev "$i" ||
					note "$i: default route via $gw failed"
			fi
			note "$i $mac $addr gw $gw"
		done
	else
		pid=$BERTH_RUN/udhcpc.$i.pid
		if ! { [ -f "$pid" ] && kill -0 "$(cat "$pid")" 2>/dev/null; }; then
			udhcpc -i "$i" -b -S -p "$pid" -s /etc/udhcpc/default.script \
				-t 3 -T 2 -A 30 -x "hostname:$(hostname)" > /dev/null 2>&1
			note "$i $mac dhcp"
		fi
	fi
	iface_unlock "$i"
}

# deconfigure_iface NAME stops udhcpc for a removed interface.
deconfigure_iface() {
	pid=$BERTH_RUN/udhcpc.$1.pid
	[ -f "$pid" ] && kill "$(cat "$pid")" 2>/dev/null
	rm -f "$pid"
}

# online_cpu DIR writes 1 to DIR/online when the CPU is offline.
online_cpu() {
	[ -f "$1/online" ] || return 0
	[ "$(cat "$1/online")" = 0 ] || return 0
	echo 1 > "$1/online" && note "${1##*/} online"
}

# online_memory DIR onlines a memory block the kernel left offline.
online_memory() {
	[ -f "$1/state" ] || return 0
	[ "$(cat "$1/state")" = offline ] || return 0
	echo online_movable > "$1/state" 2>/dev/null || echo online > "$1/state"
}

# load_virtio_driver DIR loads the driver for a virtio device by modalias.
load_virtio_driver() {
	[ -f "$1/modalias" ] && [ ! -e "$1/driver" ] && modprobe -q "$(cat "$1/modalias")" 2>/dev/null
	return 0
}

# instance_id prints the seed's instance-id (empty without a seed).
instance_id() { meta instance-id || true; }

# marker_name prints a file name made from an instance id.
marker_name() { printf '%s' "$1" | tr -c 'A-Za-z0-9._-' '_'; }
