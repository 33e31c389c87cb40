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
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List network interfaces",
		Example: "  berth iface list\n  berth iface list --vm web1\n  berth iface list --vlan lan1 --state free",
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			f := map[string]any{}
			if vm != "" {
				v, err := a.resolve(ctx, kindVM, vm, nil)
				if err != nil {
					return err
				}
				f["vm_id"] = v.ID()
			}
			if dc != "" {
				d, err := a.resolveDC(ctx, dc)
				if err != nil {
					return err
				}
				f["datacenter_id"] = d.ID()
			}
			if vlan != "" {
				vl, err := a.resolve(ctx, kindVLAN, vlan, nil)
				if err != nil {
					return err
				}
				f["vlan_id"] = vl.ID()
			}
			if state != "" {
				f["state"] = state
			}
			ifaces, err := a.list(ctx, kindIface, f)
			if err != nil {
				return err
			}
			if a.asJSON {
				return a.printJSON(ifaces)
			}
			hosts, err := a.vmNames(ctx)
			if err != nil {
				return err
			}
			ips, err := a.list(ctx, kindIP, nil)
			if err != nil {
				return err
			}
			rows := make([][]string, 0, len(ifaces))
			for _, i := range ifaces {
				var addrs []string
				for _, ip := range ips {
					if ip.Int("iface_id") == i.ID() && ip.Str("ip") != "" {
						addrs = append(addrs, ip.Str("ip"))
					}
				}
				num := ""
				if i.Has("num") {
					num = strconv.FormatInt(i.Int("num"), 10)
				}
				rows = append(rows, []string{itoa(i.ID()), i.Str("type"), i.Str("state"), hosts[i.Int("vm_id")], num,
					i.Obj("vlan").Str("name"), fmtBandwidth(i.Float("bandwidth")), a.dcCode(ctx, i.Int("datacenter_id")),
					strings.Join(addrs, " ")})
			}
			return a.printTable([]string{"ID", "TYPE", "STATE", "VM", "NUM", "VLAN", "BANDWIDTH", "DATACENTER", "IPS"}, rows, "no ifaces")
		},
	}
	f := cmd.Flags()
	f.StringVar(&vm, "vm", "", "only ifaces of this VM")
	f.StringVarP(&dc, "datacenter", "d", "", "only ifaces of this datacenter")
	f.StringVar(&vlan, "vlan", "", "only ifaces of this VLAN")
	f.StringVar(&state, "state", "", "used or free")
	return cmd
}

func (a *app) ifaceInfoCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "info IFACE",
		Short:   "Show a network interface and its addresses",
		Example: "  berth iface info 7\n  berth iface info 192.0.2.2",
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			f, err := a.resolveIface(ctx, args[0])
			if err != nil {
				return err
			}
			return a.output(f, func() error { return a.printIface(ctx, f) })
		},
	}
}

func (a *app) printIface(ctx context.Context, f client.Object) error {
	hosts, err := a.vmNames(ctx)
	if err != nil {
		return err
	}
	num := ""
	if f.Has("num") {
		num = strconv.FormatInt(f.Int("num"), 10)
	}
	l := []kv{{"id", itoa(f.ID())}, {"type", f.Str("type")}, {"state", f.Str("state")}, {"vm", hosts[f.Int("vm_id")]},
		{"num", num}, {"vlan", f.Obj("vlan").Str("name")}, {"bandwidth", fmtBandwidth(f.Float("bandwidth"))},
		{"datacenter", a.dcCode(ctx, f.Int("datacenter_id"))}}
	for _, ip := range f.Objs("ips") {
		l = append(l, kv{"ipv" + strconv.FormatInt(ip.Int("version"), 10), dash(ip.Str("ip"))})
	}
	l = append(l, kv{"created", fmtTime(f.Time("date_created"))})
	return a.printInfo(l)
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
			if v != nil {
				att, err := c.Do(ctx, "hosting.vm.iface_attach", v.ID(), id)
				if err != nil {
					return fmt.Errorf("attach iface %d to vm %s: %s", id, v.Str("hostname"), a.describe(err))
				}
				ops = append(ops, att...)
			}
			if _, err := a.follow(ctx, "iface "+itoa(id), ops, bg); err != nil {
				return err
			}
			info, err := c.Info(ctx, "hosting.iface.info", id)
			if err != nil {
				return err
			}
			msg := "iface " + itoa(id) + " created"
			if v != nil {
				msg += " and attached to vm " + v.Str("hostname")
			}
			fmt.Fprintln(a.stderr, msg)
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
	cmd := &cobra.Command{
		Use:     "update IFACE",
		Short:   "Change the bandwidth of a network interface",
		Example: "  berth iface update 7 --bandwidth 204800",
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			f, err := a.resolveIface(ctx, args[0])
			if err != nil {
				return err
			}
			if !cmd.Flags().Changed("bandwidth") {
				return usagef("nothing to update: pass --bandwidth")
			}
			what := "iface " + itoa(f.ID())
			final, err := a.do(ctx, bg, what, what+" updated", "hosting.iface.update", f.ID(), map[string]any{"bandwidth": bandwidth})
			if err != nil {
				return err
			}
			return a.opsJSON(final)
		},
	}
	cmd.Flags().Float64Var(&bandwidth, "bandwidth", 0, "bandwidth in kbit/s")
	addBg(cmd, &bg)
	return cmd
}

