package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	cliOnce sync.Once
	cliPath string
	cliErr  error
)

// berthBinary builds cmd/berth once per test binary.
func berthBinary(t *testing.T) string {
	t.Helper()
	cliOnce.Do(func() {
		dir, err := os.MkdirTemp("", "berth-cli")
		if err != nil {
			cliErr = err
			return
		}
		cliPath = filepath.Join(dir, "berth")
		if out, err := exec.Command("go", "build", "-o", cliPath, "github.com/berth-io/berth/cmd/berth").CombinedOutput(); err != nil {
			cliErr = fmt.Errorf("go build berth: %v\n%s", err, out)
		}
	})
	if cliErr != nil {
		t.Fatal(cliErr)
	}
	return cliPath
}

// cliUser is a person running the berth binary: a home directory with an SSH key and a
// config file, and an environment without BERTH_* variables.
type cliUser struct {
	t    *testing.T
	bin  string
	home string
	env  []string
}

func newCLIUser(t *testing.T) *cliUser {
	u := &cliUser{t: t, bin: berthBinary(t), home: t.TempDir()}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "BERTH_") || strings.HasPrefix(kv, "XDG_CONFIG_HOME=") || strings.HasPrefix(kv, "HOME=") {
			continue
		}
		u.env = append(u.env, kv)
	}
	u.env = append(u.env, "HOME="+u.home)
	if err := os.MkdirAll(filepath.Join(u.home, ".ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(u.home, ".ssh", "id_ed25519.pub"), []byte(sshPublicKey(t)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return u
}

// sshPublicKey returns a fresh ed25519 public key in OpenSSH authorized_keys form.
func sshPublicKey(t *testing.T) string {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var blob bytes.Buffer
	for _, part := range [][]byte{[]byte("ssh-ed25519"), pub} {
		binary.Write(&blob, binary.BigEndian, uint32(len(part)))
		blob.Write(part)
	}
	return "ssh-ed25519 " + base64.StdEncoding.EncodeToString(blob.Bytes()) + " e2e@berth"
}

// cliRun is the outcome of one berth command.
type cliRun struct {
	args           []string
	code           int
	stdout, stderr string
}

func (r cliRun) String() string {
	return fmt.Sprintf("berth %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
}

// run runs berth with args and stdin, within 2 minutes.
func (u *cliUser) run(stdin string, args ...string) cliRun {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, u.bin, args...)
	cmd.Env = u.env
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	begin := time.Now()
	err := cmd.Run()
	if d := time.Since(begin); d > 5*time.Second {
		u.t.Logf("berth %s took %s", strings.Join(args, " "), d.Round(100*time.Millisecond))
	}
	r := cliRun{args: args, stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		u.t.Fatalf("berth %s: %v", strings.Join(args, " "), err)
	}
	if ctx.Err() != nil {
		u.t.Fatalf("berth %s did not finish in 2 minutes\n%s", strings.Join(args, " "), r)
	}
	return r
}

// ok runs berth and fails the test unless it exits 0.
func (u *cliUser) ok(args ...string) cliRun {
	u.t.Helper()
	r := u.run("", args...)
	if r.code != 0 {
		u.t.Fatalf("%s", r)
	}
	return r
}

// json runs berth --json and decodes stdout into v.
func (u *cliUser) json(v any, args ...string) {
	u.t.Helper()
	r := u.ok(append(args, "--json")...)
	if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
		u.t.Fatalf("%s\ndecode: %v", r, err)
	}
}

// expect runs berth and checks its exit code and that stderr contains want.
func (u *cliUser) expect(code int, want string, args ...string) cliRun {
	u.t.Helper()
	r := u.run("", args...)
	if r.code != code || !strings.Contains(r.stderr, want) {
		u.t.Fatalf("want exit %d and %q on stderr; got %s", code, want, r)
	}
	return r
}

// TestCLISim walks the berth command line through a whole flow against berthd with the sim
// backend: setup, vm create/list/info/update, disk create/attach/update, oper list, name
// hints, usage errors, the console refusal of a backend without consoles, vm stop/delete.
func TestCLISim(t *testing.T) {
	t.Parallel() // see TestMain
	b := NewBerthd(t, "sim")
	b.Start()
	cliFlow(t, b, false)
}

