package qmp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The tests in this file run a real qemu-system-x86_64 (TCG, paused with -S, no guest
// image). They skip when QEMU is not installed, except in CI (CI=true) where a
// missing QEMU is a failure.

// needBinary returns the path of an external program, or skips (fails in CI).
func needBinary(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not found and CI=true: %v", name, err)
		}
		t.Skipf("%s not installed: %v", name, err)
	}
	return p
}

// qemuProc is a QEMU started by a test.
type qemuProc struct {
	cmd    *exec.Cmd
	dir    string
	stderr *bytes.Buffer
	exited chan struct{} // closed once Wait returned
}

// startQEMU starts a paused pc machine with 256M (4 DIMM slots, maxmem 2G) and 1 of
// 4 vCPUs, connects to its QMP socket, and kills it at the end of the test.
func startQEMU(t *testing.T, opts ...Option) (*Client, *qemuProc) {
	t.Helper()
	bin := needBinary(t, "qemu-system-x86_64")
	dir := shortTempDir(t)
	sock := filepath.Join(dir, "q.sock")
	p := &qemuProc{dir: dir, stderr: new(bytes.Buffer), exited: make(chan struct{})}
	p.cmd = exec.Command(bin,
		"-machine", "pc", "-accel", "tcg", "-nodefaults", "-display", "none",
		"-no-user-config", "-S", "-m", "256M,slots=4,maxmem=2G", "-smp", "1,maxcpus=4",
		"-qmp", "unix:"+sock+",server=on,wait=off")
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start qemu: %v", err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("qemu stderr:\n%s", p.stderr)
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	c, err := Dial(ctx, sock, opts...)
	if err != nil {
		t.Fatalf("Dial: %v (qemu stderr: %s)", err, p.stderr)
	}
	t.Cleanup(func() { c.Close() })
	return c, p
}

// testCtx returns a context bounded for one test step.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestQEMUGreetingAndStatus(t *testing.T) {
	c, _ := startQEMU(t)
	v := c.Version()
	if !v.AtLeast(7, 0) || v.Package == "" {
		t.Errorf("greeting version = %+v, want QEMU >= 7.0 with a package string", v)
	}
	st, err := c.Status(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(StatusInfo{Status: "prelaunch", Running: false}, st); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}
}

func TestQEMULifecycle(t *testing.T) {
	c, _ := startQEMU(t)
	ctx := testCtx(t)
	steps := []struct {
		name       string
		do         func(context.Context) error
		wantEvent  string
		wantStatus string
	}{
		{"cont", c.Cont, "RESUME", "running"},
		{"stop", c.Stop, "STOP", "paused"},
		{"system_reset", c.SystemReset, "RESET", "prelaunch"}, // a reset while paused goes back to prelaunch
		{"cont again", c.Cont, "RESUME", "running"},
		{"system_powerdown", c.SystemPowerdown, "POWERDOWN", "running"},
	}
	for _, s := range steps {
		x := c.Expect(s.wantEvent, nil)
		if err := s.do(ctx); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if _, err := x.Wait(ctx); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		st, err := c.Status(ctx)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if st.Status != s.wantStatus || st.Running != (s.wantStatus == "running") {
			t.Errorf("after %s: status %+v, want %s", s.name, st, s.wantStatus)
		}
	}
}

func TestQEMUQuit(t *testing.T) {
	c, p := startQEMU(t)
	ctx := testCtx(t)
	x := c.Expect("SHUTDOWN", nil)
	if err := c.Quit(ctx); err != nil {
		t.Fatalf("Quit: %v", err)
	}
	ev, err := x.Wait(ctx)
	if err != nil {
		t.Fatalf("SHUTDOWN event: %v", err)
	}
	if r := ev.DataString("reason"); r != "host-qmp-quit" {
		t.Errorf("SHUTDOWN reason = %q, want host-qmp-quit", r)
	}
	select {
	case <-c.Done():
	default:
		t.Error("Done not closed after Quit returned")
	}
	if !errors.Is(c.Err(), ErrClosed) {
		t.Errorf("Err() = %v, want ErrClosed", c.Err())
	}
	select {
	case <-p.exited:
	case <-ctx.Done():
		t.Fatal("qemu still running after quit")
	}
	if _, err := c.Status(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("Status after quit = %v, want ErrClosed", err)
	}
}

