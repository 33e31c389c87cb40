// Package cli is the berth command line: `berth <noun> <verb>` over the Gandi Hosting
// XML-RPC API of a Berth endpoint. Data goes to stdout (tables, `key : value` blocks, or
// JSON with --json), progress and messages to stderr. Exit codes: 0 ok, 1 error, 2 usage,
// 130 interrupted while waiting for an operation (which goes on).
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-io/berth/client"
)

// Exit codes.
const (
	exitOK          = 0
	exitError       = 1
	exitUsage       = 2
	exitInterrupted = 130
)

// env is everything a run reads from or writes to the outside world; Main fills it from the
// process, tests inject their own.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
	now    func() time.Time
	poll   time.Duration // time between two polls of an operation
	// exec replaces the process with argv (berth vm ssh); it returns only on failure.
	exec func(argv []string) error
	// netnsExists reports whether /run/netns/<name> exists.
	netnsExists func(name string) bool
}

// Main runs the berth command line with the process's stdin and environment and returns its
// exit code. Cancelling ctx (Ctrl-C, through signal.NotifyContext in main) stops a wait and
// leaves the operation running.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return run(ctx, args, env{
		stdin: os.Stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv, now: time.Now,
		poll: 500 * time.Millisecond, exec: execProcess,
		netnsExists: func(name string) bool {
			_, err := os.Stat("/run/netns/" + name)
			return err == nil
		},
	})
}

// execProcess replaces the current process with argv, found in PATH.
func execProcess(argv []string) error {
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return err
	}
	return syscall.Exec(path, argv, os.Environ())
}

// app is one run of the command line: its environment, global flags and caches.
type app struct {
	env
	flagURL, flagKey string
	flagCA           string
	asJSON           bool
	cl               *client.Client
	dcs              []client.Object // datacenter list, cached for the run
}

// run builds the command tree, executes args and maps the outcome to an exit code.
func run(ctx context.Context, args []string, e env) int {
	a := &app{env: e}
	root := a.rootCmd()
	root.SetArgs(args)
	root.SetIn(e.stdin)
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	return a.report(ctx, root.ExecuteContext(ctx))
}

func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "berth",
		Short: "Command-line client of a Berth cloud (the Gandi Hosting API)",
		Long: `berth manages virtual machines, disks, network interfaces, addresses, VLANs and SSH keys on
a Berth endpoint. Commands take the form "berth <noun> <verb>"; objects are named by name or id
(VM hostname, disk name, VLAN name, key name, image label, datacenter code, IP address).

Configure the endpoint once with "berth setup"; BERTH_URL and BERTH_API_KEY override the config
file, --url and --api-key override both. Add --json to any command for machine-readable output.`,
		Example: `  berth setup --url http://127.0.0.1:8080/xmlrpc/ --api-key 0123456789abcdefghijklmn
  berth vm create web1
  berth vm list
  berth vm ssh web1`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          groupArgs,
		RunE:          groupRun,
	}
	root.CompletionOptions.HiddenDefaultCmd = false
	pf := root.PersistentFlags()
	pf.StringVar(&a.flagURL, "url", "", "API endpoint, e.g. http://127.0.0.1:8080/xmlrpc/ (overrides BERTH_URL and the config file)")
	pf.StringVar(&a.flagKey, "api-key", "", "API key (overrides BERTH_API_KEY and the config file)")
	pf.StringVar(&a.flagCA, "ca", "", "CA certificate (PEM) to trust for an https endpoint (overrides BERTH_CA and the config file)")
	pf.BoolVar(&a.asJSON, "json", false, "print the API's structs as JSON (dates in RFC 3339)")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageErr(err) })
	root.AddCommand(a.setupCmd(), a.vmCmd(), a.diskCmd(), a.ifaceCmd(), a.ipCmd(), a.vlanCmd(),
		a.sshkeyCmd(), a.imageCmd(), a.datacenterCmd(), a.operCmd(), a.accountCmd())
	return root
}

// group returns a noun command: it shows its help without a verb and rejects unknown verbs
// with a usage error and suggestions.
func group(use, short, example string, verbs ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{Use: use, Short: short, Example: example, Args: groupArgs, RunE: groupRun}
	c.AddCommand(verbs...)
	return c
}

func groupArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	var verbs []string
	for _, c := range cmd.Commands() {
		if c.IsAvailableCommand() {
			verbs = append(verbs, c.Name())
		}
	}
	if s := closest(args[0], verbs, 3); len(s) > 0 {
		msg += "; did you mean " + strings.Join(s, ", ") + "?"
	} else {
		msg += fmt.Sprintf(" (see %s --help)", cmd.CommandPath())
	}
	return usageErr(errors.New(msg))
}

func groupRun(cmd *cobra.Command, _ []string) error { return cmd.Help() }

// exitErr carries an exit code; silent when its message was already printed.
type exitErr struct {
	code   int
	err    error
	silent bool
}

func (e *exitErr) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func (e *exitErr) Unwrap() error { return e.err }

func usageErr(err error) error { return &exitErr{code: exitUsage, err: err} }

func usagef(format string, args ...any) error { return usageErr(fmt.Errorf(format, args...)) }

// args returns a validator of exactly n positional arguments named in usage.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("%s takes %d argument(s), got %d (usage: %s)", cmd.CommandPath(), n, len(args), cmd.UseLine())
		}
		return nil
	}
}

func minArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < n {
			return usagef("%s needs at least %d argument(s) (usage: %s)", cmd.CommandPath(), n, cmd.UseLine())
		}
		return nil
	}
}

func maxArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) > n {
			return usagef("%s takes at most %d argument(s), got %d (usage: %s)", cmd.CommandPath(), n, len(args), cmd.UseLine())
		}
		return nil
	}
}

// report prints err on stderr and returns the exit code.
func (a *app) report(ctx context.Context, err error) int {
	if err == nil {
		return exitOK
	}
	code := exitError
	var ee *exitErr
	if errors.As(err, &ee) {
		code = ee.code
		if ee.silent {
			return code
		}
	}
	if code == exitError && errors.Is(err, context.Canceled) && ctx.Err() != nil {
		fmt.Fprintln(a.stderr, "berth: interrupted")
		return exitInterrupted
	}
	fmt.Fprintln(a.stderr, "berth: "+a.describe(err))
	return code
}

// describe turns an error into one line a person can act on.
func (a *app) describe(err error) string {
	if f, ok := client.AsFault(err); ok {
		switch f.Code {
		case client.FaultInvalidKey, client.FaultBadKeyFormat, client.FaultEmptyKey:
			return "the API key was refused (" + client.FaultMessage(f) + "): run berth setup, or set BERTH_API_KEY"
		case client.FaultNoAccess:
			return client.FaultMessage(f) + " (your keys are valid; API access is granted per account: ask your provider's support, or request a trial on the web console's /trial page)"
		case client.FaultNoCredit:
			return client.FaultMessage(f) + ": the account has no credits left"
		}
		return client.FaultMessage(f)
	}
	var ne *net.OpError
	if errors.As(err, &ne) && ne.Op == "dial" {
		url := ""
		if a.cl != nil {
			url = a.cl.URL + ": "
		}
		return fmt.Sprintf("%scannot connect (%v): is berthd running? check berth setup or BERTH_URL", url, ne.Err)
	}
	return err.Error()
}
