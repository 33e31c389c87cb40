package qemu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// Probe is the test boot that decides whether KVM works on this host (AccelAuto): a
// kernel booted under KVM must print Marker on its serial console within Timeout.
// Without a Kernel, AccelAuto means TCG.
type Probe struct {
	// Kernel and Initrd are the images to boot (absolute paths).
	Kernel, Initrd string
	// Cmdline is appended to "console=ttyS0 panic=-1".
	Cmdline string
	// Marker is the console text that proves the boot (default DefaultProbeMarker).
	Marker string
	// Timeout is the deadline of the boot (default DefaultProbeTimeout).
	Timeout time.Duration
}

// Probe defaults. The marker is printed by Linux right before it runs init, whatever
// the initramfs; a kernel stuck in an emulated decompressor (PVM) never gets there.
const (
	DefaultProbeMarker  = "Freeing unused kernel image"
	DefaultProbeTimeout = 10 * time.Second
)

// accelEnv is what chooseAccel looks at; tests replace it.
type accelEnv struct {
	kvmDevice string                          // exists when the host has KVM
	pvmModule string                          // exists when KVM is PVM, which stock kernels cannot use
	probe     func(ctx context.Context) error // nil when no probe is configured
}

// hostAccelEnv is the real host's environment.
func hostAccelEnv(probe func(ctx context.Context) error, configured bool) accelEnv {
	env := accelEnv{kvmDevice: "/dev/kvm", pvmModule: "/sys/module/kvm_pvm"}
	if configured {
		env.probe = probe
	}
	return env
}

// chooseAccel resolves an accelerator mode to "tcg" or "kvm".
func chooseAccel(ctx context.Context, mode string, env accelEnv, log *slog.Logger) (string, error) {
	switch mode {
	case AccelTCG:
		return AccelTCG, nil
	case AccelKVM:
		if _, err := os.Stat(env.kvmDevice); err != nil {
			return "", fmt.Errorf("accelerator kvm: %w", err)
		}
		return AccelKVM, nil
	case AccelAuto, "":
	default:
		return "", fmt.Errorf("unknown accelerator %q (want auto, tcg or kvm)", mode)
	}
	if _, err := os.Stat(env.kvmDevice); err != nil {
		log.Info("accelerator: tcg (no kvm device)", "device", env.kvmDevice)
		return AccelTCG, nil
	}
	if _, err := os.Stat(env.pvmModule); err == nil {
		log.Info("accelerator: tcg (kvm is pvm, which cannot boot stock kernels)", "module", env.pvmModule)
		return AccelTCG, nil
	}
	if env.probe == nil {
		log.Warn("accelerator: tcg (no kvm probe kernel configured)")
		return AccelTCG, nil
	}
	start := time.Now()
	if err := env.probe(ctx); err != nil {
		log.Warn("accelerator: tcg (kvm probe boot failed)", "err", err, "took", time.Since(start).Round(time.Millisecond))
		return AccelTCG, nil
	}
	log.Info("accelerator: kvm (probe boot succeeded)", "took", time.Since(start).Round(time.Millisecond))
	return AccelKVM, nil
}

// bootProbe boots p.Kernel under accel and waits for p.Marker on the serial console.
func bootProbe(ctx context.Context, bin, accel string, p Probe) error {
	if p.Kernel == "" {
		return errors.New("kvm probe: no kernel")
	}
	if p.Marker == "" {
		p.Marker = DefaultProbeMarker
	}
	if p.Timeout <= 0 {
		p.Timeout = DefaultProbeTimeout
	}
	dir, err := os.MkdirTemp("", "berth-accel-probe")
	if err != nil {
		return fmt.Errorf("%s probe: %w", accel, err)
	}
	defer os.RemoveAll(dir)
	serial := filepath.Join(dir, "serial.log")
	cpu := "qemu64"
	if accel == AccelKVM {
		cpu = "host"
	}
	args := []string{
		"-machine", "pc", "-nodefaults", "-no-user-config", "-display", "none",
		"-accel", accel, "-cpu", cpu, "-m", "256M", "-smp", "1", "-no-reboot",
		"-serial", "file:" + serial,
		"-kernel", p.Kernel, "-append", "console=ttyS0 panic=-1 " + p.Cmdline,
	}
	if p.Initrd != "" {
		args = append(args, "-initrd", p.Initrd)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s probe: %w", accel, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-exited
	}()

	ctx, cancel := context.WithTimeout(ctx, p.Timeout)
	defer cancel()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		if b, err := os.ReadFile(serial); err == nil && bytes.Contains(b, []byte(p.Marker)) {
			return nil
		}
		select {
		case <-exited:
			if b, err := os.ReadFile(serial); err == nil && bytes.Contains(b, []byte(p.Marker)) {
				return nil
			}
			return fmt.Errorf("%s probe: qemu exited before %q: %s", accel, p.Marker, bytes.TrimSpace(stderr.Bytes()))
		case <-ctx.Done():
			return fmt.Errorf("%s probe: no %q on the console within %s", accel, p.Marker, p.Timeout)
		case <-t.C:
		}
	}
}
