package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/berth-io/berth/bench/internal/qemubench"
)

// template is the QEMU command line of berthd's first VM and what replaying it needs.
type template struct {
	exe   string   // /proc/PID/exe
	args  []string // argv[1:]
	vmDir string   // berthd's run directory of that VM
	data  string   // berthd's data directory: no bare argument may name it
	disks map[string]baseDisk
	files map[string]string // berthd's raw files (the seed) → their copies in the template directory
}

// baseDisk is what a fresh overlay of a berthd qcow2 disk is made from.
type baseDisk struct {
	backing, format string
	size            int64 // virtual size, bytes
}

// capture reads the command line of QEMU pid (berthd's VM in vmDir) and keeps what replaying
// it needs in dir: copies of its raw files and the backing file of its qcow2 disks.
func capture(pid int, vmDir, data, dir string) (*template, error) {
	exe, args, err := qemubench.Cmdline(pid)
	if err != nil {
		return nil, err
	}
	t := &template{exe: exe, args: args, vmDir: vmDir, data: data, disks: map[string]baseDisk{}, files: map[string]string{}}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	for i := 1; i < len(t.args); i++ {
		if t.args[i-1] != "-blockdev" {
			continue
		}
		bd, err := qemubench.ParseBlockdev(t.args[i])
		if err != nil {
			return nil, err
		}
		path := bd.File.Filename
		switch {
		case bd.File.Driver != "file" || path == "":
			return nil, fmt.Errorf("-blockdev %s: not over a file", t.args[i])
		case bd.Driver == "qcow2":
			info, err := qemubench.ImageInfo(path)
			if err != nil {
				return nil, err
			}
			if info.Backing == "" {
				return nil, fmt.Errorf("disk %s has no backing file: no image to overlay", path)
			}
			t.disks[path] = baseDisk{backing: info.Backing, format: cmpOr(info.BackingFormat, "qcow2"), size: info.VirtualSize}
		case bd.Driver == "raw":
			cp := filepath.Join(dir, filepath.Base(path))
			if err := qemubench.CopyFile(path, cp); err != nil {
				return nil, err
			}
			t.files[path] = cp
		default:
			return nil, fmt.Errorf("-blockdev %s: driver %q not handled", t.args[i], bd.Driver)
		}
	}
	// Replay it once on paper: anything the bench cannot translate fails here.
	files := map[string]string{}
	for p := range t.disks {
		files[p] = "/dev/null"
	}
	for p := range t.files {
		files[p] = "/dev/null"
	}
	if _, err := bareArgs(t, filepath.Join(dir, "check"), 0, files); err != nil {
		return nil, err
	}
	return t, nil
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// bareArgs translates berthd's QEMU command line for a bare run in dir: the VM's run
// directory becomes dir (QMP socket, console socket and log, pidfile), each -blockdev file
// becomes files[path], the name becomes bench-bare-N, and a tap netdev (fd=N, which only
// berthd holds) becomes a restricted user-mode netdev with the same id, so that the same
// virtio-net device stays. Anything else naming berthd's data directory, or passing a
// descriptor, is an error.
func bareArgs(t *template, dir string, n int, files map[string]string) ([]string, error) {
	out := make([]string, len(t.args))
	for i, a := range t.args {
		prev := ""
		if i > 0 {
			prev = t.args[i-1]
		}
		switch prev {
		case "-name":
			a = "bench-bare-" + strconv.Itoa(n)
		case "-blockdev":
			var m map[string]any
			if err := json.Unmarshal([]byte(a), &m); err != nil {
				return nil, fmt.Errorf("-blockdev %s: %w", a, err)
			}
			f, _ := m["file"].(map[string]any)
			path, _ := f["filename"].(string)
			np, ok := files[path]
			if !ok {
				return nil, fmt.Errorf("-blockdev %s: no copy of %q", a, path)
			}
			f["filename"] = np
			b, err := json.Marshal(m)
			if err != nil {
				return nil, err
			}
			a = string(b)
		case "-netdev":
			opts := strings.Split(a, ",")
			if opts[0] == "tap" {
				id := ""
				for _, o := range opts[1:] {
					if v, ok := strings.CutPrefix(o, "id="); ok {
						id = v
					}
				}
				if id == "" {
					return nil, fmt.Errorf("-netdev %s: no id", a)
				}
				a = "user,id=" + id + ",restrict=on"
			}
		}
		a = strings.ReplaceAll(a, t.vmDir+"/", dir+"/")
		if strings.Contains(a, t.data+"/") || strings.HasSuffix(a, t.data) {
			return nil, fmt.Errorf("argument %q names berthd's data directory: the bench does not know how to replace it", a)
		}
		if hasFDOption(a) || a == "-add-fd" {
			return nil, fmt.Errorf("argument %q passes a file descriptor: it cannot be replayed", a)
		}
		out[i] = a
	}
	return out, nil
}

// hasFDOption reports whether a QEMU option list holds fd=N or fds=N.
func hasFDOption(a string) bool {
	for o := range strings.SplitSeq(a, ",") {
		if strings.HasPrefix(o, "fd=") || strings.HasPrefix(o, "fds=") {
			return true
		}
	}
	return false
}

// prepare makes dir with fresh copies of the template's files: a qcow2 overlay of each
// disk's image (same virtual size), a copy of each raw file. It returns the translation of
// berthd's paths to them.
func (t *template) prepare(ctx context.Context, dir string) (map[string]string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	files := map[string]string{}
	i := 0
	for path, d := range t.disks {
		i++
		ov := filepath.Join(dir, fmt.Sprintf("disk%d.qcow2", i))
		cmd := exec.CommandContext(ctx, "qemu-img", "create", "-q", "-f", "qcow2", "-b", d.backing, "-F", d.format, ov, strconv.FormatInt(d.size, 10))
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("qemu-img create %s: %w: %s", ov, err, bytes.TrimSpace(out))
		}
		files[path] = ov
	}
	for path, cp := range t.files {
		dst := filepath.Join(dir, filepath.Base(cp))
		if err := qemubench.CopyFile(cp, dst); err != nil {
			return nil, err
		}
		files[path] = dst
	}
	return files, nil
}

