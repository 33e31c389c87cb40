package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/berth-io/berth/client"
)

// defaultImage is the label vm create uses without --image.
const defaultImage = "Berth Tiny"

// vmCreateOpts are the flags of vm create.
type vmCreateOpts struct {
	hostname, dc, image, memory, size, password, login, run, vlan, ip string
	cores, ipVersion                                                  int64
	bandwidth                                                         float64
	keys                                                              []string
	bg                                                                bool
}

func (a *app) vmCreateCmd() *cobra.Command {
	var o vmCreateOpts
	cmd := &cobra.Command{
		Use:   "create [HOSTNAME]",
		Short: "Create a virtual machine from an image, and wait until it runs",
		Long: `create makes a VM with hosting.vm.create_from and waits for it. Defaults: the first
datacenter open to new resources, the image labelled "Berth Tiny" there (else the first image of
that datacenter), 256 MB, 1 core, an IPv4+IPv6 public iface, your first ~/.ssh/id_*.pub key for
root, and a generated hostname. --sshkey takes a stored key name (berth sshkey list) or a public
key file; --vlan gives the VM a private iface in that VLAN instead of a public one.`,
		Example: `  berth vm create
  berth vm create web1 --memory 1G --cores 2 --size 10G
  berth vm create db1 --datacenter LU-BI1 --image "Berth Tiny" --sshkey laptop
  berth vm create back1 --vlan lan1 --ip 192.168.1.10`,
		Args: maxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if o.hostname != "" && o.hostname != args[0] {
					return usagef("two hostnames: %s and --hostname %s", args[0], o.hostname)
				}
				o.hostname = args[0]
			}
			return a.vmCreate(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.hostname, "hostname", "", "hostname (default: generated)")
	f.StringVarP(&o.dc, "datacenter", "d", "", "datacenter code or id (default: the first open one)")
	f.StringVar(&o.image, "image", "", `image label or id (default: "Berth Tiny", else the datacenter's first image)`)
	f.StringVarP(&o.memory, "memory", "m", "256", "memory, in MB or with a unit (512, 1G)")
	f.Int64VarP(&o.cores, "cores", "c", 1, "number of virtual CPUs")
	f.StringVar(&o.size, "size", "", "system disk size, in MB or with a unit (default: the image's size)")
	f.Int64Var(&o.ipVersion, "ip-version", 4, "public iface: 4 (IPv4 and IPv6) or 6 (IPv6 only)")
	f.Float64Var(&o.bandwidth, "bandwidth", 0, "iface bandwidth in kbit/s (default: the server's)")
	f.StringArrayVar(&o.keys, "sshkey", nil, "stored SSH key name or id, or a public key file (repeatable)")
	f.StringVar(&o.password, "password", "", "root password")
	f.StringVar(&o.login, "login", "", "extra user to create")
	f.StringVar(&o.run, "run", "", "shell command to run at first boot")
	f.StringVar(&o.vlan, "vlan", "", "VLAN name or id: a private iface instead of a public one")
	f.StringVar(&o.ip, "ip", "", "private address in the VLAN (with --vlan)")
	addBg(cmd, &o.bg)
	return cmd
}

