package qemu

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-io/berth/internal/hypervisor"
)

// helperEnv makes the test binary act as a berthd that starts one VM (see helperMain).
const helperEnv = "BERTH_QEMU_TEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(helperMain())
	}
	os.Exit(m.Run())
}

// helperJob is what the helper process is asked to do.
type helperJob struct {
	RunDir string
	Spec   hypervisor.Spec
}

// helperMain starts the VM of $BERTH_QEMU_TEST_HELPER, prints STARTED and waits to be
// killed (at most ten minutes).
func helperMain() int {
	var job helperJob
	if err := json.Unmarshal([]byte(os.Getenv(helperEnv)), &job); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	d, err := New(Config{RunDir: job.RunDir, Accel: AccelTCG})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := d.Start(ctx, job.Spec); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("STARTED")
	time.Sleep(10 * time.Minute) // the test kills this process long before
	return 1
}

// shellSpec is a VM that boots the tiny kernel and initramfs only and stops in the
// initramfs shell: fast, and deaf to the ACPI power button (no acpid).
func shellSpec(g guest, id int64) hypervisor.Spec {
	return hypervisor.Spec{
		ID: id, Name: "shell", MemoryMB: 256, MaxMemMB: 256, Cores: 1, MaxCores: 2,
		Boot: hypervisor.Boot{Kernel: g.Kernel, Initrd: g.Initrd, Cmdline: "console=ttyS0 panic=-1 berth.shell=1"},
	}
}

const shellMarker = "BERTH-INITRAMFS-FAILED"

// setSubreaper makes this process adopt orphaned descendants, so that it can reap a
// QEMU whose parent died.
func setSubreaper(t *testing.T) {
	const prSetChildSubreaper = 36
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		t.Fatalf("prctl(PR_SET_CHILD_SUBREAPER): %v", errno)
	}
}

// TestVMOutlivesItsStarter starts a VM from a child process (berthd), kills that
// process with SIGKILL, and checks that QEMU keeps running and that a new driver
// adopts it, changes it, stops it after the ACPI timeout (the guest ignores the
// button) and restarts it.
func TestVMOutlivesItsStarter(t *testing.T) {
	g := tinyGuest(t)
	dir := runDir(t)
	setSubreaper(t)
	const id = 21
	spec := shellSpec(g, id)
	job, err := json.Marshal(helperJob{RunDir: dir, Spec: spec})
	if err != nil {
		t.Fatal(err)
	}
	helper := exec.Command(os.Args[0], "-test.run=^$")
	helper.Env = append(os.Environ(), helperEnv+"="+string(job))
	var stderr bytes.Buffer
	helper.Stderr = &stderr
	stdout, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = helper.Process.Kill()
		_ = helper.Wait()
	})
	started := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		started <- line
	}()
	select {
	case line := <-started:
		if strings.TrimSpace(line) != "STARTED" {
			t.Fatalf("helper: %q, stderr: %s", line, stderr.String())
		}
	case <-time.After(time.Minute):
		t.Fatalf("helper did not start the vm; stderr: %s", stderr.String())
	}
	waitLog(t, filepath.Join(dir, "21", consoleLog), 0, shellMarker, time.Minute)
	pid := readPid(filepath.Join(dir, "21", pidFile))
	marker := qmpMarker(filepath.Join(dir, "21", qmpSock))
	if !pidAlive(pid, marker) {
		t.Fatalf("no live qemu in pid file (%d)", pid)
	}

	if err := helper.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = helper.Wait()
	if !pidAlive(pid, marker) {
		t.Fatalf("qemu %d died with the process that started it", pid)
	}
	if sid := sessionOf(t, pid); sid != pid {
		t.Errorf("qemu %d is in session %d, want its own", pid, sid)
	}

	d := newDriver(t, dir, func(c *Config) { c.StopTimeout = 2 * time.Second })
	if st, err := d.State(ctxFor(t, 5*time.Second), id); err != nil || st != hypervisor.Running {
		t.Fatalf("State of the orphaned vm = %q, %v; want running", st, err)
	}
	if err := d.SetCores(ctxFor(t, 30*time.Second), id, 2); err != nil {
		t.Fatalf("SetCores on the adopted vm: %v", err)
	}
	if n, err := client(t, d, id).CPUCount(ctxFor(t, 5*time.Second)); err != nil || n != 2 {
		t.Errorf("query-cpus-fast: %d cpus, %v; want 2", n, err)
	}

	start := time.Now()
	if err := d.Stop(ctxFor(t, time.Minute), id); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if took := time.Since(start); took < 2*time.Second || took > 15*time.Second {
		t.Errorf("Stop of a guest that ignores ACPI took %s, want the 2s timeout then quit", took)
	}
	if pidAlive(pid, marker) {
		t.Fatalf("qemu %d alive after Stop", pid)
	}
	// The orphan is this process's child now: reap it.
	poll(t, 5*time.Second, "reap the adopted qemu", func() string {
		var ws syscall.WaitStatus
		if got, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil); got != pid {
			return fmt.Sprintf("wait4 = %d, %v", got, err)
		}
		return ""
	})
	if st, err := d.State(ctxFor(t, 5*time.Second), id); err != nil || st != hypervisor.Halted {
		t.Errorf("State after Stop = %q, %v; want halted", st, err)
	}

	// Start again: a new QEMU in the same directory.
	logSize := fileSize(d.ConsoleLog(id))
	if err := d.Start(ctxFor(t, time.Minute), spec); err != nil {
		t.Fatalf("restart: %v", err)
	}
	waitLog(t, d.ConsoleLog(id), logSize, shellMarker, time.Minute)
	if newPid := pidOf(t, d, id); newPid == pid {
		t.Errorf("restart kept pid %d", pid)
	}
	if st, err := d.State(ctxFor(t, 5*time.Second), id); err != nil || st != hypervisor.Running {
		t.Errorf("State after restart = %q, %v; want running", st, err)
	}
	if err := d.Destroy(ctxFor(t, 30*time.Second), id); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	if pids := pgrep(t, dir); len(pids) != 0 {
		t.Errorf("qemu left after Destroy: %v", pids)
	}
	if st, err := d.State(ctxFor(t, 5*time.Second), id); err != nil || st != hypervisor.Missing {
		t.Errorf("State after Destroy = %q, %v; want missing", st, err)
	}
}