func (a *app) ifaceDeleteCmd() *cobra.Command {
	var bg, yes bool
	cmd := &cobra.Command{
		Use:     "delete IFACE",
		Short:   "Delete a network interface and its addresses",
		Example: "  berth iface delete 7\n  berth iface delete 192.168.1.10 --yes",
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			f, err := a.resolveIface(ctx, args[0])
			if err != nil {
				return err
			}
			what := "iface " + itoa(f.ID())
			if err := a.confirm(ctx, "delete "+what+" and its addresses?", yes); err != nil {
				return err
			}
			final, err := a.do(ctx, bg, what, what+" deleted", "hosting.iface.delete", f.ID())
			if err != nil {
				return err
			}
			return a.opsJSON(final)
		},
	}
	addBg(cmd, &bg)
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	return cmd
}

func (a *app) ifaceAttachCmd() *cobra.Command {
	var bg bool
	cmd := &cobra.Command{
		Use:     "attach IFACE VM",
		Short:   "Attach a network interface to a virtual machine",
		Example: "  berth iface attach 7 web1",
		Args:    exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			f, err := a.resolveIface(ctx, args[0])
			if err != nil {
				return err
			}
			v, err := a.resolve(ctx, kindVM, args[1], nil)
			if err != nil {
				return err
			}
			what := "iface " + itoa(f.ID())
			if f.Int("vm_id") != 0 {
				return fmt.Errorf("%s is attached to vm %d: detach it first (berth iface detach %d)", what, f.Int("vm_id"), f.ID())
			}
			final, err := a.do(ctx, bg, what, what+" attached to vm "+v.Str("hostname"), "hosting.vm.iface_attach", v.ID(), f.ID())
			if err != nil {
				return err
			}
			return a.opsJSON(final)
		},
	}
	addBg(cmd, &bg)
	return cmd
}

func (a *app) ifaceDetachCmd() *cobra.Command {
	var bg bool
	cmd := &cobra.Command{
		Use:     "detach IFACE",
		Short:   "Detach a network interface from its virtual machine",
		Example: "  berth iface detach 7",
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			f, err := a.resolveIface(ctx, args[0])
			if err != nil {
				return err
			}
			what := "iface " + itoa(f.ID())
			if f.Int("vm_id") == 0 {
				return fmt.Errorf("%s is not attached", what)
			}
			final, err := a.do(ctx, bg, what, what+" detached", "hosting.vm.iface_detach", f.Int("vm_id"), f.ID())
			if err != nil {
				return err
			}
			return a.opsJSON(final)
		},
	}
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
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List IP addresses",
		Example: "  berth ip list\n  berth ip list --vm web1 --version 4",
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			f := map[string]any{}
			if vm != "" {
				v, err := a.resolve(ctx, kindVM, vm, nil)
				if err != nil {
					return err
				}
				f["vm_id"] = v.ID()
			}
			if dc != "" {
				d, err := a.resolveDC(ctx, dc)
				if err != nil {
					return err
				}
				f["datacenter_id"] = d.ID()
			}
			if version != 0 {
				f["version"] = version
			}
			if typ != "" {
				f["type"] = typ
			}
			ips, err := a.list(ctx, kindIP, f)
			if err != nil {
				return err
			}
			if a.asJSON {
				return a.printJSON(ips)
			}
			hosts, err := a.vmNames(ctx)
			if err != nil {
				return err
			}
			rows := make([][]string, 0, len(ips))
			for _, ip := range ips {
				rows = append(rows, []string{itoa(ip.ID()), ip.Str("ip"), "v" + strconv.FormatInt(ip.Int("version"), 10),
					ip.Str("type"), ip.Str("state"), itoa(ip.Int("iface_id")), hosts[ip.Int("vm_id")],
					a.dcCode(ctx, ip.Int("datacenter_id")), ip.Str("reverse")})
			}
			return a.printTable([]string{"ID", "IP", "VERSION", "TYPE", "STATE", "IFACE", "VM", "DATACENTER", "REVERSE"}, rows, "no ips")
		},
	}
	f := cmd.Flags()
	f.StringVar(&vm, "vm", "", "only addresses of this VM")
	f.StringVarP(&dc, "datacenter", "d", "", "only addresses of this datacenter")
	f.Int64Var(&version, "version", 0, "4 or 6")
	f.StringVar(&typ, "type", "", "public or private")
	return cmd
}

func (a *app) ipInfoCmd() *cobra.Command {
	return &cobra.Command{
		Use:               "info IP",
		Short:             "Show an IP address",
		Example:           "  berth ip info 192.0.2.2\n  berth ip info 2001:db8:0:1::2 --json",
		Args:              exactArgs(1),
		ValidArgsFunction: a.completer(kindIP),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			ip, err := a.resolve(ctx, kindIP, args[0], nil)
			if err != nil {
				return err
			}
			info, err := a.cl.Info(ctx, "hosting.ip.info", ip.ID())
			if err != nil {
				return err
			}
			return a.output(info, func() error {
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
		},
	}
}

func (a *app) ipUpdateCmd() *cobra.Command {
	var reverse string
	var bg bool
	cmd := &cobra.Command{
		Use:               "update IP",
		Short:             "Set the reverse DNS name of an IP address",
		Example:           "  berth ip update 192.0.2.2 --reverse web1.example.com.",
		Args:              exactArgs(1),
		ValidArgsFunction: a.completer(kindIP),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			ip, err := a.resolve(ctx, kindIP, args[0], nil)
			if err != nil {
				return err
			}
			if !cmd.Flags().Changed("reverse") {
				return usagef("nothing to update: pass --reverse")
			}
			what := "ip " + ip.Str("ip")
			final, err := a.do(ctx, bg, what, what+" updated", "hosting.ip.update", ip.ID(), map[string]any{"reverse": reverse})
			if err != nil {
				return err
			}
			return a.opsJSON(final)
		},
	}
	cmd.Flags().StringVar(&reverse, "reverse", "", "reverse DNS name")
	addBg(cmd, &bg)
	return cmd
}
