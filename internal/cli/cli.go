// Package cli is the berth command line: `berth <noun> <verb>`, data on stdout, messages on
// stderr, --json for scripts.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/berth-io/berth/client"
)

// Main runs the berth command line and returns its exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var asJSON bool
	var url, key string
	root := &cobra.Command{Use: "berth", Short: "Command-line client of a Berth (Gandi Hosting API) endpoint", SilenceUsage: true, SilenceErrors: true}
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().BoolVar(&asJSON, "json", false, "print JSON")
	root.PersistentFlags().StringVar(&url, "url", os.Getenv("BERTH_URL"), "API endpoint (env BERTH_URL)")
	root.PersistentFlags().StringVar(&key, "api-key", os.Getenv("BERTH_API_KEY"), "API key (env BERTH_API_KEY)")
	cl := func() (*client.Client, error) {
		if url == "" || key == "" {
			return nil, errors.New("set BERTH_URL and BERTH_API_KEY (or --url and --api-key)")
		}
		return client.New(url, key), nil
	}
	out := func(v any, cols []string) error {
		if asJSON {
			e := json.NewEncoder(stdout)
			e.SetIndent("", "  ")
			return e.Encode(v)
		}
		return table(stdout, v, cols)
	}
	listCmd := func(noun, method string, cols []string) *cobra.Command {
		return &cobra.Command{Use: "list", Short: "List " + noun + "s", RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cl()
			if err != nil {
				return err
			}
			list, err := c.List(cmd.Context(), method, map[string]any{"items_per_page": 500})
			if err != nil {
				return err
			}
			return out(list, cols)
		}}
	}
	for _, n := range []struct {
		noun, method string
		cols         []string
	}{
		{"vm", "hosting.vm.list", []string{"id", "hostname", "state", "memory", "cores", "datacenter_id"}},
		{"disk", "hosting.disk.list", []string{"id", "name", "size", "state", "type", "vms_id"}},
		{"image", "hosting.image.list", []string{"id", "label", "disk_id", "datacenter_id", "size"}},
		{"datacenter", "hosting.datacenter.list", []string{"id", "dc_code", "name", "iaas_closed_for"}},
	} {
		noun := &cobra.Command{Use: n.noun, Short: "Manage " + n.noun + "s"}
		noun.AddCommand(listCmd(n.noun, n.method, n.cols))
		root.AddCommand(noun)
	}
	account := &cobra.Command{Use: "account", Short: "Your account"}
	account.AddCommand(&cobra.Command{Use: "info", Short: "Show the account and its credits", RunE: func(cmd *cobra.Command, _ []string) error {
		c, err := cl()
		if err != nil {
			return err
		}
		a, err := c.Struct(cmd.Context(), "hosting.account.info")
		if err != nil {
			return err
		}
		return out([]map[string]any{a}, []string{"handle", "id", "credits"})
	}})
	root.AddCommand(account)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(stderr, "berth:", err)
		return 1
	}
	return 0
}

// table prints rows of structs as aligned columns.
func table(w io.Writer, v any, cols []string) error {
	rows, _ := v.([]map[string]any)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for i, c := range cols {
		if i > 0 {
			fmt.Fprint(tw, "\t")
		}
		fmt.Fprint(tw, c)
	}
	fmt.Fprintln(tw)
	for _, r := range rows {
		for i, c := range cols {
			if i > 0 {
				fmt.Fprint(tw, "\t")
			}
			fmt.Fprint(tw, r[c])
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}
