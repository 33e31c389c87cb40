// Command berthd is Berth's daemon: the Gandi Hosting XML-RPC API, the operations engine
// and the VMs of this host.
package main

import (
	"context"
	"os"

	"github.com/berth-io/berth/internal/server"
)

func main() {
	os.Exit(server.Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}
