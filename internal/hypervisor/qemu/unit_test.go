package qemu

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/berth-io/berth/internal/hypervisor"
)

// Tests of the pure parts of the driver; they run no QEMU.

func TestBuildArgs(t *testing.T) {
	const dir = "/run/berth/42"
	common := func(accel, cpu, mem, smp string) []string {
		return []string{
			"-name", "berth-42",
			"-machine", "pc", "-nodefaults", "-no-user-config", "-display", "none",
			"-accel", accel, "-cpu", cpu,
			"-m", mem,
			"-smp", smp,
			"-qmp", "unix:/run/berth/42/qmp.sock,server=on,wait=off",
			"-chardev", "socket,id=ser0,path=/run/berth/42/console.sock,server=on,wait=off,logfile=/run/berth/42/console.log,logappend=on",
			"-serial", "chardev:ser0",
			"-pidfile", "/run/berth/42/qemu.pid",
			"-no-shutdown",
			"-object", "rng-random,id=rng0,filename=/dev/urandom", "-device", "virtio-rng-pci,rng=rng0",
			"-chardev", "socket,id=qga0,path=/run/berth/42/qga.sock,server=on,wait=off",
			"-device", "virtio-serial-pci,id=vser0",
			"-device", "virtserialport,bus=vser0.0,chardev=qga0,name=org.qemu.guest_agent.0",
		}
	}
	tests := []struct {
		name  string
		spec  hypervisor.Spec
		accel string
		tapFD map[int64]int
		want  []string
	}{
		{
			name: "kernel boot, disks, seed last, nic with a tap",
			spec: hypervisor.Spec{
				ID: 42, MemoryMB: 256, MaxMemMB: 1024, Cores: 1, MaxCores: 4,
				Disks:    []hypervisor.Disk{{ID: 7, Path: "/v/7.qcow2"}, {ID: 9, Path: "/v/9.qcow2", ReadOnly: true}},
				NICs:     []hypervisor.NIC{{ID: 3, MAC: "52:54:00:00:00:03", Tap: "bt3"}, {ID: 4, MAC: "52:54:00:00:00:04"}},
				Boot:     hypervisor.Boot{Kernel: "/k/vmlinuz", Initrd: "/k/initrd", Cmdline: "console=ttyS0 root=/dev/vda"},
				SeedPath: "/s/seed.iso",
			},
			accel: AccelTCG,
			tapFD: map[int64]int{3: 3},
			want: append(common("tcg", "qemu64", "256M,slots=8,maxmem=1024M", "1,maxcpus=4"),
				"-kernel", "/k/vmlinuz", "-initrd", "/k/initrd", "-append", "console=ttyS0 root=/dev/vda",
				"-blockdev", `{"driver":"qcow2","file":{"driver":"file","filename":"/v/7.qcow2"},"node-name":"d7"}`,
				"-device", "virtio-blk-pci,drive=d7,id=vd7,serial=berth-7",
				"-blockdev", `{"driver":"qcow2","file":{"driver":"file","filename":"/v/9.qcow2"},"node-name":"d9","read-only":true}`,
				"-device", "virtio-blk-pci,drive=d9,id=vd9,serial=berth-9",
				"-blockdev", `{"driver":"raw","file":{"driver":"file","filename":"/s/seed.iso"},"node-name":"seed","read-only":true}`,
				"-device", "virtio-blk-pci,drive=seed,id=seed,serial=berth-seed",
				"-netdev", "tap,id=n3,fd=3,vhost=off",
				"-device", "virtio-net-pci,netdev=n3,id=nic3,mac=52:54:00:00:00:03",
			),
		},
		{
			name: "firmware boot from the first disk, no memory headroom, kvm",
			spec: hypervisor.Spec{
				ID: 42, MemoryMB: 512, MaxMemMB: 512, Cores: 2, MaxCores: 2,
				Disks: []hypervisor.Disk{{ID: 1, Path: "/v/1.qcow2"}, {ID: 2, Path: "/v/2.qcow2"}},
			},
			accel: AccelKVM,
			want: append(common("kvm", "host", "512M", "2,maxcpus=2"),
				"-blockdev", `{"driver":"qcow2","file":{"driver":"file","filename":"/v/1.qcow2"},"node-name":"d1"}`,
				"-device", "virtio-blk-pci,drive=d1,id=vd1,serial=berth-1,bootindex=0",
				"-blockdev", `{"driver":"qcow2","file":{"driver":"file","filename":"/v/2.qcow2"},"node-name":"d2"}`,
				"-device", "virtio-blk-pci,drive=d2,id=vd2,serial=berth-2",
			),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := buildArgs(tt.spec, dir, tt.accel, 8, tt.tapFD)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("buildArgs (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBuildArgsEscapesCommas(t *testing.T) {
	got := buildArgs(hypervisor.Spec{ID: 1, MemoryMB: 128, MaxMemMB: 128, Cores: 1, MaxCores: 1}, "/a,b/1", AccelTCG, 8, nil)
	want := "unix:/a,,b/1/qmp.sock,server=on,wait=off"
	for i, a := range got {
		if a == "-qmp" {
			if got[i+1] != want {
				t.Errorf("-qmp %q, want %q", got[i+1], want)
			}
			return
		}
	}
	t.Fatalf("no -qmp in %q", got)
}

func TestNormalize(t *testing.T) {
	ok := hypervisor.Spec{
		ID: 1, MemoryMB: 256, Cores: 1,
		Disks: []hypervisor.Disk{{ID: 1, Path: "/d/1.qcow2"}},
		NICs:  []hypervisor.NIC{{ID: 1, MAC: "52:54:00:AB:00:01"}},
	}
	got, err := normalize(ok)
	if err != nil {
		t.Fatalf("normalize(valid spec): %v", err)
	}
	want := ok
	want.MaxMemMB, want.MaxCores = 256, 1
	want.NICs = []hypervisor.NIC{{ID: 1, MAC: "52:54:00:ab:00:01"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("normalize (-want +got):\n%s", diff)
	}
	if ok.NICs[0].MAC != "52:54:00:AB:00:01" {
		t.Errorf("normalize modified its argument's NICs")
	}

	tests := []struct {
		name    string
		change  func(*hypervisor.Spec)
		wantErr string
	}{
		{"zero id", func(s *hypervisor.Spec) { s.ID = 0 }, "invalid vm id"},
		{"odd memory", func(s *hypervisor.Spec) { s.MemoryMB = 255 }, "even"},
		{"max memory below memory", func(s *hypervisor.Spec) { s.MaxMemMB = 128 }, "maximum memory"},
		{"no cores", func(s *hypervisor.Spec) { s.Cores = 0 }, "cores 0"},
		{"max cores below cores", func(s *hypervisor.Spec) { s.Cores, s.MaxCores = 4, 2 }, "maximum cores"},
		{"nothing to boot", func(s *hypervisor.Spec) { s.Disks = nil }, "nothing to boot"},
		{"relative disk", func(s *hypervisor.Spec) { s.Disks[0].Path = "d.qcow2" }, "not absolute"},
		{"duplicate disk", func(s *hypervisor.Spec) { s.Disks = append(s.Disks, s.Disks[0]) }, "duplicate disk"},
		{"relative kernel", func(s *hypervisor.Spec) { s.Boot.Kernel = "vmlinuz" }, "kernel path"},
		{"initrd alone", func(s *hypervisor.Spec) { s.Boot.Initrd = "/k/initrd" }, "initrd without a kernel"},
		{"bad mac", func(s *hypervisor.Spec) { s.NICs[0].MAC = "nope" }, "invalid mac"},
		{"multicast mac", func(s *hypervisor.Spec) { s.NICs[0].MAC = "01:00:5e:00:00:01" }, "invalid mac"},
		{"duplicate nic", func(s *hypervisor.Spec) { s.NICs = append(s.NICs, s.NICs[0]) }, "duplicate nic"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ok
			s.Disks = append([]hypervisor.Disk(nil), ok.Disks...)
			s.NICs = append([]hypervisor.NIC(nil), ok.NICs...)
			tt.change(&s)
			_, err := normalize(s)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("normalize: error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestPickDIMMs(t *testing.T) {
	tests := []struct {
		name   string
		dimms  []dimm
		need   int64
		want   []string
		wantOK bool
	}{
		{"one exact", []dimm{{"dimm0", 512}}, 512, []string{"dimm0"}, true},
		{"no match", []dimm{{"dimm0", 512}}, 256, nil, false},
		{"nothing plugged", nil, 256, nil, false},
		{"fewest dimms", []dimm{{"dimm0", 256}, {"dimm1", 256}, {"dimm2", 512}}, 512, []string{"dimm2"}, true},
		{"most recent at equal count", []dimm{{"dimm0", 256}, {"dimm1", 256}, {"dimm2", 256}}, 256, []string{"dimm2"}, true},
		{"two most recent", []dimm{{"dimm0", 256}, {"dimm1", 256}, {"dimm2", 256}}, 512, []string{"dimm2", "dimm1"}, true},
		{"sum of several", []dimm{{"dimm0", 128}, {"dimm1", 384}, {"dimm2", 1024}}, 512, []string{"dimm1", "dimm0"}, true},
		{"numeric not lexical order", []dimm{{"dimm10", 256}, {"dimm9", 256}}, 256, []string{"dimm10"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := pickDIMMs(tt.dimms, tt.need)
			if ok != tt.wantOK {
				t.Fatalf("pickDIMMs ok = %v, want %v", ok, tt.wantOK)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("pickDIMMs (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFreeName(t *testing.T) {
	tests := []struct {
		used []string
		want string
	}{
		{nil, "vcpu0"},
		{[]string{"vcpu0", "vcpu2"}, "vcpu1"},
		{[]string{"vcpu1", "vcpu0"}, "vcpu2"},
	}
	for _, tt := range tests {
		if got := freeName("vcpu", tt.used); got != tt.want {
			t.Errorf("freeName(%q) = %q, want %q", tt.used, got, tt.want)
		}
	}
}

func TestGuestGone(t *testing.T) {
	for status, want := range map[string]bool{
		"running": false, "paused": false, "io-error": false, "prelaunch": false, "inmigrate": false,
		"shutdown": true, "guest-panicked": true, "internal-error": true,
	} {
		if got := guestGone(status); got != want {
			t.Errorf("guestGone(%q) = %v, want %v", status, got, want)
		}
	}
}

func TestChooseAccel(t *testing.T) {
	dir := t.TempDir()
	present := filepath.Join(dir, "present")
	if err := os.WriteFile(present, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	absent := filepath.Join(dir, "absent")
	okProbe := func(context.Context) error { return nil }
	badProbe := func(context.Context) error { return errors.New("no marker") }
	tests := []struct {
		name    string
		mode    string
		env     accelEnv
		want    string
		wantErr bool
	}{
		{"tcg forced", AccelTCG, accelEnv{kvmDevice: present, pvmModule: absent, probe: okProbe}, AccelTCG, false},
		{"kvm forced", AccelKVM, accelEnv{kvmDevice: present, pvmModule: present}, AccelKVM, false},
		{"kvm forced without device", AccelKVM, accelEnv{kvmDevice: absent}, "", true},
		{"auto without device", AccelAuto, accelEnv{kvmDevice: absent, probe: okProbe}, AccelTCG, false},
		{"auto on pvm skips the probe", AccelAuto, accelEnv{kvmDevice: present, pvmModule: present, probe: okProbe}, AccelTCG, false},
		{"auto without probe", AccelAuto, accelEnv{kvmDevice: present, pvmModule: absent}, AccelTCG, false},
		{"auto, probe boots", AccelAuto, accelEnv{kvmDevice: present, pvmModule: absent, probe: okProbe}, AccelKVM, false},
		{"auto, probe fails", "", accelEnv{kvmDevice: present, pvmModule: absent, probe: badProbe}, AccelTCG, false},
		{"unknown mode", "xen", accelEnv{kvmDevice: present}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := chooseAccel(context.Background(), tt.mode, tt.env, slog.New(slog.DiscardHandler))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("chooseAccel = %q, %v; want %q (error: %v)", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestListAndState(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"12", "3", "abc", "007", "0", "-1"} {
		if err := os.Mkdir(filepath.Join(dir, name), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "5"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// A stale pid file naming this test process: not a QEMU of that directory.
	if err := os.WriteFile(filepath.Join(dir, "3", pidFile), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d := &Driver{cfg: Config{RunDir: dir}, log: slog.New(slog.DiscardHandler), vms: map[int64]*vm{},
		locks: map[int64]chan struct{}{}, procMu: map[int64]*sync.Mutex{}, closing: make(chan struct{})}
	ids, err := d.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int64{3, 12}, ids); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
	for id, want := range map[int64]hypervisor.State{3: hypervisor.Halted, 12: hypervisor.Halted, 4: hypervisor.Missing} {
		got, err := d.State(context.Background(), id)
		if err != nil || got != want {
			t.Errorf("State(%d) = %q, %v; want %q", id, got, err, want)
		}
	}
	for _, op := range []func() error{
		func() error { return d.SetMemory(context.Background(), 3, 512) },
		func() error { return d.SetCores(context.Background(), 3, 2) },
		func() error { return d.AttachDisk(context.Background(), 3, hypervisor.Disk{ID: 1, Path: "/x"}) },
		func() error { return d.DetachNIC(context.Background(), 4, 1) },
	} {
		if err := op(); !errors.Is(err, hypervisor.ErrNotRunning) {
			t.Errorf("live change on a halted vm: %v, want ErrNotRunning", err)
		}
	}
	if err := d.Stop(context.Background(), 3); err != nil {
		t.Errorf("Stop(halted): %v", err)
	}
	if err := d.Destroy(context.Background(), 3); err != nil {
		t.Errorf("Destroy(halted): %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "3")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Destroy left the directory: %v", err)
	}
	if d.Reserved() != 0 {
		t.Errorf("Reserved with no running vm = %d", d.Reserved())
	}
}

func TestPidAlive(t *testing.T) {
	self, err := os.ReadFile("/proc/self/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	arg0, _, _ := strings.Cut(string(self), "\x00")
	tests := []struct {
		pid    int
		marker string
		want   bool
	}{
		{os.Getpid(), arg0, true},
		{os.Getpid(), "unix:/nowhere/qmp.sock,", false},
		{1 << 30, arg0, false},
	}
	for _, tt := range tests {
		if got := pidAlive(tt.pid, tt.marker); got != tt.want {
			t.Errorf("pidAlive(%d, %q) = %v, want %v", tt.pid, tt.marker, got, tt.want)
		}
	}
	if got := findProcess("unix:/nowhere/qmp.sock,"); got != 0 {
		t.Errorf("findProcess(absent) = %d", got)
	}
}
