// Package fake is an in-memory netdev.Driver for logic tests and the sim backend.
package fake

import (
	"context"
	"sync"

	"github.com/berth-io/berth/internal/netdev"
)

// Driver is the fake network driver.
type Driver struct {
	mu       sync.Mutex
	networks map[string]netdev.Network
	ports    map[int64]netdev.Port
	ticks    map[int64]uint64 // PortStats calls per port (stats.go)
}

var _ netdev.Driver = (*Driver)(nil)

// New returns an empty fake.
func New() *Driver {
	return &Driver{networks: map[string]netdev.Network{}, ports: map[int64]netdev.Port{}}
}

// Ports returns a copy of the ports that exist.
func (d *Driver) Ports() map[int64]netdev.Port {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[int64]netdev.Port, len(d.ports))
	for k, v := range d.ports {
		out[k] = v
	}
	return out
}

// EnsureNetwork implements netdev.Driver.
func (d *Driver) EnsureNetwork(_ context.Context, n netdev.Network) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.networks[n.Namespace+"/"+n.Bridge] = n
	return nil
}

// DeleteNetwork implements netdev.Driver.
func (d *Driver) DeleteNetwork(_ context.Context, n netdev.Network) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.networks, n.Namespace+"/"+n.Bridge)
	return nil
}

// EnsurePort implements netdev.Driver.
func (d *Driver) EnsurePort(_ context.Context, p netdev.Port) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.ports[p.IfaceID] = p
	return nil
}

// DeletePort implements netdev.Driver.
func (d *Driver) DeletePort(_ context.Context, p netdev.Port) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.ports, p.IfaceID)
	delete(d.ticks, p.IfaceID)
	return nil
}
