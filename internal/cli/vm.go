package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/client"
)

func (a *app) vmCmd() *cobra.Command {
	return group("vm", "Manage virtual machines", `  berth vm create web1 --memory 512
  berth vm list
  berth vm ssh web1`,
		a.vmListCmd(), a.vmInfoCmd(), a.vmCreateCmd(), a.vmUpdateCmd(),
		a.vmActionCmd("start", "Start virtual machines", "hosting.vm.start", "started"),
		a.vmActionCmd("stop", "Stop virtual machines", "hosting.vm.stop", "stopped"),
		a.vmActionCmd("reboot", "Reboot virtual machines", "hosting.vm.reboot", "rebooted"),
		a.vmMigrateCmd(), a.vmDeleteCmd(), a.vmConsoleCmd(), a.vmSSHCmd())
}

// vmMigrateCmd moves VMs to another datacenter in Gandi's two steps: without --finalize
// the target is prepared while the VM runs; --finalize stops it, moves it (new public
// addresses) and starts it there.
func (a *app) vmMigrateCmd() *cobra.Command {
	var bg, finalize bool
	cmd := a.objsCmd(&cobra.Command{
		Use:   "migrate VM...",
		Short: "Migrate virtual machines to another datacenter",
		Example: `  berth vm migrate web1
  berth vm migrate web1 --finalize`,
	}, kindVM, func(ctx context.Context, vms []client.Object, who string) error {
		var ops []client.Object
		for _, v := range vms {
			l, err := a.cl.Do(ctx, "hosting.vm.migrate", v.ID(), finalize)
			if err != nil {
				return fmt.Errorf("migrate vm %s: %s", v.Str("hostname"), a.describe(err))
			}
			ops = append(ops, l...)
		}
		msg := "vm " + who + " ready to migrate: finish with berth vm migrate " + strings.Join(strings.Split(who, ", "), " ") +
			" --finalize (each VM stops, moves with new public addresses, and starts again if it ran)"
		if finalize {
			msg = "vm " + who + " migrated"
		}
		return a.finish(ctx, "vm "+who, msg, ops, bg)
	})
	cmd.Flags().BoolVar(&finalize, "finalize", false, "finish a migration: stop, move and start again")
	addBg(cmd, &bg)
	return cmd
}

func (a *app) vmListCmd() *cobra.Command {
	var state, dc string
	cmd := a.listCmd(&cobra.Command{
		Use:   "list",
		Short: "List virtual machines",
		Example: `  berth vm list
  berth vm list --state running --datacenter FR-SD5
  berth vm list --json | jq -r '.[].hostname'`,
	}, kindVM, func(ctx context.Context) (map[string]any, error) {
		f := map[string]any{}
		if state != "" {
			f["state"] = state
		}
		return f, a.resolveFilters(ctx, f, dcFilter(dc))
	}, []string{"ID", "HOSTNAME", "STATE", "DATACENTER", "CORES", "MEMORY", "IPV4", "IPV6"}, "no vms",
		func(ctx context.Context, vms []client.Object) ([][]string, error) {
			ips, err := a.list(ctx, kindIP, nil)
			if err != nil {
				return nil, err
			}
			rows := make([][]string, 0, len(vms))
			for _, v := range vms {
				v4, v6 := firstIPs(ips, v.ID())
				rows = append(rows, []string{itoa(v.ID()), v.Str("hostname"), v.Str("state"), a.dcCode(ctx, v.Int("datacenter_id")),
					strconv.FormatInt(v.Int("cores"), 10), fmtSize(v.Int("memory")), v4, v6})
			}
			return rows, nil
		})
	cmd.Flags().StringVar(&state, "state", "", "only VMs in this state (running, halted, being_created…)")
	cmd.Flags().StringVarP(&dc, "datacenter", "d", "", "only VMs of this datacenter (code or id)")
	return cmd
}

// firstIPs returns the first IPv4 and IPv6 address of a VM among ips (iface then ip order).
func firstIPs(ips []client.Object, vmID int64) (v4, v6 string) {
	var mine []client.Object
	for _, ip := range ips {
		if ip.Int("vm_id") == vmID && ip.Str("ip") != "" {
			mine = append(mine, ip)
		}
	}
	slices.SortStableFunc(mine, func(x, y client.Object) int {
		if c := int(x.Int("iface_num") - y.Int("iface_num")); c != 0 {
			return c
		}
		return int(x.Int("num") - y.Int("num"))
	})
	for _, ip := range mine {
		switch {
		case ip.Int("version") == 4 && v4 == "":
			v4 = ip.Str("ip")
		case ip.Int("version") == 6 && v6 == "":
			v6 = ip.Str("ip")
		}
	}
	return v4, v6
}

func (a *app) vmInfoCmd() *cobra.Command {
	return a.infoCmd(kindVM, "info VM", "Show a virtual machine, its disks and addresses", `  berth vm info web1
  berth vm info 42 --json`, a.printVM)
}

