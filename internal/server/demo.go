package server

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/config"
	"github.com/berth-io/berth/internal/service"
)

// demoVM makes sure the demo account has a running VM "demo" from the Berth Tiny image,
// reachable by SSH with a key kept in the data directory, and prints how to reach it.
func demoVM(ctx context.Context, d *Daemon, cfg config.Config, key, addr string, w io.Writer) error {
	svc := d.svc
	c, err := svc.Auth(ctx, key)
	if err != nil {
		return err
	}
	keyFile := filepath.Join(cfg.DataDir, "demo_ed25519")
	if _, err := os.Stat(keyFile); err != nil {
		out, err := exec.CommandContext(ctx, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "berth-demo", "-f", keyFile).CombinedOutput()
		if err != nil {
			return fmt.Errorf("ssh-keygen: %v: %s", err, out)
		}
	}
	pub, err := os.ReadFile(keyFile + ".pub")
	if err != nil {
		return err
	}
	dc := cfg.Datacenters[0].ID
	vms, err := svc.VMList(ctx, c, api.ListOptions{Filters: []api.Filter{{Field: "hostname", Values: []any{"demo"}}}})
	if err != nil {
		return err
	}
	var vmID int64
	if len(vms) > 0 {
		vmID = vms[0].ID
		if vms[0].State == api.VMHalted {
			if _, err := svc.VMStart(ctx, c, vmID); err != nil {
				return err
			}
		}
	} else {
		imgs, err := svc.ImageList(ctx, api.ListOptions{Filters: []api.Filter{{Field: "label", Values: []any{"Berth Tiny"}}, {Field: "datacenter_id", Values: []any{dc}}}})
		if err != nil {
			return err
		}
		if len(imgs) == 0 {
			return fmt.Errorf("no Berth Tiny image in datacenter %d (make images builds it)", dc)
		}
		list, err := svc.VMCreateFrom(ctx, c, service.VMSpec{DatacenterID: dc, Hostname: "demo", Memory: 256, Cores: 1,
			SSHKey: strings.TrimSpace(string(pub)), Run: "echo 'Welcome to Berth' > /etc/motd"}, service.DiskSpec{Name: "sys_demo"}, imgs[0].DiskID)
		if err != nil {
			return err
		}
		for _, op := range list {
			for {
				o, err := svc.OperationInfo(ctx, c, op.ID)
				if err != nil {
					return err
				}
				if o.Step == api.StepError {
					return fmt.Errorf("%s: %s", o.Type, o.LastError)
				}
				if o.Step == api.StepDone {
					break
				}
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(100 * time.Millisecond):
				}
			}
		}
		vmID = list[len(list)-1].VMID
	}
	info, err := svc.VMInfo(ctx, c, vmID)
	if err != nil {
		return err
	}
	ip := ""
	if len(info.Ifaces) > 0 && len(info.Ifaces[0].IPs) > 0 {
		ip = info.Ifaces[0].IPs[0].IP
	}
	ns := Namespace(cfg.NetnsPrefix, cfg.Datacenters[0].Code)
	fmt.Fprintf(w, "berthd: demo vm \"demo\" (id %d) at %s, booting (about 2 s)\n", vmID, ip)
	if cfg.HostNetwork {
		fmt.Fprintf(w, "berthd: ssh: ssh -i %s root@%s\n", keyFile, ip)
	} else {
		fmt.Fprintf(w, "berthd: ssh: ip netns exec %s ssh -i %s root@%s\n", ns, keyFile, ip)
	}
	fmt.Fprintf(w, "berthd: console: BERTH_URL=%s://%s/xmlrpc/ BERTH_API_KEY=%s bin/berth vm console demo (detach with Ctrl-])\n", d.Scheme(), addr, key)
	return nil
}