func TestQEMUStoppedThenKilled(t *testing.T) {
	c, p := startQEMU(t)
	// A frozen QEMU (SIGSTOP) never answers: the deadline must fire.
	if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := c.Status(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Status on a frozen qemu = %v, want DeadlineExceeded", err)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("Status on a frozen qemu took %v", el)
	}

	// A command still waiting when QEMU dies fails at once with ErrClosed.
	errc := make(chan error, 1)
	go func() {
		_, err := c.Status(context.Background())
		errc <- err
	}()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("pending Status when qemu was killed = %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("pending command hung after qemu was killed")
	}
	<-c.Done()
	start = time.Now()
	if _, err := c.Status(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Status after kill = %v, want ErrClosed", err)
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("Status after kill took %v", el)
	}
}

func TestQEMULargeReply(t *testing.T) {
	c, _ := startQEMU(t)
	var schema []json.RawMessage
	if err := c.Execute(testCtx(t), "query-qmp-schema", nil, &schema); err != nil {
		t.Fatalf("query-qmp-schema: %v", err)
	}
	size := 0
	for _, e := range schema {
		size += len(e)
	}
	if size <= 64<<10 {
		t.Errorf("query-qmp-schema reply is %d bytes, expected more than 64 KiB", size)
	}
	var names []string
	for _, e := range schema {
		var ent struct {
			Name     string `json:"name"`
			MetaType string `json:"meta-type"`
		}
		if err := json.Unmarshal(e, &ent); err != nil {
			t.Fatal(err)
		}
		if ent.MetaType == "command" {
			names = append(names, ent.Name)
		}
	}
	if len(names) < 100 {
		t.Errorf("schema lists %d commands, want over 100", len(names))
	}
	// The connection is still healthy after the big reply.
	if _, err := c.Status(testCtx(t)); err != nil {
		t.Errorf("Status after query-qmp-schema: %v", err)
	}
}

func TestQEMUErrors(t *testing.T) {
	c, _ := startQEMU(t)
	ctx := testCtx(t)
	tests := []struct {
		name      string
		command   string
		args      any
		wantClass string
		wantDesc  string // substring
	}{
		{"unknown command", "no-such-command", nil, "CommandNotFound", "no-such-command"},
		{"unknown driver", "device_add", map[string]any{"driver": "no-such-device", "id": "x"}, "GenericError", "no-such-device"},
		{"missing device", "device_del", map[string]any{"id": "ghost"}, "DeviceNotFound", "ghost"},
		{"bad argument type", "block_resize", map[string]any{"node-name": "n", "size": "big"}, "GenericError", "size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.Execute(ctx, tt.command, tt.args, nil)
			var qe *Error
			if !errors.As(err, &qe) {
				t.Fatalf("Execute error = %v, want *Error", err)
			}
			if qe.Class != tt.wantClass || !strings.Contains(qe.Desc, tt.wantDesc) {
				t.Errorf("error = %+v, want class %s and desc containing %q", qe, tt.wantClass, tt.wantDesc)
			}
		})
	}
	if _, err := c.Status(ctx); err != nil {
		t.Errorf("Status after errors: %v", err)
	}
}

