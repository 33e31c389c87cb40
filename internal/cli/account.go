package cli

import (
	"context"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/berth-io/berth/client"
)

// The account's API keys and free trial (Berth's own methods, docs/api.md).

func (a *app) accountKeyCmd() *cobra.Command {
	return group("key", "Create, list and revoke your API keys",
		"  berth account key create ci\n  berth account key list\n  berth account key revoke 3",
		&cobra.Command{
			Use:     "create NAME",
			Short:   "Create a named API key and print it (shown once)",
			Example: "  berth account key create ci",
			Args:    exactArgs(1),
			RunE: a.withClient(func(ctx context.Context, c *client.Client, args []string) error {
				k, err := c.Info(ctx, "berth.key.create", args[0])
				if err != nil {
					return fmt.Errorf("create key %q: %s", args[0], a.describe(err))
				}
				return a.output(k, func() error {
					fmt.Fprintln(a.stdout, k.Str("key"))
					fmt.Fprintf(a.stderr, "key %d (%s) created: it is shown once, keep it now\n", k.ID(), k.Str("name"))
					return nil
				})
			}),
		},
		&cobra.Command{
			Use:     "list",
			Short:   "List your API keys (the one in use is marked *)",
			Example: "  berth account key list",
			Args:    exactArgs(0),
			RunE: a.withClient(func(ctx context.Context, c *client.Client, _ []string) error {
				keys, err := c.List(ctx, "berth.key.list", nil)
				if err != nil {
					return fmt.Errorf("list keys: %s", a.describe(err))
				}
				return a.output(keys, func() error {
					rows := make([][]string, len(keys))
					for i, m := range keys {
						k := client.Object(m)
						name := k.Str("name")
						if k.Bool("current") {
							name += " *"
						}
						rows[i] = []string{itoa(k.ID()), name, k.Str("prefix") + "…", fmtShortTime(k.Time("date_created")), fmtShortTime(k.Time("date_revoked"))}
					}
					return a.printTable([]string{"ID", "NAME", "PREFIX", "CREATED", "REVOKED"}, rows, "no keys")
				})
			}),
		},
		&cobra.Command{
			Use:     "revoke ID",
			Short:   "Revoke an API key at once (not the last working one)",
			Example: "  berth account key revoke 3",
			Args:    exactArgs(1),
			RunE: a.withClient(func(ctx context.Context, c *client.Client, args []string) error {
				id, err := strconv.ParseInt(args[0], 10, 64)
				if err != nil {
					return usagef("key id %q is not a number (see berth account key list)", args[0])
				}
				k, err := c.Info(ctx, "berth.key.revoke", id)
				if err != nil {
					return fmt.Errorf("revoke key %d: %s", id, a.describe(err))
				}
				fmt.Fprintf(a.stderr, "key %d (%s) revoked\n", k.ID(), k.Str("name"))
				return nil
			}),
		})
}

func (a *app) redeemCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "redeem CODE",
		Short:   "Redeem a free-trial coupon: its credits last for the trial's days",
		Example: "  berth account redeem BERTH-7KQ2-M9XA-P4TR",
		Args:    exactArgs(1),
		RunE: a.withClient(func(ctx context.Context, c *client.Client, args []string) error {
			tr, err := c.Info(ctx, "berth.account.redeem", args[0])
			if err != nil {
				return fmt.Errorf("redeem: %s", a.describe(err))
			}
			return a.output(tr, func() error {
				return a.printInfo([]kv{{"credits", itoa(tr.Int("credits"))}, {"expires", fmtTime(tr.Time("date_expires"))}})
			})
		}),
	}
}

func (a *app) trialCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "trial",
		Short:   "Show your free trial: credits left and when it ends",
		Example: "  berth account trial",
		Args:    exactArgs(0),
		RunE: a.withClient(func(ctx context.Context, c *client.Client, _ []string) error {
			list, err := c.List(ctx, "berth.trial.list", nil)
			if err != nil {
				return fmt.Errorf("trial: %s", a.describe(err))
			}
			return a.output(list, func() error {
				var blocks [][]kv
				for _, m := range list {
					tr := client.Object(m)
					state := "running"
					if !tr.Time("date_ended").IsZero() {
						state = "ended " + fmtTime(tr.Time("date_ended"))
					}
					blocks = append(blocks, []kv{{"credits", itoa(tr.Int("credits"))}, {"credits left", itoa(tr.Int("credits_left"))},
						{"started", fmtTime(tr.Time("date_started"))}, {"expires", fmtTime(tr.Time("date_expires"))}, {"state", state}})
				}
				if len(blocks) == 0 {
					fmt.Fprintln(a.stderr, "no free trial: redeem a coupon with berth account redeem CODE")
					return nil
				}
				return a.printInfo(blocks...)
			})
		}),
	}
}

// withClient is a RunE that gets the configured client first.
func (a *app) withClient(fn func(ctx context.Context, c *client.Client, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		c, err := a.client()
		if err != nil {
			return err
		}
		return fn(cmd.Context(), c, args)
	}
}
