package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/berth-io/berth/client"
)

// fileConfig is the config file: $XDG_CONFIG_HOME/berth/config.json, or
// ~/.config/berth/config.json, mode 0600.
type fileConfig struct {
	URL    string `json:"url"`
	APIKey string `json:"api_key"`
	CA     string `json:"ca,omitempty"` // CA certificate file trusted for an https URL
}

// defaultURL is what setup proposes.
const defaultURL = "http://127.0.0.1:8080/xmlrpc/"

func (a *app) configPath() (string, error) {
	if d := a.getenv("XDG_CONFIG_HOME"); d != "" {
		return filepath.Join(d, "berth", "config.json"), nil
	}
	home := a.getenv("HOME")
	if home == "" {
		return "", errors.New("neither XDG_CONFIG_HOME nor HOME is set: cannot place the config file")
	}
	return filepath.Join(home, ".config", "berth", "config.json"), nil
}

// loadConfig reads the config file; a missing file is an empty config.
func (a *app) loadConfig() (fileConfig, string, error) {
	var c fileConfig
	path, err := a.configPath()
	if err != nil {
		return c, "", err
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, path, nil
	}
	if err != nil {
		return c, path, fmt.Errorf("read config: %w", err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, path, fmt.Errorf("config %s: %w", path, err)
	}
	return c, path, nil
}

// saveConfig writes the config file atomically with mode 0600 (directory 0700).
func saveConfig(path string, c fileConfig) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".config-*.json")
	if err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("save config: %w", err)
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("save config: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	return nil
}

// endpoint resolves the URL and key: flags, then environment, then the config file.
func (a *app) endpoint() (string, string, error) {
	c, _, err := a.loadConfig()
	if err != nil {
		return "", "", err
	}
	u, k := c.URL, c.APIKey
	if v := a.getenv("BERTH_URL"); v != "" {
		u = v
	}
	if v := a.getenv("BERTH_API_KEY"); v != "" {
		k = v
	}
	if a.flagURL != "" {
		u = a.flagURL
	}
	if a.flagKey != "" {
		k = a.flagKey
	}
	return u, k, nil
}

// caFile resolves the CA file: --ca, then BERTH_CA, then the config file. A relative path
// is made absolute, so that setup saves a path that works from anywhere.
func (a *app) caFile() (string, error) {
	c, _, err := a.loadConfig()
	if err != nil {
		return "", err
	}
	ca := c.CA
	if v := a.getenv("BERTH_CA"); v != "" {
		ca = v
	}
	if a.flagCA != "" {
		ca = a.flagCA
	}
	if ca == "" {
		return "", nil
	}
	return filepath.Abs(ca)
}

// newClient is a client of u with key k, trusting the CA file when there is one.
func (a *app) newClient(u, k string) (*client.Client, error) {
	cl := client.New(u, k)
	ca, err := a.caFile()
	if err != nil {
		return nil, err
	}
	if ca != "" {
		if err := cl.UseCA(ca); err != nil {
			return nil, err
		}
	}
	return cl, nil
}

// client returns the API client of this run.
func (a *app) client() (*client.Client, error) {
	if a.cl != nil {
		return a.cl, nil
	}
	u, k, err := a.endpoint()
	if err != nil {
		return nil, err
	}
	if u == "" || k == "" {
		return nil, errors.New("no endpoint configured: run berth setup --url URL --api-key KEY (or set BERTH_URL and BERTH_API_KEY)")
	}
	u, err = normalizeURL(u)
	if err != nil {
		return nil, err
	}
	a.cl, err = a.newClient(u, k)
	return a.cl, err
}

// normalizeURL checks an endpoint URL and adds the /xmlrpc/ path when it has none.
func normalizeURL(s string) (string, error) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", fmt.Errorf("endpoint %q is not an http(s) URL", s)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/xmlrpc/"
	}
	return u.String(), nil
}

