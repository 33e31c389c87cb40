package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// pingEvery is the interval of the pings whose longest gap is the downtime users see.
const pingEvery = 10 * time.Millisecond

// pinger runs `ping -D -i 0.01` from a network namespace towards the guest.
type pinger struct {
	cmd  *exec.Cmd
	out  lockedBuffer
	done chan error
}

// lockedBuffer is a bytes.Buffer that ping writes while the bench reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startPing starts pinging addr from namespace ns and waits until the guest has answered
// for a while (steady state), or fails after timeout.
func startPing(ctx context.Context, ns, addr string, timeout time.Duration) (*pinger, error) {
	p := &pinger{done: make(chan error, 1)}
	p.cmd = exec.CommandContext(ctx, "ip", "netns", "exec", ns, "ping", "-D", "-n", "-i", "0.01", addr)
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("ping: %w", err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	deadline := time.Now().Add(timeout)
	for {
		// 30 answers in a row: the path (ARP, bridges' and tunnels' forwarding) is settled.
		if r := parsePing(p.out.String()); len(r) >= 30 && r[len(r)-1].seq-r[len(r)-30].seq == 29 {
			return p, nil
		}
		select {
		case err := <-p.done:
			return nil, fmt.Errorf("ping %s from %s exited (%v): %s", addr, ns, err, tailString(p.out.String(), 300))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_, _ = p.stop()
			return nil, fmt.Errorf("%s does not answer ping from %s steadily after %s: %s", addr, ns, timeout, tailString(p.out.String(), 300))
		}
	}
}

// stop ends ping (SIGINT) and returns its replies.
func (p *pinger) stop() ([]reply, error) {
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	r := parsePing(p.out.String())
	if len(r) == 0 {
		return nil, errors.New("ping got no reply")
	}
	return r, nil
}

// reply is one echo reply: when it arrived and its sequence number.
type reply struct {
	at  time.Time
	seq int
}

// replyRE matches a reply line of `ping -D`: [1733340000.123456] 64 bytes from
// 192.0.2.2: icmp_seq=1 ttl=64 time=0.345 ms.
var replyRE = regexp.MustCompile(`^\[(\d+)\.(\d+)\] \d+ bytes from .*icmp_seq=(\d+)`)

// parsePing returns the replies of a `ping -D` output, in arrival order, without
// duplicates.
func parsePing(out string) []reply {
	var rs []reply
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		m := replyRE.FindStringSubmatch(line)
		if m == nil || strings.Contains(line, "DUP!") {
			continue
		}
		sec, _ := strconv.ParseInt(m[1], 10, 64)
		frac := (m[2] + "000000000")[:9]
		ns, _ := strconv.ParseInt(frac, 10, 64)
		seq, _ := strconv.Atoi(m[3])
		rs = append(rs, reply{at: time.Unix(sec, ns), seq: seq})
	}
	return rs
}

// gap is the longest silence of a ping: the longest time between two consecutive
// replies, with the replies missing in it.
type gap struct {
	longest       time.Duration
	from          time.Time // the reply before it
	lost, replies int       // echoes never answered (sequence holes), replies in all
}

// longestGap finds the longest time between consecutive replies among rs. It needs a
// reply after end (the guest answers again after the migration) and one before start.
func longestGap(rs []reply, start, end time.Time) (gap, error) {
	var g gap
	g.replies = len(rs)
	if len(rs) == 0 || !rs[0].at.Before(start) {
		return g, errors.New("no ping reply before the migration started")
	}
	if !rs[len(rs)-1].at.After(end) {
		return g, fmt.Errorf("no ping reply after the migration ended (last at %s)", rs[len(rs)-1].at.Format("15:04:05.000"))
	}
	for i := 1; i < len(rs); i++ {
		if d := rs[i].at.Sub(rs[i-1].at); d > g.longest {
			g.longest, g.from = d, rs[i-1].at
		}
	}
	seen := map[int]bool{}
	lo, hi := rs[0].seq, rs[0].seq
	for _, r := range rs {
		seen[r.seq] = true
		lo, hi = min(lo, r.seq), max(hi, r.seq)
	}
	g.lost = hi - lo + 1 - len(seen)
	return g, nil
}

// tailString returns the last n bytes of s.
func tailString(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
