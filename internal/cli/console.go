package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-io/berth/client"
)

// detachByte is Ctrl-], the escape of telnet and virsh console.
const detachByte = 0x1d

// Pipe mode (stdin not a terminal): after stdin ends, the console output is still copied
// until it has been quiet for pipeQuiet, at most pipeLinger.
const (
	pipeQuiet   = 500 * time.Millisecond
	pipeLinger  = 5 * time.Second
	copyBufSize = 32 * 1024
)

func (a *app) vmConsoleCmd() *cobra.Command {
	return objCmd(&cobra.Command{
		Use:   "console VM",
		Short: "Attach to the serial console of a virtual machine (detach with Ctrl-])",
		Long: `console joins your terminal to the VM's serial console through berthd, in raw mode: every
key goes to the VM (Ctrl-C included) until you detach with Ctrl-]. Without a terminal on stdin,
berth pipes: stdin goes to the console and the console to stdout; when stdin ends, berth waits
for the output to settle, then exits 0.`,
		Example: `  berth vm console web1
  printf 'uname -a\n' | berth vm console web1`,
		Args:              exactArgs(1),
		ValidArgsFunction: a.completer(kindVM),
	}, a.resolver(kindVM), func(ctx context.Context, _ *cobra.Command, v client.Object, _ []string) error {
		return a.console(ctx, v)
	})
}

// console runs one console session.
func (a *app) console(ctx context.Context, v client.Object) error {
	name := v.Str("hostname")
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	conn, err := a.cl.Console(ctx, v.ID())
	if err != nil {
		var ce *client.ConsoleError
		if errors.As(err, &ce) {
			switch ce.Status {
			case http.StatusUnauthorized:
				return fmt.Errorf("console of vm %s: the API key was refused (%s): run berth setup", name, ce.Message)
			case http.StatusNotFound, http.StatusConflict:
				return ce
			}
		}
		return fmt.Errorf("console of vm %s: %s", name, a.describe(err))
	}
	defer conn.Close()
	fmt.Fprintf(a.stderr, "Connected to vm %s console (detach with Ctrl-])\r\n", name)

	tty := false
	if f, ok := stdFile(a.stdin); ok && isTerminal(f) {
		restore, err := makeRaw(int(f.Fd()))
		if err != nil {
			return fmt.Errorf("console: raw mode: %w", err)
		}
		tty = true
		defer restore()
		// In raw mode Ctrl-C is a byte for the VM; other signals still end the session, and the
		// deferred restore puts the terminal back.
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
		defer signal.Stop(sig)
		go func() {
			select {
			case <-sig:
				cancel()
				conn.Close()
			case <-ctx.Done():
			}
		}()
	}
	err = session(ctx, conn, a.stdin, a.stdout, tty)
	if tty {
		fmt.Fprintf(a.stderr, "\r\nDetached from vm %s console\r\n", name)
	}
	return err
}

// session copies stdin to the console and the console to stdout. On a terminal (tty), it
// ends at Ctrl-] or when the server closes; in pipe mode, at the end of stdin (after the
// output settles) or when the server closes. A closed connection after a detach is no error.
func session(ctx context.Context, conn io.ReadWriteCloser, stdin io.Reader, stdout io.Writer, tty bool) error {
	var (
		mu       sync.Mutex
		lastRead = time.Now()
	)
	outDone := make(chan error, 1)
	go func() {
		buf := make([]byte, copyBufSize)
		for {
			n, err := conn.Read(buf)
			if n > 0 {
				mu.Lock()
				lastRead = time.Now()
				mu.Unlock()
				if _, werr := stdout.Write(buf[:n]); werr != nil {
					outDone <- werr
					return
				}
			}
			if err != nil {
				outDone <- err
				return
			}
		}
	}()
	inDone := make(chan error, 1)
	go func() { inDone <- copyIn(conn, stdin, tty) }()

	closed := func(err error) error {
		if err == nil || errors.Is(err, io.EOF) || errors.Is(err, os.ErrClosed) || strings.Contains(err.Error(), "use of closed") {
			return nil
		}
		return fmt.Errorf("console: %w", err)
	}
	select {
	case <-ctx.Done():
		conn.Close()
		<-outDone
		return ctx.Err()
	case err := <-outDone: // the server ended the session
		return closed(err)
	case err := <-inDone:
		if err != nil && !errors.Is(err, errDetach) {
			conn.Close()
			<-outDone
			return closed(err)
		}
		if !tty && err == nil { // stdin ended: let the output settle
			deadline := time.Now().Add(pipeLinger)
			t := time.NewTicker(pipeQuiet / 5)
			defer t.Stop()
		wait:
			for {
				select {
				case err := <-outDone:
					return closed(err)
				case <-ctx.Done():
					break wait
				case now := <-t.C:
					mu.Lock()
					quiet := now.Sub(lastRead) >= pipeQuiet
					mu.Unlock()
					if quiet || now.After(deadline) {
						break wait
					}
				}
			}
		}
		conn.Close()
		<-outDone
		return nil
	}
}

