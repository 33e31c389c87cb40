// Command overlay measures the network between two hosts' datacenter networks through
// Berth's VXLAN overlay against the bare underlay link, side by side in one run (issue 10):
// TCP throughput (iperf3) and round-trip latency (ping), and prints the ratios.
//
// Setup, on this machine, as `make cluster` wires its hosts: a switch namespace, and per
// host an underlay namespace cabled to it (veth, MTU 1550) and a datacenter namespace whose
// br-public the netlink driver joins to the other host's with VXLAN (internal/netdev/linux,
// the code agents run). A guest stand-in namespace per host has a veth port on br-public
// (MTU 1500, as a guest's tap).
//
//   - underlay: iperf3/ping from host 1's underlay namespace to host 2's (10.99.0.1 → .2);
//   - overlay: from guest 1 to guest 2 (192.0.2.11 → .12), through both bridges and VXLAN.
//
// Each round measures both, alternating, -seconds each; the medians over -rounds are
// compared. It exits non-zero only on errors. Goal: overlay throughput ≥ 85 % of the
// underlay's. Everything it makes (namespaces and their links) is removed at the end.
//
// Usage: go run ./bench/overlay [-rounds 3] [-seconds 5] [-pings 200]
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/berth-io/berth/bench/internal/proc"
	"github.com/berth-io/berth/internal/netdev"
	"github.com/berth-io/berth/internal/netdev/linux"
)

// goal is the overlay's share of the underlay's throughput the issue asks for.
const goal = 0.85

func main() {
	rounds := flag.Int("rounds", 3, "rounds (each measures both paths)")
	seconds := flag.Int("seconds", 5, "seconds per iperf3 run")
	pings := flag.Int("pings", 200, "pings per latency run (every 10 ms)")
	flag.Parse()
	if *rounds < 1 || *seconds < 1 || *pings < 1 {
		fmt.Fprintln(os.Stderr, "overlay: -rounds, -seconds and -pings must be positive")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *rounds, *seconds, *pings); err != nil {
		fmt.Fprintln(os.Stderr, "overlay:", err)
		os.Exit(1)
	}
}

// path is one of the two measured paths: from a namespace to an address.
type path struct {
	name     string
	from, to string // namespaces of the client and the server
	addr     string // the server's address
	gbps     []float64
	rttMs    []float64
}

func run(ctx context.Context, rounds, seconds, pings int) (err error) {
	for _, tool := range []string{"iperf3", "ping", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s is not installed (make bench installs iperf3)", tool)
		}
	}
	prefix := fmt.Sprintf("bo%x-", os.Getpid())
	defer func() {
		if cerr := linux.Cleanup(prefix); cerr != nil && err == nil {
			err = cerr
		}
	}()
	under, over, err := wire(ctx, prefix)
	if err != nil {
		return err
	}
	paths := []*path{under, over}
	fmt.Printf("overlay bench: %d round(s), iperf3 %d s and %d pings per path and round\n", rounds, seconds, pings)
	for r := 1; r <= rounds; r++ {
		order := paths
		if r%2 == 0 {
			order = []*path{over, under}
		}
		for _, p := range order {
			g, err := iperf(ctx, p, seconds)
			if err != nil {
				return fmt.Errorf("%s: %w", p.name, err)
			}
			rtt, err := latency(ctx, p, pings)
			if err != nil {
				return fmt.Errorf("%s: %w", p.name, err)
			}
			p.gbps, p.rttMs = append(p.gbps, g), append(p.rttMs, rtt)
			fmt.Printf("  round %d %-9s %6.2f Gbit/s  rtt %.3f ms\n", r, p.name, g, rtt)
		}
	}
	fmt.Printf("\n%-34s %-22s %s\n", "path", "TCP Gbit/s (min-max)", "ping rtt avg ms (min-max)")
	for _, p := range paths {
		fmt.Printf("%-34s %-22s %s\n", describe(p), spread(p.gbps, "%.2f"), spread(p.rttMs, "%.3f"))
	}
	r := median(over.gbps) / median(under.gbps)
	verdict := "goal met"
	if r < goal {
		verdict = "below the goal"
	}
	fmt.Printf("\nthroughput: overlay / underlay = %.0f %% (goal >= %.0f %%: %s)\n", 100*r, 100*goal, verdict)
	fmt.Printf("latency: overlay - underlay = %+.3f ms per round trip\n", median(over.rttMs)-median(under.rttMs))
	fmt.Printf("(%d CPUs, shared with whatever else runs: load average %s)\n", cpus(), proc.LoadAvg())
	return nil
}

func describe(p *path) string {
	if p.name == "underlay" {
		return "underlay (veth via switch, MTU 1550)"
	}
	return "overlay (guest → bridge → VXLAN)"
}

