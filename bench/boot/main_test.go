package main

import (
	"bufio"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestBareArgs(t *testing.T) {
	tmpl := func(extra ...string) *template {
		args := []string{
			"-name", "berth-1", "-machine", "pc", "-m", "256M,slots=8,maxmem=2048M",
			"-qmp", "unix:/d/vms/1/qmp.sock,server=on,wait=off",
			"-chardev", "socket,id=ser0,path=/d/vms/1/console.sock,server=on,wait=off,logfile=/d/vms/1/console.log,logappend=on",
			"-pidfile", "/d/vms/1/qemu.pid", "-kernel", "/img/vmlinuz",
			"-blockdev", `{"driver":"qcow2","file":{"driver":"file","filename":"/d/disks/5.qcow2"},"node-name":"d5"}`,
			"-blockdev", `{"driver":"raw","file":{"driver":"file","filename":"/d/seeds/1.iso"},"node-name":"seed","read-only":true}`,
			"-netdev", "tap,id=n1,fd=3,vhost=off",
			"-device", "virtio-net-pci,netdev=n1,id=nic1,mac=02:00:00:00:00:01",
		}
		return &template{args: append(args, extra...), vmDir: "/d/vms/1", data: "/d"}
	}
	files := map[string]string{"/d/disks/5.qcow2": "/b/7/disk1.qcow2", "/d/seeds/1.iso": "/b/7/1.iso"}
	want := []string{
		"-name", "bench-bare-7", "-machine", "pc", "-m", "256M,slots=8,maxmem=2048M",
		"-qmp", "unix:/b/7/qmp.sock,server=on,wait=off",
		"-chardev", "socket,id=ser0,path=/b/7/console.sock,server=on,wait=off,logfile=/b/7/console.log,logappend=on",
		"-pidfile", "/b/7/qemu.pid", "-kernel", "/img/vmlinuz",
		"-blockdev", `{"driver":"qcow2","file":{"driver":"file","filename":"/b/7/disk1.qcow2"},"node-name":"d5"}`,
		"-blockdev", `{"driver":"raw","file":{"driver":"file","filename":"/b/7/1.iso"},"node-name":"seed","read-only":true}`,
		"-netdev", "user,id=n1,restrict=on",
		"-device", "virtio-net-pci,netdev=n1,id=nic1,mac=02:00:00:00:00:01",
	}
	got, err := bareArgs(tmpl(), "/b/7", 7, files)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("bareArgs (-want +got):\n%s", d)
	}

	for _, tc := range []struct {
		name  string
		t     *template
		files map[string]string
		want  string
	}{
		{"descriptor", tmpl("-add-fd", "fd=4,set=1"), files, "file descriptor"},
		{"fd option", tmpl("-chardev", "socket,id=x,fd=5"), files, "file descriptor"},
		{"other data path", tmpl("-initrd", "/d/kernels/initrd"), files, "data directory"},
		{"tap without id", tmpl("-netdev", "tap,fd=4"), files, "no id"},
		{"disk without copy", tmpl(), map[string]string{"/d/seeds/1.iso": "/b/7/1.iso"}, "no copy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := bareArgs(tc.t, "/b/7", 7, tc.files)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("bareArgs error = %v, want one about %q", err, tc.want)
			}
		})
	}
}

func TestFindMarker(t *testing.T) {
	for _, tc := range []struct {
		name    string
		log     string
		want    bootMarker
		found   bool
		wantErr bool
	}{
		{"none", "berth: sshd up uptime=8.63 [8.64]\r\n", bootMarker{}, false, false},
		{"complete", "boot...\r\nBERTH-BOOTED host=t1 mem_kb=222840 cpus=1\r\n", bootMarker{"t1", 222840, 1, 0}, true, false},
		{"with uptime", "berth: sshd up uptime=8.63 [8.64]\r\nBERTH-BOOTED host=t1 mem_kb=222840 cpus=1\r\n",
			bootMarker{"t1", 222840, 1, 8630 * time.Millisecond}, true, false},
		{"not complete yet", "boot...\r\nBERTH-BOOTED host=t1 mem_kb=2228", bootMarker{}, false, false},
		{"failed", "BERTH-BOOT-FAILED sshd did not start\r\n", bootMarker{}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, err := findMarker([]byte(tc.log))
			if (err != nil) != tc.wantErr || ok != tc.found || got != tc.want {
				t.Errorf("findMarker = %+v, %v, %v; want %+v, %v, error %v", got, ok, err, tc.want, tc.found, tc.wantErr)
			}
		})
	}
}

