package e2e

// Helpers of the tests with real VMs (qemu_test.go, network_test.go): berthd runs with
// --backend qemu on the images built by `make images`, in network namespaces of its own
// (a unique --netns-prefix per test), and the tests look inside the guests through their
// serial consoles and over SSH from the datacenter's namespace.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-io/berth/internal/netdev/linux"
	"github.com/berth-io/berth/internal/xmlrpc"
)

// Timeouts of the VM tests. TCG boots Berth Tiny in 5–8 s on an idle host, 15–30 s on a
// loaded one (images/README.md); `go test ./...` runs other packages' VMs at the same time.
const (
	bootTimeout  = 120 * time.Second // create/start/reboot → BERTH-BOOTED
	opTimeout    = 90 * time.Second  // one operation (a stop waits for the guest's power-off)
	guestTimeout = 30 * time.Second  // a change to show inside a running guest
	cmdTimeout   = 30 * time.Second  // one console or SSH command
)

// fsd5 is the datacenter of the VM tests (FR-SD5, id 1); its namespace is <prefix>fr-sd5.
const fsd5 = 1

// runPrefix is the start of every namespace prefix of this test process, so that TestMain
// can find what the process's tests left behind.
func runPrefix() string { return fmt.Sprintf("berth-t%x", os.Getpid()) }

// Parallel tests: the tests that boot Tiny guests run one at a time (on CI's 2 cores
// without KVM, two of them side by side starved each other's guest boots). The tests on
// the sim backend, and TestDebianCloudInit, whose Debian guest spends two minutes booting,
// call t.Parallel: they run together after the others, the Debian boot beside the sim
// tests (make test runs go test with -parallel 3).
//
// TestMain runs the tests, then checks that no network namespace of this run is left (each
// VM test removes its own at its end); it removes any left and fails the run.
func TestMain(m *testing.M) {
	code := m.Run()
	if err := stopLocalCluster(); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: local cluster down: %v\n", err)
		code = 1
	}
	if os.Geteuid() == 0 {
		if left := namespacesWith(runPrefix() + "-"); len(left) > 0 {
			fmt.Fprintf(os.Stderr, "FAIL: network namespaces left behind: %v\n", left)
			if err := linux.Cleanup(runPrefix() + "-"); err != nil {
				fmt.Fprintf(os.Stderr, "cleanup: %v\n", err)
			}
			code = 1
		}
	}
	os.Exit(code)
}

// namespacesWith lists the named network namespaces whose names start with prefix.
func namespacesWith(prefix string) []string {
	entries, _ := os.ReadDir(linux.NamespaceDir)
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			out = append(out, e.Name())
		}
	}
	return out
}

// needVMs skips the test when VMs cannot run here (root, QEMU, the tiny image, the tools
// the tests use); under CI=true it fails instead. It returns the images directory.
func needVMs(t *testing.T) string {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatalf(format+" (CI=true)", args...)
		}
		t.Skipf(format, args...)
	}
	if os.Geteuid() != 0 {
		missing("VM tests need root (network namespaces, taps)")
	}
	for _, bin := range []string{"qemu-system-x86_64", "qemu-img", "ip", "ssh", "ssh-keygen", "ping", "pgrep"} {
		if _, err := exec.LookPath(bin); err != nil {
			missing("%s is not installed: %v", bin, err)
		}
	}
	dir := os.Getenv("BERTH_CACHE")
	if dir == "" {
		dir = filepath.Join("..", "..", ".cache", "images")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(abs, "tiny", "manifest.json")); err != nil {
		missing("the Berth Tiny image is not built (make images): %v", err)
	}
	return abs
}

// qenv is one berthd on the qemu backend, with an account, the tiny image and an SSH key.
type qenv struct {
	t      *testing.T
	b      *Berthd
	key    string // API key
	prefix string // --netns-prefix
	ns     string // namespace of FR-SD5
	image  int64  // disk id of Berth Tiny in FR-SD5
	sshKey string // private key file
	sshPub string // public key line
	// consoles are the open console connections, by VM id (shared with subtests).
	consoles map[int64]*guestConsole
	// tornDown is set once the VMs were deleted at the end of the test.
	tornDown *bool
}