// printVM prints a vm.info struct as key : value blocks: the VM, each disk, each iface.
func (a *app) printVM(ctx context.Context, v client.Object) error {
	dc := v.Obj("datacenter").Str("dc_code")
	if dc == "" {
		dc = a.dcCode(ctx, v.Int("datacenter_id"))
	}
	blocks := [][]kv{{
		{"id", itoa(v.ID())}, {"hostname", v.Str("hostname")}, {"state", v.Str("state")},
		{"datacenter", dc}, {"cores", strconv.FormatInt(v.Int("cores"), 10)},
		{"memory", fmtSize(v.Int("memory"))}, {"max memory", fmtSize(v.Int("vm_max_memory"))},
		{"console", yesno(v.Bool("console"))}, {"farm", v.Str("farm")}, {"description", v.Str("description")},
		{"created", fmtTime(v.Time("date_created"))}, {"updated", fmtTime(v.Time("date_updated"))},
	}}
	for _, d := range v.Objs("disks") {
		blocks = append(blocks, diskLines(d, true))
	}
	for _, f := range v.Objs("ifaces") {
		blocks = append(blocks, ifaceLines(f))
	}
	return a.printInfo(blocks...)
}

// diskLines is the info block of a disk (short inside vm info).
func diskLines(d client.Object, short bool) []kv {
	l := []kv{{"disk", d.Str("name")}, {"disk id", itoa(d.ID())}, {"size", fmtSize(d.Int("size"))}}
	if !short {
		l = append(l, kv{"state", d.Str("state")}, kv{"type", d.Str("type")})
	}
	l = append(l, kv{"boot", yesno(d.Bool("is_boot_disk"))}, kv{"kernel", d.Str("kernel_version")},
		kv{"cmdline", client.Cmdline(d.Obj("kernel_cmdline"))})
	return l
}

// ifaceLines is the info block of an iface with its addresses.
func ifaceLines(f client.Object) []kv {
	desc := f.Str("type")
	if vl := f.Obj("vlan"); vl != nil {
		desc += ", vlan " + vl.Str("name")
	}
	if bw := fmtBandwidth(f.Float("bandwidth")); bw != "" {
		desc += ", " + bw
	}
	l := []kv{{"iface", fmt.Sprintf("%d (%s)", f.ID(), desc)}}
	for _, ip := range f.Objs("ips") {
		addr := ip.Str("ip")
		if addr == "" {
			addr = "(" + ip.Str("state") + ")"
		}
		l = append(l, kv{"ipv" + strconv.FormatInt(ip.Int("version"), 10), addr})
	}
	return l
}

// vmActionCmd is start, stop or reboot of one or more VMs.
func (a *app) vmActionCmd(verb, short, method, past string) *cobra.Command {
	var bg bool
	cmd := a.objsCmd(&cobra.Command{
		Use:     verb + " VM...",
		Short:   short,
		Example: fmt.Sprintf("  berth vm %s web1\n  berth vm %s web1 web2 --bg", verb, verb),
	}, kindVM, func(ctx context.Context, vms []client.Object, who string) error {
		ops, err := a.doEach(ctx, kindVM, verb, method, vms)
		if err != nil {
			return err
		}
		return a.finish(ctx, "vm "+who, "vm "+who+" "+past, ops, bg)
	})
	addBg(cmd, &bg)
	return cmd
}

