package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParsePingAndGap(t *testing.T) {
	out := `PING 192.0.2.2 (192.0.2.2) 56(84) bytes of data.
[1700000000.000100] 64 bytes from 192.0.2.2: icmp_seq=1 ttl=64 time=0.3 ms
[1700000000.010200] 64 bytes from 192.0.2.2: icmp_seq=2 ttl=64 time=0.3 ms
[1700000000.010300] 64 bytes from 192.0.2.2: icmp_seq=2 ttl=64 time=0.4 ms (DUP!)
[1700000000.02] 64 bytes from 192.0.2.2: icmp_seq=3 ttl=64 time=0.3 ms
[1700000000.290000] 64 bytes from 192.0.2.2: icmp_seq=30 ttl=64 time=0.3 ms
[1700000000.300000] 64 bytes from 192.0.2.2: icmp_seq=31 ttl=64 time=0.3 ms

--- 192.0.2.2 ping statistics ---
`
	rs := parsePing(out)
	if len(rs) != 5 {
		t.Fatalf("parsePing: %d replies, want 5 (the DUP! left out): %v", len(rs), rs)
	}
	if rs[2].seq != 3 || rs[2].at != time.Unix(1700000000, 20_000_000) {
		t.Errorf("third reply %+v, want seq 3 at .020", rs[2])
	}
	start, end := time.Unix(1700000000, 5_000_000), time.Unix(1700000000, 295_000_000)
	g, err := longestGap(rs, start, end)
	if err != nil {
		t.Fatal(err)
	}
	if g.longest != 270*time.Millisecond || g.lost != 26 || g.replies != 5 || !g.from.Equal(rs[2].at) {
		t.Errorf("longestGap = %+v, want 270ms after the third reply, 26 lost of 5 replies", g)
	}
	if _, err := longestGap(rs, time.Unix(1700000000, 0), end); err == nil {
		t.Error("no reply before the start: want an error")
	}
	if _, err := longestGap(rs, start, time.Unix(1700000001, 0)); err == nil {
		t.Error("no reply after the end: want an error")
	}
}

func TestPingerPrefix(t *testing.T) {
	p, err := pingerPrefix("192.0.2.2")
	if err != nil || p.String() != "192.0.2.254/24" {
		t.Errorf("pingerPrefix = %v, %v", p, err)
	}
	for _, bad := range []string{"2001:db8::2", "x", "192.0.2.254"} {
		if _, err := pingerPrefix(bad); err == nil {
			t.Errorf("pingerPrefix(%q): want an error", bad)
		}
	}
}

func testTemplate() *template {
	return &template{exe: "/usr/bin/qemu-system-x86_64", vmDir: "/d/h1/vms/7", disk: "/d/h1/disks/5.qcow2", node: "d5",
		seedArg: "/d/h1/seeds/7.iso", seed: "/w/seed.iso",
		args: []string{"-name", "berth-7", "-qmp", "unix:/d/h1/vms/7/qmp.sock,server=on,wait=off",
			"-blockdev", `{"driver":"qcow2","file":{"driver":"file","filename":"/d/h1/disks/5.qcow2"},"node-name":"d5"}`,
			"-blockdev", `{"driver":"raw","file":{"driver":"file","filename":"/d/h1/seeds/7.iso"},"node-name":"seed","read-only":true}`,
			"-netdev", "tap,id=n1,fd=3,vhost=off", "-device", "virtio-net-pci,netdev=n1,id=nic1,mac=02:00:00:00:00:01"}}
}

