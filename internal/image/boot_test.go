package image

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// cacheDir is where `make tiny` leaves images: $BERTH_CACHE, else the
// repository's .cache/images.
func cacheDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("BERTH_CACHE"); d != "" {
		return d
	}
	d, err := filepath.Abs(filepath.Join("..", "..", ".cache", "images"))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// needBuilt skips (or, with CI=true, fails) when the image is not built.
func needBuilt(t *testing.T, what string) {
	t.Helper()
	msg := what + " not available: run `make tiny` (images/images.mk) first"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// TestBuiltManifests validates every manifest in the image cache.
func TestBuiltManifests(t *testing.T) {
	dir := cacheDir(t)
	if _, err := os.Stat(filepath.Join(dir, "tiny", ManifestFile)); err != nil {
		needBuilt(t, "tiny image manifest")
	}
	ms, err := LoadDir(dir)
	if err != nil {
		t.Fatalf("LoadDir(%s): %v", dir, err)
	}
	m, ok := Find(ms, "tiny")
	if !ok {
		t.Fatalf("no tiny image in %s", dir)
	}
	if m.Label != "Berth Tiny" || m.SizeMB < 128 || !strings.Contains(m.Cmdline, "root=/dev/vda") {
		t.Errorf("unexpected tiny manifest: %+v", m)
	}
}

// TestBootTiny boots the built tiny image under TCG with a NoCloud seed,
// checks the seed contract's markers, hot-adds a DIMM and sees MemTotal grow
// on the serial console, then powers it off over QMP.
func TestBootTiny(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a VM")
	}
	m, err := Load(filepath.Join(cacheDir(t), "tiny", ManifestFile))
	if err != nil {
		needBuilt(t, fmt.Sprintf("tiny image (%v)", err))
	}
	for _, tool := range []string{"qemu-system-x86_64", "qemu-img", "genisoimage"} {
		if _, err := exec.LookPath(tool); err != nil {
			needBuilt(t, tool)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	work := t.TempDir()

	seed := filepath.Join(work, "seed")
	files := map[string]string{
		"meta-data":      "instance-id: gotest-1\nlocal-hostname: ignored-meta\n",
		"user-data":      "#cloud-config\n{}\n",
		"network-config": "version: 2\nethernets: {}\n",
		"berth/hostname": "gotest-tiny\n",
		"berth/run":      "echo RUN-SAYS-$((40+2)) > /dev/console\n",
	}
	for name, data := range files {
		p := filepath.Join(seed, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	iso := filepath.Join(work, "seed.iso")
	run(t, "genisoimage", "-quiet", "-output", iso, "-volid", "cidata", "-joliet", "-rock", seed)
	disk := filepath.Join(work, "disk.qcow2")
	run(t, "qemu-img", "create", "-q", "-f", "qcow2", "-b", m.Disk, "-F", "qcow2", disk)

	serLog, serSock, qmpSock := filepath.Join(work, "serial.log"), filepath.Join(work, "serial.sock"), filepath.Join(work, "qmp.sock")
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64",
		"-machine", "pc", "-accel", "tcg", "-cpu", "qemu64", "-m", "256M,slots=4,maxmem=2G",
		"-smp", "1,maxcpus=4", "-nodefaults", "-display", "none", "-no-user-config",
		"-chardev", "socket,id=ser0,path="+serSock+",server=on,wait=off,logfile="+serLog,
		"-serial", "chardev:ser0", "-qmp", "unix:"+qmpSock+",server=on,wait=off",
		"-kernel", m.Kernel, "-initrd", m.Initrd, "-append", m.Cmdline,
		"-drive", "file="+disk+",if=none,id=root,format=qcow2", "-device", "virtio-blk-pci,drive=root",
		"-drive", "file="+iso+",if=none,id=seed,format=raw,readonly=on", "-device", "virtio-blk-pci,drive=seed",
		"-device", "virtio-rng-pci",
	)
	out, err := os.Create(filepath.Join(work, "qemu.out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start qemu: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	defer func() {
		if !stopped {
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			data, _ := os.ReadFile(serLog)
			t.Logf("serial log:\n%s", data)
		}
	}()

	waitLog(t, serLog, regexp.MustCompile(`BERTH-BOOTED host=gotest-tiny mem_kb=(\d+) cpus=1`), 3*time.Minute)
	t.Logf("BERTH-BOOTED after %.1fs", time.Since(start).Seconds())
	waitLog(t, serLog, regexp.MustCompile(`BERTH-RUN-DONE rc=0`), time.Minute)
	waitLog(t, serLog, regexp.MustCompile(`RUN-SAYS-42`), time.Second)

	q := dialQMP(t, qmpSock)
	defer q.Close()
	before := consoleMem(t, serSock, serLog, 1)
	q.do(t, `{"execute":"object-add","arguments":{"qom-type":"memory-backend-ram","id":"mem1","size":536870912}}`)
	q.do(t, `{"execute":"device_add","arguments":{"driver":"pc-dimm","id":"dimm1","memdev":"mem1"}}`)
	var after int
	deadline := time.Now().Add(time.Minute)
	for n := 2; ; n++ {
		after = consoleMem(t, serSock, serLog, n)
		if after >= before+500_000 || time.Now().After(deadline) {
			break
		}
	}
	if after < before+500_000 {
		t.Fatalf("MemTotal %d kB -> %d kB after hot-adding 512 MiB", before, after)
	}
	t.Logf("MemTotal %d -> %d kB", before, after)

	q.do(t, `{"execute":"system_powerdown"}`)
	select {
	case err := <-exited:
		stopped = true
		if err != nil {
			t.Errorf("qemu exited with %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("qemu still running a minute after system_powerdown")
	}
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// waitLog polls the serial log until re matches, and returns the match.
func waitLog(t *testing.T, path string, re *regexp.Regexp, timeout time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		data, _ := os.ReadFile(path)
		if m := re.FindStringSubmatch(string(data)); m != nil {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("serial log: no %q within %v", re, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// consoleMem types a command on the serial console shell and returns the
// guest's MemTotal in kB. n makes the output line unique.
func consoleMem(t *testing.T, sock, log string, n int) int {
	t.Helper()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatalf("dial serial console: %v", err)
	}
	defer c.Close()
	// The echoed input shows "$((n+1000))", the output the computed value.
	fmt.Fprintf(c, "echo MEM-$((%d+1000))-$(awk '/^MemTotal:/{print $2}' /proc/meminfo)\n", n)
	m := waitLog(t, log, regexp.MustCompile(fmt.Sprintf(`MEM-%d-(\d+)`, n+1000)), 30*time.Second)
	v, err := strconv.Atoi(m[1])
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// qmpConn is a minimal QMP client: one command at a time, events skipped.
type qmpConn struct {
	net.Conn
	r *bufio.Reader
}

func dialQMP(t *testing.T, path string) *qmpConn {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatalf("dial qmp: %v", err)
	}
	q := &qmpConn{Conn: c, r: bufio.NewReader(c)}
	if _, err := q.r.ReadBytes('\n'); err != nil {
		t.Fatalf("qmp greeting: %v", err)
	}
	q.do(t, `{"execute":"qmp_capabilities"}`)
	return q
}

// do sends one command and fails the test unless QEMU returns success.
func (q *qmpConn) do(t *testing.T, command string) json.RawMessage {
	t.Helper()
	if err := q.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := fmt.Fprintln(q, command); err != nil {
		t.Fatalf("qmp %s: %v", command, err)
	}
	for {
		line, err := q.r.ReadBytes('\n')
		if err != nil {
			t.Fatalf("qmp %s: %v", command, err)
		}
		var reply struct {
			Return json.RawMessage `json:"return"`
			Error  *struct {
				Desc string `json:"desc"`
			} `json:"error"`
		}
		if err := json.Unmarshal(line, &reply); err != nil {
			t.Fatalf("qmp reply %q: %v", line, err)
		}
		switch {
		case reply.Error != nil:
			t.Fatalf("qmp %s: %s", command, reply.Error.Desc)
		case reply.Return != nil:
			return reply.Return
		}
	}
}
