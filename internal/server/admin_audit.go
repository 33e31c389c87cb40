package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/user"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/service"
)

// The operator's side of the audit log: admin commands that change the store are recorded
// (withDaemon ends the record), and `berthd admin audit list` reads every account's entries.

// configFlag marks the flags of the data directory and database (configFlags): they are
// never recorded, since a database URL may hold a password.
const configFlag = "berth_config"

// adminAudit returns cmd's context carrying the audit record of an admin command: the
// command, its own flags and arguments, and the operator (the user behind sudo if any).
func adminAudit(cmd *cobra.Command, args []string) context.Context {
	params := map[string]any{}
	if len(args) > 0 {
		params["args"] = args
	}
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if _, skip := f.Annotations[configFlag]; !skip {
			params[f.Name] = f.Value.String()
		}
	})
	method := strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")
	return service.WithAudit(cmd.Context(), service.AuditSpec{Transport: api.TransportAdmin, Method: method, Params: params,
		Actor: "operator:" + operator(), Addr: "local"})
}

// operator names the person running an admin command.
func operator() string {
	if u := os.Getenv("SUDO_USER"); u != "" {
		return u
	}
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return fmt.Sprintf("uid %d", os.Getuid())
}

func auditCmd(stdout io.Writer) *cobra.Command {
	grp := &cobra.Command{Use: "audit", Short: "The audit log: every mutating call on every transport"}
	var handle, since, until string
	var q api.AuditQuery
	var asJSON bool
	list := adminRun(&cobra.Command{Use: "list", Short: "List audit entries, newest first", Args: cobra.NoArgs,
		Example: "  berthd admin audit list --account alice --object vm:12 --since 24h\n  berthd admin audit list --method vm.delete --json"},
		func(ctx context.Context, svc *service.Service, _ []string) error {
			var err error
			if q.Since, err = api.ParseAuditTime(since, time.Now()); err != nil {
				return fmt.Errorf("--since: %w", err)
			}
			if q.Until, err = api.ParseAuditTime(until, time.Now()); err != nil {
				return fmt.Errorf("--until: %w", err)
			}
			list, err := svc.AuditAll(ctx, handle, q)
			if err != nil {
				return err
			}
			if asJSON {
				if list == nil {
					list = []api.AuditEntry{}
				}
				return json.NewEncoder(stdout).Encode(list)
			}
			return printAudit(stdout, list)
		})
	f := list.Flags()
	f.StringVar(&handle, "account", "", "the entries of this account (handle)")
	f.StringVar(&q.Object, "object", "", "the entries about this object: kind:id (vm:12) or a kind (vm)")
	f.StringVar(&q.Method, "method", "", "the entries whose method contains this (vm.delete, POST /v1/vms)")
	f.StringVar(&q.Transport, "transport", "", "xmlrpc, rest, web or admin")
	f.StringVar(&since, "since", "", "entries at or after this time: RFC 3339, a date (2026-01-31) or a duration ago (24h)")
	f.StringVar(&until, "until", "", "entries before this time (same forms as --since)")
	f.Int64Var(&q.Limit, "limit", 100, "at most this many entries (0: all)")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	grp.AddCommand(list)
	return grp
}

func printAudit(w io.Writer, list []api.AuditEntry) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTIME\tACCOUNT\tACTOR\tKEY\tVIA\tFROM\tMETHOD\tOBJECT\tRESULT\tOPERATIONS\tPARAMS")
	for _, e := range list {
		result := e.Result
		if e.Message != "" {
			result += ": " + oneLine(e.Message, 60)
		}
		ops := make([]string, len(e.Operations))
		for i, o := range e.Operations {
			ops[i] = fmt.Sprint(o)
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.Time.UTC().Format("2006-01-02 15:04:05"), e.AccountID, e.Actor,
			e.KeyID, e.Transport, e.ClientAddr, e.Method, dashIfEmpty(e.Object), result, dashIfEmpty(strings.Join(ops, ",")), oneLine(string(e.Params), 80))
	}
	return tw.Flush()
}

func dashIfEmpty(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