// newQEnv starts berthd on the qemu backend with a unique namespace prefix. At the end
// of the test it deletes the VMs left through the API, kills berthd, fails if a QEMU of
// the data directory survives (and kills it), removes the test's namespaces and fails if
// one cannot be removed.
func newQEnv(t *testing.T) *qenv {
	t.Helper()
	images := needVMs(t)
	rnd := make([]byte, 3)
	if _, err := rand.Read(rnd); err != nil {
		t.Fatal(err)
	}
	e := &qenv{t: t, prefix: runPrefix() + "-" + hex.EncodeToString(rnd) + "-", consoles: map[int64]*guestConsole{}, tornDown: new(bool)}
	e.ns = e.prefix + "fr-sd5"
	e.b = NewBerthd(t, "qemu", "--images", images, "--netns-prefix", e.prefix)
	// Registered before Start: runs after the harness has killed berthd.
	t.Cleanup(e.finalCheck)
	e.start()
	e.key = e.b.Account("vmtester", 1000000)
	for _, x := range asList(t, e.call("hosting.image.list", map[string]any{"datacenter_id": fsd5})) {
		im := asMap(t, x)
		if im["label"] == "Berth Tiny" {
			e.image = asID(t, im["disk_id"])
		}
	}
	if e.image == 0 {
		t.Fatalf("no Berth Tiny image in datacenter %d", fsd5)
	}
	dir := t.TempDir()
	e.sshKey = filepath.Join(dir, "id_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "berth-e2e", "-f", e.sshKey).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	pub, err := os.ReadFile(e.sshKey + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	e.sshPub = strings.TrimSpace(string(pub))
	return e
}

// start starts (or restarts) berthd. The VMs are deleted before the harness kills it at
// the end of the test.
func (e *qenv) start() {
	e.t.Helper()
	begin := time.Now()
	e.b.Start()
	e.t.Logf("berthd serving after %s", time.Since(begin).Round(time.Millisecond))
	e.t.Cleanup(e.teardown)
}

// teardown stops and deletes every VM still there, once, while berthd runs.
func (e *qenv) teardown() {
	if *e.tornDown || e.b.cmd == nil {
		return
	}
	*e.tornDown = true
	e.closeConsoles()
	if e.t.Failed() {
		e.t.Logf("berthd log (tail):\n%s", lastLines(e.b.Stderr(), 60))
	}
	list, err := e.b.Call("hosting.vm.list", e.key)
	if err != nil {
		e.t.Errorf("teardown: vm.list: %v", err)
		return
	}
	vms, _ := list.([]any)
	for _, x := range vms {
		vm, _ := x.(map[string]any)
		id, _ := vm["id"].(int64)
		if vm["state"] == "running" {
			if err := e.tryOp("hosting.vm.stop", id); err != nil {
				e.t.Errorf("teardown: stop vm %d: %v", id, err)
			}
		}
		if err := e.tryOp("hosting.vm.delete", id); err != nil {
			e.t.Errorf("teardown: delete vm %d: %v", id, err)
		}
	}
}

// tryOp calls a method returning one operation and waits for it, without failing the test.
func (e *qenv) tryOp(method string, params ...any) error {
	v, err := e.b.Call(method, append([]any{e.key}, params...)...)
	if err != nil {
		return err
	}
	op, _ := v.(map[string]any)
	id, _ := op["id"].(int64)
	return e.waitOp(id)
}

// finalCheck runs after berthd was killed: no QEMU of the data directory may survive, and
// the test's namespaces are removed.
func (e *qenv) finalCheck() {
	t := e.t
	e.closeConsoles()
	if pids := pgrepF(t, e.b.Data); len(pids) > 0 {
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		t.Errorf("processes of %s survived the test (killed): %v", e.b.Data, pids)
	}
	if err := linux.Cleanup(e.prefix); err != nil {
		t.Errorf("remove namespaces %s*: %v", e.prefix, err)
	}
	if left := namespacesWith(e.prefix); len(left) > 0 {
		t.Errorf("namespaces left after cleanup: %v", left)
	}
}

// in returns the environment as seen by a subtest: failures go to t.
func (e *qenv) in(t *testing.T) *qenv {
	c := *e
	c.t = t
	return &c
}

// closeConsoles closes every console connection.
func (e *qenv) closeConsoles() {
	for id, c := range e.consoles {
		c.conn.Close()
		delete(e.consoles, id)
	}
}

// call calls a method with the API key and fails the test on a fault.
func (e *qenv) call(method string, params ...any) any {
	e.t.Helper()
	v, err := e.b.Call(method, append([]any{e.key}, params...)...)
	if err != nil {
		e.t.Fatalf("%s%v: %v", method, params, err)
	}
	return v
}

// fault calls a method that must fail and returns its fault code.
func (e *qenv) fault(method string, params ...any) int {
	e.t.Helper()
	_, err := e.b.Call(method, append([]any{e.key}, params...)...)
	var f *xmlrpc.Fault
	if !errors.As(err, &f) {
		e.t.Fatalf("%s%v: want a fault, got %v", method, params, err)
	}
	return f.Code
}

// wait waits for operations and fails unless each ends DONE.
func (e *qenv) wait(ops ...any) {
	e.t.Helper()
	for _, o := range ops {
		op := asMap(e.t, o)
		if err := e.waitOp(asID(e.t, op["id"])); err != nil {
			e.t.Fatalf("%v: %v", op["type"], err)
		}
	}
}

// waitOp polls operation.info until the operation ends; an error unless it is DONE.
func (e *qenv) waitOp(id int64) error {
	deadline := time.Now().Add(opTimeout)
	for {
		v, err := e.b.Call("operation.info", e.key, id)
		if err != nil {
			return err
		}
		op, _ := v.(map[string]any)
		switch step := op["step"]; step {
		case "DONE":
			return nil
		case "ERROR", "CANCEL":
			return fmt.Errorf("operation %d ended %v: %v", id, step, op["last_error"])
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("operation %d still %v after %s", id, op["step"], opTimeout)
		}
		time.Sleep(100 * time.Millisecond) // polling interval
	}
}

// do calls a method that returns one operation and waits for it to be DONE.
func (e *qenv) do(method string, params ...any) map[string]any {
	e.t.Helper()
	op := asMap(e.t, e.call(method, params...))
	e.wait(op)
	return op
}

// guestVM is a VM of the test and what the test knows of it.
type guestVM struct {
	e        *qenv
	id       int64
	hostname string
	sysDisk  int64  // boot disk
	iface    int64  // first iface
	ip4, ip6 string // addresses of the first iface ("" when private or IPv6-only)
	ips      []string
}

// in returns the VM as seen by a subtest: failures go to t.
func (g *guestVM) in(t *testing.T) *guestVM {
	c := *g
	c.e = g.e.in(t)
	return &c
}

// createVMs creates VMs from the tiny image at once (256 MB, the test's SSH key plus
// spec) and waits until every one is running and booted. It logs how long that took.
func (e *qenv) createVMs(specs ...map[string]any) []*guestVM {
	e.t.Helper()
	begin := time.Now()
	var vms []*guestVM
	var ops []any
	for _, s := range specs {
		spec := map[string]any{"datacenter_id": fsd5, "memory": 256, "ssh_key": e.sshPub}
		for k, v := range s {
			spec[k] = v
		}
		res := asList(e.t, e.call("hosting.vm.create_from", spec, map[string]any{"name": "sys-" + spec["hostname"].(string)}, e.image))
		g := &guestVM{e: e, hostname: spec["hostname"].(string)}
		for _, o := range res {
			op := asMap(e.t, o)
			switch op["type"] {
			case "vm_create":
				g.id = asID(e.t, op["vm_id"])
			case "disk_create":
				g.sysDisk = asID(e.t, op["disk_id"])
			}
		}
		ops = append(ops, res...)
		vms = append(vms, g)
	}
	e.wait(ops...)
	for _, g := range vms {
		g.refresh()
		if st := g.state(); st != "running" {
			e.t.Fatalf("vm %d (%s) is %v after vm_create DONE", g.id, g.hostname, st)
		}
	}
	for _, g := range vms {
		g.waitBooted(0)
	}
	e.t.Logf("%d VM(s) created and booted in %s", len(vms), time.Since(begin).Round(time.Millisecond))
	return vms
}

// info returns vm.info.
func (g *guestVM) info() map[string]any {
	g.e.t.Helper()
	return asMap(g.e.t, g.e.call("hosting.vm.info", g.id))
}

// state returns the VM's state as the API reports it.
func (g *guestVM) state() any { return g.info()["state"] }

// refresh reads the VM's boot disk, first iface and addresses from vm.info.
func (g *guestVM) refresh() {
	t := g.e.t
	t.Helper()
	vm := g.info()
	if disks := asList(t, vm["disks"]); len(disks) > 0 {
		g.sysDisk = asID(t, asMap(t, disks[0])["id"])
	}
	g.ip4, g.ip6, g.ips = "", "", nil
	ifaces := asList(t, vm["ifaces"])
	for i, x := range ifaces {
		f := asMap(t, x)
		if i == 0 {
			g.iface = asID(t, f["id"])
		}
		for _, y := range asList(t, f["ips"]) {
			ip := asMap(t, y)
			addr, _ := ip["ip"].(string)
			g.ips = append(g.ips, addr)
			if i == 0 && ip["version"] == int64(4) && g.ip4 == "" {
				g.ip4 = addr
			}
			if i == 0 && ip["version"] == int64(6) && g.ip6 == "" {
				g.ip6 = addr
			}
		}
	}
}

// dir is the VM's run directory.
func (g *guestVM) dir() string { return filepath.Join(g.e.b.Data, "vms", strconv.FormatInt(g.id, 10)) }

// consoleLog is the path of the VM's serial log (appended across boots).
func (g *guestVM) consoleLog() string { return filepath.Join(g.dir(), "console.log") }

// logSize is the size of the console log now: pass it to waitBooted to wait for the next
// boot.
func (g *guestVM) logSize() int64 {
	fi, err := os.Stat(g.consoleLog())
	if err != nil {
		return 0
	}
	return fi.Size()
}

// bootedLine matches the tiny guest's boot marker.
var bootedLine = regexp.MustCompile(`BERTH-BOOTED host=(\S+) mem_kb=(\d+) cpus=(\d+)`)

// waitBooted waits for a BERTH-BOOTED line after offset in the console log, checks that
// it names the VM's hostname, and returns its MemTotal (kB) and CPU count.
func (g *guestVM) waitBooted(offset int64) (memKB, cpus int) {
	t := g.e.t
	t.Helper()
	begin := time.Now()
	var m []string
	pollUntil(t, bootTimeout, fmt.Sprintf("vm %d (%s) boots", g.id, g.hostname), func() string {
		b, err := os.ReadFile(g.consoleLog())
		if err != nil {
			return err.Error()
		}
		if int64(len(b)) < offset {
			offset = 0 // rotated
		}
		b = b[offset:]
		if m = bootedLine.FindStringSubmatch(string(b)); m != nil {
			return ""
		}
		if bytes.Contains(b, []byte("BERTH-BOOT-FAILED")) || bytes.Contains(b, []byte("BERTH-INITRAMFS-FAILED")) {
			t.Fatalf("vm %d failed to boot:\n%s", g.id, lastLines(string(b), 30))
		}
		return "console: " + lastLines(string(b), 3)
	})
	if m[1] != g.hostname {
		t.Errorf("vm %d booted with hostname %q, want %q", g.id, m[1], g.hostname)
	}
	memKB, _ = strconv.Atoi(m[2])
	cpus, _ = strconv.Atoi(m[3])
	t.Logf("vm %d (%s) booted in %s: %s", g.id, g.hostname, time.Since(begin).Round(time.Millisecond), m[0])
	return memKB, cpus
}

// pid is the QEMU pid of the VM, from qemu.pid; it fails unless that process is alive.
func (g *guestVM) pid() int {
	t := g.e.t
	t.Helper()
	b, err := os.ReadFile(filepath.Join(g.dir(), "qemu.pid"))
	if err != nil {
		t.Fatalf("vm %d: %v", g.id, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("vm %d: qemu.pid: %v", g.id, err)
	}
	if !processAlive(pid) {
		t.Fatalf("vm %d: qemu pid %d is not running", g.id, pid)
	}
	return pid
}

// processAlive reports whether pid is a live process (not a zombie).
func processAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	rest := b[bytes.LastIndexByte(b, ')')+1:]
	return !bytes.HasPrefix(bytes.TrimSpace(rest), []byte("Z"))
}

// sh runs a command on the VM's console shell and returns its output. The console is
// (re)opened when needed.
func (g *guestVM) sh(cmd string) string {
	t := g.e.t
	t.Helper()
	c := g.e.consoles[g.id]
	if c == nil {
		c = openGuestConsole(t, filepath.Join(g.dir(), "console.sock"))
		g.e.consoles[g.id] = c
	}
	out, err := c.run(cmd, cmdTimeout)
	if err != nil {
		t.Fatalf("vm %d console: %v", g.id, err)
	}
	return out
}

// value runs a command that prints NAME=value on the console and returns the value.
func (g *guestVM) value(name, cmd string) string {
	t := g.e.t
	t.Helper()
	out := g.sh(cmd)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `=(.*)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("vm %d: %q printed no %s=: %q", g.id, cmd, name, out)
	}
	return strings.TrimSpace(m[1])
}

// closeConsole drops the console connection (its QEMU is going away).
func (g *guestVM) closeConsole() {
	if c := g.e.consoles[g.id]; c != nil {
		c.conn.Close()
		delete(g.e.consoles, g.id)
	}
}

// untilGuest polls a console command until check returns "".
func (g *guestVM) untilGuest(timeout time.Duration, what, cmd string, check func(out string) string) {
	g.e.t.Helper()
	pollUntil(g.e.t, timeout, fmt.Sprintf("vm %d: %s", g.id, what), func() string { return check(g.sh(cmd)) })
}

// blockDevices returns the guest's virtio disks: serial → device name.
func (g *guestVM) blockDevices() map[string]string {
	g.e.t.Helper()
	out := g.sh(`for d in /sys/block/vd*; do echo "BLK ${d##*/} $(cat $d/serial) $(cat $d/size)"; done`)
	devs := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^BLK (vd[a-z]+) (\S+) \d+`).FindAllStringSubmatch(out, -1) {
		devs[m[2]] = m[1]
	}
	return devs
}

