// Package linux is Berth's real network driver. Each datacenter lives in its own named network
// namespace (/run/netns/<name>, compatible with `ip netns`), holding the public bridge, one
// bridge per private VLAN and one persistent tap per attached iface, with tc bandwidth limits on
// the taps. An empty namespace name means the host's own namespace (production option only).
//
// Every operation that must run inside a namespace runs on a dedicated goroutine locked to its
// OS thread; that goroutine exits without unlocking, so the Go runtime destroys the thread and
// no thread of the process is ever left in a foreign namespace (the main thread, which cannot
// be destroyed, is moved back and released instead). Callers need no thread locking.
package linux
