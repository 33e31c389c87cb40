package cli

import (
	"context"
	"fmt"
	"sort"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/berth-io/berth/client"
)

func (a *app) diskCmd() *cobra.Command {
	return group("disk", "Manage disks and snapshots", `  berth disk create --name data1 --size 10G --vm web1
  berth disk update data1 --size +1G
  berth disk snapshot data1`,
		a.diskListCmd(), a.diskInfoCmd(), a.diskCreateCmd(), a.diskUpdateCmd(), a.diskAttachCmd(),
		a.diskDetachCmd(), a.diskSnapshotCmd(), a.diskRollbackCmd(), a.diskDeleteCmd(), a.diskKernelsCmd())
}

func (a *app) diskListCmd() *cobra.Command {
	var vm, dc, typ string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List disks and snapshots",
		Example: `  berth disk list
  berth disk list --vm web1
  berth disk list --type snapshot`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			f := map[string]any{}
			if typ != "" {
				f["type"] = typ
			}
			if err := a.resolveFilters(ctx, f, dcFilter(dc)); err != nil {
				return err
			}
			vms, err := a.list(ctx, kindVM, nil)
			if err != nil {
				return err
			}
			if vm != "" {
				v, err := pick(kindVM, vm, vms)
				if err != nil {
					return err
				}
				f["vm_id"] = v.ID()
			}
			disks, err := a.list(ctx, kindDisk, f)
			if err != nil {
				return err
			}
			if a.asJSON {
				return a.printJSON(disks)
			}
			host := map[int64]string{}
			for _, v := range vms {
				host[v.ID()] = v.Str("hostname")
			}
			rows := make([][]string, 0, len(disks))
			for _, d := range disks {
				var on string
				if ids := d.Ints("vms_id"); len(ids) > 0 {
					on = host[ids[0]]
					if d.Bool("is_boot_disk") {
						on += " (boot)"
					}
				}
				rows = append(rows, []string{itoa(d.ID()), d.Str("name"), fmtSize(d.Int("size")), d.Str("state"), d.Str("type"),
					on, a.dcCode(ctx, d.Int("datacenter_id")), d.Str("kernel_version")})
			}
			return a.printTable([]string{"ID", "NAME", "SIZE", "STATE", "TYPE", "VM", "DATACENTER", "KERNEL"}, rows, "no disks")
		},
	}
	cmd.Flags().StringVar(&vm, "vm", "", "only disks of this VM")
	cmd.Flags().StringVarP(&dc, "datacenter", "d", "", "only disks of this datacenter")
	cmd.Flags().StringVar(&typ, "type", "", "data or snapshot")
	return cmd
}

func (a *app) diskInfoCmd() *cobra.Command {
	return a.infoCmd(kindDisk, "info DISK", "Show a disk", "  berth disk info data1\n  berth disk info 12 --json", a.printDisk)
}

func (a *app) printDisk(ctx context.Context, d client.Object) error {
	l := []kv{{"id", itoa(d.ID())}, {"name", d.Str("name")}, {"size", fmtSize(d.Int("size"))}, {"state", d.Str("state")},
		{"type", d.Str("type")}, {"datacenter", a.dcCode(ctx, d.Int("datacenter_id"))}}
	vm := ""
	if ids := d.Ints("vms_id"); len(ids) > 0 {
		vm = itoa(ids[0])
		if v, err := a.cl.Info(ctx, "hosting.vm.info", ids[0]); err == nil {
			vm = v.Str("hostname")
		}
	}
	l = append(l, kv{"vm", vm}, kv{"boot", yesno(d.Bool("is_boot_disk"))}, kv{"kernel", d.Str("kernel_version")},
		kv{"cmdline", client.Cmdline(d.Obj("kernel_cmdline"))}, kv{"label", d.Str("label")}, kv{"source", itoa(d.Int("source"))})
	if snaps := d.Ints("snapshots_id"); len(snaps) > 0 {
		s := ""
		for i, id := range snaps {
			if i > 0 {
				s += ", "
			}
			s += itoa(id)
		}
		l = append(l, kv{"snapshots", s})
	}
	l = append(l, kv{"created", fmtTime(d.Time("date_created"))}, kv{"updated", fmtTime(d.Time("date_updated"))})
	return a.printInfo(l)
}