// resolveAll resolves several names of one kind, failing on the first unknown one.
func (a *app) resolveAll(ctx context.Context, k kind, args []string) ([]client.Object, error) {
	all, err := a.list(ctx, k, nil)
	if err != nil {
		return nil, err
	}
	out := make([]client.Object, 0, len(args))
	for _, arg := range args {
		o, err := pick(k, arg, all)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

// names joins the named member of objects: "web1, web2".
func names(l []client.Object, key string) string {
	s := make([]string, len(l))
	for i, o := range l {
		s[i] = o.Str(key)
		if s[i] == "" {
			s[i] = itoa(o.ID())
		}
	}
	return strings.Join(s, ", ")
}

func (a *app) vmDeleteCmd() *cobra.Command {
	var bg, yes bool
	cmd := a.objsCmd(&cobra.Command{
		Use:   "delete VM...",
		Short: "Delete virtual machines (with their system disk and first iface)",
		Long: `delete stops each running VM, then deletes it. The API deletes the VM's system disk
(position 0) and its first iface with it; other disks and ifaces are detached and kept.`,
		Example: `  berth vm delete web1
  berth vm delete web1 web2 --yes`,
	}, kindVM, func(ctx context.Context, vms []client.Object, who string) error {
		if err := a.confirm(ctx, fmt.Sprintf("delete vm %s and its system disk?", who), yes); err != nil {
			return err
		}
		var running []client.Object
		for _, v := range vms {
			if v.Str("state") == api.VMRunning {
				running = append(running, v)
			}
		}
		stops, err := a.doEach(ctx, kindVM, "stop", "hosting.vm.stop", running)
		if err != nil {
			return err
		}
		if len(stops) > 0 {
			if _, err := a.follow(ctx, "stopping "+who, stops, false); err != nil {
				return err
			}
		}
		ops, err := a.doEach(ctx, kindVM, "delete", "hosting.vm.delete", vms)
		if err != nil {
			return err
		}
		return a.finish(ctx, "deleting vm "+who, "vm "+who+" deleted", ops, bg)
	})
	addBg(cmd, &bg)
	addYes(cmd, &yes)
	return cmd
}

// maxMemoryChoices are the vm_max_memory values the API accepts (D13).
var maxMemoryChoices = []int64{2048, 4096, 8192, 16384, 24576}

// neededMaxMemory is the vm_max_memory a VM needs for memory MB: the smallest accepted
// value at least memory (for powers of two up to 16 GB, D13's max(2048, next power of two)).
func neededMaxMemory(memory int64) (int64, error) {
	for _, c := range maxMemoryChoices {
		if c >= memory {
			return c, nil
		}
	}
	return 0, fmt.Errorf("memory %s is over the largest vm_max_memory (%s)", fmtSize(memory), fmtSize(maxMemoryChoices[len(maxMemoryChoices)-1]))
}

func (a *app) vmUpdateCmd() *cobra.Command {
	var bg, yes, console bool
	var memory, maxMemory, password, hostname string
	var cores int64
	cmd := objCmd(&cobra.Command{
		Use:   "update VM",
		Short: "Change memory, cores, console, hostname or password of a virtual machine",
		Long: `update changes a VM. Memory and cores change live up to the VM's max memory; when the new
memory needs more, vm_max_memory is raised to the next accepted value (2, 4, 8, 16 or 24 GB),
which reboots a running VM: berth asks first on a terminal (--yes skips the question).`,
		Example: `  berth vm update web1 --memory 768 --cores 2
  berth vm update web1 --memory 3G --yes
  berth vm update web1 --console
  berth vm update web1 --hostname web2`,
		Args:              exactArgs(1),
		ValidArgsFunction: a.completer(kindVM),
	}, a.resolver(kindVM), func(ctx context.Context, cmd *cobra.Command, v client.Object, _ []string) error {
		fl := cmd.Flags()
		spec := map[string]any{}
		reboot := false
		if fl.Changed("memory") {
			mem, err := parseSize(memory)
			if err != nil {
				return usagef("--memory: %v", err)
			}
			spec["memory"] = mem
			if !fl.Changed("max-memory") && mem > v.Int("vm_max_memory") {
				need, err := neededMaxMemory(mem)
				if err != nil {
					return err
				}
				spec["vm_max_memory"] = need
			}
		}
		if fl.Changed("max-memory") {
			mm, err := parseSize(maxMemory)
			if err != nil {
				return usagef("--max-memory: %v", err)
			}
			if !slices.Contains(maxMemoryChoices, mm) {
				return usagef("--max-memory must be 2G, 4G, 8G, 16G or 24G")
			}
			spec["vm_max_memory"] = mm
		}
		if mm, ok := spec["vm_max_memory"].(int64); ok && mm != v.Int("vm_max_memory") {
			reboot = v.Str("state") == api.VMRunning
		}
		if fl.Changed("cores") {
			spec["cores"] = cores
		}
		if fl.Changed("console") {
			spec["console"] = console
		}
		if fl.Changed("password") {
			spec["password"] = password
		}
		if fl.Changed("hostname") {
			spec["hostname"] = hostname
		}
		if len(spec) == 0 {
			return usagef("nothing to update: pass --memory, --cores, --max-memory, --console, --hostname or --password")
		}
		name := v.Str("hostname")
		if reboot {
			q := fmt.Sprintf("reboot vm %s to raise its max memory to %s?", name, fmtSize(spec["vm_max_memory"].(int64)))
			if err := a.confirm(ctx, q, yes); err != nil {
				return err
			}
			fmt.Fprintf(a.stderr, "vm %s: max memory %s → %s (reboot)\n", name, fmtSize(v.Int("vm_max_memory")), fmtSize(spec["vm_max_memory"].(int64)))
		}
		return a.act(ctx, bg, "vm "+name, "vm "+name+" updated", "hosting.vm.update", v.ID(), spec)
	})
	f := cmd.Flags()
	f.StringVarP(&memory, "memory", "m", "", "memory, in MB or with a unit (768, 1G)")
	f.StringVar(&maxMemory, "max-memory", "", "vm_max_memory: 2G, 4G, 8G, 16G or 24G (reboots a running VM)")
	f.Int64VarP(&cores, "cores", "c", 0, "number of virtual CPUs")
	f.BoolVar(&console, "console", false, "enable (--console) or disable (--console=false) the emergency console")
	f.StringVar(&password, "password", "", "new root password (8 to 128 characters)")
	f.StringVar(&hostname, "hostname", "", "new hostname")
	f.BoolVarP(&yes, "yes", "y", false, "do not ask before a reboot")
	addBg(cmd, &bg)
	return cmd
}

// errNoIP is returned by vm ssh for a VM without any address.
var errNoIP = errors.New("has no IP address")
