package server

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/service"
)

// hostCmd is `berthd admin host`: the hosts of the installation.
func hostCmd(stdout io.Writer) *cobra.Command {
	grp := &cobra.Command{Use: "host", Short: "Show the hosts, drain them for maintenance"}
	list := adminRun(&cobra.Command{Use: "list", Short: "List the hosts with their state, VMs, free memory and disk", Args: cobra.NoArgs},
		func(ctx context.Context, svc *service.Service, _ []string) error {
			hosts, err := svc.HostList(ctx)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tDATACENTER\tSTATE\tVMS\tMEMORY FREE/TOTAL (MB)\tDISK FREE/TOTAL (MB)\tHEARTBEAT")
			for _, h := range hosts {
				dc := "all"
				if h.DatacenterID != 0 {
					dc = strconv.FormatInt(h.DatacenterID, 10)
				}
				state := h.State
				if h.Draining {
					state += ",draining"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d/%d\t%d/%d\t%s\n", h.Name, dc, state, h.VMs,
					h.MemFreeMB, h.MemoryMB, h.DiskFreeMB, h.DiskMB, h.Heartbeat.UTC().Format("2006-01-02 15:04:05"))
			}
			return tw.Flush()
		})
	var noWait bool
	drain := adminRun(&cobra.Command{Use: "drain NAME", Args: cobra.ExactArgs(1),
		Short: "Take no new VM on a host and move its VMs to the other hosts of its datacenter (running ones live)"},
		func(ctx context.Context, svc *service.Service, args []string) error {
			rep, err := svc.HostDrain(ctx, args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "host %s is draining: no new VM is placed on it\n", args[0])
			for _, id := range rep.Moving {
				fmt.Fprintf(stdout, "vm %d is moving already\n", id)
			}
			var ids []int64
			for _, m := range rep.Moves {
				how := "cold (halted)"
				if m.Live {
					how = "live"
				}
				fmt.Fprintf(stdout, "vm %d -> %s, %s: operation %d\n", m.Op.VMID, m.Target, how, m.Op.ID)
				ids = append(ids, m.Op.ID)
			}
			if noWait || len(ids) == 0 {
				return nil
			}
			return followOps(ctx, stdout, svc, ids)
		})
	drain.Flags().BoolVar(&noWait, "no-wait", false, "start the moves and return")
	undrain := adminRun(&cobra.Command{Use: "undrain NAME", Args: cobra.ExactArgs(1), Short: "Let a drained host take new VMs again"},
		func(ctx context.Context, svc *service.Service, args []string) error {
			if err := svc.HostUndrain(ctx, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "host %s takes new VMs again\n", args[0])
			return nil
		})
	grp.AddCommand(list, drain, undrain)
	return grp
}

// vmMoveCmd is `berthd admin vm move`: one VM to another host of its datacenter.
func vmMoveCmd(stdout io.Writer) *cobra.Command {
	var to string
	var cancel, noWait bool
	move := adminRun(&cobra.Command{Use: "move VM_ID", Args: cobra.ExactArgs(1),
		Short: "Move a VM to another host of its datacenter: live when it runs, cold when halted"},
		func(ctx context.Context, svc *service.Service, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil {
				return fmt.Errorf("bad vm id %q", args[0])
			}
			if cancel {
				op, err := svc.VMMoveCancel(ctx, id)
				if err == nil {
					fmt.Fprintf(stdout, "operation %d asked to stop: the vm stays where it runs unless its switchover has begun\n", op.ID)
				}
				return err
			}
			op, err := svc.VMMove(ctx, id, to)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "vm %d moving: operation %d\n", id, op.ID)
			if noWait {
				return nil
			}
			return followOps(ctx, stdout, svc, []int64{op.ID})
		})
	move.Flags().StringVar(&to, "to", "", "target host (default: the one placement chooses)")
	move.Flags().BoolVar(&cancel, "cancel", false, "stop the VM's move under way")
	move.Flags().BoolVar(&noWait, "no-wait", false, "start the move and return")
	grp := &cobra.Command{Use: "vm", Short: "Move VMs between hosts"}
	grp.AddCommand(move)
	return grp
}

// followOps prints each operation's steps as they change until all have ended, and
// fails when one did not end DONE.
func followOps(ctx context.Context, stdout io.Writer, svc *service.Service, ids []int64) error {
	seen := map[int64]string{}
	failed := 0
	for {
		list, err := svc.OperationsByID(ctx, ids)
		if err != nil {
			return err
		}
		left := 0
		for _, op := range list {
			now := op.Step + " " + fmt.Sprint(op.Params["inner_step"])
			if seen[op.ID] != now {
				seen[op.ID] = now
				line := fmt.Sprintf("operation %d (vm %d): %s", op.ID, op.VMID, now)
				if op.LastError != "" {
					line += ": " + op.LastError
				}
				fmt.Fprintln(stdout, line)
				if op.Step == api.StepError || op.Step == api.StepCancel {
					failed++
				}
			}
			if !api.Terminal(op.Step) {
				left++
			}
		}
		if left == 0 {
			fmt.Fprintf(stdout, "%d of %d done\n", len(ids)-failed, len(ids))
			if failed > 0 {
				return fmt.Errorf("%d of %d moves failed", failed, len(ids))
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}