func (a *app) diskCreateCmd() *cobra.Command {
	var name, size, dc, source, vm string
	var bg bool
	cmd := &cobra.Command{
		Use:   "create [NAME]",
		Short: "Create a disk, empty or from a disk or image, and optionally attach it",
		Example: `  berth disk create data1 --size 10G
  berth disk create --name data2 --vm web1
  berth disk create copy1 --source data1
  berth disk create tiny2 --source "Berth Tiny"`,
		Args: maxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if len(args) == 1 {
				if name != "" && name != args[0] {
					return usagef("two names: %s and --name %s", args[0], name)
				}
				name = args[0]
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			var v client.Object
			if vm != "" {
				if v, err = a.resolve(ctx, kindVM, vm, nil); err != nil {
					return err
				}
				if dc == "" {
					dc = strconv.FormatInt(v.Int("datacenter_id"), 10)
				}
			}
			var srcDisk client.Object
			if source != "" {
				if sd, err := a.resolve(ctx, kindDisk, source, nil); err == nil {
					srcDisk = sd
					if dc == "" {
						dc = strconv.FormatInt(sd.Int("datacenter_id"), 10)
					}
				}
			}
			d, err := a.resolveDC(ctx, dc)
			if err != nil {
				return err
			}
			spec := map[string]any{"datacenter_id": d.ID()}
			if name != "" {
				spec["name"] = name
			}
			if size != "" {
				mb, err := parseSize(size)
				if err != nil {
					return usagef("--size: %v", err)
				}
				spec["size"] = mb
			}
			var ops []client.Object
			if source != "" {
				src := srcDisk.ID()
				if srcDisk == nil {
					if src, err = a.imageDisk(ctx, d, source); err != nil {
						return err
					}
				}
				ops, err = c.Do(ctx, "hosting.disk.create_from", spec, src)
				if err != nil {
					return fmt.Errorf("create disk: %s", a.describe(err))
				}
			} else {
				if _, ok := spec["size"]; !ok {
					spec["size"] = int64(3072)
				}
				ops, err = c.Do(ctx, "hosting.disk.create", spec)
				if err != nil {
					return fmt.Errorf("create disk: %s", a.describe(err))
				}
			}
			id := ops[0].Int("disk_id")
			what := "disk " + name
			if name == "" {
				what = "disk " + itoa(id)
			}
			info, err := a.followNew(ctx, kindDisk, what, id, ops, v, bg, func(info client.Object) string { return "disk " + dash(info.Str("name")) })
			if err != nil {
				return err
			}
			return a.output(info, func() error { return a.printDisk(ctx, info) })
		},
	}
	f := cmd.Flags()
	f.StringVar(&name, "name", "", "disk name (default: generated by the server)")
	f.StringVar(&size, "size", "", "size, in MB or with a unit (default 3G, or the source's size)")
	f.StringVarP(&dc, "datacenter", "d", "", "datacenter code or id (default: the VM's, else the first open one)")
	f.StringVar(&source, "source", "", "copy this disk or image (name, label or id)")
	f.StringVar(&vm, "vm", "", "attach the new disk to this VM")
	addBg(cmd, &bg)
	return cmd
}

// imageDisk resolves an image of the datacenter by label or id and returns its disk id.
func (a *app) imageDisk(ctx context.Context, dc client.Object, arg string) (int64, error) {
	imgs, err := a.list(ctx, kindImage, map[string]any{"datacenter_id": dc.ID()})
	if err != nil {
		return 0, err
	}
	im, err := pick(kindImage, arg, imgs)
	if err != nil {
		return 0, fmt.Errorf("source %q is neither a disk nor an image of %s", arg, dc.Str("dc_code"))
	}
	return im.Int("disk_id"), nil
}

