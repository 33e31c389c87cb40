package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/service"
)

// The operator's commands of the access programme: API access per handle, API keys,
// free-trial coupons and test-share requests.

// adminRun builds a command that runs fn on the data directory's daemon (store only); every
// command but list is recorded in the audit log.
func adminRun(cmd *cobra.Command, fn func(ctx context.Context, svc *service.Service, args []string) error) *cobra.Command {
	load := configFlags(cmd)
	cmd.RunE = func(c *cobra.Command, args []string) error {
		ctx := c.Context()
		if c.Name() != "list" { // every other command changes something: recorded
			ctx = adminAudit(c, args)
		}
		return withDaemon(ctx, load, RoleAdmin, func(ctx context.Context, d *Daemon) error {
			return fn(ctx, d.svc, args)
		})
	}
	return cmd
}

func apiAccessCmd(stdout io.Writer) *cobra.Command {
	grp := &cobra.Command{Use: "api", Short: "Grant or revoke an account's API access (private beta per handle)"}
	for _, on := range []bool{true, false} {
		use, short := "enable HANDLE", "Grant the account access to the XML-RPC and REST APIs"
		if !on {
			use, short = "disable HANDLE", "Revoke the account's API access (its keys stop working at once)"
		}
		grp.AddCommand(adminRun(&cobra.Command{Use: use, Short: short, Args: cobra.ExactArgs(1)},
			func(ctx context.Context, svc *service.Service, args []string) error {
				if err := svc.SetAPIAccess(ctx, args[0], on); err != nil {
					return err
				}
				state := "enabled"
				if !on {
					state = "disabled"
				}
				fmt.Fprintf(stdout, "%s: API access %s\n", args[0], state)
				if svc.APIAccessOpen() {
					fmt.Fprintln(stdout, "note: this server runs with --api-access all: every account may use the APIs anyway")
				}
				return nil
			}))
	}
	return grp
}

func adminKeyCmd(stdout io.Writer) *cobra.Command {
	key := &cobra.Command{Use: "key", Short: "Create, list and revoke an account's API keys"}
	var name string
	create := adminRun(&cobra.Command{Use: "create HANDLE", Short: "Create a named API key and print it (shown once)", Args: cobra.ExactArgs(1)},
		func(ctx context.Context, svc *service.Service, args []string) error {
			c, err := svc.CallerOf(ctx, args[0])
			if err != nil {
				return err
			}
			_, k, err := svc.KeyCreate(ctx, c, name)
			if err != nil {
				return err
			}
			fmt.Fprintln(stdout, k)
			return nil
		})
	create.Flags().StringVar(&name, "name", "", "the key's name (required)")
	list := adminRun(&cobra.Command{Use: "list HANDLE", Short: "List an account's API keys", Args: cobra.ExactArgs(1)},
		func(ctx context.Context, svc *service.Service, args []string) error {
			c, err := svc.CallerOf(ctx, args[0])
			if err != nil {
				return err
			}
			keys, err := svc.KeyList(ctx, c)
			if err != nil {
				return err
			}
			return printKeys(stdout, keys)
		})
	revoke := adminRun(&cobra.Command{Use: "revoke HANDLE KEY_ID", Short: "Revoke an API key at once", Args: cobra.ExactArgs(2)},
		func(ctx context.Context, svc *service.Service, args []string) error {
			c, err := svc.CallerOf(ctx, args[0])
			if err != nil {
				return err
			}
			id, err := strconv.ParseInt(args[1], 10, 64)
			if err != nil {
				return fmt.Errorf("key id %q is not a number", args[1])
			}
			k, err := svc.KeyRevoke(ctx, c, id)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "key %d (%s) of %s revoked\n", k.ID, k.Name, c.Handle)
			return nil
		})
	key.AddCommand(create, list, revoke)
	return key
}

// printKeys prints API keys as a table.
func printKeys(w io.Writer, keys []api.APIKey) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tPREFIX\tCREATED\tREVOKED")
	for _, k := range keys {
		fmt.Fprintf(tw, "%d\t%s\t%s…\t%s\t%s\n", k.ID, k.Name, k.Prefix, day(k.Created), day(k.Revoked))
	}
	return tw.Flush()
}

func day(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04")
}