// wire builds the two hosts and returns the underlay and overlay paths.
func wire(ctx context.Context, prefix string) (*path, *path, error) {
	sw := prefix + "sw"
	if err := linux.CreateSwitch(sw); err != nil {
		return nil, nil, err
	}
	drv := linux.NewWithGatewayKey(func(string) string { return "bench-overlay" })
	vteps := []string{"10.99.0.1", "10.99.0.2"}
	var guests []string
	for i := range 2 {
		ul, dc, g := fmt.Sprintf("%sh%d-ul", prefix, i+1), fmt.Sprintf("%sh%d-dc", prefix, i+1), fmt.Sprintf("%sh%d-g", prefix, i+1)
		if err := linux.ConnectHost(sw, fmt.Sprintf("h%d", i+1), ul, vteps[i]+"/24", linux.GuestMTU+linux.VXLANOverhead); err != nil {
			return nil, nil, err
		}
		if _, err := linux.CheckUnderlay(ul, vteps[i]); err != nil {
			return nil, nil, err
		}
		n := netdev.Network{Namespace: dc, Bridge: linux.PublicBridge, Gateways: []string{"192.0.2.1/24"},
			Overlay: &netdev.Overlay{VNI: 0x100001, Local: vteps[i], UnderlayNS: ul, Peers: []string{vteps[1-i]}}}
		if err := drv.EnsureNetwork(ctx, n); err != nil {
			return nil, nil, err
		}
		for _, c := range [][]string{
			{"ip", "netns", "add", g},
			{"ip", "-n", dc, "link", "add", "gp", "type", "veth", "peer", "name", "gv", "netns", g},
			{"ip", "-n", dc, "link", "set", "gp", "master", linux.PublicBridge, "up"},
			{"ip", "-n", g, "addr", "add", fmt.Sprintf("192.0.2.%d/24", 11+i), "dev", "gv"},
			{"ip", "-n", g, "link", "set", "gv", "up"},
			{"ip", "-n", g, "link", "set", "lo", "up"},
		} {
			if out, err := exec.CommandContext(ctx, c[0], c[1:]...).CombinedOutput(); err != nil {
				return nil, nil, fmt.Errorf("%s: %v: %s", strings.Join(c, " "), err, out)
			}
		}
		guests = append(guests, g)
	}
	under := &path{name: "underlay", from: prefix + "h1-ul", to: prefix + "h2-ul", addr: vteps[1]}
	over := &path{name: "overlay", from: guests[0], to: guests[1], addr: "192.0.2.12"}
	// Both paths answer before measuring (ARP, learning).
	for _, p := range []*path{under, over} {
		deadline := time.Now().Add(10 * time.Second)
		for exec.CommandContext(ctx, "ip", "netns", "exec", p.from, "ping", "-c1", "-W1", p.addr).Run() != nil {
			if time.Now().After(deadline) {
				return nil, nil, fmt.Errorf("%s: %s does not answer ping", p.name, p.addr)
			}
		}
	}
	return under, over, nil
}

// iperf runs a one-shot iperf3 server on the path's far end and a client for seconds, and
// returns the receiver's throughput in Gbit/s.
func iperf(ctx context.Context, p *path, seconds int) (float64, error) {
	srv := exec.CommandContext(ctx, "ip", "netns", "exec", p.to, "iperf3", "-s", "-1", "-B", p.addr)
	if err := srv.Start(); err != nil {
		return 0, err
	}
	defer func() { _ = srv.Process.Kill(); _ = srv.Wait() }()
	var out []byte
	var err error
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err = exec.CommandContext(ctx, "ip", "netns", "exec", p.from, "iperf3", "-c", p.addr, "-t", strconv.Itoa(seconds), "-J").Output()
		refused := strings.Contains(string(out), "Connection refused")
		if (err == nil && !refused) || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond) // the server is not listening yet
	}
	if err != nil {
		return 0, fmt.Errorf("iperf3 client: %v: %s", err, out)
	}
	var res struct {
		End struct {
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return 0, fmt.Errorf("iperf3 output: %w", err)
	}
	if res.Error != "" || res.End.SumReceived.BitsPerSecond == 0 {
		return 0, fmt.Errorf("iperf3: %q", res.Error)
	}
	return res.End.SumReceived.BitsPerSecond / 1e9, nil
}

var rttLine = regexp.MustCompile(`= [\d.]+/([\d.]+)/`)

// latency pings the far end n times, every 10 ms, and returns the average round trip.
func latency(ctx context.Context, p *path, n int) (float64, error) {
	out, err := exec.CommandContext(ctx, "ip", "netns", "exec", p.from, "ping", "-q", "-n", "-c", strconv.Itoa(n), "-i", "0.01", p.addr).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("ping: %v: %s", err, out)
	}
	m := rttLine.FindSubmatch(out)
	if m == nil {
		return 0, errors.New("ping printed no rtt")
	}
	return strconv.ParseFloat(string(m[1]), 64)
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func spread(xs []float64, f string) string {
	return fmt.Sprintf(f+" ("+f+"-"+f+")", median(xs), slices.Min(xs), slices.Max(xs))
}

func cpus() int {
	n := 0
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "processor") {
			n++
		}
	}
	return n
}
