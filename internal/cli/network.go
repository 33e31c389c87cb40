package cli

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/berth-io/berth/client"
)

func (a *app) ifaceCmd() *cobra.Command {
	return group("iface", "Manage network interfaces (an iface is named by its id or one of its addresses)", `  berth iface create --vlan lan1 --vm web1
  berth iface list --vm web1
  berth iface detach 192.168.1.10`,
		a.ifaceListCmd(), a.ifaceInfoCmd(), a.ifaceCreateCmd(), a.ifaceUpdateCmd(), a.ifaceDeleteCmd(),
		a.ifaceAttachCmd(), a.ifaceDetachCmd())
}

// vmNames maps VM ids to hostnames.
func (a *app) vmNames(ctx context.Context) (map[int64]string, error) {
	vms, err := a.list(ctx, kindVM, nil)
	if err != nil {
		return nil, err
	}
	m := map[int64]string{}
	for _, v := range vms {
		m[v.ID()] = v.Str("hostname")
	}
	return m, nil
}

func (a *app) ifaceListCmd() *cobra.Command {
	var vm, dc, vlan, state string
	cmd := a.listCmd(&cobra.Command{
		Use:     "list",
		Short:   "List network interfaces",
		Example: "  berth iface list\n  berth iface list --vm web1\n  berth iface list --vlan lan1 --state free",
	}, kindIface, func(ctx context.Context) (map[string]any, error) {
		f := map[string]any{}
		if state != "" {
			f["state"] = state
		}
		return f, a.resolveFilters(ctx, f, idFilter{"vm_id", kindVM, vm}, dcFilter(dc), idFilter{"vlan_id", kindVLAN, vlan})
	}, []string{"ID", "TYPE", "STATE", "VM", "NUM", "VLAN", "BANDWIDTH", "DATACENTER", "IPS"}, "no ifaces",
		func(ctx context.Context, ifaces []client.Object) ([][]string, error) {
			hosts, err := a.vmNames(ctx)
			if err != nil {
				return nil, err
			}
			ips, err := a.list(ctx, kindIP, nil)
			if err != nil {
				return nil, err
			}
			rows := make([][]string, 0, len(ifaces))
			for _, i := range ifaces {
				rows = append(rows, []string{itoa(i.ID()), i.Str("type"), i.Str("state"), hosts[i.Int("vm_id")], optInt(i, "num"),
					i.Obj("vlan").Str("name"), fmtBandwidth(i.Float("bandwidth")), a.dcCode(ctx, i.Int("datacenter_id")),
					strings.Join(ifaceAddrs(ips, i.ID()), " ")})
			}
			return rows, nil
		})
	f := cmd.Flags()
	f.StringVar(&vm, "vm", "", "only ifaces of this VM")
	f.StringVarP(&dc, "datacenter", "d", "", "only ifaces of this datacenter")
	f.StringVar(&vlan, "vlan", "", "only ifaces of this VLAN")
	f.StringVar(&state, "state", "", "used or free")
	return cmd
}

func (a *app) ifaceInfoCmd() *cobra.Command {
	return a.showCmd(&cobra.Command{
		Use:     "info IFACE",
		Short:   "Show a network interface and its addresses",
		Example: "  berth iface info 7\n  berth iface info 192.0.2.2",
	}, a.resolveIface, a.printIface)
}

func (a *app) printIface(ctx context.Context, f client.Object) error {
	hosts, err := a.vmNames(ctx)
	if err != nil {
		return err
	}
	l := []kv{{"id", itoa(f.ID())}, {"type", f.Str("type")}, {"state", f.Str("state")}, {"vm", hosts[f.Int("vm_id")]},
		{"num", optInt(f, "num")}, {"vlan", f.Obj("vlan").Str("name")}, {"bandwidth", fmtBandwidth(f.Float("bandwidth"))},
		{"datacenter", a.dcCode(ctx, f.Int("datacenter_id"))}}
	for _, ip := range f.Objs("ips") {
		l = append(l, kv{"ipv" + strconv.FormatInt(ip.Int("version"), 10), dash(ip.Str("ip"))})
	}
	l = append(l, kv{"created", fmtTime(f.Time("date_created"))})
	return a.printInfo(l)
}

// optInt formats an integer member, "" when it is absent (0 is shown).
func optInt(o client.Object, key string) string {
	if !o.Has(key) {
		return ""
	}
	return strconv.FormatInt(o.Int(key), 10)
}

// ifaceAddrs are the addresses among ips that belong to an iface.
func ifaceAddrs(ips []client.Object, ifaceID int64) []string {
	var addrs []string
	for _, ip := range ips {
		if ip.Int("iface_id") == ifaceID && ip.Str("ip") != "" {
			addrs = append(addrs, ip.Str("ip"))
		}
	}
	return addrs
}

