package seed

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// need returns the path of a tool, skipping the test without it unless CI is set.
func need(t *testing.T, tool, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required in CI (Debian %s): %v", tool, pkg, err)
		}
		t.Skipf("%s not installed (Debian %s)", tool, pkg)
	}
	return p
}

// yamlToJSON parses YAML documents with Python's yaml.safe_load.
func yamlToJSON(t *testing.T, doc []byte) any {
	t.Helper()
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		py = need(t, "python3", "python3")
	}
	if err := exec.Command(py, "-c", "import yaml").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("python3 yaml is required in CI (Debian python3-yaml): %v", err)
		}
		t.Skip("python3 yaml not installed (Debian python3-yaml)")
	}
	cmd := exec.Command(py, "-c", "import sys, yaml, json; json.dump(yaml.safe_load(sys.stdin), sys.stdout)")
	cmd.Stdin = bytes.NewReader(doc)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python yaml rejects:\n%s\n%v: %s", doc, err, stderr.String())
	}
	var v any
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// jsonValue turns a Go literal into what JSON decoding into any gives.
func jsonValue(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

type m = map[string]any
type l = []any

// A password, run command and script that YAML and shells could misread.
const (
	nastyPassword = `p@ss: "w0rd" #1 \ 'x' é`
	nastyRun      = "echo \"a: b\" # not a comment\nprintf '%s\\n' 'it''s' > /tmp/x\n"
	script        = "#!/bin/sh\necho \"$@\" > /root/args\n"
)

var seedCases = []struct {
	name       string
	iid        string
	fb         FirstBoot
	nics       []NIC
	berth      map[string]string // the berth/ files
	meta       any
	userData   any
	networkCfg any
}{
	{
		name: "everything",
		iid:  "vm-42",
		fb: FirstBoot{
			Hostname: "web1", Password: nastyPassword, Login: "alice",
			SSHKeys: []string{"ssh-ed25519 AAAAC3Nza one@host", "ecdsa-sha2-nistp256 AAAAE2 two\n\n  ssh-rsa AAAAB3 three  \n"},
			Run:     nastyRun, Script: script, ScriptArgs: "--flag 'x y'",
		},
		nics: []NIC{
			{MAC: "52:54:00:AA:00:01", Addrs: []Addr{
				{CIDR: "192.0.2.10/24", Gateway: "192.0.2.1"},
				{CIDR: "2001:db8::10/64", Gateway: "2001:db8::1"},
			}},
			{MAC: "52:54:00:aa:00:02", Addrs: []Addr{{CIDR: "198.51.100.7/25", Gateway: "198.51.100.1"}, {CIDR: "198.51.100.8/25"}}},
			{MAC: "52:54:00:aa:00:03"},
		},
		berth: map[string]string{
			"hostname":        "web1\n",
			"root_password":   nastyPassword + "\n",
			"login":           "alice\n",
			"login_password":  nastyPassword + "\n",
			"authorized_keys": "ssh-ed25519 AAAAC3Nza one@host\necdsa-sha2-nistp256 AAAAE2 two\nssh-rsa AAAAB3 three\n",
			"run":             nastyRun,
			"script":          script,
			"script_args":     "--flag 'x y'\n",
			"ifaces": "52:54:00:aa:00:01 192.0.2.10/24 192.0.2.1\n" +
				"52:54:00:aa:00:01 2001:db8::10/64 2001:db8::1\n" +
				"52:54:00:aa:00:02 198.51.100.7/25 198.51.100.1\n" +
				"52:54:00:aa:00:02 198.51.100.8/25 -\n",
		},
		meta: m{"instance-id": "vm-42", "local-hostname": "web1"},
		userData: m{
			"hostname": "web1", "manage_etc_hosts": true, "locale": "C.UTF-8",
			"disable_root": false, "ssh_pwauth": true,
			"ssh_authorized_keys": l{"ssh-ed25519 AAAAC3Nza one@host", "ecdsa-sha2-nistp256 AAAAE2 two", "ssh-rsa AAAAB3 three"},
			"users": l{"default", m{
				"name": "alice", "shell": "/bin/bash", "sudo": "ALL=(ALL) NOPASSWD:ALL", "lock_passwd": false,
				"ssh_authorized_keys": l{"ssh-ed25519 AAAAC3Nza one@host", "ecdsa-sha2-nistp256 AAAAE2 two", "ssh-rsa AAAAB3 three"},
			}},
			"chpasswd": m{"expire": false, "users": l{
				m{"name": "root", "password": nastyPassword, "type": "text"},
				m{"name": "alice", "password": nastyPassword, "type": "text"},
			}},
			"write_files": l{m{
				"path": ScriptPath, "owner": "root:root", "permissions": "0700", "encoding": "b64",
				"content": base64.StdEncoding.EncodeToString([]byte(script)),
			}},
			"runcmd": l{l{"sh", "-c", nastyRun}, l{"sh", "-c", ScriptPath + " --flag 'x y'"}},
		},
		networkCfg: m{"version": 2, "ethernets": m{
			"eth0": m{
				"match": m{"macaddress": "52:54:00:aa:00:01"}, "set-name": "eth0",
				"addresses": l{"192.0.2.10/24", "2001:db8::10/64"},
				"routes":    l{m{"to": "0.0.0.0/0", "via": "192.0.2.1"}, m{"to": "::/0", "via": "2001:db8::1"}},
			},
			"eth1": m{
				"match": m{"macaddress": "52:54:00:aa:00:02"}, "set-name": "eth1",
				"addresses": l{"198.51.100.7/25", "198.51.100.8/25"},
			},
			"eth2": m{"match": m{"macaddress": "52:54:00:aa:00:03"}, "set-name": "eth2", "dhcp4": true},
		}},
	},
	{
		name:  "hostname only",
		iid:   "vm-1",
		fb:    FirstBoot{Hostname: "tiny"},
		berth: map[string]string{"hostname": "tiny\n"},
		meta:  m{"instance-id": "vm-1", "local-hostname": "tiny"},
		userData: m{
			"hostname": "tiny", "manage_etc_hosts": true, "locale": "C.UTF-8",
			"disable_root": false, "ssh_pwauth": false, "users": l{"default"},
		},
		networkCfg: m{"version": 2, "ethernets": m{}},
	},
	{
		name: "login without password, script without args, root login ignored",
		iid:  "vm-2",
		fb:   FirstBoot{Hostname: "h2", Login: "bob", SSHKeys: []string{"ssh-ed25519 K k"}, Script: "echo hi"},
		berth: map[string]string{
			"hostname": "h2\n", "login": "bob\n", "authorized_keys": "ssh-ed25519 K k\n", "script": "echo hi",
		},
		meta: m{"instance-id": "vm-2", "local-hostname": "h2"},
		userData: m{
			"hostname": "h2", "manage_etc_hosts": true, "locale": "C.UTF-8",
			"disable_root": false, "ssh_pwauth": false,
			"ssh_authorized_keys": l{"ssh-ed25519 K k"},
			"users": l{"default", m{
				"name": "bob", "shell": "/bin/bash", "sudo": "ALL=(ALL) NOPASSWD:ALL", "lock_passwd": true,
				"ssh_authorized_keys": l{"ssh-ed25519 K k"},
			}},
			"write_files": l{m{
				"path": ScriptPath, "owner": "root:root", "permissions": "0700", "encoding": "b64",
				"content": base64.StdEncoding.EncodeToString([]byte("echo hi")),
			}},
			"runcmd": l{l{"sh", "-c", ScriptPath}},
		},
		networkCfg: m{"version": 2, "ethernets": m{}},
	},
	{
		name:  "login root",
		iid:   "vm-3",
		fb:    FirstBoot{Hostname: "h3", Login: "root", Password: "12345678"},
		berth: map[string]string{"hostname": "h3\n", "root_password": "12345678\n"},
		meta:  m{"instance-id": "vm-3", "local-hostname": "h3"},
		userData: m{
			"hostname": "h3", "manage_etc_hosts": true, "locale": "C.UTF-8",
			"disable_root": false, "ssh_pwauth": true, "users": l{"default"},
			"chpasswd": m{"expire": false, "users": l{m{"name": "root", "password": "12345678", "type": "text"}}},
		},
		networkCfg: m{"version": 2, "ethernets": m{}},
	},
}

func TestSeedReadBack(t *testing.T) {
	ctx := context.Background()
	for i, tt := range seedCases {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "seeds")
			w := New(dir)
			vmID := int64(10 + i)
			if got := w.Path(vmID); got != "" {
				t.Fatalf("Path before Seed = %q", got)
			}
			p, err := w.Seed(ctx, vmID, tt.iid, tt.fb, tt.nics)
			if err != nil {
				t.Fatalf("Seed: %v", err)
			}
			if want := filepath.Join(dir, fmt.Sprintf("%d.iso", vmID)); p != want {
				t.Errorf("Seed path %q, want %q", p, want)
			}
			if got := w.Path(vmID); got != p {
				t.Errorf("Path = %q, want %q", got, p)
			}
			st, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != 0o600 {
				t.Errorf("mode %v, want 0600", st.Mode().Perm())
			}
			files, err := Read(p)
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			berth := map[string]string{}
			for name, b := range files {
				if rest, ok := strings.CutPrefix(name, "berth/"); ok {
					berth[rest] = string(b)
				}
			}
			if diff := cmp.Diff(tt.berth, berth); diff != "" {
				t.Errorf("berth/ files (-want +got):\n%s", diff)
			}
			for _, name := range []string{"meta-data", "user-data", "network-config"} {
				if _, ok := files[name]; !ok {
					t.Errorf("%s missing", name)
				}
			}
			if len(files) != len(tt.berth)+3 {
				t.Errorf("files %v", keys(files))
			}
			if !bytes.HasPrefix(files["user-data"], []byte("#cloud-config\n")) {
				t.Errorf("user-data does not start with #cloud-config:\n%s", files["user-data"])
			}
			for _, c := range []struct {
				name string
				want any
			}{{"meta-data", tt.meta}, {"user-data", tt.userData}, {"network-config", tt.networkCfg}} {
				if diff := cmp.Diff(jsonValue(t, c.want), yamlToJSON(t, files[c.name])); diff != "" {
					t.Errorf("%s as YAML (-want +got):\n%s", c.name, diff)
				}
			}
			leftovers, err := filepath.Glob(filepath.Join(dir, "*"))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{p}, leftovers); diff != "" {
				t.Errorf("files in the seed directory (-want +got):\n%s", diff)
			}
		})
	}
}