// errDetach ends copyIn at Ctrl-].
var errDetach = errors.New("detached")

// copyIn copies stdin to the console. On a terminal it stops before a Ctrl-] byte and
// returns errDetach; it returns nil at the end of stdin.
func copyIn(conn io.Writer, stdin io.Reader, tty bool) error {
	buf := make([]byte, copyBufSize)
	for {
		n, err := stdin.Read(buf)
		if n > 0 {
			chunk := buf[:n]
			i := -1
			if tty {
				i = bytes.IndexByte(chunk, detachByte)
			}
			if i >= 0 {
				chunk = chunk[:i]
			}
			if len(chunk) > 0 {
				if _, werr := conn.Write(chunk); werr != nil {
					return werr
				}
			}
			if i >= 0 {
				return errDetach
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func (a *app) vmSSHCmd() *cobra.Command {
	var login string
	cmd := &cobra.Command{
		Use:   "ssh VM [-- SSH ARGS...]",
		Short: "Open an SSH session to a virtual machine",
		Long: `ssh runs ssh to the VM's first IPv4 address (else its first IPv6 one) as root, or as the
user of -l. When this machine holds the datacenter's network namespace (berth-<dc code>, as
berthd creates it: /run/netns/berth-fr-sd5), ssh runs inside it with "ip netns exec". Arguments
after -- go to ssh.`,
		Example: `  berth vm ssh web1
  berth vm ssh web1 -l admin
  berth vm ssh web1 -- uname -a
  berth vm ssh web1 -- -L 8080:localhost:80`,
		Args:              minArgs(1),
		ValidArgsFunction: a.completer(kindVM),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if at := cmd.ArgsLenAtDash(); at > 1 || (at < 0 && len(args) > 1) {
				return usagef("vm ssh takes one VM; put ssh arguments after --")
			}
			info, err := a.infoOf(ctx, kindVM, args[0], nil)
			if err != nil {
				return err
			}
			argv, err := a.sshArgv(ctx, info, login, args[1:])
			if err != nil {
				return err
			}
			if err := a.exec(argv); err != nil {
				return fmt.Errorf("run %s: %w", argv[0], err)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&login, "login", "l", "root", "user to log in as")
	return cmd
}

// sshArgv builds the ssh command line for a vm.info struct.
func (a *app) sshArgv(ctx context.Context, info client.Object, login string, extra []string) ([]string, error) {
	var v4, v6 string
	for _, f := range info.Objs("ifaces") {
		for _, ip := range f.Objs("ips") {
			switch addr := ip.Str("ip"); {
			case addr == "":
			case ip.Int("version") == 4 && v4 == "":
				v4 = addr
			case ip.Int("version") == 6 && v6 == "":
				v6 = addr
			}
		}
	}
	addr := v4
	if addr == "" {
		addr = v6
	}
	if addr == "" {
		return nil, fmt.Errorf("vm %s %w", info.Str("hostname"), errNoIP)
	}
	argv := append([]string{"ssh", "-l", login, addr}, extra...)
	code := info.Obj("datacenter").Str("dc_code")
	if code == "" {
		code = a.dcCode(ctx, info.Int("datacenter_id"))
	}
	if ns := "berth-" + strings.ToLower(code); code != "" && a.netnsExists(ns) {
		argv = append([]string{"ip", "netns", "exec", ns}, argv...)
	}
	return argv, nil
}
