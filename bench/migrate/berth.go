package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/berth-io/berth/client"
	"github.com/berth-io/berth/internal/cluster"
)

// berth is the Berth side: the local cluster and the VM it moves back and forth.
type berth struct {
	c        *cluster.Cluster
	api      *client.Client
	vm       int64
	ip       string
	host     string // where the VM runs
	other    string // where it goes next
	pingHost string // the third host, where the pings come from
}

// hostData is the data directory of agent name.
func (b *berth) hostData(name string) string {
	for _, h := range b.c.State.Hosts {
		if h.Name == name {
			return h.Data
		}
	}
	return ""
}

// hostInfo is the cluster's record of agent name.
func (b *berth) hostInfo(name string) cluster.HostInfo {
	for _, h := range b.c.State.Hosts {
		if h.Name == name {
			return h
		}
	}
	return cluster.HostInfo{}
}

// vmDir is the VM's run directory on host.
func (b *berth) vmDir(host string) string {
	return filepath.Join(b.hostData(host), "vms", strconv.FormatInt(b.vm, 10))
}

// createVM creates the Tiny VM (256 MB, 1 core, IPv4) and waits until it is booted.
func (b *berth) createVM(ctx context.Context, bootTimeout time.Duration) error {
	dcs, err := b.api.List(ctx, "hosting.datacenter.list", map[string]any{})
	if err != nil {
		return err
	}
	var dc int64
	for _, d := range dcs {
		if o := client.Object(d); o.Str("dc_code") == cluster.Datacenter || o.Str("iso") == cluster.Datacenter {
			dc = o.ID()
		}
	}
	if dc == 0 && len(dcs) > 0 {
		dc = client.Object(dcs[0]).ID()
	}
	imgs, err := b.api.List(ctx, "hosting.image.list", map[string]any{"datacenter_id": dc, "label": imageLabel})
	if err != nil {
		return err
	}
	if len(imgs) == 0 {
		return fmt.Errorf("no %q image in datacenter %d", imageLabel, dc)
	}
	disk := client.Object(imgs[0]).Int("disk_id")
	spec := map[string]any{"datacenter_id": dc, "hostname": "migbench", "memory": vmMemoryMB, "cores": 1, "ip_version": 4}
	ops, err := b.api.Do(ctx, "hosting.vm.create_from", spec, map[string]any{}, disk)
	if err != nil {
		return err
	}
	for _, op := range ops {
		if op.Str("type") == "vm_create" {
			b.vm = op.Int("vm_id")
		}
	}
	if b.vm == 0 {
		return errors.New("hosting.vm.create_from returned no vm_create operation")
	}
	if _, err := b.api.Wait(ctx, ops, client.WaitOptions{Interval: 200 * time.Millisecond}); err != nil {
		return err
	}
	for _, h := range b.c.State.Hosts {
		if _, err := os.Stat(filepath.Join(b.vmDir(h.Name), "qemu.pid")); err == nil {
			b.host = h.Name
		}
	}
	if b.host == "" {
		return fmt.Errorf("vm %d runs on no host of the cluster", b.vm)
	}
	for _, h := range b.c.State.Hosts {
		switch {
		case h.Name == b.host:
		case b.other == "":
			b.other = h.Name
		case b.pingHost == "":
			b.pingHost = h.Name
		}
	}
	if b.pingHost == "" {
		return errors.New("the cluster needs three hosts")
	}
	info, err := b.api.Info(ctx, "hosting.vm.info", b.vm)
	if err != nil {
		return err
	}
	for _, iface := range info.Objs("ifaces") {
		for _, a := range iface.Objs("ips") {
			if a.Int("version") == 4 && b.ip == "" {
				b.ip = a.Str("ip")
			}
		}
	}
	if b.ip == "" {
		return fmt.Errorf("vm %d has no IPv4 address", b.vm)
	}
	return waitBooted(ctx, filepath.Join(b.vmDir(b.host), "console.log"), bootTimeout, func() error { return nil })
}

// qemuPID is the pid of the VM's QEMU on its host.
func (b *berth) qemuPID() (int, error) {
	raw, err := os.ReadFile(filepath.Join(b.vmDir(b.host), "qemu.pid"))
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(raw)))
}