func (a *app) vmCreate(ctx context.Context, o vmCreateOpts) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	mem, err := parseSize(o.memory)
	if err != nil {
		return usagef("--memory: %v", err)
	}
	if o.ip != "" && o.vlan == "" {
		return usagef("--ip needs --vlan")
	}
	if o.ipVersion != 4 && o.ipVersion != 6 {
		return usagef("--ip-version must be 4 or 6")
	}
	var vlan client.Object
	if o.vlan != "" {
		if vlan, err = a.resolve(ctx, kindVLAN, o.vlan, nil); err != nil {
			return err
		}
	}
	if o.dc == "" && vlan != nil {
		o.dc = strconv.FormatInt(vlan.Int("datacenter_id"), 10)
	}
	dc, err := a.resolveDC(ctx, o.dc)
	if err != nil {
		return err
	}
	if vlan != nil && vlan.Int("datacenter_id") != dc.ID() {
		return fmt.Errorf("vlan %s is in %s, not in %s", vlan.Str("name"), a.dcCode(ctx, vlan.Int("datacenter_id")), dc.Str("dc_code"))
	}
	image, err := a.pickImage(ctx, dc, o.image)
	if err != nil {
		return err
	}
	if o.hostname == "" {
		o.hostname = "vm" + strconv.FormatInt(a.now().UnixMilli(), 36)
	}
	spec := map[string]any{"datacenter_id": dc.ID(), "hostname": o.hostname, "memory": mem, "cores": o.cores}
	for k, v := range map[string]string{"password": o.password, "login": o.login, "run": o.run} {
		if v != "" {
			spec[k] = v
		}
	}
	if err := a.vmKeys(ctx, spec, o.keys, o.password != ""); err != nil {
		return err
	}
	what := "vm " + o.hostname
	if vlan != nil {
		ispec := map[string]any{"datacenter_id": dc.ID(), "vlan": vlan.ID()}
		if o.ip != "" {
			ispec["ip"] = o.ip
		}
		if o.bandwidth > 0 {
			ispec["bandwidth"] = o.bandwidth
		}
		final, err := a.do(ctx, false, what+": private iface", "", "hosting.iface.create", ispec)
		if err != nil {
			return err
		}
		spec["iface_id"] = final[0].Int("iface_id")
	} else {
		spec["ip_version"] = o.ipVersion
		if o.bandwidth > 0 {
			spec["bandwidth"] = o.bandwidth
		}
	}
	disk := map[string]any{"datacenter_id": dc.ID(), "name": sysDiskName(o.hostname)}
	if o.size != "" {
		size, err := parseSize(o.size)
		if err != nil {
			return usagef("--size: %v", err)
		}
		disk["size"] = size
	}
	fmt.Fprintf(a.stderr, "creating vm %s in %s from %q: %s, %s\n", o.hostname, dc.Str("dc_code"), image.Str("label"),
		fmtSize(mem), plural(int(o.cores), "core"))
	ops, err := c.Do(ctx, "hosting.vm.create_from", spec, disk, image.Int("disk_id"))
	if err != nil {
		return fmt.Errorf("create vm %s: %s", o.hostname, a.describe(err))
	}
	if _, err := a.follow(ctx, what, ops, o.bg); err != nil {
		return err
	}
	var vmID int64
	for _, op := range ops {
		if op.Str("type") == "vm_create" || vmID == 0 {
			vmID = op.Int("vm_id")
		}
	}
	info, err := c.Info(ctx, "hosting.vm.info", vmID)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stderr, "vm %s is %s\n", o.hostname, info.Str("state"))
	return a.output(info, func() error { return a.printVM(ctx, info) })
}

// sysDiskName is the system disk name gandi.cli uses: sys_<hostname>, at most 15 chars.
func sysDiskName(hostname string) string {
	n := "sys_" + hostname
	if len(n) > 15 {
		n = n[:15]
	}
	return n
}

// pickImage returns the image to boot from in a datacenter: the one named, else "Berth
// Tiny", else the datacenter's first image.
func (a *app) pickImage(ctx context.Context, dc client.Object, arg string) (client.Object, error) {
	imgs, err := a.list(ctx, kindImage, map[string]any{"datacenter_id": dc.ID()})
	if err != nil {
		return nil, err
	}
	if arg != "" {
		im, err := pick(kindImage, arg, imgs)
		var nf *notFound
		if errors.As(err, &nf) {
			nf.in = "in " + dc.Str("dc_code")
		}
		return im, err
	}
	if im, err := pick(kindImage, defaultImage, imgs); err == nil {
		return im, nil
	}
	if len(imgs) == 0 {
		return nil, fmt.Errorf("datacenter %s has no image", dc.Str("dc_code"))
	}
	sort.Slice(imgs, func(i, j int) bool { return imgs[i].ID() < imgs[j].ID() })
	return imgs[0], nil
}

// vmKeys fills ssh_key and keys of a vm_spec from --sshkey values, or from the first
// ~/.ssh/id_*.pub when none is given and there is no password.
func (a *app) vmKeys(ctx context.Context, spec map[string]any, args []string, password bool) error {
	var ids []any
	var file string
	for _, k := range args {
		if st, err := os.Stat(k); err == nil && !st.IsDir() {
			if file != "" {
				return usagef("--sshkey: one key file only (store more with berth sshkey create, then pass their names)")
			}
			file = k
			continue
		}
		key, err := a.resolve(ctx, kindKey, k, nil)
		if err != nil {
			return err
		}
		ids = append(ids, key.ID())
	}
	if len(ids) > 0 {
		spec["keys"] = ids
	}
	if file == "" && len(args) == 0 && !password {
		file = a.defaultPubKey()
		if file == "" {
			fmt.Fprintln(a.stderr, "warning: no ~/.ssh/id_*.pub and no --password: you will only reach the vm through its console")
			return nil
		}
		fmt.Fprintf(a.stderr, "root login with ssh key %s\n", file)
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("ssh key: %w", err)
		}
		spec["ssh_key"] = strings.TrimSpace(string(b))
	}
	return nil
}

// defaultPubKey returns the first ~/.ssh/id_*.pub, or "".
func (a *app) defaultPubKey() string {
	home := a.getenv("HOME")
	if home == "" {
		return ""
	}
	l, _ := filepath.Glob(filepath.Join(home, ".ssh", "id_*.pub"))
	sort.Strings(l)
	if len(l) == 0 {
		return ""
	}
	return l[0]
}
