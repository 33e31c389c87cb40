// Package qemu is Berth's real compute driver: one VM is one qemu-system-x86_64 child
// process, controlled over QMP (package qmp), with memory (pc-dimm), vCPU, disk
// (virtio-blk) and NIC (virtio-net on a tap fd) hotplug.
//
// # Run directory
//
// Each VM has a directory <RunDir>/<id>/ holding everything the driver knows about it:
//
//	spec.json     the hypervisor.Spec of the last Start (for people and for limits:
//	              MaxMemMB, Namespace); live changes are not written back
//	qemu.pid      written by QEMU (-pidfile)
//	qemu.log      QEMU's stdout and stderr of the last Start
//	qmp.sock      the QMP socket
//	console.sock  the serial console (ttyS0) as a unix socket server
//	console.log   everything the guest wrote on the console, appended across boots
//
// The driver keeps no other state. Device lists (DIMMs, vCPUs, disks, NICs) are read
// from QEMU itself, so a restarted berthd sees the VMs exactly as they are: New
// re-adopts every running QEMU whose qemu.pid names a live process whose command line
// holds that directory's qmp.sock path, and reconnects to its QMP socket.
//
// # Process lifetime
//
// QEMU runs as a direct child (no -daemonize) in its own session, with its output in
// qemu.log rather than a pipe, so it survives berthd being killed. Children of this
// process are reaped by a goroutine blocked in Wait; the exit of an adopted QEMU (not
// our child) is seen as the end of its QMP connection followed by its pid dying.
//
// # States
//
// QEMU is started with -no-shutdown: when the guest powers off, the process stays
// alive in QMP state "shutdown" and the driver, which watches SHUTDOWN events, quits
// it. State reports:
//
//   - Missing: no run directory;
//   - Halted: no QEMU process, or one whose guest is gone for good (QMP status
//     "shutdown", "guest-panicked" or "internal-error"); the driver quits a powered-off
//     one at once, and Start replaces any such process with a new one;
//   - Running: a QEMU whose guest exists: "running", but also "paused", "io-error",
//     "prelaunch" and the migration states. A paused guest still holds its memory and
//     resumes where it was, so it is not halted.
//
// # Hotplug readiness
//
// Every hotplug (disks, NICs, DIMMs, vCPUs) goes through the guest's ACPI hotplug
// events, which a guest still in its firmware or early kernel loses (guestready.go).
// Before any of them the driver waits, without the VM's lock, until the guest has
// enabled the matching GPE (read over QMP), and unplug requests are repeated until the
// device is gone. If the guest is not ready in time nothing is changed; if a ready
// guest does not release a device, it stays plugged and the error says so.
//
// # Memory
//
// Boot memory is -m; memory above it is hotplugged as pc-dimm devices (ids dimm<N>),
// one DIMM per increase. A decrease unplugs whole DIMMs, which needs the guest to have
// onlined them movable (memhp_default_state=online_movable on the guest's command
// line, the image's business). Sizes are MiB and must be even (2 MiB granularity); a Linux guest can only use a DIMM in whole memory blocks (128 MiB on x86),
// so callers should change memory in multiples of 128 MiB.
//
// # vCPUs
//
// vCPUs are hotplugged (ids vcpu<N>) up to the -smp maxcpus of the start; the guest
// onlines them. Removal is refused under TCG (ErrCPUUnplugTCG): QEMU 7.2 crashes
// (SIGSEGV in its RCU thread, a use-after-free of the vCPU's address space) shortly
// after a TCG vCPU is unplugged (and aborts at once with -accel tcg,thread=single).
// Under KVM the hotplugged vCPUs are removed; that path is not testable on PVM hosts.
//
// # Accelerator
//
// "auto" uses KVM only when a test boot under KVM reaches the kernel's init within a
// deadline: on hosts where /dev/kvm is PVM (see vm-backend.md) KVM opens fine but
// cannot run stock kernels. Without /dev/kvm, or with /sys/module/kvm_pvm, the probe is
// skipped and TCG is used.
package qemu
