package cli

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// testPubKey is the ~/.ssh/id_ed25519.pub of the test home.
const testPubKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHJlYWxseSBub3QgYSBrZXkgYnV0IGEgdGVzdA me@laptop"

// harness runs the command line against a fake API with a fixed clock.
type harness struct {
	t     *testing.T
	fake  *fakeAPI
	home  string
	env   map[string]string
	netns map[string]bool
}

func newHarness(t *testing.T) *harness {
	h := &harness{t: t, fake: newFake(t), home: t.TempDir(), netns: map[string]bool{}}
	if err := os.MkdirAll(filepath.Join(h.home, ".ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(h.home, ".ssh", "id_ed25519.pub"), []byte(testPubKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.env = map[string]string{"HOME": h.home, "BERTH_URL": h.fake.url(), "BERTH_API_KEY": fakeKey}
	return h
}

// result is what one run printed.
type result struct {
	code           int
	stdout, stderr string
	calls          []string
}

func (h *harness) run(ctx context.Context, stdin string, args ...string) result {
	h.t.Helper()
	var out, errb bytes.Buffer
	h.fake.mu.Lock()
	h.fake.calls = nil
	h.fake.mu.Unlock()
	e := env{
		stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb,
		getenv: func(k string) string { return h.env[k] },
		now:    func() time.Time { return t0.Add(90 * time.Minute) },
		poll:   time.Millisecond,
		exec: func(argv []string) error {
			fmt.Fprintf(&out, "exec %q\n", argv)
			return nil
		},
		netnsExists: func(name string) bool { return h.netns[name] },
	}
	code := run(ctx, args, e)
	h.fake.mu.Lock()
	defer h.fake.mu.Unlock()
	return result{code: code, stdout: out.String(), stderr: errb.String(), calls: append([]string(nil), h.fake.calls...)}
}

// render is the golden form of a run; the fake's URL and the test home are replaced.
func (h *harness) render(args []string, r result) string {
	var b strings.Builder
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = a
		if a == "" || strings.ContainsAny(a, " \"'") {
			quoted[i] = fmt.Sprintf("%q", a)
		}
	}
	fmt.Fprintf(&b, "$ berth %s\n--- exit %d\n--- stdout\n%s--- stderr\n%s", strings.Join(quoted, " "), r.code, r.stdout, r.stderr)
	if len(r.calls) > 0 {
		b.WriteString("--- calls\n" + strings.Join(r.calls, "\n") + "\n")
	}
	s := strings.ReplaceAll(b.String(), h.fake.srv.URL, "http://FAKE")
	return strings.ReplaceAll(s, h.home, "$HOME")
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got):\n%s", path, diff)
	}
}

var goldenName = regexp.MustCompile(`[^a-z0-9]+`)