// bareRun boots the template's command line with fresh files in a directory of its own and
// times it from exec to BERTH-BOOTED; then it kills QEMU. It returns the command line.
func (s *session) bareRun(ctx context.Context, n int) ([]string, bootSample, error) {
	var bs bootSample
	dir := filepath.Join(s.bareDir, strconv.Itoa(n))
	files, err := s.tmpl.prepare(ctx, dir)
	if err != nil {
		return nil, bs, err
	}
	args, err := bareArgs(s.tmpl, dir, n, files)
	if err != nil {
		return nil, bs, err
	}
	logf, err := os.OpenFile(filepath.Join(dir, "qemu.log"), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, bs, err
	}
	defer logf.Close()
	cmd := exec.Command(s.tmpl.exe, args...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // as berthd starts it
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, bs, fmt.Errorf("run %s: %w", s.tmpl.exe, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	defer func() {
		if !stopped {
			_ = cmd.Process.Kill()
			<-exited
		}
	}()
	tick := func() error {
		select {
		case err := <-exited:
			stopped = true
			out, _ := os.ReadFile(filepath.Join(dir, "qemu.log"))
			return fmt.Errorf("qemu exited (%v): %s", err, bytes.TrimSpace(tailBytes(out, 500)))
		default:
			return nil
		}
	}
	at, m, err := waitBoot(ctx, filepath.Join(dir, "console.log"), s.o.bootTimeout, tick)
	if err != nil {
		return nil, bs, err
	}
	bs = bootSample{total: at.Sub(t0), marker: m}
	stopped = true
	if err := cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return nil, bs, fmt.Errorf("kill qemu: %w", err)
	}
	<-exited
	if !s.o.keep {
		if err := os.RemoveAll(dir); err != nil {
			return nil, bs, err
		}
	}
	return args, bs, nil
}
