// Command berth is the command-line client of a Berth endpoint.
package main

import (
	"context"
	"os"
	"os/signal"

	"github.com/berth-io/berth/internal/cli"
)

func main() {
	// Ctrl-C cancels the context: a wait stops and its operation goes on (exit code 130).
	ctx, _ := signal.NotifyContext(context.Background(), os.Interrupt)
	os.Exit(cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr))
}