func (a *app) diskUpdateCmd() *cobra.Command {
	var name, size, kernel, cmdline string
	var bg bool
	cmd := objCmd(&cobra.Command{
		Use:   "update DISK",
		Short: "Rename, grow, or change the kernel or command line of a disk",
		Long: `update changes a disk. --size takes an absolute size (10G) or a relative one (+1G); disks
only grow. --kernel takes a name of berth disk kernels for the disk's datacenter; the kernel and
--cmdline apply at the next boot of a VM booting from the disk.`,
		Example: `  berth disk update data1 --size +1G
  berth disk update data1 --name data2
  berth disk update sys_web1 --kernel sim-6.1-x86_64 --cmdline "root=/dev/vda console=ttyS0 rw"`,
		Args:              exactArgs(1),
		ValidArgsFunction: a.completer(kindDisk),
	}, a.resolver(kindDisk), func(ctx context.Context, cmd *cobra.Command, d client.Object, _ []string) error {
		fl := cmd.Flags()
		spec := map[string]any{}
		if fl.Changed("name") {
			spec["name"] = name
		}
		if fl.Changed("size") {
			mb, err := parseNewSize(size, d.Int("size"))
			if err != nil {
				return usagef("--size: %v", err)
			}
			if mb < d.Int("size") {
				return fmt.Errorf("disk %s is %s: disks only grow", d.Str("name"), fmtSize(d.Int("size")))
			}
			spec["size"] = mb
		}
		if fl.Changed("kernel") {
			if err := a.checkKernel(ctx, d.Int("datacenter_id"), kernel); err != nil {
				return err
			}
			spec["kernel"] = kernel
		}
		if fl.Changed("cmdline") {
			spec["cmdline"] = cmdline
		}
		if len(spec) == 0 {
			return usagef("nothing to update: pass --name, --size, --kernel or --cmdline")
		}
		return a.act(ctx, bg, "disk "+d.Str("name"), "disk "+d.Str("name")+" updated", "hosting.disk.update", d.ID(), spec)
	})
	f := cmd.Flags()
	f.StringVar(&name, "name", "", "new name")
	f.StringVar(&size, "size", "", "new size: absolute (10G) or relative (+1G)")
	f.StringVar(&kernel, "kernel", "", "kernel (see berth disk kernels)")
	f.StringVar(&cmdline, "cmdline", "", `kernel command line, e.g. "root=/dev/vda console=ttyS0 rw"`)
	addBg(cmd, &bg)
	return cmd
}

// kernels returns hosting.disk.list_kernels of a datacenter: flavor → names.
func (a *app) kernels(ctx context.Context, dcID int64) (map[string][]string, error) {
	c, err := a.client()
	if err != nil {
		return nil, err
	}
	o, err := c.Info(ctx, "hosting.disk.list_kernels", dcID)
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for flavor := range o {
		out[flavor] = o.Strs(flavor)
	}
	return out, nil
}

// checkKernel fails with the closest names when kernel is not offered in the datacenter.
func (a *app) checkKernel(ctx context.Context, dcID int64, kernel string) error {
	ks, err := a.kernels(ctx, dcID)
	if err != nil {
		return err
	}
	var all []string
	for _, l := range ks {
		for _, k := range l {
			if k == kernel {
				return nil
			}
			all = append(all, k)
		}
	}
	sort.Strings(all)
	msg := fmt.Sprintf("kernel %q is not offered in %s", kernel, a.dcCode(ctx, dcID))
	if s := closest(kernel, all, 3); len(s) > 0 {
		return fmt.Errorf("%s; did you mean %s?", msg, joinQuoted(s))
	}
	return fmt.Errorf("%s (berth disk kernels lists them)", msg)
}

func joinQuoted(l []string) string {
	s := ""
	for i, x := range l {
		if i > 0 {
			s += ", "
		}
		s += strconv.Quote(x)
	}
	return s
}

