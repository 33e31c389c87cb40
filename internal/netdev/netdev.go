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

// Network is a bridge and the gateway addresses it holds.
type Network struct {
	Namespace string
	Bridge    string
	Gateways  []string // CIDR addresses, e.g. 192.0.2.1/24
}

// Driver creates networks and ports. Every method is idempotent.
type Driver interface {
	EnsureNetwork(ctx context.Context, n Network) error
	DeleteNetwork(ctx context.Context, n Network) error
	EnsurePort(ctx context.Context, p Port) error
	DeletePort(ctx context.Context, p Port) error
}
