package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/config"
	"github.com/berth-io/berth/internal/ipam"
	"github.com/berth-io/berth/internal/service"
	"github.com/berth-io/berth/internal/store"
	"github.com/berth-io/berth/internal/store/sqlstore"
)

// hostname is the name of the i-th bench VM.
func hostname(i int) string { return fmt.Sprintf("bench%05d", i) }

// imageDisks returns the source disk of the sim image in each datacenter, by datacenter id.
func imageDisks(ctx context.Context, c *rpc, key string) (map[int64]int64, error) {
	v, err := c.call(ctx, "hosting.image.list", key, map[string]any{})
	if err != nil {
		return nil, err
	}
	list, _ := v.([]any)
	out := map[int64]int64{}
	for _, x := range list {
		im, _ := x.(map[string]any)
		dc, _ := im["datacenter_id"].(int64)
		disk, _ := im["disk_id"].(int64)
		if dc != 0 && disk != 0 && out[dc] == 0 {
			out[dc] = disk
		}
	}
	if len(out) == 0 {
		return nil, errors.New("hosting.image.list: no image to create vms from")
	}
	return out, nil
}

// seedAPI creates the VMs numbered first..first+n-1 with hosting.vm.create_from, from
// `clients` concurrent callers, round-robin over the datacenters, and waits until every
// operation they queued is done, reporting progress to out.
func seedAPI(ctx context.Context, url, key string, first, n, clients int, out io.Writer) error {
	var dials atomic.Int64
	c0 := newRPC(url, &dials)
	defer c0.close()
	disks, err := imageDisks(ctx, c0, key)
	if err != nil {
		return err
	}
	dcs := sortedKeys(disks)
	t0 := time.Now()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan int)
	go func() {
		defer close(next)
		for i := first; i < first+n; i++ {
			select {
			case next <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			c := newRPC(url, &dials)
			defer c.close()
			for i := range next {
				dc := dcs[i%len(dcs)]
				spec := map[string]any{"datacenter_id": dc, "hostname": hostname(i), "memory": 256, "cores": 1, "ip_version": 4}
				if _, err := c.call(ctx, "hosting.vm.create_from", key, spec, map[string]any{}, disks[dc]); err != nil {
					cancel(fmt.Errorf("create vm %s: %w", hostname(i), err))
					return
				}
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return err
	}
	fmt.Fprintf(out, "  %d vm.create_from calls answered in %s; waiting for their operations...\n", n, time.Since(t0).Round(time.Millisecond))
	return waitOperations(ctx, c0, key, first+n, out)
}

// waitOperations polls until no operation of the account is pending, then checks that
// none failed and that `want` VMs are running. It reports progress every 30 s.
func waitOperations(ctx context.Context, c *rpc, key string, want int, out io.Writer) error {
	pending := map[string]any{"step": []any{api.StepBill, api.StepWait, api.StepRun}}
	last, lastChange, lastReport := int64(-1), time.Now(), time.Now()
	for {
		n, err := c.callInt(ctx, "operation.count", key, pending)
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
		if time.Since(lastReport) >= 30*time.Second {
			fmt.Fprintf(out, "  %d operations pending\n", n)
			lastReport = time.Now()
		}
		if n != last {
			last, lastChange = n, time.Now()
		} else if time.Since(lastChange) > 2*time.Minute {
			return fmt.Errorf("%d operations still pending, none finished for 2 minutes", n)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	failed, err := c.callInt(ctx, "operation.count", key, map[string]any{"step": []any{api.StepError, api.StepCancel}})
	if err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("%d operations ended in ERROR or CANCEL", failed)
	}
	running, err := c.callInt(ctx, "hosting.vm.count", key, map[string]any{"state": api.VMRunning})
	if err != nil {
		return err
	}
	if running != int64(want) {
		return fmt.Errorf("%d vms running, want %d", running, want)
	}
	return nil
}

// template is a VM made by vm.create_from, with its rows, to clone.
type template struct {
	vm     *store.VM
	disks  []*store.Disk
	ifaces []*store.Iface
	ips    map[int64][]*store.IP // by iface id
}

// cloner inserts copies of template VMs straight into the store.
type cloner struct {
	svc   *service.Service // only for PublicPool: the pool rules of the service
	dcs   map[int64]config.Datacenter
	cfg   config.Config
	used  map[string][]netip.Addr // addresses in use, by network
	pools map[string]ipam.Pool
}

// seedDirect adds VMs numbered first..want-1 to the account `handle` of the store in dir
// (berthd must not be running), as copies of the first VM vm.create_from made in each
// datacenter: same rows, with their own hostname, disk name, entity ids and the next free
// addresses of the pools. It inserts `batch` VMs per transaction.
//
// The copies are halted: the sim backend's hypervisor (its state in DIR/sim) does not run
// them, and halted is what berthd's reconciliation would record for them anyway. Stored
// and observed states then agree, as on a real host, and reconciliation checks every VM
// without rewriting 10,000 rows during the measure.
func seedDirect(ctx context.Context, dir string, cfg config.Config, handle string, first, want, batch int) error {
	st, err := sqlstore.OpenSQLite(ctx, dir)
	if err != nil {
		return err
	}
	defer st.Close()
	var (
		acct      *store.Account
		templates []*template
	)
	cl := &cloner{cfg: cfg, dcs: map[int64]config.Datacenter{}, used: map[string][]netip.Addr{}, pools: map[string]ipam.Pool{}}
	cat := &service.Catalog{}
	for _, d := range cfg.Datacenters {
		cl.dcs[d.ID] = d
		cat.Datacenters = append(cat.Datacenters, service.Datacenter{
			Datacenter: api.Datacenter{ID: d.ID, Code: d.Code, Name: d.Name}, IPv4Pool: d.IPv4Pool, IPv4Gateway: d.IPv4Gateway, IPv6Prefix: d.IPv6Prefix,
		})
	}
	cl.svc = service.New(st, cat, service.Config{ReverseDomain: cfg.ReverseDomain}, nil)
	err = st.Read(ctx, func(tx store.Tx) error {
		var err error
		if acct, err = tx.AccountByHandle(handle); err != nil {
			return fmt.Errorf("account %s: %w", handle, err)
		}
		for _, d := range cfg.Datacenters {
			t, err := readTemplate(tx, acct.ID, d.ID)
			if err != nil {
				return err
			}
			if t == nil {
				continue
			}
			templates = append(templates, t)
			for _, list := range t.ips {
				for _, ip := range list {
					if _, ok := cl.used[ip.Network]; ok {
						continue
					}
					if cl.used[ip.Network], err = usedAddrs(tx, ip.Network); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(templates) == 0 {
		return errors.New("no vm to clone: create one with vm.create_from first")
	}
	for lo := first; lo < want; lo += batch {
		hi := min(lo+batch, want)
		err := st.Write(ctx, func(tx store.Tx) error {
			for i := lo; i < hi; i++ {
				if err := cl.clone(tx, templates[i%len(templates)], hostname(i)); err != nil {
					return fmt.Errorf("clone vm %s: %w", hostname(i), err)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// readTemplate reads the account's first VM in a datacenter with its rows; nil when there
// is none.
func readTemplate(tx store.Tx, account, dc int64) (*template, error) {
	vms, err := tx.VMs(store.Query{Scope: account, Filters: []api.Filter{{Field: "datacenter_id", Values: []any{dc}}}, Limit: 1})
	if err != nil || len(vms) == 0 {
		return nil, err
	}
	t := &template{vm: vms[0], ips: map[int64][]*store.IP{}}
	if t.disks, err = tx.DisksOfVM(t.vm.ID); err != nil {
		return nil, err
	}
	if t.ifaces, err = tx.IfacesOfVM(t.vm.ID); err != nil {
		return nil, err
	}
	for _, f := range t.ifaces {
		if t.ips[f.ID], err = tx.IPsOfIface(f.ID); err != nil {
			return nil, err
		}
	}
	return t, nil
}

func usedAddrs(tx store.Tx, network string) ([]netip.Addr, error) {
	list, err := tx.UsedAddresses(network)
	if err != nil {
		return nil, err
	}
	out := make([]netip.Addr, 0, len(list))
	for _, s := range list {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("address %q in use in %s: %w", s, network, err)
		}
		out = append(out, a)
	}
	return out, nil
}

// pool returns the public pool an IP of the template was allocated from.
func (cl *cloner) pool(ip *store.IP) (ipam.Pool, error) {
	if p, ok := cl.pools[ip.Network]; ok {
		return p, nil
	}
	if ip.Type != "public" {
		return ipam.Pool{}, fmt.Errorf("template ip %d is %s: only public addresses are cloned", ip.ID, ip.Type)
	}
	p, err := cl.svc.PublicPool(ip.DatacenterID, ip.Version)
	if err != nil {
		return ipam.Pool{}, err
	}
	cl.pools[ip.Network] = p
	return p, nil
}

// clone inserts one copy of t named host.
func (cl *cloner) clone(tx store.Tx, t *template, host string) error {
	now := time.Now().UTC().Truncate(time.Second)
	vm := *t.vm
	vm.ID, vm.Hostname, vm.EntityID, vm.Created, vm.Updated = 0, host, entityID(), now, now
	vm.State = api.VMHalted
	vm.DisksID, vm.IfacesID = nil, nil
	if err := tx.InsertVM(&vm); err != nil {
		return err
	}
	for _, d := range t.disks {
		c := *d
		c.ID, c.VMID, c.EntityID, c.Created, c.Updated, c.SnapshotsID = 0, vm.ID, entityID(), now, now, nil
		if strings.HasPrefix(d.Name, "sys_") { // vm.create_from's name for the system disk
			c.Name = "sys_" + host[:min(len(host), 11)]
		}
		if err := tx.InsertDisk(&c); err != nil {
			return err
		}
	}
	for _, f := range t.ifaces {
		c := *f
		c.ID, c.VMID, c.EntityID, c.Created, c.Updated, c.IPsID = 0, vm.ID, entityID(), now, now, nil
		if err := tx.InsertIface(&c); err != nil {
			return err
		}
		for _, ip := range t.ips[f.ID] {
			p, err := cl.pool(ip)
			if err != nil {
				return err
			}
			addr, err := p.Next(cl.used[ip.Network])
			if err != nil {
				return fmt.Errorf("allocate in %s: %w", ip.Network, err)
			}
			cl.used[ip.Network] = append(cl.used[ip.Network], addr)
			n := *ip
			n.ID, n.IfaceID, n.IP.IP, n.EntityID, n.Created, n.Updated = 0, c.ID, addr.String(), entityID(), now, now
			if ip.Reverse != "" {
				n.Reverse = ipam.DefaultReverse(addr, cl.dcs[ip.DatacenterID].Code, cl.cfg.ReverseDomain)
			}
			if err := tx.InsertIP(&n); err != nil {
				return err
			}
		}
	}
	return nil
}

// entityID returns a random version-4 UUID, like the service's entity ids.
func entityID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// countVMs counts the VMs of the account `handle` in the store in dir (berthd stopped).
func countVMs(ctx context.Context, dir, handle string) (int, error) {
	st, err := sqlstore.OpenSQLite(ctx, dir)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	var n int64
	err = st.Read(ctx, func(tx store.Tx) error {
		a, err := tx.AccountByHandle(handle)
		if err != nil {
			return fmt.Errorf("account %s: %w", handle, err)
		}
		n, err = tx.CountVMs(store.Query{Scope: a.ID})
		return err
	})
	return int(n), err
}