// cliFlow is the CLI flow against a started berthd; withConsole says whether its VMs have
// a serial console (the qemu backend) or not (sim: the console answers 409).
func cliFlow(t *testing.T, b *Berthd, withConsole bool) {
	t.Cleanup(func() {
		if t.Failed() {
			select {
			case <-b.done:
				if b.cmd != nil {
					t.Logf("berthd exited: %v", b.cmd.ProcessState)
				}
			default:
			}
			t.Logf("end of berthd's log:\n%s", tail(b.Stderr(), 6000))
		}
	})
	key := b.Account("CLI1-BERTH", 100000)
	u := newCLIUser(t)

	// setup checks the key and writes a private config file.
	u.expect(1, "Invalid API key", "setup", "--url", b.URL, "--api-key", "aaaaaaaaaaaaaaaaaaaaaaaa")
	u.expect(0, "as CLI1-BERTH", "setup", "--url", b.URL, "--api-key", key)
	st, err := os.Stat(filepath.Join(u.home, ".config", "berth", "config.json"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("config file: %v, mode %v; want 0600", err, st)
	}

	var dcs []map[string]any
	u.json(&dcs, "datacenter", "list")
	if len(dcs) == 0 {
		t.Fatal("no datacenter")
	}

	// vm create with every default, then list and info.
	r := u.ok("vm", "create", "web1")
	for _, want := range []string{"vm_create DONE", "vm web1 is running", "root login with ssh key"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("vm create: stderr lacks %q\n%s", want, r)
		}
	}
	if !regexp.MustCompile(`(?m)^hostname\s+: web1$`).MatchString(r.stdout) || !regexp.MustCompile(`(?m)^ipv4\s+: \d+\.\d+\.\d+\.\d+$`).MatchString(r.stdout) {
		t.Errorf("vm create: stdout is not the vm info\n%s", r)
	}
	r = u.ok("vm", "list")
	if !regexp.MustCompile(`(?m)^\d+\s+web1\s+running\s+\S+\s+1\s+256 MB`).MatchString(r.stdout) {
		t.Errorf("vm list:\n%s", r)
	}
	var vms []map[string]any
	u.json(&vms, "vm", "list")
	if len(vms) != 1 || vms[0]["hostname"] != "web1" || vms[0]["state"] != "running" {
		t.Fatalf("vm list --json: %v", vms)
	}
	vmID := vms[0]["id"].(float64)
	var info map[string]any
	u.json(&info, "vm", "info", "web1")
	if info["id"] != vmID || info["memory"] != 256.0 || info["vm_max_memory"] != 2048.0 || len(info["disks"].([]any)) != 1 {
		t.Errorf("vm info --json: %v", info)
	}
	if _, err := time.Parse(time.RFC3339, info["date_created"].(string)); err != nil {
		t.Errorf("date_created is not RFC 3339: %v", err)
	}
	u.expect(1, `vm "web2" not found; did you mean web1?`, "vm", "info", "web2")
	u.expect(0, "", "vm", "info", strconv.FormatFloat(vmID, 'f', -1, 64))

	// Memory over vm_max_memory: confirmation (none without a terminal), then the raise.
	u.expect(1, "pass --yes", "vm", "update", "web1", "--memory", "3G")
	u.ok("vm", "update", "web1", "--memory", "3G", "--cores", "2", "--yes")
	u.json(&info, "vm", "info", "web1")
	if info["memory"] != 3072.0 || info["vm_max_memory"] != 4096.0 || info["cores"] != 2.0 || info["state"] != "running" {
		t.Errorf("after vm update: memory %v, vm_max_memory %v, cores %v, state %v", info["memory"], info["vm_max_memory"], info["cores"], info["state"])
	}

	// A data disk: create, attach by names, grow by a relative size.
	u.ok("disk", "create", "data1", "--size", "1G")
	r = u.ok("disk", "attach", "data1", "web1")
	if !strings.Contains(r.stderr, "disk data1 attached to vm web1") {
		t.Errorf("disk attach:\n%s", r)
	}
	u.ok("disk", "update", "data1", "--size", "+1G")
	var disk map[string]any
	u.json(&disk, "disk", "info", "data1")
	if vms, _ := disk["vms_id"].([]any); len(vms) != 1 || vms[0] != vmID || disk["size"] != 2048.0 {
		t.Errorf("disk info: vms_id %v size %v", disk["vms_id"], disk["size"])
	}
	r = u.ok("disk", "list", "--vm", "web1")
	if !strings.Contains(r.stdout, "data1") || !strings.Contains(r.stdout, "sys_web1") {
		t.Errorf("disk list --vm web1:\n%s", r)
	}

	// Operations: the attach is listed, DONE, on the VM.
	var ops []map[string]any
	u.json(&ops, "oper", "list", "--all")
	found := false
	for _, o := range ops {
		if o["type"] == "disk_attach" && o["step"] == "DONE" && o["vm_id"] == vmID {
			found = true
		}
	}
	if !found {
		t.Errorf("oper list --all has no DONE disk_attach on vm %v: %v", vmID, ops)
	}
	u.expect(0, "no pending operations", "oper", "list")

	// Background mode: operation ids on stdout, followed with oper info.
	r = u.ok("vm", "reboot", "web1", "--bg")
	id := strings.TrimSpace(r.stdout)
	if _, err := strconv.Atoi(id); err != nil || !strings.Contains(r.stderr, "berth oper info "+id) {
		t.Fatalf("vm reboot --bg:\n%s", r)
	}
	waitOper(t, u, id)

	// Console.
	if withConsole {
		r = u.run("\n", "vm", "console", "web1")
		if r.code != 0 || !strings.Contains(r.stderr, "Connected to vm web1 console (detach with Ctrl-])") {
			t.Errorf("vm console:\n%s", r)
		}
	} else {
		u.expect(1, "has no console", "vm", "console", "web1")
	}

	// Usage errors exit 2.
	u.expect(2, `unknown command "frob"`, "vm", "frob")
	u.expect(2, "did you mean list?", "vm", "lst")
	u.expect(2, "unknown flag", "vm", "list", "--nope")

	// Migration to the other datacenter, in Gandi's two steps.
	r = u.ok("vm", "migrate", "web1")
	if !strings.Contains(r.stderr, "ready to migrate: finish with berth vm migrate web1 --finalize") {
		t.Errorf("vm migrate:\n%s", r)
	}
	u.expect(1, "is migrating", "vm", "reboot", "web1")
	u.ok("vm", "migrate", "web1", "--finalize")
	u.json(&info, "vm", "info", "web1")
	if info["datacenter_id"] != 2.0 || info["state"] != "running" {
		t.Errorf("after vm migrate --finalize: datacenter_id %v, state %v", info["datacenter_id"], info["state"])
	}

	// Stop, then delete (its system disk goes with it; data1 stays, detached).
	u.ok("vm", "stop", "web1")
	u.json(&info, "vm", "info", "web1")
	if info["state"] != "halted" {
		t.Errorf("after vm stop: state %v", info["state"])
	}
	u.expect(1, "pass --yes", "vm", "delete", "web1")
	u.ok("vm", "delete", "web1", "--yes")
	u.expect(0, "no vms", "vm", "list")
	u.json(&disk, "disk", "info", "data1")
	if vms, _ := disk["vms_id"].([]any); len(vms) != 0 {
		t.Errorf("data1 still attached after vm delete: %v", disk["vms_id"])
	}
	u.ok("disk", "delete", "data1", "--yes")
}