func (a *app) diskAttachCmd() *cobra.Command {
	var position int64
	var readOnly, bg bool
	cmd := objCmd(&cobra.Command{
		Use:   "attach DISK VM",
		Short: "Attach a disk to a virtual machine",
		Long: `attach appends the disk to the VM's disks; --position 0 makes it the boot disk (the
current boot disk moves to the end).`,
		Example: `  berth disk attach data1 web1
  berth disk attach data1 web1 --read-only
  berth disk attach sys_old web1 --position 0`,
		Args: exactArgs(2),
	}, a.resolver(kindDisk), func(ctx context.Context, cmd *cobra.Command, d client.Object, args []string) error {
		v, err := a.resolve(ctx, kindVM, args[1], nil)
		if err != nil {
			return err
		}
		if ids := d.Ints("vms_id"); len(ids) > 0 {
			if ids[0] == v.ID() {
				return fmt.Errorf("disk %s is already attached to vm %s", d.Str("name"), v.Str("hostname"))
			}
			return a.attachedErr(ctx, d, ids[0])
		}
		params := []any{v.ID(), d.ID()}
		opts := map[string]any{}
		if cmd.Flags().Changed("position") {
			opts["position"] = position
		}
		if readOnly {
			opts["access"] = "read"
		}
		if len(opts) > 0 {
			params = append(params, opts)
		}
		what := "disk " + d.Str("name")
		return a.act(ctx, bg, what, what+" attached to vm "+v.Str("hostname"), "hosting.vm.disk_attach", params...)
	})
	cmd.Flags().Int64Var(&position, "position", 0, "position on the VM (0 = boot disk; default: last)")
	cmd.Flags().BoolVar(&readOnly, "read-only", false, "attach read-only")
	addBg(cmd, &bg)
	return cmd
}

func (a *app) diskDetachCmd() *cobra.Command {
	var bg bool
	cmd := objCmd(&cobra.Command{
		Use:               "detach DISK",
		Short:             "Detach a disk from its virtual machine",
		Example:           "  berth disk detach data1",
		Args:              exactArgs(1),
		ValidArgsFunction: a.completer(kindDisk),
	}, a.resolver(kindDisk), func(ctx context.Context, _ *cobra.Command, d client.Object, _ []string) error {
		ids := d.Ints("vms_id")
		if len(ids) == 0 {
			return fmt.Errorf("disk %s is not attached", d.Str("name"))
		}
		what := "disk " + d.Str("name")
		return a.act(ctx, bg, what, what+" detached", "hosting.vm.disk_detach", ids[0], d.ID())
	})
	addBg(cmd, &bg)
	return cmd
}

func (a *app) diskSnapshotCmd() *cobra.Command {
	var name string
	var bg bool
	cmd := objCmd(&cobra.Command{
		Use:               "snapshot DISK",
		Short:             "Take a snapshot of a disk",
		Example:           "  berth disk snapshot data1\n  berth disk snapshot data1 --name before-upgrade",
		Args:              exactArgs(1),
		ValidArgsFunction: a.completer(kindDisk),
	}, a.resolver(kindDisk), func(ctx context.Context, _ *cobra.Command, d client.Object, _ []string) error {
		if name == "" {
			name = d.Str("name") + "-" + a.now().UTC().Format("20060102150405")
		}
		final, err := a.do(ctx, bg, "snapshot "+name, "", "hosting.disk.create_from",
			map[string]any{"name": name, "type": "snapshot", "datacenter_id": d.Int("datacenter_id")}, d.ID())
		if err != nil {
			return err
		}
		info, err := a.cl.Info(ctx, "hosting.disk.info", final[0].Int("disk_id"))
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stderr, "snapshot %s of disk %s created\n", info.Str("name"), d.Str("name"))
		return a.output(info, func() error { return a.printDisk(ctx, info) })
	})
	cmd.Flags().StringVar(&name, "name", "", "snapshot name (default: DISK-YYYYMMDDhhmmss)")
	addBg(cmd, &bg)
	return cmd
}