// stop stops the VM through the API and checks its QEMU is gone.
func (g *guestVM) stop() {
	g.e.t.Helper()
	pid := g.pid()
	g.closeConsole()
	g.e.do("hosting.vm.stop", g.id)
	if st := g.state(); st != "halted" {
		g.e.t.Errorf("vm %d is %v after vm.stop", g.id, st)
	}
	pollUntil(g.e.t, 10*time.Second, fmt.Sprintf("qemu %d of vm %d exits", pid, g.id), func() string {
		if processAlive(pid) {
			return "still running"
		}
		return ""
	})
}

// guestConsole is a shell on a guest's serial console socket.
type guestConsole struct {
	conn net.Conn
	buf  []byte
	seq  int
}

// openGuestConsole connects to a console socket and waits until the shell answers.
func openGuestConsole(t *testing.T, path string) *guestConsole {
	t.Helper()
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatalf("console: %v", err)
	}
	c := &guestConsole{conn: conn}
	// The shell starts after BERTH-BOOTED and may miss what was typed before: ask again.
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, err := c.run("true", 3*time.Second)
		if err == nil {
			return c
		}
		if time.Now().After(deadline) {
			conn.Close()
			t.Fatalf("console %s: no shell: %v", path, err)
		}
	}
}

// ansi matches terminal escape sequences (the shell's cursor queries).
var ansi = regexp.MustCompile(`\x1b\[[0-9;?]*[a-zA-Z]`)

