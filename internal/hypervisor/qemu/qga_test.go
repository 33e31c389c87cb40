package qemu

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-io/berth/internal/guestagent"
	"github.com/berth-io/berth/internal/hypervisor"
)

// fakeFS counts freezes and thaws.
type fakeFS struct{ frozen, freezes, thaws int }

func (f *fakeFS) Freeze() (int, error) { f.frozen, f.freezes = 2, f.freezes+1; return 2, nil }
func (f *fakeFS) Thaw() (int, error)   { n := f.frozen; f.frozen, f.thaws = 0, f.thaws+1; return n, nil }

// TestQGAWithBerthAgent runs the host's QGA client against Berth's guest agent over a
// unix socket (the chardev of a real VM), with a stale reply left in the channel by an
// earlier client, as after a timeout.
func TestQGAWithBerthAgent(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "qga.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	fs := &fakeFS{}
	chpasswd := filepath.Join(dir, "chpasswd")
	if err := os.WriteFile(chpasswd, []byte("#!/bin/sh\ncat > "+filepath.Join(dir, "pw")+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	agent := guestagent.New(guestagent.Config{FS: fs, Chpasswd: chpasswd})
	stale := true
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if stale { // a reply nobody waits for any more, and a half-written one
				_, _ = c.Write([]byte("{\"return\": 99}\n\xff{\"return\": 7}\n{\"ret"))
				stale = false
			}
			_ = agent.Serve(c)
			c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	g, err := dialQGA(ctx, sock)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if err := g.call(ctx, "guest-ping", nil, nil); err != nil {
		t.Fatal(err)
	}
	var info qgaInfo
	if err := g.call(ctx, "guest-info", nil, &info); err != nil || !strings.HasPrefix(info.Version, "berth") || len(info.Commands) < 8 {
		t.Fatalf("guest-info: %+v, %v", info, err)
	}
	if err := g.setPassword(ctx, "root", "n3w:pass word"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "pw")); string(b) != "root:n3w:pass word\n" {
		t.Fatalf("chpasswd got %q", b)
	}
	if err := g.exec(ctx, "/bin/sh", "-c", `echo "$1" > `+filepath.Join(dir, "out"), "sh", "a b"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "out")); string(b) != "a b\n" {
		t.Fatalf("exec wrote %q", b)
	}
	if err := g.exec(ctx, "/bin/sh", "-c", "echo oops >&2; exit 3"); err == nil || !strings.Contains(err.Error(), "exited with 3") || !strings.Contains(err.Error(), "oops") {
		t.Fatalf("failing exec: %v", err)
	}
	var n int
	var st string
	if err := g.call(ctx, "guest-fsfreeze-freeze", nil, &n); err != nil || n != 2 {
		t.Fatalf("freeze: %d, %v", n, err)
	}
	if err := g.call(ctx, "guest-fsfreeze-status", nil, &st); err != nil || st != "frozen" {
		t.Fatalf("status: %q, %v", st, err)
	}
	if err := g.exec(ctx, "/bin/true"); err == nil {
		t.Fatal("exec while frozen succeeded")
	}
	if err := g.call(ctx, "guest-fsfreeze-thaw", nil, &n); err != nil || n != 2 || fs.thaws != 1 {
		t.Fatalf("thaw: %d, %v (%d thaws)", n, err, fs.thaws)
	}
	var qe *qgaError
	if err := g.call(ctx, "guest-no-such", nil, nil); !errors.As(err, &qe) || qe.Class != "CommandNotFound" {
		t.Fatalf("unknown command: %v", err)
	}
	g.Close()

	// A second client synchronizes again; nothing answers on a socket nobody serves.
	g2, err := dialQGA(ctx, sock)
	if err != nil {
		t.Fatal(err)
	}
	if err := g2.call(ctx, "guest-ping", nil, nil); err != nil {
		t.Fatal(err)
	}
	g2.Close()
	silent := filepath.Join(dir, "silent.sock")
	ln2, err := net.Listen("unix", silent)
	if err != nil {
		t.Fatal(err)
	}
	defer ln2.Close()
	if _, err := dialQGA(ctx, silent); !errors.Is(err, hypervisor.ErrNoGuestAgent) {
		t.Fatalf("silent agent: %v", err)
	}
}
