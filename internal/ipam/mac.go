package ipam

import (
	"encoding/binary"
	"net"
)

// MACIDBits is the number of iface-id bits a MAC address carries (see MAC).
const MACIDBits = 40

// MAC returns the MAC address of an iface: 02:xx:xx:xx:xx:xx, a locally administered
// unicast address whose last 40 bits are the iface id, big-endian (iface 1 is
// 02:00:00:00:00:01). Ids below 2^40 (about 10^12) map to distinct addresses; beyond
// that the id is taken modulo 2^40, so two ifaces collide only when their ids differ
// by a multiple of 2^40 (negative ids wrap the same way). This is why QEMU's
// 52:54:00 prefix, which leaves only 24 bits (16.7 million ids), is not used.
func MAC(ifaceID int64) net.HardwareAddr {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(ifaceID))
	mac := make(net.HardwareAddr, 6)
	mac[0] = 0x02
	copy(mac[1:], b[3:])
	return mac
}