func (a *app) ifaceCreateCmd() *cobra.Command {
	var dc, vlan, ip, vm string
	var ipVersion int64
	var bandwidth float64
	var bg bool
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create a network interface: public (IPv4+IPv6 or IPv6) or private in a VLAN",
		Example: `  berth iface create --datacenter FR-SD5
  berth iface create --ip-version 6 --vm web1
  berth iface create --vlan lan1 --ip 192.168.1.10 --vm web1`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			c, err := a.client()
			if err != nil {
				return err
			}
			if ip != "" && vlan == "" {
				return usagef("--ip needs --vlan")
			}
			var v, vl client.Object
			if vm != "" {
				if v, err = a.resolve(ctx, kindVM, vm, nil); err != nil {
					return err
				}
				if dc == "" {
					dc = strconv.FormatInt(v.Int("datacenter_id"), 10)
				}
			}
			if vlan != "" {
				if vl, err = a.resolve(ctx, kindVLAN, vlan, nil); err != nil {
					return err
				}
				if dc == "" {
					dc = strconv.FormatInt(vl.Int("datacenter_id"), 10)
				}
			}
			d, err := a.resolveDC(ctx, dc)
			if err != nil {
				return err
			}
			spec := map[string]any{"datacenter_id": d.ID()}
			if vl != nil {
				spec["vlan"] = vl.ID()
				if ip != "" {
					spec["ip"] = ip
				}
			} else {
				if ipVersion != 4 && ipVersion != 6 {
					return usagef("--ip-version must be 4 or 6")
				}
				spec["ip_version"] = ipVersion
			}
			if bandwidth > 0 {
				spec["bandwidth"] = bandwidth
			}
			ops, err := c.Do(ctx, "hosting.iface.create", spec)
			if err != nil {
				return fmt.Errorf("create iface: %s", a.describe(err))
			}
			id := ops[0].Int("iface_id")
			what := "iface " + itoa(id)
			info, err := a.followNew(ctx, kindIface, what, id, ops, v, bg, func(client.Object) string { return what })
			if err != nil {
				return err
			}
			return a.output(info, func() error { return a.printIface(ctx, info) })
		},
	}
	f := cmd.Flags()
	f.StringVarP(&dc, "datacenter", "d", "", "datacenter (default: the VM's or VLAN's, else the first open one)")
	f.Int64Var(&ipVersion, "ip-version", 4, "public iface: 4 (IPv4 and IPv6) or 6 (IPv6 only)")
	f.Float64Var(&bandwidth, "bandwidth", 0, "bandwidth in kbit/s (default: the server's)")
	f.StringVar(&vlan, "vlan", "", "VLAN name or id: a private iface")
	f.StringVar(&ip, "ip", "", "private address in the VLAN (default: the next free one)")
	f.StringVar(&vm, "vm", "", "attach the new iface to this VM")
	addBg(cmd, &bg)
	return cmd
}

func (a *app) ifaceUpdateCmd() *cobra.Command {
	var bandwidth float64
	var bg bool
	cmd := objCmd(&cobra.Command{
		Use:     "update IFACE",
		Short:   "Change the bandwidth of a network interface",
		Example: "  berth iface update 7 --bandwidth 204800",
		Args:    exactArgs(1),
	}, a.resolveIface, func(ctx context.Context, cmd *cobra.Command, f client.Object, _ []string) error {
		if !cmd.Flags().Changed("bandwidth") {
			return usagef("nothing to update: pass --bandwidth")
		}
		what := "iface " + itoa(f.ID())
		return a.act(ctx, bg, what, what+" updated", "hosting.iface.update", f.ID(), map[string]any{"bandwidth": bandwidth})
	})
	cmd.Flags().Float64Var(&bandwidth, "bandwidth", 0, "bandwidth in kbit/s")
	addBg(cmd, &bg)
	return cmd
}

func (a *app) ifaceDeleteCmd() *cobra.Command {
	return a.deleteCmd(&cobra.Command{
		Use:     "delete IFACE",
		Short:   "Delete a network interface and its addresses",
		Example: "  berth iface delete 7\n  berth iface delete 192.168.1.10 --yes",
	}, a.resolveIface, func(f client.Object) string { return "iface " + itoa(f.ID()) }, " and its addresses", "hosting.iface.delete")
}

func (a *app) ifaceAttachCmd() *cobra.Command {
	var bg bool
	cmd := objCmd(&cobra.Command{
		Use:     "attach IFACE VM",
		Short:   "Attach a network interface to a virtual machine",
		Example: "  berth iface attach 7 web1",
		Args:    exactArgs(2),
	}, a.resolveIface, func(ctx context.Context, _ *cobra.Command, f client.Object, args []string) error {
		v, err := a.resolve(ctx, kindVM, args[1], nil)
		if err != nil {
			return err
		}
		what := "iface " + itoa(f.ID())
		if f.Int("vm_id") != 0 {
			return fmt.Errorf("%s is attached to vm %d: detach it first (berth iface detach %d)", what, f.Int("vm_id"), f.ID())
		}
		return a.act(ctx, bg, what, what+" attached to vm "+v.Str("hostname"), "hosting.vm.iface_attach", v.ID(), f.ID())
	})
	addBg(cmd, &bg)
	return cmd
}

