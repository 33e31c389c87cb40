package server

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-io/berth/internal/cluster"
)

// clusterCmd is `berthd admin cluster up|down`: a local multi-host cluster (make cluster).
func clusterCmd(stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "cluster", Short: "A local multi-host cluster on this machine: PostgreSQL, an API server, agents on a simulated rack"}
	var cfg cluster.Config
	var heartbeat, hostTimeout time.Duration
	up := &cobra.Command{Use: "up", Short: "Start the cluster and print how to use it"}
	f := up.Flags()
	f.StringVar(&cfg.Dir, "dir", ".cluster", "state directory (data, logs, cluster.json)")
	f.StringVar(&cfg.Images, "images", "", "directory of built guest images")
	f.StringVar(&cfg.Backend, "backend", "qemu", "qemu or sim")
	f.StringVar(&cfg.Prefix, "prefix", "bc-", "prefix of every network namespace of the cluster")
	f.IntVar(&cfg.Hosts, "hosts", 3, "number of agents (h1…hN)")
	f.StringVar(&cfg.Listen, "listen", "127.0.0.1:8090", "address of the API server")
	f.StringVar(&cfg.Scripts, "scripts", "scripts", "directory of start-pg.sh and stop-pg.sh")
	f.DurationVar(&heartbeat, "heartbeat", 0, "agents' heartbeat (default 2s)")
	f.DurationVar(&hostTimeout, "host-timeout", 0, "silence after which a host is down (default 15s)")
	up.RunE = func(cmd *cobra.Command, _ []string) error {
		bin, err := os.Executable()
		if err != nil {
			return err
		}
		cfg.Bin = bin
		if heartbeat > 0 {
			cfg.Args = append(cfg.Args, "--heartbeat", heartbeat.String())
		}
		if hostTimeout > 0 {
			cfg.Args = append(cfg.Args, "--host-timeout", hostTimeout.String())
		}
		c, err := cluster.Up(cmd.Context(), cfg)
		if err != nil {
			return err
		}
		st := c.State
		fmt.Fprintf(stdout, "cluster: API at %s\n", st.URL)
		fmt.Fprintf(stdout, "cluster: account %q, API key %s\n", "cluster", st.Key)
		fmt.Fprintf(stdout, "cluster: try: BERTH_URL=%s BERTH_API_KEY=%s bin/berth vm create web1\n", st.URL, st.Key)
		for _, h := range st.Hosts {
			fmt.Fprintf(stdout, "cluster: host %s: vtep %s, ssh into its VMs: ip netns exec %s ssh root@<vm ip>, log %s\n",
				h.Name, h.VTEP, h.Netns, filepath.Join(h.Data, "berthd.log"))
		}
		fmt.Fprintf(stdout, "cluster: stop with: make cluster-down (or berthd admin cluster down --dir %s)\n", cfg.Dir)
		return nil
	}
	var dir, scripts string
	down := &cobra.Command{Use: "down", Short: "Stop the cluster: every process, VM, namespace, link and file it made"}
	down.Flags().StringVar(&dir, "dir", ".cluster", "state directory of the cluster")
	down.Flags().StringVar(&scripts, "scripts", "scripts", "directory of start-pg.sh and stop-pg.sh")
	down.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := cluster.DownDir(dir, scripts); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "cluster: down")
		return nil
	}
	cmd.AddCommand(up, down)
	return cmd
}
