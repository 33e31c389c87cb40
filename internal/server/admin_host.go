package server

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/berth-io/berth/internal/service"
)

// hostCmd is `berthd admin host`: the hosts of the installation.
func hostCmd(stdout io.Writer) *cobra.Command {
	grp := &cobra.Command{Use: "host", Short: "Show the hosts"}
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
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d/%d\t%d/%d\t%s\n", h.Name, dc, h.State, h.VMs,
					h.MemFreeMB, h.MemoryMB, h.DiskFreeMB, h.DiskMB, h.Heartbeat.UTC().Format("2006-01-02 15:04:05"))
			}
			return tw.Flush()
		})
	grp.AddCommand(list)
	return grp
}
