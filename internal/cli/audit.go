package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/client"
)

// berth account audit: the account's audit log (berth.audit.list), every mutating call on
// every transport, newest first.

func (a *app) auditCmd() *cobra.Command {
	var object, method, transport, since, until string
	var limit int64
	cmd := &cobra.Command{
		Use:     "audit",
		Short:   "Show your account's audit log: every change, who made it (key id), from where, and its result",
		Example: "  berth account audit\n  berth account audit --object vm:12 --since 24h\n  berth account audit --method delete --json",
		Args:    exactArgs(0),
		RunE: a.withClient(func(ctx context.Context, c *client.Client, _ []string) error {
			opts := map[string]any{"items_per_page": limit}
			for k, v := range map[string]string{"object": object, "method": method, "transport": transport} {
				if v != "" {
					opts[k] = v
				}
			}
			for k, v := range map[string]string{"since": since, "until": until} {
				t, err := api.ParseAuditTime(v, a.now())
				if err != nil {
					return usagef("--%s %s", k, err)
				}
				if !t.IsZero() {
					opts[k] = t.UTC()
				}
			}
			v, err := c.Call(ctx, "berth.audit.list", opts)
			if err != nil {
				return fmt.Errorf("audit: %s", a.describe(err))
			}
			list, _ := v.([]any)
			entries := make([]client.Object, len(list))
			for i, x := range list {
				m, _ := x.(map[string]any)
				if p, ok := m["params"].(string); ok && json.Valid([]byte(p)) {
					m["params"] = json.RawMessage(p) // --json prints the parameters as JSON
				}
				entries[i] = client.Object(m)
			}
			return a.output(entries, func() error {
				rows := make([][]string, len(entries))
				for i, e := range entries {
					result := e.Str("result")
					if msg := e.Str("message"); msg != "" {
						result += ": " + msg
					}
					var ops []string
					for _, o := range e.Ints("operations") {
						ops = append(ops, itoa(o))
					}
					rows[i] = []string{itoa(e.ID()), fmtShortTime(e.Time("date")), e.Str("actor"), itoa(e.Int("key_id")), e.Str("transport"),
						e.Str("client_addr"), e.Str("method"), e.Str("object"), result, strings.Join(ops, ",")}
				}
				return a.printTable([]string{"ID", "TIME", "BY", "KEY", "VIA", "FROM", "METHOD", "OBJECT", "RESULT", "OPERATIONS"}, rows, "no audit entries")
			})
		}),
	}
	f := cmd.Flags()
	f.StringVar(&object, "object", "", "only entries about this object: kind:id (vm:12) or a kind (vm)")
	f.StringVar(&method, "method", "", "only entries whose method contains this (vm.delete)")
	f.StringVar(&transport, "transport", "", "only entries of this transport: xmlrpc, rest, web or admin")
	f.StringVar(&since, "since", "", "entries at or after this time: RFC 3339, a date or a duration ago (24h)")
	f.StringVar(&until, "until", "", "entries before this time (same forms as --since)")
	f.Int64Var(&limit, "limit", 100, "at most this many entries (up to 500)")
	return cmd
}
