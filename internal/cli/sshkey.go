package cli

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/berth-io/berth/client"
)

func (a *app) sshkeyCmd() *cobra.Command {
	return group("sshkey", "Manage stored SSH public keys", `  berth sshkey create laptop --file ~/.ssh/id_ed25519.pub
  berth vm create web1 --sshkey laptop`,
		a.sshkeyListCmd(), a.sshkeyInfoCmd(), a.sshkeyCreateCmd(), a.sshkeyDeleteCmd())
}

func (a *app) sshkeyListCmd() *cobra.Command {
	return a.listCmd(&cobra.Command{Use: "list", Short: "List stored SSH keys", Example: "  berth sshkey list"},
		kindKey, noFilters, []string{"ID", "NAME", "FINGERPRINT"}, "no ssh keys",
		func(_ context.Context, keys []client.Object) ([][]string, error) {
			rows := make([][]string, 0, len(keys))
			for _, k := range keys {
				rows = append(rows, []string{itoa(k.ID()), k.Str("name"), k.Str("fingerprint")})
			}
			return rows, nil
		})
}

func (a *app) sshkeyInfoCmd() *cobra.Command {
	return a.infoCmd(kindKey, "info KEY", "Show a stored SSH key with its value", "  berth sshkey info laptop",
		func(_ context.Context, info client.Object) error {
			return a.printInfo([]kv{{"id", itoa(info.ID())}, {"name", info.Str("name")},
				{"fingerprint", info.Str("fingerprint")}, {"value", info.Str("value")}})
		})
}

func (a *app) sshkeyCreateCmd() *cobra.Command {
	var value, file string
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Store an SSH public key (default: your first ~/.ssh/id_*.pub)",
		Example: `  berth sshkey create laptop
  berth sshkey create ci --file ./ci.pub
  berth sshkey create ci --value "ssh-ed25519 AAAA... ci@example"`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := a.client()
			if err != nil {
				return err
			}
			if value != "" && file != "" {
				return usagef("--value and --file exclude each other")
			}
			if value == "" {
				if file == "" {
					if file = a.defaultPubKey(); file == "" {
						return usagef("no ~/.ssh/id_*.pub: pass --file or --value")
					}
				}
				b, err := os.ReadFile(file)
				if err != nil {
					return fmt.Errorf("ssh key: %w", err)
				}
				value = strings.TrimSpace(string(b))
			}
			k, err := c.Info(ctx, "hosting.ssh.create", map[string]any{"name": args[0], "value": value})
			if err != nil {
				return fmt.Errorf("create ssh key %s: %s", args[0], a.describe(err))
			}
			fmt.Fprintf(a.stderr, "ssh key %s stored\n", args[0])
			return a.output(k, func() error {
				return a.printInfo([]kv{{"id", itoa(k.ID())}, {"name", k.Str("name")}, {"fingerprint", k.Str("fingerprint")}})
			})
		},
	}
	cmd.Flags().StringVar(&value, "value", "", "the public key text")
	cmd.Flags().StringVar(&file, "file", "", "a public key file")
	return cmd
}

func (a *app) sshkeyDeleteCmd() *cobra.Command {
	var yes bool
	cmd := objCmd(&cobra.Command{
		Use:               "delete KEY",
		Short:             "Delete a stored SSH key (VMs keep the keys they were created with)",
		Example:           "  berth sshkey delete laptop --yes",
		Args:              exactArgs(1),
		ValidArgsFunction: a.completer(kindKey),
	}, a.resolver(kindKey), func(ctx context.Context, _ *cobra.Command, k client.Object, _ []string) error {
		if err := a.confirm(ctx, "delete ssh key "+k.Str("name")+"?", yes); err != nil {
			return err
		}
		if _, err := a.cl.Call(ctx, "hosting.ssh.delete", k.ID()); err != nil {
			return fmt.Errorf("delete ssh key %s: %s", k.Str("name"), a.describe(err))
		}
		fmt.Fprintf(a.stderr, "ssh key %s deleted\n", k.Str("name"))
		return nil
	})
	addYes(cmd, &yes)
	return cmd
}