func couponCmd(stdout io.Writer) *cobra.Command {
	coupon := &cobra.Command{Use: "coupon", Short: "Free-trial coupons: single-use codes that give trial credits"}
	var spec service.CouponSpec
	create := adminRun(&cobra.Command{Use: "create", Short: "Make single-use codes and print them, one a line (shown once)", Args: cobra.NoArgs},
		func(ctx context.Context, svc *service.Service, _ []string) error {
			codes, err := svc.CouponCreate(ctx, spec)
			if err != nil {
				return err
			}
			for _, c := range codes {
				fmt.Fprintln(stdout, c)
			}
			return nil
		})
	couponFlags(create, &spec)
	create.Flags().IntVar(&spec.Count, "count", 1, "how many codes")
	var asJSON bool
	list := adminRun(&cobra.Command{Use: "list", Short: "List coupons and who redeemed them", Args: cobra.NoArgs},
		func(ctx context.Context, svc *service.Service, _ []string) error {
			list, err := svc.Coupons(ctx)
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(stdout).Encode(list)
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tCODE\tCREDITS\tDAYS\tREDEEM BY\tACCOUNT\tREDEEMED\tNOTE")
			for _, c := range list {
				acct := "-"
				if c.AccountID != 0 {
					acct = strconv.FormatInt(c.AccountID, 10)
				}
				fmt.Fprintf(tw, "%d\t%s…\t%d\t%d\t%s\t%s\t%s\t%s\n", c.ID, c.Prefix, c.Credits, c.ValidDays, day(c.RedeemBy), acct, day(c.RedeemedAt), c.Note)
			}
			return tw.Flush()
		})
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	coupon.AddCommand(create, list)
	return coupon
}

func couponFlags(cmd *cobra.Command, spec *service.CouponSpec) {
	f := cmd.Flags()
	f.Int64Var(&spec.Credits, "credits", 1000, "trial credits each code gives")
	f.Int64Var(&spec.ValidDays, "valid-days", 30, "days the trial credits last once redeemed")
	f.Int64Var(&spec.RedeemDays, "redeem-days", 0, "days the code may be redeemed (default: --valid-days)")
	f.StringVar(&spec.Note, "note", "", "a note for support (campaign, customer)")
}

func trialCmd(stdout io.Writer) *cobra.Command {
	trial := &cobra.Command{Use: "trial", Short: "Test-share requests from the console's public page, and trials"}
	var state string
	var asJSON bool
	list := adminRun(&cobra.Command{Use: "list", Short: "List trial requests (pending ones by default)", Args: cobra.NoArgs},
		func(ctx context.Context, svc *service.Service, _ []string) error {
			if state == "all" {
				state = ""
			}
			list, err := svc.TrialRequests(ctx, state)
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(stdout).Encode(list)
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSTATE\tHANDLE\tE-MAIL\tFROM\tASKED\tPURPOSE")
			for _, r := range list {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.State, r.Handle, r.Email, r.ClientAddr, day(r.Created), oneLine(r.Purpose, 60))
			}
			return tw.Flush()
		})
	list.Flags().StringVar(&state, "state", api.TrialPending, "pending, approved, refused or all")
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	var spec service.CouponSpec
	approve := adminRun(&cobra.Command{Use: "approve REQUEST_ID", Short: "Approve a request: account with API access, a coupon, a one-time key", Args: cobra.ExactArgs(1)},
		func(ctx context.Context, svc *service.Service, args []string) error {
			id, err := requestID(args[0])
			if err != nil {
				return err
			}
			a, err := svc.ApproveTrial(ctx, id, spec)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "request %d approved: account %s (id %d)\n", id, a.Request.Handle, a.Request.AccountID)
			if a.NewAccount {
				fmt.Fprintf(stdout, "API key (shown once): %s\n", a.Key)
			} else {
				fmt.Fprintln(stdout, "the account existed: API access granted; its owner keeps their keys")
			}
			fmt.Fprintf(stdout, "coupon (redeem with `berth account redeem CODE`): %s\n", a.Coupon)
			fmt.Fprintf(stdout, "send both to %s\n", a.Request.Email)
			return nil
		})
	couponFlags(approve, &spec)
	var reason string
	refuse := adminRun(&cobra.Command{Use: "refuse REQUEST_ID", Short: "Refuse a request", Args: cobra.ExactArgs(1)},
		func(ctx context.Context, svc *service.Service, args []string) error {
			id, err := requestID(args[0])
			if err != nil {
				return err
			}
			r, err := svc.RefuseTrial(ctx, id, reason)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "request %d (%s) refused\n", r.ID, r.Handle)
			return nil
		})
	refuse.Flags().StringVar(&reason, "reason", "", "why, kept for support")
	end := adminRun(&cobra.Command{Use: "end HANDLE", Short: "End an account's free trial now: its unused trial credits are forfeited", Args: cobra.ExactArgs(1)},
		func(ctx context.Context, svc *service.Service, args []string) error {
			n, err := svc.EndTrials(ctx, args[0])
			if err != nil {
				return err
			}
			if n == 0 {
				return errors.New("no trial under way for " + args[0])
			}
			fmt.Fprintf(stdout, "%s: trial ended; its VMs stop at the next billing pass if no credits are left\n", args[0])
			return nil
		})
	trial.AddCommand(list, approve, refuse, end)
	return trial
}

func requestID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("request id %q is not a number", s)
	}
	return id, nil
}

// oneLine shortens text to one line of at most n runes.
func oneLine(s string, n int) string {
	r := []rune(s)
	for i, c := range r {
		if c == '\n' || c == '\r' || c == '\t' {
			r[i] = ' '
		}
	}
	if len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return string(r)
}