func keys(f map[string][]byte) []string {
	var out []string
	for k := range f {
		out = append(out, k)
	}
	return out
}

func TestISOInfo(t *testing.T) {
	isoinfo := need(t, "isoinfo", "genisoimage")
	w := New(t.TempDir())
	tt := seedCases[0]
	p, err := w.Seed(context.Background(), 1, tt.iid, tt.fb, tt.nics)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(isoinfo, "-d", "-i", p).CombinedOutput()
	if err != nil {
		t.Fatalf("isoinfo -d: %v: %s", err, out)
	}
	for _, want := range []string{"Volume id: cidata\n", "Rock Ridge signatures version 1 found"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("isoinfo -d lacks %q:\n%s", want, out)
		}
	}
	out, err = exec.Command(isoinfo, "-R", "-f", "-i", p).CombinedOutput()
	if err != nil {
		t.Fatalf("isoinfo -f: %v: %s", err, out)
	}
	for _, want := range []string{"/meta-data", "/user-data", "/network-config", "/berth/root_password", "/berth/ifaces"} {
		if !strings.Contains(string(out)+"\n", want+"\n") {
			t.Errorf("isoinfo -R -f lacks %s:\n%s", want, out)
		}
	}
	// An independent reader sees the same content.
	got, err := exec.Command(isoinfo, "-R", "-i", p, "-x", "/berth/run").Output()
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != nastyRun {
		t.Errorf("isoinfo -x /berth/run = %q, want %q", got, nastyRun)
	}
}

