package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestGuestAgent drives the Tiny image's guest agent (cmd/berth-guest-agent) through the
// API: vm.info shows it answering, vm.update's hostname and password reach the running
// guest (seen over SSH, logging in with the new password), and a snapshot of the boot
// disk taken while the guest writes files in a loop is filesystem-consistent (e2fsck
// finds nothing to fix, every file written before the snapshot is in it, complete),
// while the VM keeps running; with the agent not answering (SIGSTOP), the snapshot is
// made all the same and says it is crash-consistent.
func TestGuestAgent(t *testing.T) {
	e := newQEnv(t)
	for _, bin := range []string{"e2fsck", "debugfs"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s is not installed (make images-deps): %v", bin, err)
		}
	}
	g := e.createVMs(map[string]any{"hostname": "agent1"})[0]
	waitGuestAgent(t, g, "up")

	// vm.update: hostname and root password, in the running guest.
	const password = "n3w-Secret:pass"
	op := e.do("hosting.vm.update", g.id, map[string]any{"hostname": "renamed1", "password": password})
	if got := opParams(t, e, op)["guest_agent"]; got != "updated" {
		t.Fatalf("vm_update guest_agent = %v, want updated", got)
	}
	if got := e.mustSSH(g.ip4, "hostname; cat /etc/hostname"); got != "renamed1\nrenamed1" {
		t.Fatalf("hostname in the guest: %q", got)
	}
	if got := asMap(t, e.call("hosting.vm.info", g.id))["hostname"]; got != "renamed1" {
		t.Fatalf("vm.info hostname %v", got)
	}
	if out, err := sshPassword(t, e, g.ip4, password, "id -un"); err != nil || strings.TrimSpace(out) != "root" {
		t.Fatalf("ssh with the new password: %q, %v", out, err)
	}
	if _, err := sshPassword(t, e, g.ip4, "not-the-password", "id -un"); err == nil {
		t.Fatal("ssh with a wrong password succeeded")
	}

	// A consistent snapshot while the guest writes.
	e.mustSSH(g.ip4, `mkdir -p /root/w; setsid sh -c 'i=0; while :; do echo "file $i" > /root/w/f$i; i=$((i+1)); usleep 20000; done' < /dev/null > /dev/null 2>&1 &`)
	before := 0
	pollUntil(t, guestTimeout, "the guest writes files", func() string {
		before = countFiles(t, e, g)
		if before < 20 {
			return strconv.Itoa(before) + " files"
		}
		return ""
	})
	snap := snapshot(t, e, g.sysDisk, "agent1-snap")
	if snap.consistency != "filesystem" {
		t.Fatalf("snapshot of a running VM with its agent: consistency %q, want filesystem", snap.consistency)
	}
	if st := g.state(); st != "running" {
		t.Fatalf("vm is %v after the snapshot", st)
	}
	after := countFiles(t, e, g)
	pollUntil(t, guestTimeout, "the guest writes on after the snapshot (thawed)", func() string {
		if n := countFiles(t, e, g); n <= after {
			return strconv.Itoa(n) + " files"
		}
		return ""
	})
	files := checkSnapshot(t, e, snap.id)
	for i := 0; i < before; i++ {
		if got, ok := files["f"+strconv.Itoa(i)]; !ok || got != "file "+strconv.Itoa(i)+"\n" {
			t.Fatalf("snapshot: f%d (written before the snapshot) holds %q (present %v); %d files before, %d in it", i, got, ok, before, len(files))
		}
	}
	// The file the shell had opened (created, truncated) but not yet written when the
	// freeze came is empty in the snapshot: a state the filesystem really was in. Only that
	// one, the newest, may be empty; any other short content is a torn write.
	last := -1
	for name := range files {
		if i, err := strconv.Atoi(strings.TrimPrefix(name, "f")); err == nil && i > last {
			last = i
		}
	}
	for name, content := range files {
		if content == "" && name == "f"+strconv.Itoa(last) {
			continue
		}
		if content != "file "+strings.TrimPrefix(name, "f")+"\n" {
			t.Fatalf("snapshot: %s holds %q: a torn write", name, content)
		}
	}
	t.Logf("snapshot: %d files written before it, %d in it", before, len(files))

	// Without an answering agent: crash-consistent, and said so.
	e.mustSSH(g.ip4, "kill -STOP $(pidof berth-guest-agent)")
	waitGuestAgent(t, g, "down")
	snap2 := snapshot(t, e, g.sysDisk, "agent1-snap2")
	if snap2.consistency != "crash" {
		t.Fatalf("snapshot without an answering agent: consistency %q, want crash", snap2.consistency)
	}
	e.mustSSH(g.ip4, "kill -CONT $(pidof berth-guest-agent)")
	if _, err := os.Stat(filepath.Join(e.b.Data, "disks", strconv.FormatInt(snap2.id, 10)+".qcow2")); err != nil {
		t.Fatalf("crash-consistent snapshot: %v", err)
	}
	// The agent answers again: the replies it owed the timed-out clients are discarded.
	waitGuestAgent(t, g, "up")
	op = e.do("hosting.vm.update", g.id, map[string]any{"hostname": "renamed2"})
	if got := opParams(t, e, op)["guest_agent"]; got != "updated" {
		t.Fatalf("vm_update after SIGCONT: guest_agent = %v", got)
	}
	if got := e.mustSSH(g.ip4, "hostname"); got != "renamed2" {
		t.Fatalf("hostname %q", got)
	}
}