// run types cmd and returns what it printed. The begin and end markers are typed with
// quotes inside them, so only the output, not the echo of the line, holds them verbatim.
func (c *guestConsole) run(cmd string, timeout time.Duration) (string, error) {
	c.seq++
	begin, end := fmt.Sprintf("@@B%d@@", c.seq), fmt.Sprintf("@@E%d@@", c.seq)
	line := fmt.Sprintf("echo @@B\"%d\"@@; %s; echo @@E\"%d\"@@\n", c.seq, cmd, c.seq)
	_ = c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.conn.Write([]byte(line)); err != nil {
		return "", fmt.Errorf("write %q: %w", cmd, err)
	}
	deadline := time.Now().Add(timeout)
	tmp := make([]byte, 4096)
	for {
		if j := bytes.Index(c.buf, []byte(end)); j >= 0 {
			out := string(c.buf[:j])
			c.buf = c.buf[j+len(end):]
			if i := strings.LastIndex(out, begin); i >= 0 {
				out = out[i+len(begin):]
			}
			out = ansi.ReplaceAllString(strings.ReplaceAll(out, "\r", ""), "")
			return strings.TrimSpace(out), nil
		}
		_ = c.conn.SetReadDeadline(deadline)
		n, err := c.conn.Read(tmp)
		c.buf = append(c.buf, tmp[:n]...)
		if err != nil {
			return "", fmt.Errorf("%q gave no result: %w (read: %q)", cmd, err, lastLines(string(c.buf), 5))
		}
	}
}

