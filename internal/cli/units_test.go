package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in      string
		cur     int64
		want    int64
		wantErr bool
	}{
		{in: "768", want: 768},
		{in: "512M", want: 512},
		{in: "512mb", want: 512},
		{in: "1G", want: 1024},
		{in: "1.5G", want: 1536},
		{in: "2gb", want: 2048},
		{in: "1T", want: 1048576},
		{in: "+1G", cur: 3072, want: 4096},
		{in: "+512", cur: 1024, want: 1536},
		{in: "0.3M", wantErr: true},
		{in: "-1G", wantErr: true},
		{in: "0", wantErr: true},
		{in: "lots", wantErr: true},
		{in: "", wantErr: true},
		{in: "+", wantErr: true},
		{in: "1e30G", wantErr: true},
	}
	for _, tc := range tests {
		got, err := parseNewSize(tc.in, tc.cur)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("parseNewSize(%q, %d) = %d, %v; want %d, error %v", tc.in, tc.cur, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestClosest(t *testing.T) {
	names := []string{"web1", "web2", "db1", "Berth Tiny", "Debian 12", "backup-2026"}
	tests := []struct {
		arg  string
		want []string
	}{
		{"web", []string{"web1", "web2"}},
		{"wbe1", []string{"web1"}},
		{"web3", []string{"web1", "web2"}},
		{"WEB1", []string{"web1"}},
		{"db", []string{"db1"}},
		{"berth tiny", []string{"Berth Tiny"}},
		{"Debain 12", []string{"Debian 12"}},
		{"backup", []string{"backup-2026"}},
		{"zzzzzz", []string{}},
	}
	for _, tc := range tests {
		if diff := cmp.Diff(tc.want, closest(tc.arg, names, 3)); diff != "" {
			t.Errorf("closest(%q): -want +got\n%s", tc.arg, diff)
		}
	}
	for _, tc := range []struct {
		a, b string
		d    int
	}{{"", "abc", 3}, {"abc", "abc", 0}, {"abc", "acb", 1}, {"kitten", "sitting", 3}, {"wbe1", "db1", 2}} {
		if got := editDistance(tc.a, tc.b); got != tc.d {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.d)
		}
	}
}

func TestNeededMaxMemory(t *testing.T) {
	for mem, want := range map[int64]int64{256: 2048, 2048: 2048, 2049: 4096, 3000: 4096, 5000: 8192, 16384: 16384, 16385: 24576, 24576: 24576} {
		if got, err := neededMaxMemory(mem); err != nil || got != want {
			t.Errorf("neededMaxMemory(%d) = %d, %v; want %d", mem, got, err, want)
		}
	}
	if _, err := neededMaxMemory(30000); err == nil {
		t.Error("neededMaxMemory(30000): want an error")
	}
}

func TestNormalizeURL(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:8080":                    "http://127.0.0.1:8080/xmlrpc/",
		"http://127.0.0.1:8080/":            "http://127.0.0.1:8080/xmlrpc/",
		"https://api.example/xmlrpc/":       "https://api.example/xmlrpc/",
		"http://127.0.0.1:8080/xmlrpc/2.0/": "http://127.0.0.1:8080/xmlrpc/2.0/",
		" http://127.0.0.1:8080/xmlrpc\n":   "http://127.0.0.1:8080/xmlrpc",
	} {
		if got, err := normalizeURL(in); err != nil || got != want {
			t.Errorf("normalizeURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"ftp://x/", "http://", "::"} {
		if got, err := normalizeURL(in); err == nil {
			t.Errorf("normalizeURL(%q) = %q, want an error", in, got)
		}
	}
}

// TestSetup checks the config file: written by setup with mode 0600 in XDG_CONFIG_HOME (or
// ~/.config), used by later runs, and overridden by the environment and then by flags.
func TestSetup(t *testing.T) {
	h := newHarness(t)
	url := h.fake.url()
	delete(h.env, "BERTH_URL")
	delete(h.env, "BERTH_API_KEY")

	r := h.run(context.Background(), "", "setup", "--url", url, "--api-key", "wrongkey0123456789abcdef")
	if r.code != exitError || !strings.Contains(r.stderr, "Invalid API key") {
		t.Fatalf("setup with a bad key: exit %d, stderr %q; want 1 and the fault", r.code, r.stderr)
	}
	path := filepath.Join(h.home, ".config", "berth", "config.json")
	if _, err := os.Stat(path); err == nil {
		t.Fatal("setup with a bad key wrote the config")
	}
	r = h.run(context.Background(), "", "setup", "--url", strings.TrimSuffix(url, "/xmlrpc/"), "--api-key", fakeKey)
	if r.code != 0 || !strings.Contains(r.stderr, "as T1-BERTH") {
		t.Fatalf("setup: exit %d, stderr %q", r.code, r.stderr)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("config mode %v, want 0600", st.Mode().Perm())
	}
	var c fileConfig
	b, _ := os.ReadFile(path)
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(fileConfig{URL: url, APIKey: fakeKey}, c); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	if r := h.run(context.Background(), "", "account", "info"); r.code != 0 {
		t.Errorf("account info with the saved config: exit %d, %s", r.code, r.stderr)
	}
	h.env["BERTH_API_KEY"] = "wrongkey0123456789abcdef"
	if r := h.run(context.Background(), "", "account", "info"); r.code != exitError {
		t.Errorf("BERTH_API_KEY does not override the config file: exit %d", r.code)
	}
	if r := h.run(context.Background(), "", "account", "info", "--api-key", fakeKey); r.code != 0 {
		t.Errorf("--api-key does not override BERTH_API_KEY: exit %d, %s", r.code, r.stderr)
	}

	xdg := t.TempDir()
	h.env["XDG_CONFIG_HOME"] = xdg
	delete(h.env, "BERTH_API_KEY")
	if r := h.run(context.Background(), "", "setup", "--url", url, "--api-key", fakeKey, "--no-check"); r.code != 0 {
		t.Fatalf("setup --no-check: exit %d, %s", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(xdg, "berth", "config.json")); err != nil {
		t.Errorf("setup ignores XDG_CONFIG_HOME: %v", err)
	}
	if r := h.run(context.Background(), "", "setup"); r.code != exitOK {
		t.Errorf("setup again with the saved URL and key: exit %d, %s", r.code, r.stderr)
	}
	h.env["XDG_CONFIG_HOME"] = t.TempDir()
	if r := h.run(context.Background(), "", "setup"); r.code != exitUsage {
		t.Errorf("setup without values nor a terminal: exit %d, want 2", r.code)
	}
}

// TestHelp checks that every command has a short description and an example, and that
// --help works everywhere.
func TestHelp(t *testing.T) {
	a := &app{env: env{getenv: func(string) string { return "" }}}
	root := a.rootCmd()
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Short == "" {
			t.Errorf("%s has no Short", c.CommandPath())
		}
		if c.Example == "" && c.Name() != "help" && !strings.HasPrefix(c.CommandPath(), "berth completion") {
			t.Errorf("%s has no Example", c.CommandPath())
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(root)
	h := newHarness(t)
	for _, args := range [][]string{{"--help"}, {"vm", "--help"}, {"vm", "create", "--help"}, {"disk", "update", "-h"}, {"vm"}} {
		r := h.run(context.Background(), "", args...)
		if r.code != 0 || !strings.Contains(r.stdout, "Usage:") {
			t.Errorf("berth %s: exit %d, stdout %q", strings.Join(args, " "), r.code, r.stdout)
		}
	}
}

func TestCompletion(t *testing.T) {
	h := newHarness(t)
	for _, sh := range []string{"bash", "zsh", "fish"} {
		r := h.run(context.Background(), "", "completion", sh)
		if r.code != 0 || !strings.Contains(r.stdout, "berth") {
			t.Errorf("completion %s: exit %d, %d bytes", sh, r.code, len(r.stdout))
		}
	}
	// Dynamic completion of names asks the API.
	r := h.run(context.Background(), "", "__complete", "vm", "info", "")
	if r.code != 0 || !strings.Contains(r.stdout, "web1\nweb2\ndb1\n") {
		t.Errorf("__complete vm info: exit %d, stdout %q", r.code, r.stdout)
	}
}

func TestCopyIn(t *testing.T) {
	tests := []struct {
		in      string
		tty     bool
		want    string
		wantErr error
	}{
		{in: "ls\r", tty: true, want: "ls\r"},
		{in: "ls\r\x1dignored", tty: true, want: "ls\r", wantErr: errDetach},
		{in: "\x1d", tty: true, want: "", wantErr: errDetach},
		{in: "binary\x1dstays", tty: false, want: "binary\x1dstays"},
	}
	for _, tc := range tests {
		var out bytes.Buffer
		err := copyIn(&out, strings.NewReader(tc.in), tc.tty)
		if err != tc.wantErr || out.String() != tc.want {
			t.Errorf("copyIn(%q, tty %v) = %q, %v; want %q, %v", tc.in, tc.tty, out.String(), err, tc.want, tc.wantErr)
		}
	}
}

// TestConsolePipe drives vm console without a terminal: what stdin says reaches the VM,
// what the VM answers reaches stdout, and the end of stdin ends the session with exit 0.
func TestConsolePipe(t *testing.T) {
	h := newHarness(t)
	start := time.Now()
	r := h.run(context.Background(), "uname -a\n", "vm", "console", "web1")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if r.stdout != "login: uname -a\n" {
		t.Errorf("stdout %q, want the banner and the echo", r.stdout)
	}
	h.fake.mu.Lock()
	sent := h.fake.console.String()
	h.fake.mu.Unlock()
	if sent != "uname -a\n" {
		t.Errorf("the console received %q", sent)
	}
	if d := time.Since(start); d > pipeLinger {
		t.Errorf("the session lasted %v after stdin ended", d)
	}
}