var opRE = regexp.MustCompile(`moving: operation (\d+)`)

// move moves the VM to the other host with `berthd admin vm move --no-wait` and follows
// its operation through the API until DONE.
func (b *berth) move(ctx context.Context, timeout time.Duration) (sample, error) {
	s := sample{from: b.host, to: b.other}
	srcLog, dstLog := filepath.Join(b.hostData(b.host), "berthd.log"), filepath.Join(b.hostData(b.other), "berthd.log")
	srcOff, dstOff := fileSize(srcLog), fileSize(dstLog)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t0 := time.Now()
	out, err := b.c.Admin(ctx, "vm", "move", strconv.FormatInt(b.vm, 10), "--no-wait", "--to", b.other)
	if err != nil {
		return s, err
	}
	s.submit = time.Since(t0)
	m := opRE.FindStringSubmatch(out)
	if m == nil {
		return s, fmt.Errorf("berthd admin vm move printed no operation: %q", out)
	}
	op, _ := strconv.ParseInt(m[1], 10, 64)
	if _, err := b.api.Wait(ctx, []client.Object{{"id": op}}, client.WaitOptions{Interval: 20 * time.Millisecond}); err != nil {
		return s, err
	}
	s.total = time.Since(t0)
	b.host, b.other = b.other, b.host
	if _, err := os.Stat(filepath.Join(b.vmDir(b.host), "qemu.pid")); err != nil {
		return s, fmt.Errorf("vm %d's move is DONE but it has no QEMU on %s: %w", b.vm, b.host, err)
	}
	// QEMU's numbers (source) and the steps' ends, from the agents' logs.
	id := float64(b.vm)
	if l, ok := findLog(srcLog, srcOff, "vm migrated", id); ok {
		s.qemuTotal = time.Duration(l.TotalMS) * time.Millisecond
		s.qemuDowntime = time.Duration(l.DowntimeMS) * time.Millisecond
		s.milestones[2] = l.Time.Sub(t0)
	}
	for i, m := range []struct{ log, msg string }{
		{dstLog, "migration target ready"}, {srcLog, "disk mirrors in sync"}, {}, {dstLog, "incoming migration finished, vm runs"},
	} {
		off := srcOff
		if m.log == dstLog {
			off = dstOff
		}
		if l, ok := findLog(m.log, off, m.msg, id); ok && m.msg != "" {
			s.milestones[i] = l.Time.Sub(t0)
		}
	}
	s.running = s.milestones[3]
	return s, nil
}

// logLine is the part of a berthd JSON log line the bench reads.
type logLine struct {
	Time       time.Time `json:"time"`
	Msg        string    `json:"msg"`
	VM         float64   `json:"vm"`
	TotalMS    int64     `json:"total_ms"`
	DowntimeMS int64     `json:"downtime_ms"`
}

// findLog returns the first line of log path after off with message msg about vm.
func findLog(path string, off int64, msg string, vm float64) (logLine, bool) {
	f, err := os.Open(path)
	if err != nil {
		return logLine{}, false
	}
	defer f.Close()
	if _, err := f.Seek(off, 0); err != nil {
		return logLine{}, false
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if !bytes.Contains(sc.Bytes(), []byte(msg)) {
			continue
		}
		var l logLine
		if json.Unmarshal(sc.Bytes(), &l) == nil && l.Msg == msg && l.VM == vm {
			return l, true
		}
	}
	return logLine{}, false
}

// fileSize is the size of path, 0 when unreadable.
func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// waitBooted polls a console log until it holds BERTH-BOOTED; tick runs at every poll and
// its error ends the wait.
func waitBooted(ctx context.Context, path string, timeout time.Duration, tick func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		b, _ := os.ReadFile(path)
		if bytes.Contains(b, []byte("BERTH-BOOT-FAILED")) {
			return fmt.Errorf("%s: the guest failed to boot", path)
		}
		if bytes.Contains(b, []byte("BERTH-BOOTED")) {
			return nil
		}
		if err := tick(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no BERTH-BOOTED in %s after %s: %q", path, timeout, tailString(string(b), 300))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