// nsCmd runs a command inside the test's datacenter namespace with a deadline.
func (e *qenv) nsCmd(timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", e.ns}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// ssh runs a command on a guest as root over SSH from the namespace, with the test's key.
func (e *qenv) ssh(addr, cmd string) (string, error) {
	return e.nsCmd(cmdTimeout, "ssh", "-i", e.sshKey, "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "LogLevel=ERROR", "-o", "ConnectTimeout=5", "-o", "BatchMode=yes", "root@"+addr, cmd)
}

// mustSSH runs ssh and fails the test on an error.
func (e *qenv) mustSSH(addr, cmd string) string {
	e.t.Helper()
	out, err := e.ssh(addr, cmd)
	if err != nil {
		e.t.Fatalf("ssh root@%s %q: %v", addr, cmd, err)
	}
	return strings.TrimSpace(out)
}

// ping reports whether addr answers ping from the namespace.
func (e *qenv) ping(addr string) error {
	// Any answer of two counts: one lost echo is not a lost network.
	_, err := e.nsCmd(10*time.Second, "ping", "-c", "2", "-i", "0.3", "-W", "2", addr)
	return err
}

// waitPing waits until addr answers ping from the namespace.
func (e *qenv) waitPing(addr string, timeout time.Duration) {
	e.t.Helper()
	pollUntil(e.t, timeout, "ping "+addr, func() string {
		if err := e.ping(addr); err != nil {
			return err.Error()
		}
		return ""
	})
}

// link is a network device of the namespace.
type link struct {
	index        int
	name, master string
}

// links lists the namespace's devices, sorted by name.
func (e *qenv) links() []link {
	e.t.Helper()
	out, err := exec.Command("ip", "-n", e.ns, "-o", "link", "show").CombinedOutput()
	if err != nil {
		e.t.Fatalf("ip -n %s link: %v\n%s", e.ns, err, out)
	}
	var ls []link
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		index, _ := strconv.Atoi(strings.TrimSuffix(f[0], ":"))
		l := link{index: index, name: strings.TrimSuffix(f[1], ":")}
		l.name, _, _ = strings.Cut(l.name, "@")
		if i := slices.Index(f, "master"); i >= 0 && i+1 < len(f) {
			l.master = f[i+1]
		}
		ls = append(ls, l)
	}
	sort.Slice(ls, func(i, j int) bool { return ls[i].name < ls[j].name })
	return ls
}

// linkNames lists the namespace's device names, sorted.
func (e *qenv) linkNames() []string {
	var names []string
	for _, l := range e.links() {
		names = append(names, l.name)
	}
	return names
}

// linkOf returns a device of the namespace, ok=false when there is none.
func (e *qenv) linkOf(name string) (link, bool) {
	for _, l := range e.links() {
		if l.name == name {
			return l, true
		}
	}
	return link{}, false
}

// pgrepF returns the pids of the processes whose command line contains s.
func pgrepF(t *testing.T, s string) []int {
	t.Helper()
	out, err := exec.Command("pgrep", "-f", "--", s).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == 1 {
			return nil
		}
		t.Errorf("pgrep: %v", err)
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
			pids = append(pids, pid)
		}
	}
	return pids
}

// pollUntil calls f until it returns "" or the timeout passes; then it fails with f's
// last complaint.
func pollUntil(t *testing.T, timeout time.Duration, what string, f func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msg := f()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not true after %s: %s", what, timeout, msg)
		}
		time.Sleep(250 * time.Millisecond) // polling interval
	}
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
