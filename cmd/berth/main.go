// Command berth is the command-line client of a Berth endpoint.
package main

import (
	"context"
	"os"

	"github.com/berth-io/berth/internal/cli"
)

func main() {
	os.Exit(cli.Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}
