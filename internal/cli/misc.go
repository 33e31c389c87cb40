package cli

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/berth-io/berth/client"
)

func (a *app) imageCmd() *cobra.Command {
	return group("image", "Show the images VMs and disks are created from", `  berth image list
  berth image info "Berth Tiny" --datacenter FR-SD5`,
		a.imageListCmd(), a.imageInfoCmd())
}

func (a *app) imageListCmd() *cobra.Command {
	var dc, label string
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List images",
		Example: "  berth image list\n  berth image list --datacenter LU-BI1 --label tiny",
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			f := map[string]any{}
			if err := a.resolveFilters(ctx, f, dcFilter(dc)); err != nil {
				return err
			}
			all, err := a.list(ctx, kindImage, f)
			if err != nil {
				return err
			}
			imgs := []client.Object{}
			for _, im := range all {
				if strings.Contains(strings.ToLower(im.Str("label")), strings.ToLower(label)) {
					imgs = append(imgs, im)
				}
			}
			return a.output(imgs, func() error {
				rows := make([][]string, 0, len(imgs))
				for _, im := range imgs {
					rows = append(rows, []string{itoa(im.ID()), im.Str("label"), im.Str("os_arch"), a.dcCode(ctx, im.Int("datacenter_id")),
						fmtSize(im.Int("size")), im.Str("kernel_version"), itoa(im.Int("disk_id"))})
				}
				return a.printTable([]string{"ID", "LABEL", "ARCH", "DATACENTER", "SIZE", "KERNEL", "DISK"}, rows, "no images")
			})
		},
	}
	cmd.Flags().StringVarP(&dc, "datacenter", "d", "", "only images of this datacenter")
	cmd.Flags().StringVar(&label, "label", "", "only images whose label contains this (any case)")
	return cmd
}

func (a *app) imageInfoCmd() *cobra.Command {
	var dc string
	cmd := &cobra.Command{
		Use:               "info IMAGE",
		Short:             "Show an image (by label or id)",
		Example:           "  berth image info 1\n  berth image info \"Berth Tiny\" --datacenter FR-SD5",
		Args:              exactArgs(1),
		ValidArgsFunction: a.completer(kindImage),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			f := map[string]any{}
			if err := a.resolveFilters(ctx, f, dcFilter(dc)); err != nil {
				return err
			}
			info, err := a.infoOf(ctx, kindImage, args[0], f)
			if err != nil {
				return err
			}
			return a.output(info, func() error {
				return a.printInfo([]kv{{"id", itoa(info.ID())}, {"label", info.Str("label")}, {"system", info.Str("system")},
					{"version", info.Str("version")}, {"arch", info.Str("os_arch")}, {"datacenter", a.dcCode(ctx, info.Int("datacenter_id"))},
					{"size", fmtSize(info.Int("size"))}, {"kernel", info.Str("kernel_version")}, {"disk id", itoa(info.Int("disk_id"))},
					{"visibility", info.Str("visibility")}, {"created", fmtTime(info.Time("date_created"))}})
			})
		},
	}
	cmd.Flags().StringVarP(&dc, "datacenter", "d", "", "the datacenter, when a label exists in several")
	return cmd
}

func (a *app) datacenterCmd() *cobra.Command {
	return group("datacenter", "Show datacenters", "  berth datacenter list", &cobra.Command{
		Use:     "list",
		Short:   "List datacenters and whether they take new resources",
		Example: "  berth datacenter list\n  berth datacenter list --json",
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			dcs, err := a.datacenters(cmd.Context())
			if err != nil {
				return err
			}
			return a.output(dcs, func() error {
				rows := make([][]string, 0, len(dcs))
				for _, d := range dcs {
					status := map[string]string{"NONE": "open", "NEW": "closed to new accounts", "ALL": "closed"}[d.Str("iaas_closed_for")]
					if dt := d.Time("deactivate_at"); !dt.IsZero() {
						status += ", closes " + fmtShortTime(dt)
					}
					rows = append(rows, []string{itoa(d.ID()), d.Str("dc_code"), d.Str("name"), d.Str("country"), status})
				}
				return a.printTable([]string{"ID", "CODE", "NAME", "COUNTRY", "STATUS"}, rows, "no datacenters")
			})
		},
	})
}

// pendingSteps are the steps of unfinished operations.
var pendingSteps = []any{"BILL", "WAIT", "RUN"}

func (a *app) operCmd() *cobra.Command {
	return group("oper", "Follow and cancel operations", `  berth oper list
  berth oper info 42
  berth oper cancel 42`,
		a.operListCmd(), a.operInfoCmd(), a.operCancelCmd())
}

