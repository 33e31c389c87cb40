package e2e

import (
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/berth-io/berth/internal/xmlrpc"
)

// Not-found faultCodes (gandi-api.md D2).
const (
	nfVM        = 530142
	nfIface     = 530242
	nfIP        = 530342
	nfDisk      = 530442
	nfVLAN      = 530542
	nfSSHKey    = 530642
	nfOperation = 530942
	nfAPIKey    = 531042
)

// tenant is one account and one object of every kind it created. Both tenants use the
// same names (hostname, vlan, key, disks): names are unique per account only.
type tenant struct {
	name, key, handle string
	account           int64 // the account's id (account.info)
	vm                int64 // running, created with create_from and the tenant's key
	sysDisk           int64 // the vm's boot disk
	disk              int64 // a data disk attached to the vm
	freeDisk          int64 // a detached data disk
	snap              int64 // a snapshot of disk
	vmIface           int64 // the vm's public iface
	iface             int64 // a free private iface on vlan
	ips               []int64
	ipAddr            string // the vm's IPv4
	vlan              int64
	sshKey            int64
	fingerprint       string
	apiKey            int64   // the id of the account's API key
	ops               []int64 // every operation, in creation order
}

// Names shared by both tenants.
const (
	tenHostname = "tenantvm"
	tenVLAN     = "tenantvlan"
	tenKey      = "tenantkey"
	tenDisk     = "tenantdata"
)

// ids returns the tenant's ids of one kind of object, sorted.
func (tn *tenant) ids(kind string) []int64 {
	var out []int64
	switch kind {
	case "vm":
		out = []int64{tn.vm}
	case "disk":
		out = []int64{tn.sysDisk, tn.disk, tn.freeDisk, tn.snap}
	case "iface":
		out = []int64{tn.vmIface, tn.iface}
	case "ip":
		out = slices.Clone(tn.ips)
	case "vlan":
		out = []int64{tn.vlan}
	case "ssh":
		out = []int64{tn.sshKey}
	case "operation":
		out = slices.Clone(tn.ops)
	default:
		panic("unknown kind " + kind)
	}
	slices.Sort(out)
	return out
}

// tcall calls method with the tenant's key.
func (b *Berthd) tcall(tn *tenant, method string, params ...any) (any, error) {
	return b.Call(method, append([]any{tn.key}, params...)...)
}

func (b *Berthd) tmust(tn *tenant, method string, params ...any) any {
	b.t.Helper()
	v, err := b.tcall(tn, method, params...)
	if err != nil {
		b.t.Fatalf("%s %s%v: %v", tn.name, method, params, err)
	}
	return v
}

func asMap(t *testing.T, v any) map[string]any {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("want a struct, got %T %v", v, v)
	}
	return m
}

func asList(t *testing.T, v any) []any {
	t.Helper()
	l, ok := v.([]any)
	if !ok {
		t.Fatalf("want an array, got %T %v", v, v)
	}
	return l
}

func asID(t *testing.T, v any) int64 {
	t.Helper()
	n, ok := v.(int64)
	if !ok {
		t.Fatalf("want an int id, got %T %v", v, v)
	}
	return n
}

// op records an operation returned by a call and returns it.
func (tn *tenant) op(t *testing.T, v any) map[string]any {
	t.Helper()
	o := asMap(t, v)
	tn.ops = append(tn.ops, asID(t, o["id"]))
	return o
}

// waitAll waits for operations and fails unless each is DONE.
func (b *Berthd) waitAll(tn *tenant, ops ...map[string]any) {
	b.t.Helper()
	for _, o := range ops {
		done := b.WaitOp(tn.key, asID(b.t, o["id"]), 30*time.Second)
		if done["step"] != "DONE" {
			b.t.Fatalf("%s: operation %v (%v) ended %v: %v", tn.name, o["id"], o["type"], done["step"], done["last_error"])
		}
	}
}

