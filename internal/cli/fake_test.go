package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-io/berth/internal/xmlrpc"
)

// fakeKey is the API key the fake accepts.
const fakeKey = "goodkey0123456789abcdefg"

// t0 is the date of every object of the fake.
var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

type obj = map[string]any

// fakeAPI is an in-process Gandi Hosting API with a fixed account (Gandi-shaped structs,
// through our own codec), a little state for the calls the CLI makes, and a console
// endpoint that echoes.
type fakeAPI struct {
	t   *testing.T
	srv *httptest.Server

	mu                                                  sync.Mutex
	dcs, images, vms, disks, ifaces, ips, vlans, sshkey []obj
	ops                                                 []obj
	scripts                                             map[int64][]string // steps an operation goes through, one per poll
	nextID                                              int64
	calls                                               []string                            // mutating calls, "method params-as-json"
	failType                                            map[string]string                   // operation type → last_error: it ends in ERROR
	onPoll                                              func(ctx context.Context, id int64) // called on each operation.info, with the request's context
	console                                             strings.Builder                     // what console clients sent
}

func newFake(t *testing.T) *fakeAPI {
	f := &fakeAPI{t: t, nextID: 200, scripts: map[int64][]string{}, failType: map[string]string{}}
	f.seed()
	srv := xmlrpc.NewServer(xmlrpc.Options{})
	for name, m := range f.methods() {
		srv.Register(name, f.auth(name, m))
	}
	mux := http.NewServeMux()
	mux.Handle("POST /xmlrpc/", srv)
	mux.HandleFunc("GET /api/console/{id}", f.consoleHandler)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAPI) url() string { return f.srv.URL + "/xmlrpc/" }

func fault(code int, object, cause, msg string) error {
	return &xmlrpc.Fault{Code: code, String: fmt.Sprintf("Error on object : OBJECT_%s (CAUSE_%s) [%s]", object, cause, msg)}
}