// TestStartFailsCleanly checks that a spec QEMU refuses gives an error quoting QEMU and
// leaves no process.
func TestStartFailsCleanly(t *testing.T) {
	g := tinyGuest(t)
	dir := runDir(t)
	d := newDriver(t, dir, nil)
	tests := []struct {
		name      string
		change    func(*hypervisor.Spec)
		wantErr   []string
		wantState hypervisor.State
	}{
		{
			name: "missing disk image",
			change: func(s *hypervisor.Spec) {
				s.Disks = []hypervisor.Disk{{ID: 1, Path: filepath.Join(dir, "nope.qcow2")}}
			},
			wantErr:   []string{"qemu exited", "nope.qcow2", "No such file"},
			wantState: hypervisor.Halted,
		},
		{
			name:      "missing kernel",
			change:    func(s *hypervisor.Spec) { s.Boot.Kernel = filepath.Join(dir, "no-vmlinuz") },
			wantErr:   []string{"qemu exited", "no-vmlinuz"},
			wantState: hypervisor.Halted,
		},
		{
			name:      "maximum memory beyond the address space",
			change:    func(s *hypervisor.Spec) { s.MemoryMB, s.MaxMemMB = 256, 1<<40 },
			wantErr:   []string{"qemu exited", "qemu output: qemu-system-x86_64:"},
			wantState: hypervisor.Halted,
		},
		{
			name:      "odd memory",
			change:    func(s *hypervisor.Spec) { s.MemoryMB = 255 },
			wantErr:   []string{"even"},
			wantState: hypervisor.Missing,
		},
		{
			name:      "tap without OpenTap",
			change:    func(s *hypervisor.Spec) { s.NICs = []hypervisor.NIC{{ID: 1, MAC: "52:54:00:00:00:01", Tap: "bt1"}} },
			wantErr:   []string{"OpenTap"},
			wantState: hypervisor.Missing,
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := int64(31 + i)
			spec := shellSpec(g, id)
			tt.change(&spec)
			err := d.Start(ctxFor(t, 30*time.Second), spec)
			if err == nil {
				t.Fatal("Start succeeded")
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Start error %q does not mention %q", err, want)
				}
			}
			if pids := pgrep(t, dir); len(pids) != 0 {
				t.Errorf("processes left after a failed start: %v", pids)
			}
			if st, err := d.State(ctxFor(t, 5*time.Second), id); err != nil || st != tt.wantState {
				t.Errorf("State = %q, %v; want %q", st, err, tt.wantState)
			}
		})
	}
}

// TestBootProbe runs the accelerator probe for real: under TCG it sees the kernel
// reach init; it fails on a marker that never comes; on this kind of host (PVM) KVM
// fails it, and New's "auto" settles on TCG.
func TestBootProbe(t *testing.T) {
	g := tinyGuest(t)
	bin, err := exec.LookPath(DefaultBinary)
	if err != nil {
		t.Fatal(err)
	}
	probe := Probe{Kernel: g.Kernel, Initrd: g.Initrd, Timeout: 30 * time.Second}
	if err := bootProbe(context.Background(), bin, AccelTCG, probe); err != nil {
		t.Errorf("tcg probe: %v", err)
	}
	never := probe
	never.Marker, never.Timeout = "NEVER-PRINTED", 2*time.Second
	if err := bootProbe(context.Background(), bin, AccelTCG, never); err == nil || !strings.Contains(err.Error(), "within") {
		t.Errorf("probe for a marker that never comes: %v", err)
	}
	if _, err := os.Stat("/sys/module/kvm_pvm"); err == nil {
		pvm := probe
		pvm.Timeout = 5 * time.Second
		if err := bootProbe(context.Background(), bin, AccelKVM, pvm); err == nil {
			t.Errorf("kvm probe succeeded on a pvm host")
		} else {
			t.Logf("kvm probe on pvm: %v", err)
		}
		d := newDriver(t, runDir(t), func(c *Config) { c.Accel, c.Probe = AccelAuto, probe })
		if d.Accel() != AccelTCG {
			t.Errorf("auto accelerator on a pvm host = %q, want tcg", d.Accel())
		}
	}
}