// setupTenant creates an account and one object of every kind, all DONE.
func setupTenant(t *testing.T, b *Berthd, name string, dc, src int64) *tenant {
	t.Helper()
	tn := &tenant{name: name, handle: strings.ToUpper(name) + "-BERTH"}
	tn.key = b.Account(tn.handle, 100000)
	tn.account = asID(t, asMap(t, b.tmust(tn, "hosting.account.info"))["id"])
	tn.apiKey = asID(t, asMap(t, asList(t, b.tmust(tn, "berth.key.list"))[0])["id"])

	pub, fp := sshKeyLine(t)
	k := asMap(t, b.tmust(tn, "hosting.ssh.create", map[string]any{"name": tenKey, "value": pub}))
	tn.sshKey, tn.fingerprint = asID(t, k["id"]), fp

	vlanOp := tn.op(t, b.tmust(tn, "hosting.vlan.create", map[string]any{"datacenter_id": dc, "name": tenVLAN, "subnet": "10.77.0.0/24"}))
	vmOps := asList(t, b.tmust(tn, "hosting.vm.create_from",
		map[string]any{"datacenter_id": dc, "hostname": tenHostname, "memory": 256, "ip_version": 4, "keys": []any{tn.sshKey}, "password": "tenant-pw-123"},
		map[string]any{"name": "tenantsys"}, src))
	if len(vmOps) != 3 {
		t.Fatalf("%s: vm.create_from returned %d ops", name, len(vmOps))
	}
	var first []map[string]any
	for _, o := range vmOps {
		first = append(first, tn.op(t, o))
	}
	tn.sysDisk, tn.vmIface, tn.vm = asID(t, first[0]["disk_id"]), asID(t, first[1]["iface_id"]), asID(t, first[2]["vm_id"])
	diskOp := tn.op(t, b.tmust(tn, "hosting.disk.create", map[string]any{"datacenter_id": dc, "size": 1024, "name": tenDisk}))
	freeOp := tn.op(t, b.tmust(tn, "hosting.disk.create", map[string]any{"datacenter_id": dc, "size": 1024, "name": "tenantfree"}))
	tn.disk, tn.freeDisk = asID(t, diskOp["disk_id"]), asID(t, freeOp["disk_id"])
	first = append(first, vlanOp, diskOp, freeOp)
	b.waitAll(tn, first...)
	tn.vlan = asID(t, asMap(t, b.tmust(tn, "operation.info", vlanOp["id"]))["params"].(map[string]any)["vlan_id"])

	ifOp := tn.op(t, b.tmust(tn, "hosting.iface.create", map[string]any{"datacenter_id": dc, "vlan": tn.vlan}))
	tn.iface = asID(t, ifOp["iface_id"])
	attach := tn.op(t, b.tmust(tn, "hosting.vm.disk_attach", tn.vm, tn.disk))
	b.waitAll(tn, ifOp, attach)
	snapOp := tn.op(t, b.tmust(tn, "hosting.disk.create_from", map[string]any{"name": "tenantsnap", "type": "snapshot"}, tn.disk))
	tn.snap = asID(t, snapOp["disk_id"])
	b.waitAll(tn, snapOp)

	for _, f := range []int64{tn.vmIface, tn.iface} {
		for _, ip := range asList(t, asMap(t, b.tmust(tn, "hosting.iface.info", f))["ips"]) {
			tn.ips = append(tn.ips, asID(t, asMap(t, ip)["id"]))
		}
	}
	vm := asMap(t, b.tmust(tn, "hosting.vm.info", tn.vm))
	if vm["state"] != "running" {
		t.Fatalf("%s: vm is %v", name, vm["state"])
	}
	ip0 := asMap(t, asList(t, asMap(t, asList(t, vm["ifaces"])[0])["ips"])[0])
	tn.ipAddr, _ = ip0["ip"].(string)
	if len(tn.ips) != 3 || tn.ipAddr == "" {
		t.Fatalf("%s: ips %v, ipv4 %q", name, tn.ips, tn.ipAddr)
	}
	return tn
}

