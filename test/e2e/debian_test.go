package e2e

import (
	"github.com/berth-io/berth/internal/image"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCLIQEMU is the berth CLI flow against real VMs: create, update memory, attach a
// disk, the serial console, delete.
func TestCLIQEMU(t *testing.T) {
	e := newQEnv(t)
	cliFlow(t, e.b, true)
}

// TestDebianCloudInit proves that a stock cloud-init guest (the Debian 12 image) gets its
// hostname, user and SSH key from Berth's seed, and that Berth drives its stock
// qemu-guest-agent (hostname, password, a frozen snapshot).
func TestDebianCloudInit(t *testing.T) {
	t.Parallel() // see TestMain
	e := newQEnv(t)
	images := needVMs(t)
	if _, err := os.Stat(filepath.Join(images, "debian12", "manifest.json")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the Debian 12 image is not built (make debian12): %v", err)
		}
		t.Skipf("the Debian 12 image is not built (make debian12): %v", err)
	}
	var image int64
	for _, x := range asList(t, e.call("hosting.image.list", map[string]any{"datacenter_id": fsd5, "label": "Debian 12"})) {
		image = asID(t, asMap(t, x)["disk_id"])
	}
	if image == 0 {
		t.Fatal("no Debian 12 image registered")
	}
	res := asList(t, e.call("hosting.vm.create_from", map[string]any{
		"datacenter_id": fsd5, "hostname": "deb1", "memory": 1024, "cores": 1, "ssh_key": e.sshPub,
		"login": "ciuser", "password": "berth-secret-42", "run": "touch /root/run-ok",
	}, map[string]any{"name": "sys-deb1"}, image))
	e.wait(res...)
	g := &guestVM{e: e, hostname: "deb1", id: asID(t, asMap(t, res[len(res)-1])["vm_id"])}
	g.refresh()
	// cloud-init's final stage prints BERTH-BOOTED on the console (images/debian12).
	begin := time.Now()
	pollUntil(t, 6*time.Minute, "debian boots and cloud-init finishes", func() string {
		b, _ := os.ReadFile(g.consoleLog())
		if m := bootedLine.FindStringSubmatch(string(b)); m != nil {
			return ""
		}
		return "console: " + lastLines(string(b), 2)
	})
	t.Logf("debian 12 booted and cloud-init finished in %s", time.Since(begin).Round(time.Second))
	var out string
	pollUntil(t, 2*time.Minute, "ssh ciuser@"+g.ip4, func() string {
		var err error
		out, err = e.nsCmd(cmdTimeout, "ssh", "-i", e.sshKey, "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
			"-o", "LogLevel=ERROR", "-o", "ConnectTimeout=5", "-o", "BatchMode=yes", "ciuser@"+g.ip4, "hostname; id -un; sudo -n test -e /root/run-ok && echo run-ok")
		if err != nil {
			return err.Error()
		}
		return ""
	})
	lines := strings.Fields(out)
	if len(lines) < 3 || lines[0] != "deb1" || lines[1] != "ciuser" || lines[2] != "run-ok" {
		t.Fatalf("in the guest: %q, want hostname deb1, user ciuser, the run command done", out)
	}
	if got := e.mustSSH(g.ip4, "hostname"); got != "deb1" {
		t.Fatalf("root ssh: hostname %q", got)
	}

	// Debian's qemu-guest-agent, on the same boot: vm.info sees it, vm.update's hostname
	// and root password reach the guest, and a snapshot of the running disk is frozen.
	waitGuestAgent(t, g, "up")
	op := e.do("hosting.vm.update", g.id, map[string]any{"hostname": "deb2", "password": "n3w-Debian-pass"})
	if got := opParams(t, e, op)["guest_agent"]; got != "updated" {
		t.Fatalf("vm_update guest_agent = %v, want updated", got)
	}
	if got := e.mustSSH(g.ip4, "hostname; cat /etc/hostname"); got != "deb2\ndeb2" {
		t.Fatalf("hostname in the guest: %q", got)
	}
	check := `python3 -W ignore -c 'import crypt, spwd; h = spwd.getspnam("root").sp_pwdp; print(crypt.crypt("n3w-Debian-pass", h) == h)'`
	if got := e.mustSSH(g.ip4, check); got != "True" {
		t.Fatalf("root password in /etc/shadow is not the new one: %q", got)
	}
	snap := snapshot(t, e, g.sysDisk, "deb-snap")
	if snap.consistency != "filesystem" {
		t.Fatalf("snapshot of the running debian disk: consistency %q, want filesystem", snap.consistency)
	}
	if got := e.mustSSH(g.ip4, "touch /root/after-snapshot && echo ok"); got != "ok" {
		t.Fatalf("the guest's filesystem after the snapshot: %q", got)
	}
}

// TestImageImport registers a qcow2 a user brings with `berthd admin image import` while
// berthd runs, and boots a VM from it.
func TestImageImport(t *testing.T) {
	e := newQEnv(t)
	m, err := image.Load(filepath.Join(needVMs(t), "tiny", "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	out := e.b.Admin("image", "import", "--file", m.Disk, "--label", "Imported", "--datacenter", "FR-SD5",
		"--kernel", m.KernelVersion+" (tiny)", "--cmdline", m.Cmdline, "--images", needVMs(t))
	t.Logf("import: %s", out)
	var src int64
	for _, x := range asList(t, e.call("hosting.image.list", map[string]any{"label": "Imported"})) {
		src = asID(t, asMap(t, x)["disk_id"])
	}
	if src == 0 {
		t.Fatal("the imported image is not listed")
	}
	e.image = src
	g := e.createVMs(map[string]any{"hostname": "imported"})[0]
	if got := g.sh("hostname"); got != "imported" {
		t.Fatalf("hostname %q", got)
	}
}
