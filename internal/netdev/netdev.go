// Package netdev defines the network driver: bridges, taps and bandwidth limits inside one
// network namespace per datacenter in the linux driver, in-memory records in the fake one.
package netdev

import "context"

// Port is one iface's tap.
type Port struct {
	IfaceID   int64
	Namespace string
	Bridge    string // the datacenter's public bridge or a VLAN's bridge
	Tap       string
	Bandwidth float64 // kbit/s; 0 means unlimited
}

// Network is a bridge and the gateway addresses it holds, and the VXLAN tunnel that joins
// it to the same bridge on the datacenter's other hosts.
type Network struct {
	Namespace string
	Bridge    string
	Gateways  []string // CIDR addresses, e.g. 192.0.2.1/24
	Overlay   *Overlay // nil: the bridge stays on this host
}

// Overlay is a bridge's VXLAN port: unicast head-end replication to every peer host (one
// all-zero flood entry each), MAC learning on. Frames the gateway itself sends never
// enter the tunnel: every host holds the same gateway (anycast).
type Overlay struct {
	VNI        uint32
	Local      string   // this host's underlay address (tunnel endpoint)
	UnderlayNS string   // namespace of the underlay ("" for the host's)
	Port       int      // UDP port, 4789 when 0
	Peers      []string // the other hosts' underlay addresses
}

// Lister is implemented by drivers that can list the bridges of a namespace, so stale
// ones (a VLAN deleted by another host) can be removed.
type Lister interface {
	Bridges(ctx context.Context, namespace string) ([]string, error)
}

// Driver creates networks and ports. Every method is idempotent.
type Driver interface {
	EnsureNetwork(ctx context.Context, n Network) error
	DeleteNetwork(ctx context.Context, n Network) error
	EnsurePort(ctx context.Context, p Port) error
	DeletePort(ctx context.Context, p Port) error
}