func TestQEMUConcurrentExecute(t *testing.T) {
	c, _ := startQEMU(t)
	ctx := testCtx(t)
	// One object per worker with a distinct size, so a misrouted reply is detected.
	const workers, rounds = 8, 30
	sizeOf := func(w int) int64 { return int64(w+1) << 20 }
	for w := range workers {
		err := c.Execute(ctx, "object-add", map[string]any{
			"qom-type": "memory-backend-ram", "id": "obj" + string(rune('0'+w)), "size": sizeOf(w),
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			args := map[string]any{"path": "/objects/obj" + string(rune('0'+w)), "property": "size"}
			for r := range rounds {
				var size int64
				if err := c.Execute(ctx, "qom-get", args, &size); err != nil {
					t.Errorf("worker %d round %d: %v", w, r, err)
					return
				}
				if size != sizeOf(w) {
					t.Errorf("worker %d round %d: size %d, want %d", w, r, size, sizeOf(w))
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestQEMUSendFD(t *testing.T) {
	c, _ := startQEMU(t)
	ctx := testCtx(t)

	// getfd with no descriptor attached is refused: SendFD really attaches one.
	err := c.Execute(ctx, "getfd", map[string]any{"fdname": "none"}, nil)
	var qe *Error
	if !errors.As(err, &qe) {
		t.Fatalf("getfd without a descriptor = %v, want an *Error", err)
	}

	null, err := os.Open("/dev/null")
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	if err := c.SendFD(ctx, "null0", null); err != nil {
		t.Fatalf("SendFD /dev/null: %v", err)
	}
	if err := c.CloseFD(ctx, "null0"); err != nil {
		t.Fatalf("CloseFD: %v", err)
	}
	if err := c.CloseFD(ctx, "null0"); !errors.As(err, &qe) {
		t.Errorf("second CloseFD = %v, want an *Error (fd already closed)", err)
	}

	// A passed descriptor is usable by a backend: a stream socket as a netdev.
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	ours, theirs := os.NewFile(uintptr(fds[0]), "ours"), os.NewFile(uintptr(fds[1]), "theirs")
	defer ours.Close()
	if err := c.SendFD(ctx, "sock0", theirs); err != nil {
		t.Fatalf("SendFD socket: %v", err)
	}
	theirs.Close()
	if err := c.NetdevAdd(ctx, map[string]any{"type": "socket", "id": "net-fd", "fd": "sock0"}); err != nil {
		t.Fatalf("netdev_add with the passed fd: %v", err)
	}
	if err := c.NetdevAdd(ctx, map[string]any{"type": "socket", "id": "net-bad", "fd": "missing"}); !errors.As(err, &qe) {
		t.Errorf("netdev_add with an unknown fd name = %v, want an *Error", err)
	}
}

func TestQEMUHotplugMemory(t *testing.T) {
	c, _ := startQEMU(t)
	ctx := testCtx(t)
	if err := c.HotplugMemory(ctx, "dimm1", 512<<20); err != nil {
		t.Fatalf("HotplugMemory: %v", err)
	}
	sum, err := c.MemorySizeSummary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(MemorySizeSummary{BaseMemory: 256 << 20, PluggedMemory: 512 << 20}, sum); diff != "" {
		t.Errorf("memory summary (-want +got):\n%s", diff)
	}
	devs, err := c.MemoryDevices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) != 1 || devs[0].Type != "dimm" || devs[0].Data.ID != "dimm1" ||
		devs[0].Data.Size != 512<<20 || !devs[0].Data.Hotplugged || devs[0].Data.Memdev != "/objects/dimm1-mem" {
		t.Errorf("memory devices = %+v, want one hotplugged 512 MiB dimm1", devs)
	}

	// More than maxmem: device_add fails and the backend object is rolled back.
	err = c.HotplugMemory(ctx, "dimm2", 4<<30)
	var qe *Error
	if !errors.As(err, &qe) {
		t.Fatalf("HotplugMemory beyond maxmem = %v, want an *Error", err)
	}
	var objs []struct{ Name string }
	if err := c.Execute(ctx, "qom-list", map[string]any{"path": "/objects"}, &objs); err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.Name == MemoryBackendID("dimm2") {
			t.Errorf("backend %s left behind after a failed hotplug", o.Name)
		}
	}
	if err := c.HotplugMemory(ctx, "dimm1", 128<<20); !errors.As(err, &qe) {
		t.Errorf("HotplugMemory with a used id = %v, want an *Error", err)
	}
}

func TestQEMUHotplugCPU(t *testing.T) {
	c, _ := startQEMU(t)
	ctx := testCtx(t)
	slots, err := c.HotpluggableCPUs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(slots) != 4 {
		t.Fatalf("%d hotpluggable cpus, want 4 (maxcpus=4): %+v", len(slots), slots)
	}
	for _, want := range []int64{1, 2, 3} {
		id := "cpu" + string(rune('0'+want))
		slot, err := c.HotplugCPU(ctx, id)
		if err != nil {
			t.Fatalf("HotplugCPU %s: %v", id, err)
		}
		if slot.Props["core-id"] != want || !strings.HasSuffix(slot.Type, "-x86_64-cpu") {
			t.Errorf("HotplugCPU %s used %+v, want core-id %d", id, slot, want)
		}
		n, err := c.CPUCount(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n != int(want)+1 {
			t.Errorf("after %s: %d cpus, want %d", id, n, want+1)
		}
	}
	if _, err := c.HotplugCPU(ctx, "cpu4"); !errors.Is(err, ErrNoFreeCPUSlot) {
		t.Errorf("HotplugCPU with every slot used = %v, want ErrNoFreeCPUSlot", err)
	}
	cpus, err := c.CPUs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, cpu := range cpus {
		if cpu.CPUIndex == 3 && !strings.HasSuffix(cpu.QOMPath, "/cpu3") {
			t.Errorf("cpu-index 3 at %s, want the device cpu3", cpu.QOMPath)
		}
	}
}

func TestQEMUDisk(t *testing.T) {
	qemuImg := needBinary(t, "qemu-img")
	c, p := startQEMU(t)
	ctx := testCtx(t)
	img := filepath.Join(p.dir, "data.qcow2")
	if out, err := exec.Command(qemuImg, "create", "-q", "-f", "qcow2", img, "1G").CombinedOutput(); err != nil {
		t.Fatalf("qemu-img create: %v: %s", err, out)
	}

	if err := c.BlockdevAddQcow2(ctx, "data1", "data.qcow2", false); err == nil {
		t.Error("BlockdevAddQcow2 accepted a relative path")
	}
	if err := c.BlockdevAddQcow2(ctx, "data1", img, false); err != nil {
		t.Fatalf("BlockdevAddQcow2: %v", err)
	}
	if err := c.DeviceAdd(ctx, map[string]any{"driver": "virtio-blk-pci", "id": "vdisk1", "drive": "data1", "serial": "data1"}); err != nil {
		t.Fatalf("DeviceAdd virtio-blk-pci: %v", err)
	}
	pci, err := c.PCIDevices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, d := range pci {
		if d.QdevID == "vdisk1" {
			found = d.ID.Vendor == 0x1af4 // virtio
		}
	}
	if !found {
		t.Errorf("vdisk1 not on the PCI bus as a virtio device: %+v", pci)
	}

	if err := c.BlockResize(ctx, "data1", 2<<30); err != nil {
		t.Fatalf("BlockResize: %v", err)
	}
	nodes, err := c.BlockNodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var size int64
	for _, n := range nodes {
		if n.NodeName == "data1" {
			size = n.Image.VirtualSize
			if n.Driver != "qcow2" || n.File != img || n.ReadOnly {
				t.Errorf("node data1 = %+v, want writable qcow2 on %s", n, img)
			}
		}
	}
	if size != 2<<30 {
		t.Errorf("data1 virtual size after resize = %d, want %d", size, int64(2<<30))
	}
	out, err := exec.Command(qemuImg, "info", "-U", "--output=json", img).Output()
	if err != nil {
		t.Fatalf("qemu-img info: %v", err)
	}
	var info struct {
		VirtualSize int64 `json:"virtual-size"`
	}
	if err := json.Unmarshal(out, &info); err != nil || info.VirtualSize != 2<<30 {
		t.Errorf("qemu-img info virtual-size = %d (%v), want %d", info.VirtualSize, err, int64(2<<30))
	}

	// A read-only node on a second image.
	roImg := filepath.Join(p.dir, "ro.qcow2")
	if out, err := exec.Command(qemuImg, "create", "-q", "-f", "qcow2", roImg, "64M").CombinedOutput(); err != nil {
		t.Fatalf("qemu-img create: %v: %s", err, out)
	}
	if err := c.BlockdevAddQcow2(ctx, "ro1", roImg, true); err != nil {
		t.Fatalf("BlockdevAddQcow2 read-only: %v", err)
	}
	if nodes, err = c.BlockNodes(ctx); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if n.NodeName == "ro1" && (!n.ReadOnly || n.Image.VirtualSize != 64<<20) {
			t.Errorf("node ro1 = %+v, want read-only 64 MiB", n)
		}
	}
	if err := c.BlockdevDel(ctx, "ro1"); err != nil {
		t.Errorf("BlockdevDel of an unused node: %v", err)
	}

	// A node still attached to a device cannot be deleted.
	var qe *Error
	if err := c.BlockdevDel(ctx, "data1"); !errors.As(err, &qe) {
		t.Errorf("BlockdevDel of an attached node = %v, want an *Error", err)
	}

	// PCI unplug needs the guest to eject the device; this paused machine has no
	// guest, so DeviceDel must fail at its deadline, promptly and clearly.
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = c.DeviceDel(short, "vdisk1")
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "vdisk1") {
		t.Errorf("DeviceDel without a guest = %v, want DeadlineExceeded naming vdisk1", err)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("DeviceDel took %v with a 500ms deadline", el)
	}
}

func TestQEMUNetdev(t *testing.T) {
	c, _ := startQEMU(t)
	ctx := testCtx(t)
	if err := c.NetdevAdd(ctx, map[string]any{"type": "user", "id": "net1", "restrict": true, "net": "10.0.2.0/24"}); err != nil {
		t.Fatalf("NetdevAdd user: %v", err)
	}
	if err := c.DeviceAdd(ctx, map[string]any{"driver": "virtio-net-pci", "id": "nic1", "netdev": "net1", "mac": "52:54:00:12:34:01"}); err != nil {
		t.Fatalf("DeviceAdd virtio-net-pci: %v", err)
	}
	var mac string
	if err := c.Execute(ctx, "qom-get", map[string]any{"path": "/machine/peripheral/nic1", "property": "mac"}, &mac); err != nil {
		t.Fatal(err)
	}
	if mac != "52:54:00:12:34:01" {
		t.Errorf("nic1 mac = %q", mac)
	}
	var qe *Error
	if err := c.NetdevAdd(ctx, map[string]any{"type": "user", "id": "net1"}); !errors.As(err, &qe) {
		t.Errorf("NetdevAdd with a used id = %v, want an *Error", err)
	}
	if err := c.NetdevAdd(ctx, map[string]any{"type": "user", "id": "net2", "restrict": true}); err != nil {
		t.Fatalf("NetdevAdd net2: %v", err)
	}
	if err := c.NetdevDel(ctx, "net2"); err != nil {
		t.Errorf("NetdevDel: %v", err)
	}
	if err := c.NetdevDel(ctx, "net2"); !errors.As(err, &qe) {
		t.Errorf("second NetdevDel = %v, want an *Error", err)
	}
}

func TestQEMUDeviceDelWithoutGuest(t *testing.T) {
	// USB devices and virtio-serial ports are removed by QEMU itself, so
	// DEVICE_DELETED arrives on a paused machine with no guest.
	c, _ := startQEMU(t)
	ctx := testCtx(t)
	adds := []map[string]any{
		{"driver": "piix3-usb-uhci", "id": "usb0"},
		{"driver": "usb-kbd", "id": "kbd0", "bus": "usb0.0"},
		{"driver": "virtio-serial-pci", "id": "vser0"},
		{"driver": "virtserialport", "id": "port0", "bus": "vser0.0", "name": "org.berth.test"},
	}
	for _, a := range adds {
		if err := c.DeviceAdd(ctx, a); err != nil {
			t.Fatalf("DeviceAdd %v: %v", a, err)
		}
	}
	for _, id := range []string{"kbd0", "port0"} {
		if err := c.DeviceDel(ctx, id); err != nil {
			t.Errorf("DeviceDel %s: %v", id, err)
		}
		var qe *Error
		if err := c.Execute(ctx, "qom-list", map[string]any{"path": "/machine/peripheral/" + id}, nil); !errors.As(err, &qe) {
			t.Errorf("%s still in the QOM tree after DeviceDel (err %v)", id, err)
		}
	}
}