func TestWaitBoot(t *testing.T) {
	path := filepath.Join(t.TempDir(), "console.log")
	go func() {
		// The log appears late and the line arrives in two writes.
		time.Sleep(30 * time.Millisecond)
		f, err := os.Create(path)
		if err != nil {
			return
		}
		defer f.Close()
		f.WriteString("kernel...\r\nBERTH-BOOTED host=x mem")
		time.Sleep(30 * time.Millisecond)
		f.WriteString("_kb=1000 cpus=2\r\n")
	}()
	ticks := 0
	at, m, err := waitBoot(t.Context(), path, 10*time.Second, func() error { ticks++; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if m != (bootMarker{"x", 1000, 2, 0}) || at.IsZero() || ticks == 0 {
		t.Errorf("waitBoot = %v, %+v after %d ticks", at, m, ticks)
	}
	if _, _, err := waitBoot(t.Context(), filepath.Join(t.TempDir(), "none"), 50*time.Millisecond, func() error { return nil }); err == nil {
		t.Error("waitBoot of a log that never appears succeeded")
	}
}

func TestStat(t *testing.T) {
	// The command name may hold spaces and parentheses.
	line := "1234 (qemu (x) y) S 1 1234 1234 0 -1 4194560 100 0 0 0 10 5 0 0 20 0 3 0 98765 2000000 5000 0 0 0"
	ticks, err := startTicks(line)
	if err != nil || ticks != 98765 {
		t.Errorf("startTicks = %d, %v; want 98765", ticks, err)
	}
	if cpu, err := statCPU(line); err != nil || cpu != 150*time.Millisecond {
		t.Errorf("statCPU = %s, %v; want 150ms", cpu, err)
	}
	if s, ok := procState(line); !ok || s != "S" {
		t.Errorf("procState = %q, %v; want S", s, ok)
	}
	if _, err := startTicks("1234 (x) S 1"); err == nil {
		t.Error("startTicks of a short line succeeded")
	}
	// This process started before now, and not long before.
	start, err := procStart(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if age := time.Since(start); age < -20*time.Millisecond || age > 10*time.Minute {
		t.Errorf("procStart of the test process: started %s ago", age)
	}
}

// fakeShell serves a console socket like the guest's shell on a tty: it echoes each line,
// answers grep MemTotal with the next value of mems, runs `echo X"-N"`, and ignores the
// first `deaf` lines (a shell not started yet).
func fakeShell(t *testing.T, deaf int, mems ...string) string {
	path := filepath.Join(t.TempDir(), "console.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		sc := bufio.NewScanner(c)
		for sc.Scan() {
			line := sc.Text()
			if deaf > 0 {
				deaf--
				continue
			}
			out := line + "\r\n"
			for cmd := range strings.SplitSeq(line, "; ") {
				if strings.HasPrefix(cmd, "grep MemTotal") && len(mems) > 0 {
					out += "MemTotal:       " + mems[0] + " kB\r\n"
					mems = mems[1:]
				}
				if arg, ok := strings.CutPrefix(cmd, "echo "); ok {
					out += strings.ReplaceAll(arg, `"`, "") + "\r\n"
				}
			}
			out += "~ # "
			if _, err := c.Write([]byte(out)); err != nil {
				return
			}
		}
	}()
	return path
}

func TestConsole(t *testing.T) {
	path := fakeShell(t, 1, "222840", "747128")
	c, err := dialConsole(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	if err := c.ready(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	var got []int64
	for range 2 {
		m, err := c.memTotal()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, m)
	}
	if d := cmp.Diff([]int64{222840, 747128}, got); d != "" {
		t.Errorf("MemTotal reads (-want +got):\n%s", d)
	}
	out, err := c.run("true", 5*time.Second)
	if err != nil || out != "" {
		t.Errorf("run(true) = %q, %v; want no output", out, err)
	}
	if _, err := c.memTotal(); err == nil {
		t.Error("memTotal with no MemTotal line succeeded")
	}
}

func TestParseMemTotal(t *testing.T) {
	if n, err := parseMemTotal("MemTotal:         222840 kB"); err != nil || n != 222840 {
		t.Errorf("parseMemTotal = %d, %v", n, err)
	}
	if _, err := parseMemTotal("grep: /proc/meminfo: No such file"); err == nil {
		t.Error("parseMemTotal without MemTotal succeeded")
	}
}

func TestCheck(t *testing.T) {
	ok := options{runs: 10, memRuns: 5, warmup: 1, bootTimeout: time.Minute, idle: time.Second}
	if err := ok.check(); err != nil {
		t.Errorf("check(%+v) = %v", ok, err)
	}
	for _, change := range []func(*options){
		func(o *options) { o.runs = 0 },
		func(o *options) { o.memRuns = 11 },
		func(o *options) { o.memRuns = -1 },
		func(o *options) { o.warmup = -1 },
		func(o *options) { o.bootTimeout = 0 },
		func(o *options) { o.idle = -time.Second },
	} {
		o := ok
		change(&o)
		if err := o.check(); err == nil {
			t.Errorf("check(%+v) succeeded", o)
		}
	}
}

func TestReport(t *testing.T) {
	s := func(x float64) time.Duration { return time.Duration(x * float64(time.Second)) }
	for _, tc := range []struct {
		berth, bare []float64
		want        []string
	}{
		{[]float64{6, 6.2, 5.9}, []float64{5, 5.1, 4.9}, []string{"ratio berth/bare of the medians: 1.200", "MISSED (20.0 %)"}},
		{[]float64{5.2, 5.3}, []float64{5, 5}, []string{"ratio berth/bare of the medians: 1.050", ": met (5.0 %)", "pairs' own ratios", "guest uptime at sshd up, median: berth 4.000 s, bare 3.800 s (1.053)", "berthd uses 0.050 cores (0.263 s over"}},
	} {
		r := &results{mem: []memSample{{before: 222840, after: 747128, guest: s(0.12), op: s(0.04), polls: 3, pollTime: s(0.09)}}}
		for i := range tc.berth {
			r.berth = append(r.berth, bootSample{total: s(tc.berth[i]), exec: s(0.3), marker: bootMarker{Uptime: s(4)}})
			r.bare = append(r.bare, bootSample{total: s(tc.bare[i]), marker: bootMarker{Uptime: s(3.8)}})
		}
		var b strings.Builder
		r.idle = 0.05
		report(&b, options{warmup: 1, idle: time.Second}, r)
		for _, w := range append(tc.want, "222840 → 747128 kB", "0.120 s") {
			if !strings.Contains(b.String(), w) {
				t.Errorf("report lacks %q:\n%s", w, b.String())
			}
		}
	}
}