func TestArgsFor(t *testing.T) {
	got, err := testTemplate().argsFor("/b/q2", "/b/q2/disk.qcow2", "/b/q2/seed.iso", "bt2")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"-name", "bench-migrate", "-qmp", "unix:/b/q2/qmp.sock,server=on,wait=off",
		"-blockdev", `{"driver":"qcow2","file":{"driver":"file","filename":"/b/q2/disk.qcow2"},"node-name":"d5"}`,
		"-blockdev", `{"driver":"raw","file":{"driver":"file","filename":"/b/q2/seed.iso"},"node-name":"seed","read-only":true}`,
		"-netdev", "tap,ifname=bt2,script=no,downscript=no,id=n1,vhost=off", "-device", "virtio-net-pci,netdev=n1,id=nic1,mac=02:00:00:00:00:01"}
	if !slices.Equal(got, want) {
		t.Errorf("argsFor:\n got %q\nwant %q", got, want)
	}
	for _, extra := range [][]string{{"-chardev", "socket,id=x,fd=4"}, {"-add-fd", "fd=3,set=1"},
		{"-blockdev", `{"driver":"raw","file":{"driver":"file","filename":"/other.img"}}`}} {
		tm := testTemplate()
		tm.args = append(tm.args, extra...)
		if _, err := tm.argsFor("/b/q2", "/b/q2/disk.qcow2", "/b/q2/seed.iso", "bt2"); err == nil {
			t.Errorf("argsFor with %q: want an error", extra)
		}
	}
}

func TestFindLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "berthd.log")
	log := `{"time":"2026-12-05T10:00:00.5Z","level":"INFO","msg":"vm migrated","vm":3,"total_ms":900,"downtime_ms":80}
not json
{"time":"2026-12-05T10:00:01.25Z","level":"INFO","msg":"vm migrated","vm":4,"total_ms":700,"downtime_ms":60}
`
	if err := os.WriteFile(path, []byte(log), 0o600); err != nil {
		t.Fatal(err)
	}
	l, ok := findLog(path, 0, "vm migrated", 4)
	if !ok || l.TotalMS != 700 || l.DowntimeMS != 60 || !l.Time.Equal(time.Date(2026, 12, 5, 10, 0, 1, 250e6, time.UTC)) {
		t.Errorf("findLog vm 4 = %+v, %v", l, ok)
	}
	if _, ok := findLog(path, int64(strings.Index(log, "not json")), "vm migrated", 3); ok {
		t.Error("findLog found a line before the offset")
	}
}

func TestNonZero(t *testing.T) {
	if got := nonZero([]time.Duration{0, 2, 0, 1}); !slices.Equal(got, []time.Duration{2, 1}) {
		t.Errorf("nonZero = %v", got)
	}
}

func TestReport(t *testing.T) {
	s := func(total, gap time.Duration) sample {
		return sample{from: "h1", to: "h2", total: total, running: total - 100*time.Millisecond, gap: gap2(gap),
			qemuTotal: total / 2, qemuDowntime: gap / 2, milestones: [4]time.Duration{1, 2, 3, 4}}
	}
	r := &results{
		berth: []sample{s(2000*time.Millisecond, 200*time.Millisecond), s(2400*time.Millisecond, 260*time.Millisecond)},
		bare:  []sample{s(1000*time.Millisecond, 250*time.Millisecond), s(1000*time.Millisecond, 150*time.Millisecond)},
	}
	r.berth[0].submit = 200 * time.Millisecond
	var b strings.Builder
	report(&b, r)
	out := b.String()
	for _, want := range []string{
		"ratio berth/bare of the medians: total 2.20 (+1200 ms), downtime (ping gap) 1.15 (+30 ms)",
		"goal: total at most 1.2× bare: MISSED (2.20)",
		"goal: downtime under 300 ms through Berth: met (median 230 ms, max 260 ms)",
		"median    2200 ms",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if line := runLine("run 1", "berth", r.berth[0]); !strings.Contains(line, "admin command 200 ms") || !strings.Contains(line, "downtime (ping gap) 200 ms") {
		t.Errorf("runLine = %q", line)
	}
}

func gap2(d time.Duration) gap { return gap{longest: d} }

func TestCheck(t *testing.T) {
	ok := options{runs: 5, warmup: 1, bootTimeout: time.Minute, moveTimeout: time.Minute, settle: time.Second}
	if err := ok.check(); err != nil {
		t.Errorf("check(%+v) = %v", ok, err)
	}
	for _, bad := range []func(*options){
		func(o *options) { o.runs = 0 },
		func(o *options) { o.warmup = -1 },
		func(o *options) { o.moveTimeout = 0 },
		func(o *options) { o.settle = 50 * time.Millisecond },
	} {
		o := ok
		bad(&o)
		if err := o.check(); err == nil {
			t.Errorf("check(%+v): want an error", o)
		}
	}
}