// TestGuestContract runs the tiny guest's own seed readers (images/tiny) on a seed.
func TestGuestContract(t *testing.T) {
	fn, err := filepath.Abs("../../images/tiny/rootfs/lib/berth/functions.sh")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(fn); err != nil {
		t.Skipf("tiny guest not in this tree: %v", err)
	}
	sh := need(t, "sh", "dash")
	tt := seedCases[0]
	files, err := Files(tt.iid, tt.fb, tt.nics)
	if err != nil {
		t.Fatal(err)
	}
	seed := t.TempDir()
	for name, b := range files {
		p := filepath.Join(seed, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	script := `. "$1"; SEED=$2
meta instance-id; meta local-hostname
for f in hostname login root_password; do printf '%s\n' "$(seed_line $f)"; done
tr -d '\r' < "$SEED/berth/ifaces" | awk -v m=52:54:00:aa:00:02 'tolower($1) == m && NF >= 2 { print $2, (NF >= 3 ? $3 : "-") }'`
	out, err := exec.Command(sh, "-c", script, "sh", fn, seed).CombinedOutput()
	if err != nil {
		t.Fatalf("guest functions: %v: %s", err, out)
	}
	want := "vm-42\nweb1\nweb1\nalice\n" + nastyPassword + "\n198.51.100.7/25 198.51.100.1\n198.51.100.8/25 -\n"
	if diff := cmp.Diff(want, string(out)); diff != "" {
		t.Errorf("what the guest reads (-want +got):\n%s", diff)
	}
}

func TestSeedRewriteAndRemove(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	w := New(dir)
	fb := FirstBoot{Hostname: "a1", Password: "password1"}
	p1, err := w.Seed(ctx, 5, "iid-5", fb, nil)
	if err != nil {
		t.Fatal(err)
	}
	first, err := Read(p1)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := w.Seed(ctx, 5, "iid-5", fb, nil)
	if err != nil || p2 != p1 {
		t.Fatalf("second Seed = %q, %v", p2, err)
	}
	again, err := Read(p2)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(first, again); diff != "" {
		t.Errorf("same seed twice differs (-first +second):\n%s", diff)
	}
	fb.Hostname = "a2"
	if _, err := w.Seed(ctx, 5, "iid-5", fb, nil); err != nil {
		t.Fatal(err)
	}
	changed, err := Read(p1)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(changed["berth/hostname"]); got != "a2\n" {
		t.Errorf("rewritten seed has hostname %q", got)
	}
	// A failed rewrite keeps the last good seed.
	if _, err := w.Seed(ctx, 5, "iid-5", FirstBoot{Hostname: "a3", Password: "x\ny"}, nil); err == nil {
		t.Fatal("Seed with a two-line password succeeded")
	}
	if kept, err := Read(p1); err != nil || string(kept["berth/hostname"]) != "a2\n" {
		t.Errorf("after a failed rewrite: %v, hostname %q", err, kept["berth/hostname"])
	}
	if _, err := w.Seed(ctx, 6, "iid-6", FirstBoot{Hostname: "b"}, nil); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := w.Remove(ctx, 5); err != nil {
			t.Fatalf("Remove: %v", err)
		}
	}
	if got := w.Path(5); got != "" {
		t.Errorf("Path after Remove = %q", got)
	}
	if w.Path(6) == "" {
		t.Error("Remove of vm 5 removed vm 6's seed")
	}
	if err := New(filepath.Join(dir, "never")).Remove(ctx, 1); err != nil {
		t.Errorf("Remove in a missing directory: %v", err)
	}
}

func TestSeedRejects(t *testing.T) {
	good := FirstBoot{Hostname: "h"}
	nic := func(mac, cidr, gw string) []NIC {
		return []NIC{{MAC: mac, Addrs: []Addr{{CIDR: cidr, Gateway: gw}}}}
	}
	tests := []struct {
		name string
		iid  string
		fb   FirstBoot
		nics []NIC
	}{
		{"no instance id", "", good, nil},
		{"no hostname", "i", FirstBoot{}, nil},
		{"hostname with a newline", "i", FirstBoot{Hostname: "a\nb"}, nil},
		{"hostname with a blank", "i", FirstBoot{Hostname: "a b"}, nil},
		{"password with a newline", "i", FirstBoot{Hostname: "h", Password: "abc\ndefgh"}, nil},
		{"script args with a newline", "i", FirstBoot{Hostname: "h", Script: "x", ScriptArgs: "a\nb"}, nil},
		{"bad mac", "i", good, nic("52:54:00", "192.0.2.1/24", "")},
		{"address without prefix", "i", good, nic("52:54:00:00:00:01", "192.0.2.1", "")},
		{"bad gateway", "i", good, nic("52:54:00:00:00:01", "192.0.2.1/24", "gw")},
		{"gateway of the other family", "i", good, nic("52:54:00:00:00:01", "192.0.2.1/24", "2001:db8::1")},
	}
	w := New(t.TempDir())
	for _, tt := range tests {
		if _, err := w.Seed(context.Background(), 1, tt.iid, tt.fb, tt.nics); err == nil {
			t.Errorf("%s: Seed succeeded", tt.name)
		}
		if p := w.Path(1); p != "" {
			t.Errorf("%s: a seed was written at %s", tt.name, p)
		}
	}
}

func TestUpdateNICsInPlace(t *testing.T) {
	w := New(t.TempDir())
	fb := FirstBoot{Hostname: "vm1", Password: "secret123"}
	nic1 := NIC{MAC: "02:00:00:00:00:01", Addrs: []Addr{{CIDR: "192.0.2.2/24", Gateway: "192.0.2.1"}}}
	p, err := w.Seed(context.Background(), 1, "iid-1", fb, []NIC{nic1})
	if err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	nic2 := NIC{MAC: "02:00:00:00:00:02", Addrs: []Addr{{CIDR: "192.0.2.3/24"}}}
	if err := w.UpdateNICs(context.Background(), 1, []NIC{nic1, nic2}); err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) {
		t.Fatal("the seed was replaced, not rewritten in place: QEMU would not see it")
	}
	files, err := Read(p)
	if err != nil {
		t.Fatal(err)
	}
	want := "02:00:00:00:00:01 192.0.2.2/24 192.0.2.1\n02:00:00:00:00:02 192.0.2.3/24 -\n"
	if got := string(files["berth/ifaces"]); got != want {
		t.Fatalf("berth/ifaces = %q, want %q", got, want)
	}
	if got := string(files["berth/root_password"]); got != "secret123\n" {
		t.Fatalf("the rest of the seed changed: root_password %q", got)
	}
	if err := w.UpdateNICs(context.Background(), 2, nil); err == nil {
		t.Fatal("UpdateNICs of a vm without a seed succeeded")
	}
}

func TestUpdateHostname(t *testing.T) {
	w := New(t.TempDir())
	p, err := w.Seed(context.Background(), 1, "iid-1", FirstBoot{Hostname: "vm1", Password: "secret123"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.UpdateHostname(context.Background(), 1, "web2.example"); err != nil {
		t.Fatal(err)
	}
	files, err := Read(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(files["berth/hostname"]); got != "web2.example\n" {
		t.Fatalf("berth/hostname %q", got)
	}
	if got := string(files["meta-data"]); !strings.Contains(got, `local-hostname: "web2.example"`+"\n") || !strings.Contains(got, `instance-id: "iid-1"`) {
		t.Fatalf("meta-data %q", got)
	}
	if got := string(files["user-data"]); !strings.Contains(got, "\nhostname: \"web2.example\"\n") || strings.Contains(got, "vm1") {
		t.Fatalf("user-data %q", got)
	}
	if got := string(files["berth/root_password"]); got != "secret123\n" {
		t.Fatalf("root_password %q", got)
	}
	if err := w.UpdateHostname(context.Background(), 1, "bad name"); err == nil {
		t.Fatal("a hostname with a blank was accepted")
	}
}