func (a *app) setupCmd() *cobra.Command {
	var noCheck bool
	cmd := &cobra.Command{
		Use:   "setup",
		Short: "Save the endpoint and API key in the config file",
		Long: `setup writes the endpoint URL and the API key to $XDG_CONFIG_HOME/berth/config.json
(~/.config/berth/config.json when XDG_CONFIG_HOME is unset), mode 0600, after checking them with
a call to hosting.account.info. Values come from --url and --api-key, else BERTH_URL and
BERTH_API_KEY, else the current config; on a terminal, missing values are asked for.
For an https endpoint whose certificate comes from a local CA (berthd admin tls init), give
--ca CA.pem (or BERTH_CA): its path is saved too.`,
		Example: `  berth setup --url http://127.0.0.1:8080/xmlrpc/ --api-key 0123456789abcdefghijklmn
  berth setup --url https://api.example.net:8443/ --ca /etc/berth/tls/ca.pem --api-key 0123456789abcdefghijklmn
  berth setup          # asks for the URL and the key`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			cur, path, err := a.loadConfig()
			if err != nil && path == "" {
				return err
			}
			u, k, _ := a.endpoint()
			if u == "" {
				u = cur.URL
			}
			if u == "" || k == "" {
				if !isTerminal(a.stdin) {
					return usagef("setup needs --url and --api-key (or BERTH_URL and BERTH_API_KEY) when stdin is not a terminal")
				}
				in := bufio.NewReader(a.stdin)
				if u == "" {
					if u, err = a.ask(ctx, in, fmt.Sprintf("Endpoint URL [%s]: ", defaultURL)); err != nil {
						return err
					}
					if u == "" {
						u = defaultURL
					}
				}
				if k == "" {
					if k, err = a.ask(ctx, in, "API key: "); err != nil {
						return err
					}
				}
			}
			if u, err = normalizeURL(u); err != nil {
				return usageErr(err)
			}
			if k == "" {
				return usagef("an API key is required")
			}
			ca, err := a.caFile()
			if err != nil {
				return err
			}
			if !noCheck {
				if a.cl, err = a.newClient(u, k); err != nil {
					return err
				}
				acc, err := a.cl.Info(ctx, "hosting.account.info")
				if err != nil {
					return fmt.Errorf("check %s: %w", u, err)
				}
				fmt.Fprintf(a.stderr, "connected to %s as %s (%d credits)\n", u, acc.Str("handle"), acc.Int("credits"))
			}
			if err := saveConfig(path, fileConfig{URL: u, APIKey: k, CA: ca}); err != nil {
				return err
			}
			fmt.Fprintf(a.stderr, "saved %s\n", path)
			return nil
		},
	}
	cmd.Flags().BoolVar(&noCheck, "no-check", false, "save without calling the endpoint")
	return cmd
}

// ask prints a question on stderr and reads one line; Ctrl-C interrupts it.
func (a *app) ask(ctx context.Context, in *bufio.Reader, question string) (string, error) {
	fmt.Fprint(a.stderr, question)
	type line struct {
		s   string
		err error
	}
	ch := make(chan line, 1)
	go func() {
		s, err := in.ReadString('\n')
		ch <- line{strings.TrimSpace(s), err}
	}()
	select {
	case <-ctx.Done():
		fmt.Fprintln(a.stderr)
		return "", ctx.Err()
	case l := <-ch:
		if l.err != nil && l.s == "" {
			return "", fmt.Errorf("read answer: %w", l.err)
		}
		return l.s, nil
	}
}

// confirm asks a yes/no question on a terminal; without one, it asks for --yes.
func (a *app) confirm(ctx context.Context, question string, yes bool) error {
	if yes {
		return nil
	}
	if !isTerminal(a.stdin) {
		return fmt.Errorf("%s: pass --yes to confirm (stdin is not a terminal)", strings.TrimSuffix(question, "?"))
	}
	ans, err := a.ask(ctx, bufio.NewReader(a.stdin), question+" [y/N] ")
	if err != nil {
		return err
	}
	switch strings.ToLower(ans) {
	case "y", "yes":
		return nil
	}
	return &exitErr{code: exitError, err: errors.New("cancelled")}
}
