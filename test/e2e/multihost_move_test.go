package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMultihostMove runs on the local cluster (real QEMU, VXLAN between the hosts):
//   - live: a VM with a hot-plugged DIMM, disk and iface moves to another host while it
//     writes to its disk, another VM pings it every 50 ms and holds an SSH session into it;
//     afterwards the guest has its memory, its disks' content, both addresses, the ping
//     went on and the SSH session is alive; nothing of it is left on the old host;
//   - cancel: a move cancelled half-way (the target prepared, its source agent held)
//     leaves the VM running where it was and nothing on the target;
//   - sigkill: the source agent killed (SIGKILL) in the middle of a move: back, it finishes
//     the move;
//   - drain: a host with three VMs (one halted) is drained: each moves (the halted one
//     cold), the host takes no new VM until undrained.
func TestMultihostMove(t *testing.T) {
	begin := time.Now()
	m := newMHost(t)
	defer func() { t.Logf("TestMultihostMove took %s", time.Since(begin).Round(time.Millisecond)) }()
	key := m.c.State.Key
	vms := m.createVMs(key, map[string]any{"hostname": "mva"}, map[string]any{"hostname": "mvb"}, map[string]any{"hostname": "mvc"})
	a, b, c := vms[0], vms[1], vms[2]
	if a.host == b.host || b.host == c.host || a.host == c.host {
		t.Fatalf("vms on hosts %s, %s, %s: want three hosts", a.host, b.host, c.host)
	}
	t.Cleanup(func() {
		for _, g := range vms {
			m.api.Call("hosting.vm.stop", key, g.id) // the delete waits for it (same VM)
			if op, err := m.api.Call("hosting.vm.delete", key, g.id); err == nil {
				m.api.WaitOp(key, asID(t, asMap(t, op)["id"]), 3*time.Minute)
			}
		}
	})

	t.Run("live", func(t *testing.T) {
		m := m.in(t)
		// Hot-plugged: 256 MB of memory, a data disk, a second (public) iface.
		m.do(key, "hosting.vm.update", a.id, map[string]any{"memory": 512})
		disk := asID(t, m.do(key, "hosting.disk.create", map[string]any{"datacenter_id": fsd5, "name": "mvdata", "size": 1024})[0]["disk_id"])
		before := strings.Fields(a.value(t, "DEVS", "echo DEVS=$(ls /dev/vd?)"))
		m.do(key, "hosting.vm.disk_attach", a.id, disk)
		iface := asID(t, m.do(key, "hosting.iface.create", map[string]any{"datacenter_id": fsd5, "ip_version": 4})[0]["iface_id"])
		m.do(key, "hosting.vm.iface_attach", a.id, iface)
		var second string
		for _, x := range asList(t, asMap(t, m.api.MustCall("hosting.iface.info", key, iface))["ips"]) {
			second, _ = asMap(t, x)["ip"].(string)
		}
		var dev string
		pollUntil(t, guestTimeout, "mva sees its new disk", func() string {
			for _, d := range strings.Fields(a.value(t, "DEVS", "echo DEVS=$(ls /dev/vd?)")) {
				if !slices.Contains(before, d) {
					dev = d
					return ""
				}
			}
			return "no new device"
		})
		pollUntil(t, guestTimeout, "mva has 512 MB", func() string {
			if kb, _ := strconv.Atoi(a.value(t, "MEM", "echo MEM=$(awk '/MemTotal/{print $2}' /proc/meminfo)")); kb < 400*1024 {
				return fmt.Sprintf("MemTotal %d kB", kb)
			}
			return ""
		})
		memKB := a.value(t, "MEM", "echo MEM=$(awk '/MemTotal/{print $2}' /proc/meminfo)")
		sums := "echo SUMS=$(head -c 4194304 " + dev + " | md5sum | cut -c1-32)-$(md5sum </root/f.bin | cut -c1-32)"
		a.sh(t, "dd if=/dev/urandom of="+dev+" bs=64k count=64 2>/dev/null; dd if=/dev/urandom of=/root/f.bin bs=64k count=64 2>/dev/null; sync")
		wantSums := a.value(t, "SUMS", sums)
		b.waitPings(t, second)

		// The guest writes all along; b pings it every 50 ms and holds an SSH session that
		// prints a tick every 200 ms.
		pub := b.value(t, "PUB", "rm -f /root/k; dropbearkey -t ed25519 -f /root/k >/dev/null 2>&1; echo PUB=$(dropbearkey -y -f /root/k | grep ^ssh-)")
		a.sh(t, "mkdir -p /root/.ssh; echo '"+pub+"' >> /root/.ssh/authorized_keys; chmod 600 /root/.ssh/authorized_keys")
		a.sh(t, "(while :; do dd if=/dev/urandom of=/root/w.bin bs=64k count=16 conv=fsync 2>/dev/null; done) >/dev/null 2>&1 & echo $! >/tmp/w.pid")
		b.sh(t, "ping -i 0.05 "+a.ip4+" >/tmp/ping.log 2>&1 & echo $! >/tmp/ping.pid")
		b.sh(t, "dbclient -y -y -i /root/k root@"+a.ip4+" 'i=0; while :; do i=$((i+1)); echo TICK $i; sleep 0.2; done' </dev/null >/tmp/ssh.log 2>/dev/null & echo $! >/tmp/ssh.pid")
		ticks := func() int {
			n, _ := strconv.Atoi(b.value(t, "TICKS", "echo TICKS=$(grep -c TICK /tmp/ssh.log)"))
			return n
		}
		pollUntil(t, guestTimeout, "the ssh session ticks", func() string {
			if ticks() < 3 {
				return "no ticks yet"
			}
			return ""
		})

		from := a.host
		out, err := m.c.Admin(context.Background(), "vm", "move", fmt.Sprint(a.id), "--to", b.host)
		t.Logf("berthd admin vm move:\n%s", out)
		if err != nil {
			t.Fatal(err)
		}
		a.moved(t, b.host)
		if _, err := os.Stat(filepath.Join(m.c.State.Hosts[hostIndex(from)].Data, "vms", fmt.Sprint(a.id))); err == nil {
			t.Errorf("the old host %s still has the vm's run directory", from)
		}
		for _, d := range []int64{disk, a.disk(t)} {
			if _, err := os.Stat(filepath.Join(m.c.State.Hosts[hostIndex(from)].Data, "disks", fmt.Sprintf("%d.qcow2", d))); err == nil {
				t.Errorf("the old host %s still has disk %d", from, d)
			}
		}
		if got := a.value(t, "MEM", "echo MEM=$(awk '/MemTotal/{print $2}' /proc/meminfo)"); got != memKB {
			t.Errorf("MemTotal %s kB after the move, %s before", got, memKB)
		}
		if a.value(t, "W", "kill -0 $(cat /tmp/w.pid) && echo W=alive") != "alive" {
			t.Errorf("the writer died in the move")
		}
		a.sh(t, "kill $(cat /tmp/w.pid)")
		if got := a.value(t, "SUMS", sums); got != wantSums {
			t.Errorf("disk contents after the move %s, before %s", got, wantSums)
		}
		// The SSH session goes on.
		n := ticks()
		time.Sleep(2 * time.Second)
		if later := ticks(); later <= n {
			t.Errorf("the ssh session stopped: %d ticks, then %d two seconds later", n, later)
		}
		b.sh(t, "kill $(cat /tmp/ssh.pid) $(cat /tmp/ping.pid)")
		if gap := longestPingGap(b.sh(t, "cat /tmp/ping.log")); gap > 3*time.Second {
			t.Errorf("the pings stopped for %s", gap)
		} else {
			t.Logf("longest ping gap from %s: %s", b.hostname, gap)
		}
		if !b.pings(t, second) {
			t.Errorf("%s cannot ping mva's hot-plugged iface (%s) after the move", b.hostname, second)
		}
	})

	t.Run("cancel", func(t *testing.T) {
		m := m.in(t)
		src := m.c.Agents[hostIndex(c.host)]
		if _, err := m.c.Admin(context.Background(), "vm", "move", fmt.Sprint(c.id), "--no-wait", "--to", a.host); err != nil {
			t.Fatal(err)
		}
		// Half-way: the target holds the prepared QEMU; the source agent is held there.
		op := m.waitMoveStep(t, c.id, "wait_sync", "switchover")
		if err := src.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		_, err := m.c.Admin(context.Background(), "vm", "move", fmt.Sprint(c.id), "--cancel")
		if err := src.Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		if err != nil {
			t.Fatal(err)
		}
		done := m.api.WaitOp(key, op, 3*time.Minute)
		if done["step"] != "ERROR" || !strings.Contains(fmt.Sprint(done["last_error"]), "cancelled by the operator") {
			t.Fatalf("cancelled move: %v %v", done["step"], done["last_error"])
		}
		c.moved(t, c.host)
		if _, err := os.Stat(filepath.Join(m.c.State.Hosts[hostIndex(a.host)].Data, "vms", fmt.Sprint(c.id))); err == nil {
			t.Errorf("the target %s kept the vm's run directory", a.host)
		}
		if _, err := os.Stat(filepath.Join(m.c.State.Hosts[hostIndex(a.host)].Data, "disks", fmt.Sprintf("%d.qcow2", c.disk(t)))); err == nil {
			t.Errorf("the target %s kept the vm's disk", a.host)
		}
		if !c.pings(t, a.ip4) {
			t.Errorf("%s cannot ping mva after the cancel", c.hostname)
		}
	})

	t.Run("sigkill", func(t *testing.T) {
		m := m.in(t)
		n := hostIndex(c.host) + 1
		if _, err := m.c.Admin(context.Background(), "vm", "move", fmt.Sprint(c.id), "--no-wait", "--to", a.host); err != nil {
			t.Fatal(err)
		}
		op := m.waitMoveStep(t, c.id, "wait_sync", "switchover")
		m.c.KillAgent(n)
		time.Sleep(300 * time.Millisecond)
		if err := m.c.StartAgent(n); err != nil {
			t.Fatal(err)
		}
		if done := m.api.WaitOp(key, op, 3*time.Minute); done["step"] != "DONE" {
			t.Fatalf("move after its source agent was killed: %v %v", done["step"], done["last_error"])
		}
		c.moved(t, a.host)
		if !c.pings(t, b.ip4) {
			t.Errorf("%s cannot ping mvb after the move", c.hostname)
		}
	})

	t.Run("drain", func(t *testing.T) {
		m := m.in(t)
		host := a.host // mva, mvb and mvc are all there now
		for _, g := range []*mvm{a, b, c} {
			if g.host != host {
				t.Fatalf("%s is on %s, not %s", g.hostname, g.host, host)
			}
		}
		m.do(key, "hosting.vm.stop", b.id)
		out, err := m.c.Admin(context.Background(), "host", "drain", host)
		t.Logf("berthd admin host drain:\n%s", out)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "3 of 3 done") {
			t.Errorf("drain output: want 3 of 3 done")
		}
		list, err := m.c.Admin(context.Background(), "host", "list")
		if err != nil || !regexp.MustCompile(`(?m)^`+host+`\s+\S+\s+up,draining\s+0\s`).MatchString(list) {
			t.Errorf("host list after the drain (%v):\n%s", err, list)
		}
		for _, g := range []*mvm{a, c} {
			var now string
			if err := m.db.QueryRow("SELECT host FROM vms WHERE id = $1", g.id).Scan(&now); err != nil || now == host {
				t.Fatalf("%s is on %q after the drain (%v)", g.hostname, now, err)
			}
			g.moved(t, now)
		}
		if !a.pings(t, c.ip4) {
			t.Errorf("mva cannot ping mvc after the drain")
		}
		var bHost string
		if err := m.db.QueryRow("SELECT host FROM vms WHERE id = $1", b.id).Scan(&bHost); err != nil || bHost == host {
			t.Errorf("halted mvb is on %q after the drain (%v)", bHost, err)
		}
		g := m.createVMs(key, map[string]any{"hostname": "mvd"})[0]
		vms = append(vms, g)
		if g.host == host {
			t.Errorf("a new vm was placed on draining host %s", host)
		}
		if _, err := m.c.Admin(context.Background(), "host", "undrain", host); err != nil {
			t.Fatal(err)
		}
	})
}

