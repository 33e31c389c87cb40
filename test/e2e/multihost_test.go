package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/berth-io/berth/internal/cluster"
)

// The local cluster (internal/cluster, as `make cluster` starts it: PostgreSQL, an API
// server, agents h1-h3 on a simulated rack) is started once and shared by the multi-host
// tests of this package; TestMain takes it down.
var shared struct {
	once sync.Once
	c    *cluster.Cluster
	err  error
}

// localCluster returns the shared cluster, starting it at the first call.
func localCluster(t *testing.T) *cluster.Cluster {
	t.Helper()
	images := needVMs(t)
	bin := berthdBinary(t)
	shared.once.Do(func() {
		begin := time.Now()
		dir, err := os.MkdirTemp("", "berth-cluster")
		if err != nil {
			shared.err = err
			return
		}
		shared.c, shared.err = cluster.Up(context.Background(), cluster.Config{Dir: dir, Bin: bin, Scripts: "../../scripts",
			Images: images, Prefix: runPrefix() + "-c-", Args: []string{"--heartbeat", "500ms", "--host-timeout", "4s"}})
		t.Logf("local cluster up in %s", time.Since(begin).Round(time.Millisecond))
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	if shared.c == nil {
		t.Fatal("the local cluster did not start")
	}
	return shared.c
}

// stopLocalCluster takes the shared cluster down (TestMain).
func stopLocalCluster() error {
	if shared.c == nil {
		return nil
	}
	return shared.c.Down()
}

// mhost is a test's view of the shared cluster.
type mhost struct {
	t   *testing.T
	c   *cluster.Cluster
	api *Berthd // the API server (Call, WaitOp)
	db  *sql.DB
	img int64
}

func newMHost(t *testing.T) *mhost {
	c := localCluster(t)
	m := &mhost{t: t, c: c, api: &Berthd{t: t, URL: c.State.URL}, db: pgOpen(t, c.State.DB)}
	for _, x := range asList(t, m.api.MustCall("hosting.image.list", c.State.Key, map[string]any{"datacenter_id": fsd5, "label": "Berth Tiny"})) {
		m.img = asID(t, asMap(t, x)["disk_id"])
	}
	if m.img == 0 {
		t.Fatal("no Berth Tiny image")
	}
	return m
}

// in returns the view of a subtest: failures go to t.
func (m *mhost) in(t *testing.T) *mhost {
	c := *m
	c.t, c.api = t, &Berthd{t: t, URL: m.api.URL}
	return &c
}

// mvm is a VM of the cluster.
type mvm struct {
	m        *mhost
	key      string
	id       int64
	hostname string
	host     string // h1, h2, h3
	ip4, ip6 string
	con      *guestConsole
}

// do calls a method returning operations and waits until each is DONE.
func (m *mhost) do(key, method string, params ...any) []map[string]any {
	m.t.Helper()
	res := m.api.MustCall(method, append([]any{key}, params...)...)
	var ops []map[string]any
	switch r := res.(type) {
	case []any:
		for _, o := range r {
			ops = append(ops, asMap(m.t, o))
		}
	default:
		ops = append(ops, asMap(m.t, r))
	}
	for _, op := range ops {
		if done := m.api.WaitOp(key, asID(m.t, op["id"]), 3*time.Minute); done["step"] != "DONE" {
			m.t.Fatalf("%s: operation %v %v: %v", method, op["type"], done["step"], done["last_error"])
		}
	}
	return ops
}

// createVMs creates VMs one after the other (so placement spreads them over the hosts),
// then waits until all are running and booted.
func (m *mhost) createVMs(key string, specs ...map[string]any) []*mvm {
	t := m.t
	t.Helper()
	begin := time.Now()
	var vms []*mvm
	var ops []any
	var keys []string
	for _, s := range specs {
		spec, k := map[string]any{"datacenter_id": fsd5, "memory": 256}, key
		for name, v := range s {
			if name == "apikey" { // another account's VM
				k = v.(string)
				continue
			}
			spec[name] = v
		}
		res := asList(t, m.api.MustCall("hosting.vm.create_from", k, spec, map[string]any{}, m.img))
		g := &mvm{m: m, key: k, hostname: spec["hostname"].(string)}
		for _, o := range res {
			if op := asMap(t, o); op["type"] == "vm_create" {
				g.id = asID(t, op["vm_id"])
			}
		}
		for _, o := range res {
			keys = append(keys, k)
			ops = append(ops, o)
		}
		vms = append(vms, g)
	}
	for i, o := range ops {
		op := asMap(t, o)
		if done := m.api.WaitOp(keys[i], asID(t, op["id"]), 3*time.Minute); done["step"] != "DONE" {
			t.Fatalf("%v: %v %v", op["type"], done["step"], done["last_error"])
		}
	}
	for _, g := range vms {
		if err := m.db.QueryRow("SELECT host FROM vms WHERE id = $1", g.id).Scan(&g.host); err != nil {
			t.Fatal(err)
		}
		g.refresh()
	}
	for _, g := range vms {
		pollUntil(t, bootTimeout, fmt.Sprintf("vm %d (%s) boots on %s", g.id, g.hostname, g.host), func() string {
			b, _ := os.ReadFile(filepath.Join(g.dir(), "console.log"))
			if bytes := string(b); strings.Contains(bytes, "BERTH-BOOTED") {
				return ""
			}
			return "not yet"
		})
	}
	t.Logf("%d VM(s) created and booted in %s", len(vms), time.Since(begin).Round(time.Millisecond))
	t.Cleanup(func() {
		for _, g := range vms {
			if g.con != nil {
				g.con.conn.Close()
			}
		}
	})
	return vms
}

// dir is the VM's run directory on its host.
func (g *mvm) dir() string {
	for _, h := range g.m.c.State.Hosts {
		if h.Name == g.host {
			return filepath.Join(h.Data, "vms", fmt.Sprint(g.id))
		}
	}
	return ""
}

// refresh reads the VM's first addresses from vm.info.
func (g *mvm) refresh() {
	t := g.m.t
	vm := asMap(t, g.m.api.MustCall("hosting.vm.info", g.key, g.id))
	for _, x := range asList(t, vm["ifaces"]) {
		for _, y := range asList(t, asMap(t, x)["ips"]) {
			ip := asMap(t, y)
			if ip["version"] == int64(4) && g.ip4 == "" {
				g.ip4, _ = ip["ip"].(string)
			}
			if ip["version"] == int64(6) && g.ip6 == "" {
				g.ip6, _ = ip["ip"].(string)
			}
		}
	}
}

// sh runs a shell command on the VM's serial console.
func (g *mvm) sh(t *testing.T, cmd string) string {
	t.Helper()
	if g.con == nil {
		g.con = openGuestConsole(t, filepath.Join(g.dir(), "console.sock"))
	}
	out, err := g.con.run(cmd, 2*cmdTimeout)
	if err != nil {
		t.Fatalf("vm %d (%s) console: %v", g.id, g.hostname, err)
	}
	return out
}

// value runs a command printing NAME=value and returns the value.
func (g *mvm) value(t *testing.T, name, cmd string) string {
	t.Helper()
	out := g.sh(t, cmd)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `=(.*)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("vm %d: %q printed no %s=: %q", g.id, cmd, name, out)
	}
	return strings.TrimSpace(m[1])
}

// pings reports whether addr answers ping from the guest (any of a few echoes).
func (g *mvm) pings(t *testing.T, addr string) bool {
	t.Helper()
	return g.value(t, "RC", "ping -c 3 -W 1 -w 4 "+addr+" >/dev/null 2>&1; echo RC=$?") == "0"
}

// waitPings polls until addr answers ping from the guest (a hot-plugged NIC, an IPv6
// address finishing duplicate address detection).
func (g *mvm) waitPings(t *testing.T, addr string) {
	t.Helper()
	pollUntil(t, guestTimeout, fmt.Sprintf("%s pings %s", g.hostname, addr), func() string {
		if g.pings(t, addr) {
			return ""
		}
		return "no answer"
	})
}

// TestMultihostNetwork runs on the local cluster: VMs placed on three hosts reach each
// other over the datacenter's public network (ping and SSH, IPv4 and IPv6) and inside a
// private VLAN, through VXLAN; a VM in another VLAN of the account and one in another
// account's VLAN (same subnet) reach neither; every host's gateway answers its own guests
// with the same MAC.
func TestMultihostNetwork(t *testing.T) {
	begin := time.Now()
	m := newMHost(t)
	defer func() { t.Logf("TestMultihostNetwork took %s", time.Since(begin).Round(time.Millisecond)) }()
	keyA := m.c.State.Key
	keyB, err := m.c.Account(context.Background(), "mh-other")
	if err != nil {
		t.Fatal(err)
	}
	const subnet = "10.77.0.0/24"
	// The VLANs at once, then the ifaces at once.
	wait := func(key string, op map[string]any) map[string]any {
		if done := m.api.WaitOp(key, asID(t, op["id"]), 3*time.Minute); done["step"] != "DONE" {
			t.Fatalf("%v: %v %v", op["type"], done["step"], done["last_error"])
		}
		return asMap(t, m.api.MustCall("operation.info", key, op["id"]))
	}
	vlan := func(key, name, gw string) func() int64 {
		spec := map[string]any{"datacenter_id": fsd5, "name": name, "subnet": subnet}
		if gw != "" {
			spec["gateway"] = gw
		}
		op := asMap(t, m.api.MustCall("hosting.vlan.create", key, spec))
		return func() int64 { return asID(t, asMap(t, wait(key, op)["params"])["vlan_id"]) }
	}
	r, bl, g := vlan(keyA, "red", ""), vlan(keyA, "blue", "10.77.0.1"), vlan(keyB, "green", "")
	red, blue, green := r(), bl(), g()
	iface := func(key string, v int64, addr string) func() int64 {
		op := asMap(t, m.api.MustCall("hosting.iface.create", key, map[string]any{"datacenter_id": fsd5, "vlan": v, "ip": addr}))
		return func() int64 { wait(key, op); return asID(t, op["iface_id"]) }
	}
	ia, ib, ic, id := iface(keyA, red, "10.77.0.11"), iface(keyA, red, "10.77.0.12"), iface(keyA, blue, "10.77.0.13"), iface(keyB, green, "10.77.0.14")
	fa, fb, fc, fd := ia(), ib(), ic(), id()
	t.Logf("VLANs and ifaces made after %s", time.Since(begin).Round(time.Millisecond))
	vms := m.createVMs(keyA, map[string]any{"hostname": "mha"}, map[string]any{"hostname": "mhb"}, map[string]any{"hostname": "mhc", "iface_id": fc},
		map[string]any{"hostname": "mhd", "iface_id": fd, "apikey": keyB})
	a, b, c, d := vms[0], vms[1], vms[2], vms[3]
	if a.host == b.host || b.host == c.host || a.host == c.host {
		t.Fatalf("vms on hosts %s, %s, %s: want three hosts", a.host, b.host, c.host)
	}
	t.Logf("mha on %s, mhb on %s, mhc on %s, mhd on %s", a.host, b.host, c.host, d.host)
	// a and b join VLAN red, hot-plugged.
	m.do(keyA, "hosting.vm.iface_attach", a.id, fa)
	m.do(keyA, "hosting.vm.iface_attach", b.id, fb)
	t.Logf("VLANs, ifaces and VMs ready after %s", time.Since(begin).Round(time.Millisecond))

	t.Run("public", func(t *testing.T) {
		a.waitPings(t, b.ip4)
		if !b.pings(t, a.ip4) {
			t.Errorf("%s (%s) cannot ping %s (%s) over IPv4", b.hostname, b.host, a.ip4, a.host)
		}
		a.waitPings(t, b.ip6)
		// SSH from a into b with a key made in a, over both families.
		pub := a.value(t, "PUB", "rm -f /root/k; dropbearkey -t ed25519 -f /root/k >/dev/null 2>&1; echo PUB=$(dropbearkey -y -f /root/k | grep ^ssh-)")
		b.sh(t, "mkdir -p /root/.ssh; echo '"+pub+"' >> /root/.ssh/authorized_keys; chmod 600 /root/.ssh/authorized_keys")
		for _, addr := range []string{b.ip4, b.ip6} {
			if got := a.value(t, "HOST", "echo HOST=$(dbclient -y -y -i /root/k root@"+addr+" hostname 2>/dev/null)"); got != "mhb" {
				t.Errorf("ssh from %s (%s) to %s (%s): hostname %q", a.hostname, a.host, addr, b.host, got)
			}
		}
		// Each guest's gateway is its own host's, with the datacenter's one MAC.
		gwA := a.value(t, "GW", "ping -c1 -W2 192.0.2.1 >/dev/null 2>&1; echo GW=$(ip neigh show 192.0.2.1 | grep -o 'lladdr [0-9a-f:]*')")
		gwB := b.value(t, "GW", "ping -c1 -W2 192.0.2.1 >/dev/null 2>&1; echo GW=$(ip neigh show 192.0.2.1 | grep -o 'lladdr [0-9a-f:]*')")
		if gwA == "" || gwA != gwB {
			t.Errorf("gateway MACs: %q on %s, %q on %s: want one", gwA, a.host, gwB, b.host)
		}
	})
	t.Run("console", func(t *testing.T) {
		// berth vm console through the API server (which runs no VM) to mhb on its host.
		if b.con != nil {
			b.con.conn.Close() // the console takes one client at a time
			b.con = nil
		}
		u := newCLIUser(t)
		u.env = append(u.env, "BERTH_URL="+m.c.State.URL, "BERTH_API_KEY="+keyA)
		r := u.run("echo CONS-$((6*7))-$(hostname)\n", "vm", "console", "mhb")
		if r.code != 0 || !strings.Contains(r.stdout, "CONS-42-mhb") {
			t.Errorf("berth vm console mhb through the API server:\n%s", r)
		}
		// Another account cannot; the host refuses a request without a valid token.
		u2 := newCLIUser(t)
		u2.env = append(u2.env, "BERTH_URL="+m.c.State.URL, "BERTH_API_KEY="+keyB)
		if r := u2.run("", "vm", "console", fmt.Sprint(b.id)); r.code == 0 {
			t.Errorf("another account got mhb's console:\n%s", r)
		}
		var internal string
		if err := m.db.QueryRow("SELECT internal_url FROM hosts WHERE name = $1", b.host).Scan(&internal); err != nil || internal == "" {
			t.Fatalf("host %s internal url %q: %v", b.host, internal, err)
		}
		for name, auth := range map[string]string{"no token": "", "forged": "Berth-Internal eyJ2bSI6MX0.c2lnbmF0dXJl", "api key": "Bearer " + keyA} {
			req, _ := http.NewRequest("GET", fmt.Sprintf("%s/internal/v1/vms/%d/console", internal, b.id), nil)
			req.Header.Set("Upgrade", "berth-console")
			req.Header.Set("Connection", "Upgrade")
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s: host %s answered %s, want 401", name, b.host, resp.Status)
			}
		}
	})
	t.Run("disk-moves", func(t *testing.T) {
		// A data disk made on c's host, written there, detached, then attached to a on
		// another host: it is copied there, shows is_migrating meanwhile, keeps its content,
		// and the old host removes its copy.
		m := m.in(t)
		disk := asID(t, m.do(keyA, "hosting.disk.create", map[string]any{"datacenter_id": fsd5, "name": "mover", "size": 1024})[0]["disk_id"])
		devs := func(g *mvm) []string { return strings.Fields(g.value(t, "DEVS", "echo DEVS=$(ls /dev/vd?)")) }
		newDev := func(g *mvm, before []string) string {
			var dev string
			pollUntil(t, guestTimeout, g.hostname+" sees the disk", func() string {
				for _, d := range devs(g) {
					if !slices.Contains(before, d) {
						dev = d
						return ""
					}
				}
				return "no new device"
			})
			return dev
		}
		before := devs(c)
		m.do(keyA, "hosting.vm.disk_attach", c.id, disk)
		dev := newDev(c, before)
		c.sh(t, "echo MOVED-DATA-42 | dd of="+dev+" bs=512 count=1 conv=sync 2>/dev/null; sync")
		m.do(keyA, "hosting.vm.disk_detach", c.id, disk)
		var from string
		if err := m.db.QueryRow("SELECT host FROM disks WHERE id = $1", disk).Scan(&from); err != nil || from != c.host {
			t.Fatalf("disk %d lives on %q (%v), want %s", disk, from, err, c.host)
		}
		oldCopy := filepath.Join(m.c.State.Hosts[hostIndex(from)].Data, "disks", fmt.Sprintf("%d.qcow2", disk))
		if _, err := os.Stat(oldCopy); err != nil {
			t.Fatalf("disk %d on %s: %v", disk, from, err)
		}
		// a's host paused for a moment: the attach waits in its queue, the disk is migrating.
		dst := m.c.Agents[hostIndex(a.host)]
		before = devs(a)
		if err := dst.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		op := asMap(t, m.api.MustCall("hosting.vm.disk_attach", keyA, a.id, disk))
		info := asMap(t, m.api.MustCall("hosting.disk.info", keyA, disk))
		if err := dst.Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		if info["is_migrating"] != true {
			t.Errorf("disk.info during the move: is_migrating %v", info["is_migrating"])
		}
		if done := m.api.WaitOp(keyA, asID(t, op["id"]), 3*time.Minute); done["step"] != "DONE" {
			t.Fatalf("disk_attach across hosts: %v %v", done["step"], done["last_error"])
		}
		if info := asMap(t, m.api.MustCall("hosting.disk.info", keyA, disk)); info["is_migrating"] != false || len(asList(t, info["vms_id"])) != 1 {
			t.Errorf("disk.info after the move: is_migrating %v, vms_id %v", info["is_migrating"], info["vms_id"])
		}
		var to string
		if err := m.db.QueryRow("SELECT host FROM disks WHERE id = $1", disk).Scan(&to); err != nil || to != a.host {
			t.Errorf("disk %d lives on %q (%v) after the move, want %s", disk, to, err, a.host)
		}
		dev = newDev(a, before)
		if got := a.value(t, "DATA", "echo DATA=$(dd if="+dev+" bs=512 count=1 2>/dev/null | head -c 13)"); got != "MOVED-DATA-42" {
			t.Errorf("moved disk content on %s: %q", a.host, got)
		}
		pollUntil(t, 30*time.Second, "the old copy on "+from+" is removed", func() string {
			if _, err := os.Stat(oldCopy); err == nil {
				return oldCopy + " still there"
			}
			return ""
		})
	})
	t.Run("vlan", func(t *testing.T) {
		a.waitPings(t, "10.77.0.12")
		if !b.pings(t, "10.77.0.11") {
			t.Errorf("%s cannot ping %s on VLAN red", b.hostname, a.hostname)
		}
		// c's NIC works (it reaches its VLAN's gateway on its host) but reaches no red VM.
		c.waitPings(t, "10.77.0.1")
		for _, x := range []struct {
			from *mvm
			to   string
		}{{c, "10.77.0.11"}, {c, "10.77.0.12"}, {d, "10.77.0.11"}, {d, "10.77.0.12"}, {a, "10.77.0.13"}, {b, "10.77.0.14"}} {
			// Two seconds of echoes: the same path answered within one above.
			if x.from.value(t, "RC", "ping -c 2 -W 1 -w 2 "+x.to+" >/dev/null 2>&1; echo RC=$?") == "0" {
				t.Errorf("%s (%s) reaches %s across VLANs", x.from.hostname, x.from.host, x.to)
			}
		}
		if got := d.value(t, "ADDRS", "echo ADDRS=$(ip -o -4 addr show)"); !strings.Contains(got, "10.77.0.14/24") {
			t.Errorf("mhd has addresses %q, want 10.77.0.14/24", got)
		}
	})
	t.Run("host-loss", func(t *testing.T) {
		// b's host dies (SIGKILL, its QEMUs go on) with b's update queued: b is unknown
		// within the host timeout, new operations on it are refused, the other hosts work
		// the shared queue; when the host is back the update runs once and b is running,
		// still on the overlay.
		m := m.in(t)
		n := hostIndex(b.host) + 1
		op := asMap(t, m.api.MustCall("hosting.vm.update", keyA, b.id, map[string]any{"memory": 512}))
		m.c.KillAgent(n)
		lost := time.Now()
		pollUntil(t, 30*time.Second, b.hostname+" is unknown", func() string {
			if st := asMap(t, m.api.MustCall("hosting.vm.info", keyA, b.id))["state"]; st != "unknown" {
				return fmt.Sprint(st)
			}
			return ""
		})
		t.Logf("%s unknown %s after %s died", b.hostname, time.Since(lost).Round(time.Millisecond), b.host)
		if _, err := m.api.Call("hosting.vm.reboot", keyA, b.id); err == nil || !strings.Contains(err.Error(), "530141") {
			t.Errorf("vm.reboot on a down host: %v, want fault 530141", err)
		}
		m.do(keyA, "hosting.iface.create", map[string]any{"datacenter_id": fsd5, "ip_version": 4})
		if err := m.c.StartAgent(n); err != nil {
			t.Fatal(err)
		}
		if done := m.api.WaitOp(keyA, asID(t, op["id"]), 3*time.Minute); done["step"] != "DONE" {
			t.Fatalf("update after %s came back: %v %v", b.host, done["step"], done["last_error"])
		}
		pollUntil(t, 30*time.Second, b.hostname+" running with 512 MB", func() string {
			vm := asMap(t, m.api.MustCall("hosting.vm.info", keyA, b.id))
			if vm["state"] == "running" && vm["memory"] == int64(512) {
				return ""
			}
			return fmt.Sprintf("%v, %v MB", vm["state"], vm["memory"])
		})
		var jobs, attempts int
		if err := m.db.QueryRow(`SELECT count(*), COALESCE(max(attempt), 0) FROM river_job WHERE (args->>'op_id')::bigint = $1 AND state = 'completed'`,
			asID(t, op["id"])).Scan(&jobs, &attempts); err != nil || jobs != 1 {
			t.Errorf("the update's river jobs: %d completed (%v), want 1", jobs, err)
		}
		b.waitPings(t, a.ip4)
	})
}

// hostIndex is the index of host hN in the cluster's hosts and agents.
func hostIndex(name string) int {
	var n int
	fmt.Sscanf(name, "h%d", &n)
	return n - 1
}
