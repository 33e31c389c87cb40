package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/berth-io/berth/client"
)

func (a *app) vlanCmd() *cobra.Command {
	return group("vlan", "Manage private VLANs", `  berth vlan create lan1 --subnet 192.168.1.0/24
  berth iface create --vlan lan1 --vm web1`,
		a.vlanListCmd(), a.vlanInfoCmd(), a.vlanCreateCmd(), a.vlanUpdateCmd(), a.vlanDeleteCmd())
}

func (a *app) vlanListCmd() *cobra.Command {
	var dc string
	cmd := a.listCmd(&cobra.Command{
		Use:     "list",
		Short:   "List VLANs",
		Example: "  berth vlan list\n  berth vlan list --datacenter FR-SD5",
	}, kindVLAN, func(ctx context.Context) (map[string]any, error) {
		f := map[string]any{}
		return f, a.resolveFilters(ctx, f, dcFilter(dc))
	}, []string{"ID", "NAME", "SUBNET", "GATEWAY", "STATE", "DATACENTER"}, "no vlans",
		func(ctx context.Context, vlans []client.Object) ([][]string, error) {
			rows := make([][]string, 0, len(vlans))
			for _, v := range vlans {
				rows = append(rows, []string{itoa(v.ID()), v.Str("name"), v.Str("subnet"), v.Str("gateway"), v.Str("state"),
					a.dcCode(ctx, v.Int("datacenter_id"))})
			}
			return rows, nil
		})
	cmd.Flags().StringVarP(&dc, "datacenter", "d", "", "only VLANs of this datacenter")
	return cmd
}

func (a *app) vlanInfoCmd() *cobra.Command {
	return a.infoCmd(kindVLAN, "info VLAN", "Show a VLAN and the addresses in it", "  berth vlan info lan1",
		func(ctx context.Context, info client.Object) error {
			dc := info.Obj("datacenter").Str("dc_code")
			if dc == "" {
				dc = a.dcCode(ctx, info.Int("datacenter_id"))
			}
			l := vlanLines(info, dc)
			ifaces, err := a.list(ctx, kindIface, map[string]any{"vlan_id": info.ID()})
			if err != nil {
				return err
			}
			hosts, err := a.vmNames(ctx)
			if err != nil {
				return err
			}
			ips, err := a.list(ctx, kindIP, nil)
			if err != nil {
				return err
			}
			for _, f := range ifaces {
				on := "free"
				if h := hosts[f.Int("vm_id")]; h != "" {
					on = "vm " + h
				}
				l = append(l, kv{"iface", fmt.Sprintf("%d %s (%s)", f.ID(), strings.Join(ifaceAddrs(ips, f.ID()), " "), on)})
			}
			return a.printInfo(l)
		})
}

// vlanLines is the info block of a VLAN in datacenter dc.
func vlanLines(v client.Object, dc string) []kv {
	return []kv{{"id", itoa(v.ID())}, {"name", v.Str("name")}, {"subnet", v.Str("subnet")},
		{"gateway", v.Str("gateway")}, {"state", v.Str("state")}, {"datacenter", dc}}
}

func (a *app) vlanCreateCmd() *cobra.Command {
	var dc, subnet, gateway string
	var bg bool
	cmd := &cobra.Command{
		Use:     "create NAME",
		Short:   "Create a private VLAN",
		Example: "  berth vlan create lan1\n  berth vlan create lan1 --datacenter FR-SD5 --subnet 192.168.1.0/24 --gateway 192.168.1.1",
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			d, err := a.resolveDC(ctx, dc)
			if err != nil {
				return err
			}
			spec := map[string]any{"name": args[0], "datacenter_id": d.ID()}
			if subnet != "" {
				spec["subnet"] = subnet
			}
			if gateway != "" {
				spec["gateway"] = gateway
			}
			final, err := a.do(ctx, bg, "vlan "+args[0], "", "hosting.vlan.create", spec)
			if err != nil {
				return err
			}
			id := final[0].Obj("params").Int("vlan_id")
			info, err := a.cl.Info(ctx, "hosting.vlan.info", id)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stderr, "vlan %s created in %s\n", args[0], d.Str("dc_code"))
			return a.output(info, func() error {
				return a.printInfo(vlanLines(info, d.Str("dc_code")))
			})
		},
	}
	f := cmd.Flags()
	f.StringVarP(&dc, "datacenter", "d", "", "datacenter code or id (default: the first open one)")
	f.StringVar(&subnet, "subnet", "", "subnet in CIDR form (default: the server's)")
	f.StringVar(&gateway, "gateway", "", "gateway address in the subnet")
	addBg(cmd, &bg)
	return cmd
}

func (a *app) vlanUpdateCmd() *cobra.Command {
	var name, gateway string
	var bg bool
	cmd := objCmd(&cobra.Command{
		Use:               "update VLAN",
		Short:             "Rename a VLAN or change its gateway",
		Example:           "  berth vlan update lan1 --name backend\n  berth vlan update lan1 --gateway 192.168.1.254",
		Args:              exactArgs(1),
		ValidArgsFunction: a.completer(kindVLAN),
	}, a.resolver(kindVLAN), func(ctx context.Context, cmd *cobra.Command, v client.Object, _ []string) error {
		spec := map[string]any{}
		if cmd.Flags().Changed("name") {
			spec["name"] = name
		}
		if cmd.Flags().Changed("gateway") {
			spec["gateway"] = gateway
		}
		if len(spec) == 0 {
			return usagef("nothing to update: pass --name or --gateway")
		}
		what := "vlan " + v.Str("name")
		return a.act(ctx, bg, what, what+" updated", "hosting.vlan.update", v.ID(), spec)
	})
	cmd.Flags().StringVar(&name, "name", "", "new name")
	cmd.Flags().StringVar(&gateway, "gateway", "", "new gateway address")
	addBg(cmd, &bg)
	return cmd
}

func (a *app) vlanDeleteCmd() *cobra.Command {
	return a.deleteCmd(&cobra.Command{
		Use:               "delete VLAN",
		Short:             "Delete a VLAN (it must have no iface left)",
		Example:           "  berth vlan delete lan1 --yes",
		ValidArgsFunction: a.completer(kindVLAN),
	}, a.resolver(kindVLAN), func(v client.Object) string { return "vlan " + v.Str("name") }, "", "hosting.vlan.delete")
}