// waitGuestAgent polls vm.info until its guest_agent is want.
func waitGuestAgent(t *testing.T, g *guestVM, want string) {
	t.Helper()
	pollUntil(t, bootTimeout, "vm.info guest_agent "+want, func() string {
		if got := g.info()["guest_agent"]; got != want {
			return fmt.Sprintf("guest_agent %v", got)
		}
		return ""
	})
}

// opParams returns the params of a finished operation (operation.info).
func opParams(t *testing.T, e *qenv, op map[string]any) map[string]any {
	t.Helper()
	return asMap(t, asMap(t, e.call("operation.info", asID(t, op["id"])))["params"])
}

// countFiles counts the files the guest's writer loop made.
func countFiles(t *testing.T, e *qenv, g *guestVM) int {
	t.Helper()
	n, err := strconv.Atoi(e.mustSSH(g.ip4, "ls /root/w | wc -l"))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

type snapResult struct {
	id          int64
	consistency string
}

// snapshot snapshots disk and waits for it; it returns the snapshot and what the
// operation says of its consistency.
func snapshot(t *testing.T, e *qenv, disk int64, name string) snapResult {
	t.Helper()
	begin := time.Now()
	op := e.do("hosting.disk.create_from", map[string]any{"name": name, "type": "snapshot"}, disk)
	c, _ := opParams(t, e, op)["consistency"].(string)
	t.Logf("snapshot %s of disk %d: %s in %s", name, disk, c, time.Since(begin).Round(time.Millisecond))
	return snapResult{id: asID(t, op["disk_id"]), consistency: c}
}

// checkSnapshot checks the filesystem of snapshot disk id on the host (e2fsck -fn of a
// raw copy must find nothing) and returns the files of /root/w in it with their content.
func checkSnapshot(t *testing.T, e *qenv, id int64) map[string]string {
	t.Helper()
	dir := t.TempDir()
	raw := filepath.Join(dir, "disk.raw")
	src := filepath.Join(e.b.Data, "disks", strconv.FormatInt(id, 10)+".qcow2")
	if out, err := exec.Command("qemu-img", "convert", "-f", "qcow2", "-O", "raw", src, raw).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img convert %s: %v: %s", src, err, out)
	}
	if out, err := exec.Command("e2fsck", "-fn", raw).CombinedOutput(); err != nil {
		t.Fatalf("e2fsck -fn of snapshot %d: %v:\n%s", id, err, lastLines(string(out), 20))
	}
	dump := filepath.Join(dir, "dump")
	if err := os.Mkdir(dump, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("debugfs", "-R", "rdump /root/w "+dump, raw).CombinedOutput(); err != nil {
		t.Fatalf("debugfs rdump: %v: %s", err, out)
	}
	entries, err := os.ReadDir(filepath.Join(dump, "w"))
	if err != nil {
		t.Fatalf("snapshot %d has no /root/w: %v", id, err)
	}
	files := map[string]string{}
	for _, en := range entries {
		b, err := os.ReadFile(filepath.Join(dump, "w", en.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[en.Name()] = string(b)
	}
	return files
}

// sshPassword runs cmd on addr as root over SSH, logging in with password only.
func sshPassword(t *testing.T, e *qenv, addr, password, cmd string) (string, error) {
	t.Helper()
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	askpass := filepath.Join(dir, "askpass")
	if err := os.WriteFile(pw, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(askpass, []byte("#!/bin/sh\ncat '"+pw+"'\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	return e.nsCmd(cmdTimeout, "env", "SSH_ASKPASS="+askpass, "SSH_ASKPASS_REQUIRE=force", "DISPLAY=none",
		"ssh", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
		"-o", "ConnectTimeout=5", "-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password,keyboard-interactive",
		"-o", "NumberOfPasswordPrompts=1", "root@"+addr, cmd)
}