func (a *app) diskRollbackCmd() *cobra.Command {
	var bg bool
	cmd := &cobra.Command{
		Use:               "rollback SNAPSHOT",
		Short:             "Restore a disk from one of its snapshots (the disk must be detached)",
		Example:           "  berth disk rollback data1-20261126120000",
		Args:              exactArgs(1),
		ValidArgsFunction: a.completer(kindDisk),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			disks, err := a.list(ctx, kindDisk, nil)
			if err != nil {
				return err
			}
			s, err := pick(kindDisk, args[0], disks)
			if err != nil {
				return err
			}
			if s.Str("type") != "snapshot" {
				return fmt.Errorf("disk %s is not a snapshot (berth disk list --type snapshot)", s.Str("name"))
			}
			src := "disk " + itoa(s.Int("source"))
			for _, d := range disks {
				if d.ID() == s.Int("source") {
					src = "disk " + d.Str("name")
				}
			}
			return a.act(ctx, bg, "rollback to "+s.Str("name"), src+" rolled back to snapshot "+s.Str("name"),
				"hosting.disk.rollback_from", s.ID())
		},
	}
	addBg(cmd, &bg)
	return cmd
}

func (a *app) diskDeleteCmd() *cobra.Command {
	var bg, yes bool
	cmd := a.objsCmd(&cobra.Command{
		Use:     "delete DISK...",
		Short:   "Delete disks (detached ones; all data is erased)",
		Example: "  berth disk delete data1\n  berth disk delete data1 data2 --yes",
	}, kindDisk, func(ctx context.Context, disks []client.Object, who string) error {
		for _, d := range disks {
			if ids := d.Ints("vms_id"); len(ids) > 0 {
				return a.attachedErr(ctx, d, ids[0])
			}
		}
		if err := a.confirm(ctx, fmt.Sprintf("delete disk %s and all its data?", who), yes); err != nil {
			return err
		}
		ops, err := a.doEach(ctx, kindDisk, "delete", "hosting.disk.delete", disks)
		if err != nil {
			return err
		}
		return a.finish(ctx, "disk "+who, "disk "+who+" deleted", ops, bg)
	})
	addBg(cmd, &bg)
	addYes(cmd, &yes)
	return cmd
}

func (a *app) diskKernelsCmd() *cobra.Command {
	var dc string
	cmd := &cobra.Command{
		Use:     "kernels",
		Short:   "List the kernels disks can boot with, per datacenter",
		Example: "  berth disk kernels\n  berth disk kernels --datacenter FR-SD5",
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			dcs, err := a.datacenters(ctx)
			if err != nil {
				return err
			}
			if dc != "" {
				d, err := pick(kindDatacenter, dc, dcs)
				if err != nil {
					return err
				}
				dcs = []client.Object{d}
			}
			all := map[string]map[string][]string{}
			var rows [][]string
			for _, d := range dcs {
				ks, err := a.kernels(ctx, d.ID())
				if err != nil {
					return err
				}
				all[d.Str("dc_code")] = ks
				flavors := make([]string, 0, len(ks))
				for f := range ks {
					flavors = append(flavors, f)
				}
				sort.Strings(flavors)
				for _, f := range flavors {
					for _, k := range ks[f] {
						rows = append(rows, []string{d.Str("dc_code"), f, k})
					}
				}
			}
			return a.output(all, func() error {
				return a.printTable([]string{"DATACENTER", "FLAVOR", "KERNEL"}, rows, "no kernels")
			})
		},
	}
	cmd.Flags().StringVarP(&dc, "datacenter", "d", "", "only this datacenter")
	return cmd
}

// attachedErr is the error about a disk still attached to a VM.
func (a *app) attachedErr(ctx context.Context, d client.Object, vmID int64) error {
	host := itoa(vmID)
	if hosts, err := a.vmNames(ctx); err == nil && hosts[vmID] != "" {
		host = hosts[vmID]
	}
	return fmt.Errorf("disk %s is attached to vm %s: detach it first (berth disk detach %s)", d.Str("name"), host, d.Str("name"))
}