func (a *app) operListCmd() *cobra.Command {
	var steps []string
	var all bool
	var typ, vm string
	var limit int64
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List operations: the unfinished ones, or the latest with --all",
		Example: `  berth oper list
  berth oper list --all --limit 20
  berth oper list --step ERROR --vm web1`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			c, err := a.client()
			if err != nil {
				return err
			}
			f := map[string]any{"sort_by": "id DESC", "items_per_page": min(max(limit, 1), client.MaxPerPage)}
			switch {
			case len(steps) > 0:
				l := make([]any, len(steps))
				for i, s := range steps {
					l[i] = strings.ToUpper(s)
				}
				f["step"] = l
			case !all:
				f["step"] = pendingSteps
			}
			if typ != "" {
				f["type"] = typ
			}
			if vm != "" {
				v, err := a.resolve(ctx, kindVM, vm, nil)
				if err != nil {
					return err
				}
				f["vm_id"] = v.ID()
			}
			list, err := c.List(ctx, "operation.list", f)
			if err != nil {
				return err
			}
			ops := make([]client.Object, len(list))
			for i, o := range list {
				ops[i] = client.Object(o)
			}
			none := "no operations"
			if len(steps) == 0 && !all {
				none = "no pending operations (berth oper list --all shows the latest)"
			}
			return a.output(ops, func() error {
				rows := make([][]string, 0, len(ops))
				for _, o := range ops {
					rows = append(rows, []string{itoa(o.ID()), o.Str("type"), o.Str("step"), target(o),
						fmtShortTime(o.Time("date_created")), o.Str("last_error")})
				}
				return a.printTable([]string{"ID", "TYPE", "STEP", "TARGET", "CREATED", "ERROR"}, rows, none)
			})
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&steps, "step", nil, "only these steps (BILL, WAIT, RUN, DONE, ERROR, CANCEL); repeatable or comma-separated")
	f.BoolVarP(&all, "all", "a", false, "every step, not just the unfinished ones")
	f.StringVar(&typ, "type", "", "only this type (vm_create, disk_attach…)")
	f.StringVar(&vm, "vm", "", "only operations on this VM")
	f.Int64Var(&limit, "limit", 50, "at most this many, newest first")
	return cmd
}

// target names what an operation works on: "vm 3", "disk 5"…: the object its type names
// (disk_update → disk), else the first id it carries.
func target(o client.Object) string {
	p := o.Obj("params")
	keys := []string{"vm_id", "disk_id", "iface_id", "ip_id", "vlan_id"}
	obj, _, _ := strings.Cut(strings.TrimPrefix(o.Str("type"), "hosting_migration_"), "_")
	keys = append([]string{obj + "_id"}, keys...)
	for _, k := range keys {
		id := o.Int(k)
		if id == 0 {
			id = p.Int(k)
		}
		if id != 0 {
			return strings.TrimSuffix(k, "_id") + " " + strconv.FormatInt(id, 10)
		}
	}
	return ""
}

func (a *app) operInfoCmd() *cobra.Command {
	return a.showCmd(&cobra.Command{
		Use:     "info ID",
		Short:   "Show an operation",
		Example: "  berth oper info 42\n  berth oper info 42 --json",
	}, a.operation, func(_ context.Context, o client.Object) error {
		p := o.Obj("params")
		keys := make([]string, 0, len(p))
		for k := range p {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var params []string
		for _, k := range keys {
			if p.Has(k) && k != "param_type" {
				params = append(params, k+"="+p.Str(k))
			}
		}
		return a.printInfo([]kv{{"id", itoa(o.ID())}, {"type", o.Str("type")}, {"step", o.Str("step")},
			{"target", target(o)}, {"error", o.Str("last_error")}, {"eta", itoa(o.Int("eta"))},
			{"params", strings.Join(params, " ")}, {"created", fmtTime(o.Time("date_created"))},
			{"started", fmtTime(o.Time("date_start"))}, {"updated", fmtTime(o.Time("date_updated"))}})
	})
}

// operation returns operation.info of an id argument.
func (a *app) operation(ctx context.Context, arg string) (client.Object, error) {
	id, err := strconv.ParseInt(arg, 10, 64)
	if err != nil || id <= 0 {
		return nil, usagef("operation id %q is not a number", arg)
	}
	c, err := a.client()
	if err != nil {
		return nil, err
	}
	return c.Operation(ctx, id)
}

func (a *app) operCancelCmd() *cobra.Command {
	return objCmd(&cobra.Command{
		Use:     "cancel ID",
		Short:   "Cancel an operation that has not started to run (step BILL or WAIT)",
		Example: "  berth oper cancel 42",
		Args:    exactArgs(1),
	}, a.operation, func(ctx context.Context, _ *cobra.Command, o client.Object, _ []string) error {
		if _, err := a.cl.Call(ctx, "operation.cancel", o.ID()); err != nil {
			return fmt.Errorf("cancel operation %d (%s, %s): %s", o.ID(), o.Str("type"), o.Str("step"), a.describe(err))
		}
		fmt.Fprintf(a.stderr, "operation %d (%s) cancelled\n", o.ID(), o.Str("type"))
		return nil
	})
}

func (a *app) accountCmd() *cobra.Command {
	return group("account", "Your account: credits, API keys, free trial, audit log", "  berth account info\n  berth account key list\n  berth account redeem CODE\n  berth account audit", a.accountKeyCmd(), a.redeemCmd(), a.trialCmd(), a.auditCmd(), &cobra.Command{
		Use:     "info",
		Short:   "Show the account, its credits and prepaid balance",
		Example: "  berth account info\n  berth account info --json",
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			c, err := a.client()
			if err != nil {
				return err
			}
			acc, err := c.Info(ctx, "hosting.account.info")
			if err != nil {
				return err
			}
			bal, err := c.Info(ctx, "contact.balance")
			if _, fault := client.AsFault(err); err != nil && !fault {
				return err
			}
			return a.output(acc, func() error {
				l := []kv{{"handle", acc.Str("handle")}, {"id", itoa(acc.ID())}, {"name", acc.Str("fullname")},
					{"credits", strconv.FormatInt(acc.Int("credits"), 10)}}
				if p := bal.Obj("prepaid"); p != nil {
					l = append(l, kv{"prepaid", p.Str("amount") + " " + p.Str("currency")})
				}
				return a.printInfo(l)
			})
		},
	})
}