func (f *fakeAPI) auth(name string, m xmlrpc.Method) xmlrpc.Method {
	return func(ctx context.Context, p []any) (any, error) {
		if len(p) == 0 || p[0] != fakeKey {
			return nil, fault(510150, "ACCOUNT", "NORIGHT", "Invalid API key")
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		if !strings.HasSuffix(name, ".list") && !strings.HasSuffix(name, ".info") && name != "hosting.disk.list_kernels" && name != "contact.balance" {
			b, err := json.Marshal(p[1:])
			if err != nil {
				return nil, err
			}
			f.calls = append(f.calls, name+" "+string(b))
		}
		return m(ctx, p[1:])
	}
}

func (f *fakeAPI) seed() {
	dc := func(id int64, code, name, country, closed string) obj {
		return obj{"id": id, "dc_code": code, "name": name, "country": country, "iso": code[:2], "iaas_closed_for": closed,
			"paas_closed_for": closed, "deactivate_at": nil, "can_migrate_to": []any{}}
	}
	f.dcs = []obj{dc(1, "FR-SD3", "Paris, France SD3", "France", "ALL"), dc(2, "FR-SD5", "Paris, France SD5", "France", "NONE"),
		dc(3, "LU-BI1", "Bissen, Luxembourg", "Luxembourg", "NONE")}
	f.dcs[0]["deactivate_at"] = t0.Add(30 * 24 * time.Hour)
	img := func(id, disk, dc int64, label, kernel string) obj {
		return obj{"id": id, "disk_id": disk, "datacenter_id": dc, "author_id": int64(0), "label": label, "os_arch": "x86-64",
			"kernel_version": kernel, "size": int64(3072), "system": strings.Fields(label)[0], "version": "1", "visibility": "all",
			"date_created": t0, "date_updated": t0}
	}
	f.images = []obj{img(5, 50, 2, "Debian 12", "raw"), img(6, 60, 2, "Berth Tiny", "sim-6.1-x86_64"),
		img(9, 90, 3, "Debian 12", "raw"), img(7, 70, 3, "Alpine 3", "raw")}
	f.vms = []obj{f.vm(1, "web1", "running", 2, 512, 1, []any{int64(11)}, []any{int64(21)}),
		f.vm(2, "web2", "halted", 2, 256, 1, []any{int64(12)}, []any{int64(22)}),
		f.vm(3, "db1", "running", 3, 1024, 2, []any{int64(13)}, []any{int64(23), int64(24)})}
	f.disks = []obj{f.disk(11, "sys_web1", 2, 3072, 1, true), f.disk(12, "sys_web2", 2, 3072, 2, true),
		f.disk(13, "sys_db1", 3, 10240, 3, true), f.disk(14, "data1", 2, 3072, 0, false), f.disk(15, "data1-snap", 2, 3072, 0, false)}
	f.disks[3]["snapshots_id"] = []any{int64(15)}
	f.disks[3]["kernel_version"], f.disks[3]["kernel_cmdline"], f.disks[3]["label"], f.disks[3]["source"] = nil, nil, nil, nil
	f.disks[4]["type"], f.disks[4]["source"], f.disks[4]["can_snapshot"] = "snapshot", int64(14), false
	lan := obj{"id": int64(41), "name": "lan1", "entity_id": "e-41"}
	f.ifaces = []obj{f.iface(21, 2, "public", 1, 0, nil, 102400, 31, 32), f.iface(22, 2, "public", 2, 0, nil, 102400, 33),
		f.iface(23, 3, "public", 3, 0, nil, 102400, 34, 35), f.iface(24, 3, "private", 3, 1, lan, 204800, 36),
		f.iface(25, 3, "private", 0, -1, lan, 204800, 37)}
	f.ips = []obj{f.ip(31, "192.0.2.10", 21), f.ip(32, "2001:db8::10", 21), f.ip(33, "2001:db8::20", 22),
		f.ip(34, "198.51.100.5", 23), f.ip(35, "2001:db8:1::5", 23), f.ip(36, "192.168.1.2", 24), f.ip(37, "192.168.1.3", 25)}
	f.vlans = []obj{{"id": int64(41), "name": "lan1", "datacenter_id": int64(3), "gateway": "192.168.1.1", "subnet": "192.168.1.0/24",
		"state": "created", "uuid": int64(7), "entity_id": "e-41"}}
	f.sshkey = []obj{{"id": int64(51), "name": "laptop", "fingerprint": "3f:2a:9c:01:aa:bb:cc:dd:ee:ff:00:11:22:33:44:55", "value": "ssh-ed25519 AAAAlaptop me@laptop"},
		{"id": int64(52), "name": "ci", "fingerprint": "77:66:55:44:33:22:11:00:ff:ee:dd:cc:bb:aa:99:88", "value": "ssh-ed25519 AAAAci ci@example"}}
	f.ops = []obj{f.op(101, "vm_create", "DONE", 1, 11, ""), f.op(102, "disk_attach", "RUN", 3, 13, ""),
		f.op(103, "vm_stop", "WAIT", 1, 0, ""), f.op(104, "disk_update", "ERROR", 0, 14, "disk 14: resize failed: no space left on the host")}
}

func (f *fakeAPI) vm(id int64, host, state string, dc, mem, cores int64, disks, ifaces []any) obj {
	return obj{"id": id, "hostname": host, "state": state, "datacenter_id": dc, "memory": mem, "vm_max_memory": int64(2048),
		"cores": cores, "flex_shares": int64(0), "ai_active": int64(0), "console": int64(0), "description": nil, "farm": "default",
		"is_migrating": false, "disks_id": disks, "ifaces_id": ifaces, "entity_id": fmt.Sprintf("e-%d", id),
		"date_created": t0, "date_updated": t0}
}

func (f *fakeAPI) disk(id int64, name string, dc, size, vm int64, boot bool) obj {
	vms := []any{}
	if vm != 0 {
		vms = []any{vm}
	}
	return obj{"id": id, "name": name, "datacenter_id": dc, "size": size, "total_size": size, "state": "created", "type": "data",
		"visibility": "private", "is_boot_disk": boot, "can_snapshot": true, "is_migrating": false,
		"kernel_version": "sim-6.1-x86_64", "kernel_cmdline": obj{"root": "/dev/vda", "console": "ttyS0", "rw": true},
		"label": "Berth Tiny", "source": int64(60), "snapshot_profile_id": nil, "snapshot_profile": nil, "snapshots_id": []any{},
		"vms_id": vms, "entity_id": fmt.Sprintf("e-%d", id), "date_created": t0, "date_updated": t0}
}

func (f *fakeAPI) iface(id, dc int64, typ string, vm, num int64, vlan obj, bw float64, ips ...int64) obj {
	l := []any{}
	for _, i := range ips {
		l = append(l, i)
	}
	o := obj{"id": id, "datacenter_id": dc, "type": typ, "state": "used", "bandwidth": bw, "vm_id": vm, "num": num,
		"ips_id": l, "entity_id": nil, "date_created": t0, "date_updated": t0}
	if vlan != nil {
		o["vlan"] = vlan
	} else {
		o["vlan"] = nil
	}
	if vm == 0 {
		o["vm_id"], o["num"], o["state"] = nil, nil, "free"
	}
	return o
}

func (f *fakeAPI) ip(id int64, addr string, iface int64) obj {
	ver := int64(4)
	if strings.Contains(addr, ":") {
		ver = 6
	}
	var fi obj
	for _, x := range f.ifaces {
		if x["id"] == iface {
			fi = x
		}
	}
	num := int64(0)
	for i, x := range fi["ips_id"].([]any) {
		if x == id {
			num = int64(i)
		}
	}
	rev := fmt.Sprintf("xvm-%d.berth.invalid", id)
	if fi["type"] == "private" {
		rev = ""
	}
	return obj{"id": id, "ip": addr, "version": ver, "num": num, "iface_id": iface, "iface_num": fi["num"], "reverse": rev,
		"state": "created", "type": fi["type"], "bandwidth": fi["bandwidth"], "datacenter_id": fi["datacenter_id"],
		"vm_id": fi["vm_id"], "entity_id": fmt.Sprintf("e-%d", id), "date_created": t0, "date_updated": t0}
}

func (f *fakeAPI) op(id int64, typ, step string, vm, disk int64, lastErr string) obj {
	o := obj{"id": id, "type": typ, "step": step, "source": "T1-BERTH", "date_created": t0, "date_updated": t0, "date_start": nil,
		"vm_id": nilIf0(vm), "disk_id": nilIf0(disk), "iface_id": nil, "ip_id": nil, "eta": int64(3), "errortype": nil,
		"last_error": nil, "last_support_error": nil, "session_id": nil,
		"params": obj{"param_type": typ, "vm_id": nilIf0(vm), "disk_id": nilIf0(disk)}}
	if lastErr != "" {
		o["last_error"] = lastErr
	}
	return o
}

func nilIf0(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// start records a new operation that goes WAIT → RUN → DONE over polls (or ERROR when its
// type is in failType) and returns its short form.
func (f *fakeAPI) start(typ string, ids obj) obj {
	f.nextID++
	o := f.op(f.nextID, typ, "WAIT", 0, 0, "")
	for k, v := range ids {
		o[k] = v
		o["params"].(obj)[k] = v
	}
	f.ops = append(f.ops, o)
	script := []string{"RUN", "DONE"}
	if _, ok := f.failType[typ]; ok {
		script = []string{"RUN", "ERROR"}
	}
	f.scripts[f.nextID] = script
	short := obj{}
	for _, k := range []string{"id", "type", "step", "source", "date_created", "date_updated", "date_start", "vm_id", "disk_id", "iface_id", "ip_id"} {
		short[k] = o[k]
	}
	return short
}

func find(l []obj, id any) obj {
	for _, o := range l {
		if o["id"] == id {
			return o
		}
	}
	return nil
}

// filter applies Gandi list options: equality or IN on members, vm_id on disks' vms_id,
// vlan_id on ifaces' vlan, and page > 0 as the end of the list.
func filter(l []obj, opts obj) []any {
	out := []any{}
	if p, _ := opts["page"].(int64); p > 0 {
		return out
	}
next:
	for _, o := range l {
		for k, want := range opts {
			switch k {
			case "items_per_page", "page", "sort_by":
				continue
			}
			got, ok := o[k]
			switch {
			case k == "vm_id" && !ok:
				if !slices.Contains(o["vms_id"].([]any), want) {
					continue next
				}
				continue
			case k == "vlan_id" && !ok:
				if v, _ := o["vlan"].(obj); v == nil || v["id"] != want {
					continue next
				}
				continue
			}
			if list, isList := want.([]any); isList {
				if !slices.Contains(list, got) {
					continue next
				}
			} else if got != want {
				continue next
			}
		}
		out = append(out, o)
	}
	return out
}

func opts(p []any) obj {
	if len(p) > 0 {
		if m, ok := p[0].(map[string]any); ok {
			return m
		}
	}
	return obj{}
}

func (f *fakeAPI) methods() map[string]xmlrpc.Method {
	list := func(l *[]obj) xmlrpc.Method {
		return func(_ context.Context, p []any) (any, error) { return filter(*l, opts(p)), nil }
	}
	info := func(l *[]obj, object, name string) xmlrpc.Method {
		return func(_ context.Context, p []any) (any, error) {
			if o := find(*l, p[0]); o != nil {
				c := obj{}
				for k, v := range o {
					c[k] = v
				}
				if dc := find(f.dcs, o["datacenter_id"]); dc != nil {
					c["datacenter"] = dc
				}
				return c, nil
			}
			return nil, fault(530042, object, "NOTFOUND", fmt.Sprintf("%s %v not found", name, p[0]))
		}
	}
	vmOp := func(typ string) xmlrpc.Method {
		return func(_ context.Context, p []any) (any, error) {
			v := find(f.vms, p[0])
			if v == nil {
				return nil, fault(530142, "VM", "NOTFOUND", fmt.Sprintf("vm %v not found", p[0]))
			}
			switch typ {
			case "vm_stop":
				v["state"] = "halted"
			case "vm_start", "vm_reboot":
				v["state"] = "running"
			case "vm_delete":
				if v["state"] == "running" {
					return nil, fault(530138, "VM", "BADSTATE", fmt.Sprintf("vm %v is running: stop it first", p[0]))
				}
			}
			return f.start(typ, obj{"vm_id": p[0]}), nil
		}
	}
	simple := func(typ, key string) xmlrpc.Method {
		return func(_ context.Context, p []any) (any, error) { return f.start(typ, obj{key: p[0]}), nil }
	}
	return map[string]xmlrpc.Method{
		"hosting.datacenter.list": list(&f.dcs),
		"hosting.image.list":      list(&f.images),
		"hosting.image.info":      info(&f.images, "IMAGE", "image"),
		"hosting.vm.list":         list(&f.vms),
		"hosting.vm.info":         f.vmInfo,
		"hosting.disk.list":       list(&f.disks),
		"hosting.disk.info":       info(&f.disks, "DISK", "disk"),
		"hosting.iface.list":      list(&f.ifaces),
		"hosting.iface.info":      f.ifaceInfo,
		"hosting.ip.list":         list(&f.ips),
		"hosting.ip.info":         info(&f.ips, "IP", "ip"),
		"hosting.vlan.list":       list(&f.vlans),
		"hosting.vlan.info":       info(&f.vlans, "VLAN", "vlan"),
		"hosting.ssh.list": func(_ context.Context, p []any) (any, error) {
			out := filter(f.sshkey, opts(p))
			for i, k := range out {
				c := obj{}
				for kk, v := range k.(obj) {
					if kk != "value" {
						c[kk] = v
					}
				}
				out[i] = c
			}
			return out, nil
		},
		"hosting.ssh.info": info(&f.sshkey, "SSHKEY", "sshkey"),
		"hosting.ssh.create": func(_ context.Context, p []any) (any, error) {
			spec := p[0].(map[string]any)
			k := obj{"id": int64(53), "name": spec["name"], "fingerprint": "de:ad:be:ef:00:11:22:33:44:55:66:77:88:99:aa:bb", "value": spec["value"]}
			f.sshkey = append(f.sshkey, k)
			return k, nil
		},
		"hosting.ssh.delete": func(context.Context, []any) (any, error) { return true, nil },
		"hosting.account.info": func(context.Context, []any) (any, error) {
			return obj{"id": int64(1), "handle": "T1-BERTH", "fullname": "Test User", "credits": int64(99500), "rating_enabled": true,
				"average_credit_cost": nil, "cycle_day": int64(26)}, nil
		},
		"contact.balance": func(context.Context, []any) (any, error) {
			return obj{"handle": "T1-BERTH", "id": int64(1), "prepaid": obj{"amount": "12.50", "currency": "EUR"}}, nil
		},
		"hosting.disk.list_kernels": func(_ context.Context, p []any) (any, error) {
			return obj{"linux": []any{"sim-6.1-x86_64"}, "linux-hvm": []any{"grub", "raw"}}, nil
		},
		"operation.info": func(ctx context.Context, p []any) (any, error) {
			o := find(f.ops, p[0])
			if o == nil {
				return nil, fault(530942, "OPERATION", "NOTFOUND", fmt.Sprintf("operation %v not found", p[0]))
			}
			id := p[0].(int64)
			if s := f.scripts[id]; len(s) > 0 {
				o["step"], f.scripts[id] = s[0], s[1:]
				if s[0] == "ERROR" {
					o["last_error"] = f.failType[o["type"].(string)]
				}
			}
			if f.onPoll != nil {
				f.onPoll(ctx, id)
			}
			return o, nil
		},
		"operation.list": func(_ context.Context, p []any) (any, error) {
			out := filter(f.ops, opts(p))
			sort.Slice(out, func(i, j int) bool { return out[i].(obj)["id"].(int64) > out[j].(obj)["id"].(int64) })
			return out, nil
		},
		"operation.cancel": func(_ context.Context, p []any) (any, error) {
			o := find(f.ops, p[0])
			if o["step"] != "WAIT" && o["step"] != "BILL" {
				return nil, fault(530938, "OPERATION", "BADSTATE", fmt.Sprintf("operation %v is %v: only BILL and WAIT can be cancelled", p[0], o["step"]))
			}
			o["step"] = "CANCEL"
			return true, nil
		},
		"hosting.vm.create_from": f.vmCreateFrom,
		"hosting.vm.update": func(_ context.Context, p []any) (any, error) {
			v := find(f.vms, p[0])
			for k, x := range p[1].(map[string]any) {
				v[k] = x
			}
			return f.start("vm_update", obj{"vm_id": p[0]}), nil
		},
		"hosting.vm.start":  vmOp("vm_start"),
		"hosting.vm.stop":   vmOp("vm_stop"),
		"hosting.vm.reboot": vmOp("vm_reboot"),
		"hosting.vm.delete": vmOp("vm_delete"),
		"hosting.vm.disk_attach": func(_ context.Context, p []any) (any, error) {
			find(f.disks, p[1])["vms_id"] = []any{p[0]}
			return f.start("disk_attach", obj{"vm_id": p[0], "disk_id": p[1]}), nil
		},
		"hosting.vm.disk_detach": func(_ context.Context, p []any) (any, error) {
			return f.start("disk_detach", obj{"vm_id": p[0], "disk_id": p[1]}), nil
		},
		"hosting.vm.iface_attach": func(_ context.Context, p []any) (any, error) {
			fi := find(f.ifaces, p[1])
			fi["vm_id"], fi["state"], fi["num"] = p[0], "used", int64(1)
			for _, ip := range f.ips {
				if ip["iface_id"] == p[1] {
					ip["vm_id"] = p[0]
				}
			}
			return f.start("iface_attach", obj{"vm_id": p[0], "iface_id": p[1]}), nil
		},
		"hosting.vm.iface_detach": func(_ context.Context, p []any) (any, error) {
			return f.start("iface_detach", obj{"vm_id": p[0], "iface_id": p[1]}), nil
		},
		"hosting.disk.create": func(_ context.Context, p []any) (any, error) {
			return f.newDisk(p[0].(map[string]any), 0), nil
		},
		"hosting.disk.create_from": func(_ context.Context, p []any) (any, error) {
			return f.newDisk(p[0].(map[string]any), p[1].(int64)), nil
		},
		"hosting.disk.update":        simple("disk_update", "disk_id"),
		"hosting.disk.delete":        simple("disk_delete", "disk_id"),
		"hosting.disk.rollback_from": simple("disk_rollback", "disk_id"),
		"hosting.iface.create": func(_ context.Context, p []any) (any, error) {
			spec := p[0].(map[string]any)
			vlan := find(f.vlans, spec["vlan"])
			fi := f.iface(26, spec["datacenter_id"].(int64), "private", 0, -1, obj{"id": vlan["id"], "name": vlan["name"], "entity_id": "e-41"}, 204800, 38)
			f.ifaces = append(f.ifaces, fi)
			f.ips = append(f.ips, f.ip(38, spec["ip"].(string), 26))
			return f.start("iface_create", obj{"iface_id": int64(26), "ip_id": int64(38)}), nil
		},
		"hosting.iface.update": simple("iface_update", "iface_id"),
		"hosting.iface.delete": simple("iface_delete", "iface_id"),
		"hosting.ip.update":    simple("ip_update", "ip_id"),
		"hosting.vlan.create": func(_ context.Context, p []any) (any, error) {
			spec := p[0].(map[string]any)
			f.vlans = append(f.vlans, obj{"id": int64(42), "name": spec["name"], "datacenter_id": spec["datacenter_id"], "gateway": nil,
				"subnet": "10.20.0.0/24", "state": "created", "uuid": int64(8), "entity_id": "e-42"})
			s := f.start("vlan_create", obj{"vlan_id": int64(42)})
			return find(f.ops, s["id"]), nil
		},
		"hosting.vlan.update": simple("vlan_update", "vlan_id"),
		"hosting.vlan.delete": simple("vlan_delete", "vlan_id"),
	}
}

func (f *fakeAPI) vmInfo(_ context.Context, p []any) (any, error) {
	v := find(f.vms, p[0])
	if v == nil {
		return nil, fault(530142, "VM", "NOTFOUND", fmt.Sprintf("vm %v not found", p[0]))
	}
	c := obj{"console_url": "console.berth.invalid", "hvm_state": "running", "probes": []any{}, "triggers": []any{},
		"graph_urls": obj{"vcpu": []any{""}, "vdi": []any{""}, "vif": []any{""}}, "datacenter": find(f.dcs, v["datacenter_id"])}
	for k, x := range v {
		c[k] = x
	}
	var disks, ifaces []any
	for _, id := range v["disks_id"].([]any) {
		disks = append(disks, find(f.disks, id))
	}
	for _, id := range v["ifaces_id"].([]any) {
		fi, _ := f.ifaceInfo(context.Background(), []any{id})
		ifaces = append(ifaces, fi)
	}
	c["disks"], c["ifaces"] = disks, ifaces
	return c, nil
}

func (f *fakeAPI) ifaceInfo(_ context.Context, p []any) (any, error) {
	fi := find(f.ifaces, p[0])
	if fi == nil {
		return nil, fault(530242, "IFACE", "NOTFOUND", fmt.Sprintf("iface %v not found", p[0]))
	}
	c := obj{}
	for k, x := range fi {
		c[k] = x
	}
	var ips []any
	for _, id := range fi["ips_id"].([]any) {
		ips = append(ips, find(f.ips, id))
	}
	c["ips"] = ips
	return c, nil
}

func (f *fakeAPI) vmCreateFrom(_ context.Context, p []any) (any, error) {
	spec, dspec := p[0].(map[string]any), p[1].(map[string]any)
	dc := spec["datacenter_id"].(int64)
	d := f.disk(16, dspec["name"].(string), dc, 3072, 10, true)
	if s, ok := dspec["size"].(int64); ok {
		d["size"] = s
	}
	f.disks = append(f.disks, d)
	f.vms = append(f.vms, f.vm(10, spec["hostname"].(string), "running", dc, spec["memory"].(int64), spec["cores"].(int64),
		[]any{int64(16)}, []any{int64(26)}))
	if id, ok := spec["iface_id"]; ok { // an existing iface: no iface_create (D1)
		fi := find(f.ifaces, id)
		fi["vm_id"], fi["num"], fi["state"] = int64(10), int64(0), "used"
		return []any{f.start("disk_create", obj{"disk_id": int64(16), "vm_id": int64(10)}),
			f.start("vm_create", obj{"vm_id": int64(10), "disk_id": int64(16), "iface_id": id})}, nil
	}
	fi := f.iface(26, dc, "public", 10, 0, nil, 102400, 38)
	f.ifaces = append(f.ifaces, fi)
	f.ips = append(f.ips, f.ip(38, "192.0.2.99", 26))
	return []any{f.start("disk_create", obj{"disk_id": int64(16), "vm_id": int64(10)}),
		f.start("iface_create", obj{"iface_id": int64(26), "ip_id": int64(38), "vm_id": int64(10)}),
		f.start("vm_create", obj{"vm_id": int64(10), "disk_id": int64(16), "iface_id": int64(26)})}, nil
}

func (f *fakeAPI) newDisk(spec map[string]any, src int64) obj {
	name, _ := spec["name"].(string)
	if name == "" {
		name = "disk17"
	}
	size, _ := spec["size"].(int64)
	if size == 0 {
		size = 3072
	}
	d := f.disk(17, name, spec["datacenter_id"].(int64), size, 0, false)
	if spec["type"] == "snapshot" {
		d["type"], d["source"] = "snapshot", src
	}
	f.disks = append(f.disks, d)
	return f.start("disk_create", obj{"disk_id": int64(17)})
}

// consoleHandler follows the contract of berthd's /api/console/<vm_id>: 401, 404, 409 for
// a VM that is not running, else 101 and an echo of every byte, prefixed once by a banner.
func (f *fakeAPI) consoleHandler(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+fakeKey {
		http.Error(w, "invalid API key", http.StatusUnauthorized)
		return
	}
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	f.mu.Lock()
	v := find(f.vms, id)
	f.mu.Unlock()
	if v == nil {
		http.Error(w, fmt.Sprintf("vm %d not found", id), http.StatusNotFound)
		return
	}
	if v["state"] != "running" {
		http.Error(w, fmt.Sprintf("vm %d is %s: its console exists while it runs", id, v["state"]), http.StatusConflict)
		return
	}
	if r.Header.Get("Upgrade") != "berth-console" {
		http.Error(w, "want Upgrade: berth-console", http.StatusUpgradeRequired)
		return
	}
	conn, rw, err := w.(http.Hijacker).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	fmt.Fprint(rw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: berth-console\r\nConnection: Upgrade\r\n\r\nlogin: ")
	rw.Flush()
	buf := make([]byte, 1024)
	for {
		n, err := rw.Read(buf)
		if n > 0 {
			f.mu.Lock()
			f.console.Write(buf[:n])
			f.mu.Unlock()
			conn.Write(buf[:n])
		}
		if err != nil {
			if err != io.EOF {
				return
			}
			return
		}
	}
}