// sshKeyLine returns a well-formed ed25519 public key line (random key bytes) and its
// MD5 fingerprint as Gandi shows it (aa:bb:...).
func sshKeyLine(t *testing.T) (string, string) {
	t.Helper()
	str := func(b []byte) []byte { return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...) }
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	blob := append(str([]byte("ssh-ed25519")), str(key)...)
	sum := md5.Sum(blob)
	hexes := make([]string, len(sum))
	for i, c := range sum {
		hexes[i] = fmt.Sprintf("%02x", c)
	}
	return "ssh-ed25519 " + base64.StdEncoding.EncodeToString(blob) + " tenant", strings.Join(hexes, ":")
}

// probe is one call of a method taking an object id, made by B with A's ids: the
// parameters after the API key, and the not-found fault B must get.
type probe struct {
	params []any
	want   int
}

// idMethods maps every method that takes an object id to how B calls it with A's ids.
// Legacy names (vm.info, disk.update, ...) use the entry of their hosting.* name.
// Methods of gandi-api.md Appendix A that berthd does not register yet are listed too,
// so that they are checked the day they are.
func idMethods(a, b *tenant, dc, src int64) map[string][]probe {
	spec := func(extra map[string]any) map[string]any {
		m := map[string]any{"datacenter_id": dc, "hostname": "probevm", "memory": 256, "password": "probe-pw-123"}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	sys := map[string]any{"name": "probesys"}
	return map[string][]probe{
		"hosting.vm.info":   {{[]any{a.vm}, nfVM}},
		"hosting.vm.update": {{[]any{a.vm, map[string]any{"memory": 512}}, nfVM}, {[]any{a.vm, map[string]any{"hostname": "stolen"}}, nfVM}},
		"hosting.vm.start":  {{[]any{a.vm}, nfVM}},
		"hosting.vm.stop":   {{[]any{a.vm}, nfVM}},
		"hosting.vm.reboot": {{[]any{a.vm}, nfVM}},
		"hosting.vm.delete": {{[]any{a.vm}, nfVM}},
		"hosting.vm.disk_attach": {
			{[]any{a.vm, b.freeDisk}, nfVM},
			{[]any{b.vm, a.freeDisk}, nfDisk},
			{[]any{b.vm, a.disk}, nfDisk},
			{[]any{b.vm, a.sysDisk}, nfDisk},
			{[]any{b.vm, a.freeDisk, map[string]any{"position": 1}}, nfDisk},
		},
		"hosting.vm.disk_detach": {{[]any{a.vm, a.disk}, nfVM}, {[]any{b.vm, a.disk}, nfDisk}},
		"hosting.vm.iface_attach": {
			{[]any{a.vm, b.iface}, nfVM},
			{[]any{b.vm, a.iface}, nfIface},
		},
		"hosting.vm.iface_detach": {{[]any{a.vm, a.vmIface}, nfVM}, {[]any{b.vm, a.vmIface}, nfIface}},
		"hosting.vm.create": {
			{[]any{spec(map[string]any{"sys_disk_id": a.freeDisk})}, nfDisk},
			{[]any{spec(map[string]any{"sys_disk_id": b.freeDisk, "iface_id": a.iface})}, nfIface},
			{[]any{spec(map[string]any{"sys_disk_id": b.freeDisk, "keys": []any{a.sshKey}})}, nfSSHKey},
		},
		"hosting.vm.create_from": {
			{[]any{spec(nil), sys, a.freeDisk}, nfDisk},
			{[]any{spec(nil), sys, a.snap}, nfDisk},
			{[]any{spec(map[string]any{"iface_id": a.iface}), sys, src}, nfIface},
			{[]any{spec(map[string]any{"keys": []any{a.sshKey}}), sys, src}, nfSSHKey},
		},
		"hosting.vm.can_migrate": {{[]any{a.vm}, nfVM}},
		"hosting.vm.migrate":     {{[]any{a.vm, false}, nfVM}, {[]any{a.vm, true}, nfVM}},

		"hosting.disk.info":          {{[]any{a.disk}, nfDisk}, {[]any{a.sysDisk}, nfDisk}, {[]any{a.freeDisk}, nfDisk}, {[]any{a.snap}, nfDisk}},
		"hosting.disk.update":        {{[]any{a.freeDisk, map[string]any{"size": 2048}}, nfDisk}, {[]any{a.disk, map[string]any{"name": "stolen"}}, nfDisk}, {[]any{a.disk, map[string]any{"snapshot_profile": 1}}, nfDisk}},
		"hosting.disk.delete":        {{[]any{a.freeDisk}, nfDisk}, {[]any{a.snap}, nfDisk}},
		"hosting.disk.rollback_from": {{[]any{a.snap}, nfDisk}},
		"hosting.disk.create_from": {
			{[]any{map[string]any{"name": "probecopy", "datacenter_id": dc}, a.freeDisk}, nfDisk},
			{[]any{map[string]any{"name": "probesnap", "type": "snapshot"}, a.disk}, nfDisk},
			{[]any{map[string]any{"name": "probecopy2"}, a.snap}, nfDisk},
		},
		"hosting.disk.get_options": {{[]any{a.disk}, nfDisk}},
		"hosting.disk.migrate":     {{[]any{a.freeDisk, dc}, nfDisk}, {[]any{a.freeDisk, int64(2)}, nfDisk}},

		"hosting.iface.info":    {{[]any{a.iface}, nfIface}, {[]any{a.vmIface}, nfIface}},
		"hosting.iface.update":  {{[]any{a.iface, map[string]any{"bandwidth": 1024.0}}, nfIface}},
		"hosting.iface.delete":  {{[]any{a.iface}, nfIface}},
		"hosting.iface.create":  {{[]any{map[string]any{"datacenter_id": dc, "vlan": a.vlan}}, nfVLAN}, {[]any{map[string]any{"datacenter_id": dc, "vlan": a.vlan, "ip": "10.77.0.200"}}, nfVLAN}},
		"hosting.iface.migrate": {{[]any{a.iface, dc}, nfIface}},

		"hosting.ip.info":   {{[]any{a.ips[0]}, nfIP}, {[]any{a.ips[2]}, nfIP}},
		"hosting.ip.update": {{[]any{a.ips[0], map[string]any{"reverse": "stolen.example.org."}}, nfIP}},

		"hosting.vlan.info":   {{[]any{a.vlan}, nfVLAN}},
		"hosting.vlan.update": {{[]any{a.vlan, map[string]any{"name": "stolen"}}, nfVLAN}, {[]any{a.vlan, map[string]any{"gateway": "10.77.0.1"}}, nfVLAN}},
		"hosting.vlan.delete": {{[]any{a.vlan}, nfVLAN}},

		"hosting.ssh.info":   {{[]any{a.sshKey}, nfSSHKey}},
		"hosting.ssh.delete": {{[]any{a.sshKey}, nfSSHKey}},

		"operation.info":     {{[]any{a.ops[0]}, nfOperation}, {[]any{a.ops[len(a.ops)-1]}, nfOperation}},
		"operation.cancel":   {{[]any{a.ops[0]}, nfOperation}},
		"operation.delete":   {{[]any{a.ops[0]}, nfOperation}},
		"operation.relaunch": {{[]any{a.ops[0]}, nfOperation}},
		"berth.key.revoke":   {{[]any{a.apiKey}, nfAPIKey}},

		"hosting.metric.query": {
			{[]any{map[string]any{"query": "vif.bytes.all", "resource_type": "vm", "resource_id": []any{a.vm}}}, nfVM},
			{[]any{map[string]any{"query": "vbd.bytes.all", "resource_id": []any{b.vm, a.vm},
				"sampler": map[string]any{"unit": "hours", "value": 1, "function": "max"}}}, nfVM},
		},
	}
}

// listKinds maps the prefix of every *.list / *.count method of per-account objects to
// the kind of object it lists.
var listKinds = map[string]string{
	"hosting.vm": "vm", "hosting.disk": "disk", "hosting.iface": "iface", "hosting.ip": "ip",
	"hosting.vlan": "vlan", "hosting.ssh": "ssh", "operation": "operation",
}

// idlessMethods take no per-account object id: account-wide calls, creations from
// scratch, and the shared catalog (datacenters, images, kernels, ratings), which every
// account sees alike.
var idlessMethods = []string{
	"version.info", "contact.balance", "hosting.account.info", "account.info", "hosting.account.credit",
	"hosting.rating.list", "hosting.datacenter.list", "datacenter.list", "hosting.datacenter.info",
	"hosting.image.list", "image.list", "hosting.image.info", "image.info",
	"hosting.disk.list_kernels", "disk.list_kernels", "hosting.disk.list_options", "disk.list_options",
	"hosting.disk.create", "disk.create", "hosting.vlan.create", "hosting.ssh.create",
	"hosting.snapshotprofile.list", "hosting.snapshotprofile.info",
	"berth.key.list", "berth.key.create", "berth.account.redeem", "berth.trial.list", "berth.audit.list", // audit: checkAudit
	"system.listMethods", "system.methodHelp", "system.methodSignature",
}

// hostingName is the hosting.* name of a legacy alias (vm.info → hosting.vm.info).
func hostingName(m string, known func(string) bool) string {
	if known(m) {
		return m
	}
	if known("hosting." + m) {
		return "hosting." + m
	}
	return m
}

// listFilters are the filters used on *.list and *.count, built from the other tenant's
// objects: each one matches objects of that tenant when that tenant uses it.
func listFilters(kind string, o *tenant, dc int64) []map[string]any {
	return append(kindFilters(kind, o, dc), map[string]any{"account_id": o.account})
}

func kindFilters(kind string, o *tenant, dc int64) []map[string]any {
	switch kind {
	case "vm":
		return []map[string]any{{"id": o.vm}, {"id": []any{o.vm}}, {"hostname": tenHostname}, {"~hostname": "tenant%"},
			{"datacenter_id": dc}, {"state": "running"}}
	case "disk":
		return []map[string]any{{"id": o.disk}, {"id": []any{o.sysDisk, o.disk, o.freeDisk, o.snap}}, {"vm_id": o.vm},
			{"vm_id": []any{o.vm}}, {"source": o.disk}, {"name": tenDisk}, {"type": []any{"snapshot"}}, {"~name": "tenant%"}}
	case "iface":
		return []map[string]any{{"id": o.iface}, {"id": []any{o.vmIface, o.iface}}, {"vm_id": o.vm}, {"vlan_id": o.vlan},
			{"vlan": tenVLAN}, {"state": "free"}, {"type": "private"}}
	case "ip":
		return []map[string]any{{"id": o.ips[0]}, {"iface_id": []any{o.vmIface, o.iface}}, {"vm_id": o.vm}, {"ip": o.ipAddr},
			{"vm_hostname": tenHostname}, {"~vm_hostname": "tenant%"}, {"version": 4}, {"version": "6"}}
	case "vlan":
		return []map[string]any{{"id": o.vlan}, {"id": []any{o.vlan}}, {"name": tenVLAN}, {"datacenter_id": dc}}
	case "ssh":
		return []map[string]any{{"id": o.sshKey}, {"name": tenKey}, {"fingerprint": o.fingerprint}}
	case "operation":
		return []map[string]any{{"id": o.ops[0]}, {"vm_id": o.vm}, {"disk_id": o.disk}, {"iface_id": o.iface},
			{"vlan_id": o.vlan}, {"step": []any{"DONE"}}, {"type": "vm_create"}, {"sort_by": "date_created DESC"}}
	}
	panic("unknown kind " + kind)
}

// idsOf returns the sorted ids of a list result.
func idsOf(t *testing.T, v any) []int64 {
	t.Helper()
	var out []int64
	for _, x := range asList(t, v) {
		out = append(out, asID(t, asMap(t, x)["id"]))
	}
	slices.Sort(out)
	return out
}

func intersect(a, b []int64) []int64 {
	var out []int64
	for _, x := range a {
		if slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// snapshotOf returns what A sees of its own objects: every info, and its counts.
func snapshotOf(t *testing.T, b *Berthd, a *tenant) map[string]any {
	t.Helper()
	s := map[string]any{}
	info := func(method string, id int64) {
		s[fmt.Sprintf("%s(%d)", method, id)] = b.tmust(a, method, id)
	}
	info("hosting.vm.info", a.vm)
	for _, d := range a.ids("disk") {
		info("hosting.disk.info", d)
	}
	for _, f := range a.ids("iface") {
		info("hosting.iface.info", f)
	}
	for _, ip := range a.ids("ip") {
		info("hosting.ip.info", ip)
	}
	info("hosting.vlan.info", a.vlan)
	info("hosting.ssh.info", a.sshKey)
	for _, o := range a.ops {
		info("operation.info", o)
	}
	for prefix := range listKinds {
		s[prefix+".count"] = b.tmust(a, prefix+".count")
	}
	return s
}

// TestTenantIsolation checks that account B can neither see nor touch account A's
// objects through any registered method: every method taking an object id answers B
// with the not-found fault of that object, every list and count hides A's objects, and
// A's objects are unchanged afterwards.
func TestTenantIsolation(t *testing.T) {
	t.Parallel() // see TestMain
	b := NewBerthd(t, "sim")
	b.Start()
	const dc = 1
	img := asMap(t, asList(t, b.MustCall("hosting.image.list", b.Account("IMGPEEK-BERTH", 1), map[string]any{"datacenter_id": dc}))[0])
	src := asID(t, img["disk_id"])
	start := time.Now()
	a := setupTenant(t, b, "tenanta", dc, src)
	bt := setupTenant(t, b, "tenantb", dc, src) // same names as A: names are per account
	t.Logf("two tenants set up in %.1fs", time.Since(start).Seconds())

	before := snapshotOf(t, b, a)
	bOps := b.tmust(bt, "operation.count")

	methods, ok := b.MustCall("system.listMethods").([]any)
	if !ok || len(methods) == 0 {
		t.Fatalf("system.listMethods: %v", methods)
	}
	registered := map[string]bool{}
	for _, m := range methods {
		registered[m.(string)] = true
	}
	table := idMethods(a, bt, dc, src)
	known := func(m string) bool {
		_, inTable := table[m]
		return inTable || slices.Contains(idlessMethods, m) || listKinds[strings.TrimSuffix(strings.TrimSuffix(m, ".list"), ".count")] != ""
	}

	var unclassified []string
	probes, lists := 0, 0
	for _, mv := range methods {
		m := mv.(string)
		name := hostingName(m, known)
		switch {
		case m == "system.multicall":
			t.Run(m, func(t *testing.T) { checkMulticall(t, b, a, bt) })
		case table[name] != nil:
			for _, p := range table[name] {
				probes++
				checkNotFound(t, b, bt, m, p)
			}
		case strings.HasSuffix(name, ".list") || strings.HasSuffix(name, ".count"):
			prefix := name[:strings.LastIndex(name, ".")]
			kind, ok := listKinds[prefix]
			if !ok {
				if !slices.Contains(idlessMethods, name) {
					unclassified = append(unclassified, m)
				}
				continue
			}
			lists += checkList(t, b, m, kind, bt, a, dc)
			lists += checkList(t, b, m, kind, a, bt, dc)
		case slices.Contains(idlessMethods, name):
		default:
			unclassified = append(unclassified, m)
		}
	}
	if len(unclassified) > 0 {
		t.Errorf("registered methods that TestTenantIsolation does not know: %v\n"+
			"add each to idMethods (with how B calls it with A's ids), to listKinds, or to idlessMethods", unclassified)
	}
	var absent []string
	for m := range table {
		if !registered[m] {
			absent = append(absent, m)
		}
	}
	sort.Strings(absent)
	t.Logf("%d methods registered; %d id probes, %d list/count checks; in the table but not registered: %v",
		len(methods), probes, lists, absent)

	// Shared catalog: both tenants see the same datacenters and images.
	for _, m := range []string{"hosting.datacenter.list", "hosting.image.list", "hosting.snapshotprofile.list"} {
		if diff := cmp.Diff(b.tmust(a, m), b.tmust(bt, m)); diff != "" {
			t.Errorf("%s differs between tenants (-A +B):\n%s", m, diff)
		}
	}
	if got := asMap(t, b.tmust(bt, "hosting.account.info"))["handle"]; got != bt.handle {
		t.Errorf("B's account.info handle %v, want %s", got, bt.handle)
	}

	// Nothing B tried changed A's objects or made an operation.
	after := snapshotOf(t, b, a)
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("A's objects changed while B probed them (-before +after):\n%s", diff)
	}
	if got := b.tmust(bt, "operation.count"); got != bOps {
		t.Errorf("B's operation.count went from %v to %v: a probe was accepted", bOps, got)
	}
	checkAudit(t, b, a, bt)
	t.Logf("isolation checked in %.1fs", time.Since(start).Seconds())
}

// checkNotFound makes B call method with A's ids and wants the not-found fault.
func checkNotFound(t *testing.T, b *Berthd, bt *tenant, method string, p probe) {
	t.Helper()
	res, err := b.tcall(bt, method, p.params...)
	var f *xmlrpc.Fault
	switch {
	case err == nil:
		t.Errorf("B %s%v with A's ids succeeded: %v", method, p.params, res)
	case !errors.As(err, &f):
		t.Errorf("B %s%v: %v, want fault %d", method, p.params, err, p.want)
	case f.Code != p.want:
		t.Errorf("B %s%v: fault %d %q, want %d", method, p.params, f.Code, f.String, p.want)
	case !strings.Contains(f.String, "(CAUSE_NOTFOUND)"):
		t.Errorf("B %s%v: faultString %q lacks CAUSE_NOTFOUND", method, p.params, f.String)
	}
}

// checkList calls a list or count method as viewer, bare and with each filter made from
// other's objects: viewer must see only its own objects of kind, and other, calling the
// same filter, must see some of its own (so the filter is not vacuous). It returns the
// number of calls checked.
func checkList(t *testing.T, b *Berthd, method, kind string, viewer, other *tenant, dc int64) int {
	t.Helper()
	mine, theirs := viewer.ids(kind), other.ids(kind)
	isCount := strings.HasSuffix(method, ".count")
	get := func(tn *tenant, filter map[string]any) (ids []int64, n int64) {
		var params []any
		if filter != nil {
			params = []any{filter}
		}
		v := b.tmust(tn, method, params...)
		if isCount {
			return nil, asID(t, v)
		}
		ids = idsOf(t, v)
		return ids, int64(len(ids))
	}
	calls := 0
	for _, bare := range []map[string]any{nil, {}} {
		calls++
		ids, n := get(viewer, bare)
		if !isCount && !slices.Equal(ids, mine) {
			t.Errorf("%s %s(%v): ids %v, want exactly its own %v (other's: %v)", viewer.name, method, bare, ids, mine, theirs)
		}
		if n != int64(len(mine)) {
			t.Errorf("%s %s(%v): %d, want %d", viewer.name, method, bare, n, len(mine))
		}
	}
	for _, f := range listFilters(kind, other, dc) {
		calls++
		ids, n := get(viewer, f)
		if leaked := intersect(ids, theirs); len(leaked) > 0 {
			t.Errorf("%s %s(%v) shows %s's %s %v", viewer.name, method, f, other.name, kind, leaked)
		}
		if foreign := slices.DeleteFunc(slices.Clone(ids), func(x int64) bool { return slices.Contains(mine, x) }); len(foreign) > 0 {
			t.Errorf("%s %s(%v) shows ids that are not its own: %v", viewer.name, method, f, foreign)
		}
		oids, on := get(other, f)
		if isCount {
			if on == 0 {
				t.Errorf("%s %s(%v) is 0: the filter matches nothing of its own", other.name, method, f)
			}
			if want := countOf(t, b, viewer, method, f); n != want {
				t.Errorf("%s %s(%v) = %d, but the list has %d", viewer.name, method, f, n, want)
			}
			continue
		}
		if len(intersect(oids, theirs)) == 0 {
			t.Errorf("%s %s(%v) = %v: the filter matches nothing of its own %v", other.name, method, f, oids, theirs)
		}
	}
	return calls
}

// countOf is the length of the list matching a count's filter (pagination keys apart).
func countOf(t *testing.T, b *Berthd, tn *tenant, countMethod string, f map[string]any) int64 {
	t.Helper()
	lf := map[string]any{"items_per_page": 500}
	for k, v := range f {
		if k != "sort_by" {
			lf[k] = v
		}
	}
	return int64(len(asList(t, b.tmust(tn, strings.TrimSuffix(countMethod, ".count")+".list", lf))))
}

// checkMulticall makes B call A's objects inside system.multicall: each entry must be
// the not-found fault struct, B's own entry a result.
func checkMulticall(t *testing.T, b *Berthd, a, bt *tenant) {
	calls := []any{
		map[string]any{"methodName": "hosting.vm.info", "params": []any{bt.key, a.vm}},
		map[string]any{"methodName": "hosting.disk.info", "params": []any{bt.key, a.freeDisk}},
		map[string]any{"methodName": "operation.info", "params": []any{bt.key, a.ops[0]}},
		map[string]any{"methodName": "hosting.vm.info", "params": []any{bt.key, bt.vm}},
	}
	want := []int{nfVM, nfDisk, nfOperation}
	res := asList(t, b.MustCall("system.multicall", calls))
	if len(res) != len(calls) {
		t.Fatalf("system.multicall: %d results for %d calls", len(res), len(calls))
	}
	for i, code := range want {
		m, ok := res[i].(map[string]any)
		if !ok || m["faultCode"] != int64(code) {
			t.Errorf("system.multicall entry %d (%v): %v, want fault %d", i, calls[i], res[i], code)
		}
	}
	own := asList(t, res[3])
	if len(own) != 1 || asMap(t, own[0])["id"] != bt.vm {
		t.Errorf("system.multicall: B's own vm.info gave %v", res[3])
	}
}

// checkAudit: B's probes of A's objects are in B's audit log, refused, and nowhere in A's;
// each tenant's berth.audit.list holds its own entries only, whatever the filter.
func checkAudit(t *testing.T, b *Berthd, a, bt *tenant) {
	t.Helper()
	entries := func(tn *tenant, opts map[string]any) []map[string]any {
		var out []map[string]any
		for _, e := range asList(t, b.tmust(tn, "berth.audit.list", opts)) {
			out = append(out, asMap(t, e))
		}
		return out
	}
	probe := map[string]any{"object": fmt.Sprintf("vm:%d", a.vm), "items_per_page": 500}
	bOnA := entries(bt, probe)
	if len(bOnA) == 0 {
		t.Errorf("B's audit log has no entry of its probes of A's vm %d", a.vm)
	}
	for _, e := range bOnA {
		if e["account_id"] != bt.account || e["actor"] != bt.handle || e["result"] == "ok" {
			t.Errorf("B's entry of a probe of A's vm: %v", e)
		}
	}
	for _, tn := range []*tenant{a, bt} {
		for _, opts := range []map[string]any{{"items_per_page": 500}, probe, {"method": "vm.", "items_per_page": 500}} {
			for _, e := range entries(tn, opts) {
				if e["account_id"] != tn.account {
					t.Errorf("%s's berth.audit.list(%v) shows an entry of account %v: %v", tn.name, opts, e["account_id"], e)
				}
			}
		}
	}
}
