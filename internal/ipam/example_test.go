package ipam_test

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/berth-io/berth/internal/ipam"
)

// A datacenter's public IPv4 pool and per-iface IPv6 addresses from its /64.
func Example() {
	v4, err := ipam.NewPool("192.0.2.0/24", "192.0.2.1")
	if err != nil {
		panic(err)
	}
	used := []netip.Addr{netip.MustParseAddr("192.0.2.2")} // from the store
	a, _ := v4.Next(used)
	fmt.Println(a, ipam.DefaultReverse(a, "FR-SD5", "berth.test"))

	sub, _ := ipam.Subnet64(netip.MustParsePrefix("2001:db8::/32"), 5)
	v6, _ := ipam.NewPoolFrom(sub, ipam.DefaultGateway(sub))
	b, _ := v6.Next(nil)
	fmt.Println(b, ipam.DefaultReverse(b, "FR-SD5", "berth.test"))

	err = v4.Check(netip.MustParseAddr("192.0.2.2"), used)
	fmt.Println(errors.Is(err, ipam.ErrInUse), err)
	fmt.Println(ipam.MAC(434673))
	// Output:
	// 192.0.2.3 xvm-2-3.fr-sd5.berth.test
	// 2001:db8:0:5::2 xvm6-0-0-0-2.fr-sd5.berth.test
	// true address in use: 192.0.2.2 is already allocated
	// 02:00:00:06:a1:f1
}
