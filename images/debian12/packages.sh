# packages.sh: what debootstrap installs for the Debian 12 image (sourced).
# shellcheck shell=sh
# python3-cffi-backend: debootstrap does not resolve the virtual
# python3-cffi-backend-api-min that python3-cryptography (cloud-init) needs.
# dbus: systemd-logind needs it, and logind turns the ACPI power button
# (QMP system_powerdown) into a clean poweroff.
# qemu-guest-agent: Berth talks to it over the virtio-serial port
# org.qemu.guest_agent.0 (hostname, password, fsfreeze for snapshots).
SUITE=bookworm
INCLUDE=systemd-sysv,udev,linux-image-cloud-amd64,cloud-init,python3-cffi-backend,openssh-server,ifupdown,isc-dhcp-client,e2fsprogs,netbase,sudo,dbus,qemu-guest-agent