func (a *app) ifaceDetachCmd() *cobra.Command {
	var bg bool
	cmd := objCmd(&cobra.Command{
		Use:     "detach IFACE",
		Short:   "Detach a network interface from its virtual machine",
		Example: "  berth iface detach 7",
		Args:    exactArgs(1),
	}, a.resolveIface, func(ctx context.Context, _ *cobra.Command, f client.Object, _ []string) error {
		what := "iface " + itoa(f.ID())
		if f.Int("vm_id") == 0 {
			return fmt.Errorf("%s is not attached", what)
		}
		return a.act(ctx, bg, what, what+" detached", "hosting.vm.iface_detach", f.Int("vm_id"), f.ID())
	})
	addBg(cmd, &bg)
	return cmd
}

func (a *app) ipCmd() *cobra.Command {
	return group("ip", "Show IP addresses and set their reverse names", `  berth ip list --vm web1
  berth ip update 192.0.2.2 --reverse web1.example.com.`,
		a.ipListCmd(), a.ipInfoCmd(), a.ipUpdateCmd())
}

func (a *app) ipListCmd() *cobra.Command {
	var vm, dc, typ string
	var version int64
	cmd := a.listCmd(&cobra.Command{
		Use:     "list",
		Short:   "List IP addresses",
		Example: "  berth ip list\n  berth ip list --vm web1 --version 4",
	}, kindIP, func(ctx context.Context) (map[string]any, error) {
		f := map[string]any{}
		if version != 0 {
			f["version"] = version
		}
		if typ != "" {
			f["type"] = typ
		}
		return f, a.resolveFilters(ctx, f, idFilter{"vm_id", kindVM, vm}, dcFilter(dc))
	}, []string{"ID", "IP", "VERSION", "TYPE", "STATE", "IFACE", "VM", "DATACENTER", "REVERSE"}, "no ips",
		func(ctx context.Context, ips []client.Object) ([][]string, error) {
			hosts, err := a.vmNames(ctx)
			if err != nil {
				return nil, err
			}
			rows := make([][]string, 0, len(ips))
			for _, ip := range ips {
				rows = append(rows, []string{itoa(ip.ID()), ip.Str("ip"), "v" + strconv.FormatInt(ip.Int("version"), 10),
					ip.Str("type"), ip.Str("state"), itoa(ip.Int("iface_id")), hosts[ip.Int("vm_id")],
					a.dcCode(ctx, ip.Int("datacenter_id")), ip.Str("reverse")})
			}
			return rows, nil
		})
	f := cmd.Flags()
	f.StringVar(&vm, "vm", "", "only addresses of this VM")
	f.StringVarP(&dc, "datacenter", "d", "", "only addresses of this datacenter")
	f.Int64Var(&version, "version", 0, "4 or 6")
	f.StringVar(&typ, "type", "", "public or private")
	return cmd
}

func (a *app) ipInfoCmd() *cobra.Command {
	return a.infoCmd(kindIP, "info IP", "Show an IP address", "  berth ip info 192.0.2.2\n  berth ip info 2001:db8:0:1::2 --json",
		func(ctx context.Context, info client.Object) error {
			hosts, err := a.vmNames(ctx)
			if err != nil {
				return err
			}
			return a.printInfo([]kv{{"id", itoa(info.ID())}, {"ip", info.Str("ip")},
				{"version", strconv.FormatInt(info.Int("version"), 10)}, {"type", info.Str("type")},
				{"state", info.Str("state")}, {"reverse", info.Str("reverse")}, {"iface", itoa(info.Int("iface_id"))},
				{"vm", hosts[info.Int("vm_id")]}, {"datacenter", a.dcCode(ctx, info.Int("datacenter_id"))},
				{"bandwidth", fmtBandwidth(info.Float("bandwidth"))}, {"created", fmtTime(info.Time("date_created"))}})
		})
}

func (a *app) ipUpdateCmd() *cobra.Command {
	var reverse string
	var bg bool
	cmd := objCmd(&cobra.Command{
		Use:               "update IP",
		Short:             "Set the reverse DNS name of an IP address",
		Example:           "  berth ip update 192.0.2.2 --reverse web1.example.com.",
		Args:              exactArgs(1),
		ValidArgsFunction: a.completer(kindIP),
	}, a.resolver(kindIP), func(ctx context.Context, cmd *cobra.Command, ip client.Object, _ []string) error {
		if !cmd.Flags().Changed("reverse") {
			return usagef("nothing to update: pass --reverse")
		}
		what := "ip " + ip.Str("ip")
		return a.act(ctx, bg, what, what+" updated", "hosting.ip.update", ip.ID(), map[string]any{"reverse": reverse})
	})
	cmd.Flags().StringVar(&reverse, "reverse", "", "reverse DNS name")
	addBg(cmd, &bg)
	return cmd
}