// waitOper polls berth oper info until the operation is DONE (a deadline of a minute).
func waitOper(t *testing.T, u *cliUser, id string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		var op map[string]any
		u.json(&op, "oper", "info", id)
		switch op["step"] {
		case "DONE":
			return op
		case "ERROR", "CANCEL":
			t.Fatalf("operation %s ended %v: %v", id, op["step"], op["last_error"])
		}
		if time.Now().After(deadline) {
			t.Fatalf("operation %s still %v after a minute", id, op["step"])
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestCLIInterrupt presses Ctrl-C (SIGINT) while berth waits for a slow vm create: berth
// exits 130 and names the operation, which goes on to DONE.
func TestCLIInterrupt(t *testing.T) {
	t.Parallel() // see TestMain
	b := NewBerthd(t, "sim", "--sim-latency", "3s")
	b.Start()
	key := b.Account("CLI2-BERTH", 100000)
	u := newCLIUser(t)
	u.env = append(u.env, "BERTH_URL="+b.URL, "BERTH_API_KEY="+key)

	cmd := exec.Command(u.bin, "vm", "create", "slow1")
	cmd.Env = u.env
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var log []string
	deadline := time.After(time.Minute)
wait:
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("berth ended before any progress:\n%s", strings.Join(log, "\n"))
			}
			log = append(log, l)
			if strings.Contains(l, "vm slow1: operation") {
				break wait
			}
		case <-deadline:
			t.Fatalf("no progress line in a minute:\n%s", strings.Join(log, "\n"))
		}
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	for l := range lines {
		log = append(log, l)
	}
	err = cmd.Wait()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 130 {
		t.Fatalf("berth after SIGINT: %v, want exit 130\n%s", err, strings.Join(log, "\n"))
	}
	m := regexp.MustCompile(`interrupted; .* on: follow with berth oper info (\d+)`).FindStringSubmatch(strings.Join(log, "\n"))
	if m == nil {
		t.Fatalf("no hint to follow the operation:\n%s", strings.Join(log, "\n"))
	}
	op := waitOper(t, u, m[1])
	if op["type"] != "vm_create" {
		t.Errorf("followed operation %s is a %v, want the vm_create", m[1], op["type"])
	}
	var info map[string]any
	u.json(&info, "vm", "info", "slow1")
	if info["state"] != "running" {
		t.Errorf("slow1 is %v after its vm_create finished", info["state"])
	}
}