// TestGolden runs commands against the fake API and compares exit code, stdout, stderr and
// the mutating calls with testdata/<name>.golden.
func TestGolden(t *testing.T) {
	tests := []struct {
		args  []string
		stdin string
		prep  func(h *harness, cancel context.CancelFunc)
		name  string // golden name when the args make a poor one
	}{
		// Listing and showing.
		{args: []string{"vm", "list"}},
		{args: []string{"vm", "list", "--json"}},
		{args: []string{"vm", "list", "--datacenter", "lu-bi1"}},
		{args: []string{"vm", "list", "--state", "paused"}},
		{args: []string{"vm", "info", "web1"}},
		{args: []string{"vm", "info", "3"}},
		{args: []string{"vm", "info", "web1", "--json"}},
		{args: []string{"disk", "list"}},
		{args: []string{"disk", "list", "--vm", "web1"}},
		{args: []string{"disk", "info", "data1"}},
		{args: []string{"disk", "kernels", "-d", "FR-SD5"}},
		{args: []string{"iface", "list"}},
		{args: []string{"iface", "info", "192.168.1.2"}},
		{args: []string{"ip", "list", "--vm", "db1"}},
		{args: []string{"ip", "info", "2001:0db8::10"}},
		{args: []string{"vlan", "list"}},
		{args: []string{"vlan", "info", "lan1"}},
		{args: []string{"sshkey", "list"}},
		{args: []string{"sshkey", "info", "ci"}},
		{args: []string{"image", "list"}},
		{args: []string{"image", "list", "--label", "tiny", "--json"}},
		{args: []string{"image", "info", "Debian 12", "-d", "LU-BI1"}},
		{args: []string{"datacenter", "list"}},
		{args: []string{"oper", "list"}},
		{args: []string{"oper", "list", "--all"}},
		{args: []string{"oper", "list", "--step", "error"}},
		{args: []string{"oper", "info", "104"}},
		{args: []string{"account", "info"}},

		// Creating and changing.
		{args: []string{"vm", "create", "web3"}},
		{args: []string{"vm", "create", "-d", "LU-BI1", "--memory", "1G", "--cores", "2", "--size", "10G", "--sshkey", "laptop", "--sshkey", "ci"}},
		{args: []string{"vm", "create", "web3", "--bg"}},
		{args: []string{"vm", "create", "back1", "--vlan", "lan1", "--ip", "192.168.1.60", "--password", "s3cret-pass"}},
		{args: []string{"vm", "create", "web3", "--json"}},
		{args: []string{"vm", "create", "web3", "--image", "Debain 12"}},
		{args: []string{"vm", "create", "web3"}, name: "vm create failed", prep: func(h *harness, _ context.CancelFunc) {
			h.fake.failType["vm_create"] = "no host has 512 MB free in FR-SD5"
		}},
		{args: []string{"vm", "create", "web3"}, name: "vm create interrupted", prep: func(h *harness, cancel context.CancelFunc) {
			h.fake.onPoll = func(ctx context.Context, id int64) {
				if id == 203 {
					cancel()
					// Answer only once the client gave up the request, so that the answer
					// never races the interruption (the golden has 203 still in WAIT).
					select {
					case <-ctx.Done():
					case <-time.After(10 * time.Second):
					}
				}
			}
		}},
		{args: []string{"vm", "update", "web1", "--memory", "768", "--cores", "2"}},
		{args: []string{"vm", "update", "web1", "--memory", "3G", "--yes"}},
		{args: []string{"vm", "update", "web1", "--memory", "3G"}},
		{args: []string{"vm", "update", "web2", "--memory", "5000"}},
		{args: []string{"vm", "update", "web1", "--console", "--hostname", "www1"}},
		{args: []string{"vm", "update", "web1"}},
		{args: []string{"vm", "stop", "web1", "db1"}},
		{args: []string{"vm", "start", "web2", "--bg"}},
		{args: []string{"vm", "reboot", "web1", "--json"}},
		{args: []string{"vm", "delete", "web1", "--yes"}},
		{args: []string{"vm", "delete", "web1"}},
		{args: []string{"disk", "create", "data2", "--size", "2G", "--vm", "web1"}},
		{args: []string{"disk", "create", "--source", "Berth Tiny", "-d", "FR-SD5"}},
		{args: []string{"disk", "create", "copy1", "--source", "sys_db1"}},
		{args: []string{"disk", "create", "copy1", "--source", "Alpine 3"}},
		{args: []string{"disk", "update", "data1", "--size", "+1G", "--name", "data9"}},
		{args: []string{"disk", "update", "data1", "--size", "1G"}},
		{args: []string{"disk", "update", "data1", "--kernel", "sim-6.1", "--cmdline", "root=/dev/vda ro"}},
		{args: []string{"disk", "update", "data1", "--kernel", "raw", "--cmdline", "root=/dev/vda ro"}},
		{args: []string{"disk", "attach", "data1", "web2", "--position", "0"}},
		{args: []string{"disk", "attach", "sys_web1", "web2"}},
		{args: []string{"disk", "detach", "sys_db1"}},
		{args: []string{"disk", "snapshot", "data1"}},
		{args: []string{"disk", "rollback", "data1-snap"}},
		{args: []string{"disk", "delete", "data1", "--yes"}},
		{args: []string{"iface", "create", "--vlan", "lan1", "--ip", "192.168.1.50", "--vm", "db1"}},
		{args: []string{"iface", "update", "192.0.2.10", "--bandwidth", "204800"}},
		{args: []string{"iface", "detach", "24"}},
		{args: []string{"iface", "attach", "25", "db1"}},
		{args: []string{"iface", "delete", "25", "--yes"}},
		{args: []string{"ip", "update", "192.0.2.10", "--reverse", "web1.example.com."}},
		{args: []string{"vlan", "create", "lan2", "-d", "LU-BI1", "--subnet", "10.20.0.0/24"}},
		{args: []string{"vlan", "update", "lan1", "--gateway", "192.168.1.254"}},
		{args: []string{"vlan", "delete", "lan1", "--yes"}},
		{args: []string{"sshkey", "create", "laptop2"}},
		{args: []string{"sshkey", "delete", "ci", "--yes"}},
		{args: []string{"oper", "cancel", "103"}},
		{args: []string{"oper", "cancel", "102"}},

		// Console and ssh.
		{args: []string{"vm", "console", "web1"}, stdin: "root\n"},
		{args: []string{"vm", "console", "web2"}},
		{args: []string{"vm", "ssh", "web1"}},
		{args: []string{"vm", "ssh", "web2", "-l", "admin", "--", "uname", "-a"}},
		{args: []string{"vm", "ssh", "db1"}, name: "vm ssh netns", prep: func(h *harness, _ context.CancelFunc) { h.netns["berth-lu-bi1"] = true }},

		// Errors and hints.
		{args: []string{"vm", "info", "web"}},
		{args: []string{"vm", "info", "wbe1"}},
		{args: []string{"disk", "info", "nothing-like-it"}},
		{args: []string{"image", "info", "Debian 12"}},
		{args: []string{"vm", "list", "-d", "FR-SD9"}},
		{args: []string{"vm", "lsit"}},
		{args: []string{"vmm", "list"}},
		{args: []string{"vm", "info"}},
		{args: []string{"vm", "list", "--frob"}},
		{args: []string{"disk", "update", "data1", "--size", "lots"}},
		{args: []string{"oper", "info", "abc"}},
		{args: []string{"oper", "info", "999"}},
		{args: []string{"account", "info", "--api-key", "wrongkey0123456789abcdef"}},
		{args: []string{"account", "info"}, name: "no endpoint", prep: func(h *harness, _ context.CancelFunc) {
			delete(h.env, "BERTH_URL")
			delete(h.env, "BERTH_API_KEY")
		}},
	}
	for _, tc := range tests {
		name := tc.name
		if name == "" {
			name = strings.Join(tc.args, " ")
		}
		file := strings.Trim(goldenName.ReplaceAllString(strings.ToLower(name), "-"), "-")
		t.Run(file, func(t *testing.T) {
			h := newHarness(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.prep != nil {
				tc.prep(h, cancel)
			}
			r := h.run(ctx, tc.stdin, tc.args...)
			golden(t, file, h.render(tc.args, r))
		})
	}
}