// moved checks that the VM runs on host (its QEMU there, vm.info running and not
// migrating) and follows it: its console is the one on that host now.
func (g *mvm) moved(t *testing.T, host string) {
	t.Helper()
	var now string
	if err := g.m.db.QueryRow("SELECT host FROM vms WHERE id = $1", g.id).Scan(&now); err != nil || now != host {
		t.Fatalf("%s is on %q (%v), want %s", g.hostname, now, err, host)
	}
	vm := asMap(t, g.m.api.MustCall("hosting.vm.info", g.key, g.id))
	if vm["state"] != "running" || vm["is_migrating"] != false {
		t.Errorf("%s: state %v, is_migrating %v", g.hostname, vm["state"], vm["is_migrating"])
	}
	if g.host != host && g.con != nil {
		g.con.conn.Close()
		g.con = nil
	}
	g.host = host
	if _, err := os.Stat(filepath.Join(g.dir(), "qmp.sock")); err != nil {
		t.Errorf("%s has no QEMU on %s: %v", g.hostname, host, err)
	}
	if got := g.value(t, "HN", "echo HN=$(hostname)"); got != g.hostname {
		t.Errorf("console of %s on %s answers %q", g.hostname, host, got)
	}
}

// disk returns the VM's boot disk.
func (g *mvm) disk(t *testing.T) int64 {
	t.Helper()
	var id int64
	if err := g.m.db.QueryRow("SELECT id FROM disks WHERE vm_id = $1 ORDER BY position LIMIT 1", g.id).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

// waitMoveStep waits until the VM's vm_move is in one of steps and returns its id.
func (m *mhost) waitMoveStep(t *testing.T, vmID int64, steps ...string) int64 {
	t.Helper()
	var id int64
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		var step, inner string
		err := m.db.QueryRow(`SELECT id, step, COALESCE(params::jsonb->>'inner_step', '') FROM operations WHERE vm_id = $1 AND type = 'vm_move' ORDER BY id DESC LIMIT 1`, vmID).
			Scan(&id, &step, &inner)
		if err == nil && slices.Contains(steps, inner) {
			return id
		}
		if err == nil && step != "WAIT" && step != "RUN" && step != "BILL" {
			t.Fatalf("vm_move %d ended %s (%s) before %v", id, step, inner, steps)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("vm %d's move never reached %v", vmID, steps)
	return 0
}

var icmpSeqRE = regexp.MustCompile(`seq=(\d+)`)

// longestPingGap is the longest run of unanswered echoes in a `ping -i 0.05` log, as time.
func longestPingGap(log string) time.Duration {
	last, gap := -1, 0
	for _, m := range icmpSeqRE.FindAllStringSubmatch(log, -1) {
		n, _ := strconv.Atoi(m[1])
		if last >= 0 && n-last-1 > gap {
			gap = n - last - 1
		}
		last = n
	}
	return time.Duration(gap+1) * 50 * time.Millisecond
}
