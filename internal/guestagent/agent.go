package guestagent

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Version is what guest-info reports.
const Version = "berth-guest-agent 1"

// Defaults of Config.
const (
	// DefaultAutoThaw is how long filesystems stay frozen when the host never thaws them.
	DefaultAutoThaw = 60 * time.Second
	// maxOutput is how much of a guest-exec command's stdout and stderr is kept.
	maxOutput = 64 << 10
)

// Config configures an Agent.
type Config struct {
	// Log receives what the agent does (default: discard).
	Log *log.Logger
	// FS freezes and thaws filesystems (default: the mounted ones, by ioctl).
	FS Freezer
	// Chpasswd is the program that sets passwords from "user:password" lines on its
	// stdin (-e: crypted) (default "chpasswd").
	Chpasswd string
	// AutoThaw bounds a freeze the host does not end (default DefaultAutoThaw).
	AutoThaw time.Duration
}

// Freezer freezes and thaws the guest's filesystems.
type Freezer interface {
	// Freeze freezes every filesystem it can and returns how many; on error none stays
	// frozen.
	Freeze() (int, error)
	// Thaw thaws the frozen filesystems and returns how many.
	Thaw() (int, error)
}

// Agent answers QGA commands. Its methods are safe for concurrent use.
type Agent struct {
	cfg Config

	mu       sync.Mutex
	frozen   bool
	thawT    *time.Timer
	execs    map[int64]*process
	lastPID  int64
	commands []string
}

// process is a command started by guest-exec.
type process struct {
	done     chan struct{}
	code     int
	signal   int
	out, err limitedBuffer
}

// New returns an agent.
func New(cfg Config) *Agent {
	if cfg.Log == nil {
		cfg.Log = log.New(io.Discard, "", 0)
	}
	if cfg.FS == nil {
		cfg.FS = &mountFreezer{}
	}
	if cfg.Chpasswd == "" {
		cfg.Chpasswd = "chpasswd"
	}
	if cfg.AutoThaw <= 0 {
		cfg.AutoThaw = DefaultAutoThaw
	}
	a := &Agent{cfg: cfg, execs: map[int64]*process{}}
	for name := range a.handlers() {
		a.commands = append(a.commands, name)
	}
	sort.Strings(a.commands)
	return a
}

type handler func(req request) (any, error)

func (a *Agent) handlers() map[string]handler {
	return map[string]handler{
		"guest-sync-delimited":    a.sync,
		"guest-sync":              a.sync,
		"guest-ping":              func(request) (any, error) { return nil, nil },
		"guest-info":              a.info,
		"guest-set-user-password": a.setPassword,
		"guest-fsfreeze-freeze":   a.freeze,
		"guest-fsfreeze-thaw":     a.thaw,
		"guest-fsfreeze-status":   a.status,
		"guest-exec":              a.exec,
		"guest-exec-status":       a.execStatus,
	}
}

// Serve answers the requests read from rw until reading fails, and returns that error.
func (a *Agent) Serve(rw io.ReadWriter) error {
	sp := newSplitter(rw)
	h := a.handlers()
	for {
		obj, err := sp.next()
		if err != nil {
			return err
		}
		var req request
		var ret any
		if err := json.Unmarshal(obj, &req); err != nil {
			err = &qgaError{Class: "GenericError", Desc: "invalid JSON: " + err.Error()}
			_, _ = rw.Write(reply(req, nil, err))
			continue
		}
		f, ok := h[req.Execute]
		if !ok {
			err = &qgaError{Class: "CommandNotFound", Desc: "The command " + req.Execute + " has not been found"}
		} else {
			ret, err = f(req)
		}
		if _, werr := rw.Write(reply(req, ret, err)); werr != nil {
			a.cfg.Log.Printf("write reply to %s: %v", req.Execute, werr)
		}
	}
}

func (a *Agent) sync(req request) (any, error) {
	var args struct {
		ID *int64 `json:"id"`
	}
	if err := decodeArgs(req, &args); err != nil {
		return nil, err
	}
	if args.ID == nil {
		return nil, errorf("Parameter 'id' is missing")
	}
	return *args.ID, nil
}

func (a *Agent) info(request) (any, error) {
	type cmd struct {
		Name            string `json:"name"`
		Enabled         bool   `json:"enabled"`
		SuccessResponse bool   `json:"success-response"`
	}
	cmds := make([]cmd, len(a.commands))
	for i, n := range a.commands {
		cmds[i] = cmd{Name: n, Enabled: true, SuccessResponse: true}
	}
	return map[string]any{"version": Version, "supported_commands": cmds}, nil
}

// writable refuses the commands that write to filesystems while they are frozen (the
// write would block until the thaw).
func (a *Agent) writable(what string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.frozen {
		return errorf("%s is disabled while the filesystems are frozen", what)
	}
	return nil
}

func (a *Agent) setPassword(req request) (any, error) {
	var args struct {
		Username string `json:"username"`
		Password string `json:"password"`
		Crypted  bool   `json:"crypted"`
	}
	if err := decodeArgs(req, &args); err != nil {
		return nil, err
	}
	pw, err := base64.StdEncoding.DecodeString(args.Password)
	if err != nil {
		return nil, errorf("password is not base64: %v", err)
	}
	if args.Username == "" || strings.ContainsAny(args.Username, ":\n") || bytes.ContainsAny(pw, "\n\x00") {
		return nil, errorf("invalid user name or password")
	}
	if err := a.writable("guest-set-user-password"); err != nil {
		return nil, err
	}
	cmdArgs := []string{}
	if args.Crypted {
		cmdArgs = append(cmdArgs, "-e")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, a.cfg.Chpasswd, cmdArgs...)
	cmd.Stdin = strings.NewReader(args.Username + ":" + string(pw) + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, errorf("chpasswd: %v: %s", err, strings.TrimSpace(string(out)))
	}
	a.cfg.Log.Printf("password of %s set", args.Username)
	return nil, nil
}

func (a *Agent) freeze(request) (any, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.frozen {
		return nil, errorf("the filesystems are already frozen")
	}
	n, err := a.cfg.FS.Freeze()
	if err != nil {
		a.cfg.Log.Printf("freeze: %v", err)
		return nil, errorf("freeze: %v", err)
	}
	a.frozen = true
	a.thawT = time.AfterFunc(a.cfg.AutoThaw, func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.frozen {
			n, err := a.cfg.FS.Thaw()
			a.frozen = false
			a.cfg.Log.Printf("no thaw from the host in %s: thawed %d filesystems (err %v)", a.cfg.AutoThaw, n, err)
		}
	})
	a.cfg.Log.Printf("froze %d filesystems", n)
	return n, nil
}

func (a *Agent) thaw(request) (any, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.thawT != nil {
		a.thawT.Stop()
		a.thawT = nil
	}
	n, err := a.cfg.FS.Thaw()
	a.frozen = false
	if err != nil {
		return nil, errorf("thaw: %v", err)
	}
	if n > 0 {
		a.cfg.Log.Printf("thawed %d filesystems", n)
	}
	return n, nil
}

func (a *Agent) status(request) (any, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.frozen {
		return "frozen", nil
	}
	return "thawed", nil
}

func (a *Agent) exec(req request) (any, error) {
	var args struct {
		Path          string   `json:"path"`
		Arg           []string `json:"arg"`
		Env           []string `json:"env"`
		InputData     string   `json:"input-data"`
		CaptureOutput bool     `json:"capture-output"`
	}
	if err := decodeArgs(req, &args); err != nil {
		return nil, err
	}
	if args.Path == "" {
		return nil, errorf("Parameter 'path' is missing")
	}
	input, err := base64.StdEncoding.DecodeString(args.InputData)
	if err != nil {
		return nil, errorf("input-data is not base64: %v", err)
	}
	if err := a.writable("guest-exec"); err != nil {
		return nil, err
	}
	p := &process{done: make(chan struct{})}
	cmd := exec.Command(args.Path, args.Arg...)
	if args.Env != nil {
		cmd.Env = args.Env
	}
	cmd.Stdin = bytes.NewReader(input)
	if args.CaptureOutput {
		cmd.Stdout, cmd.Stderr = &p.out, &p.err
	}
	if err := cmd.Start(); err != nil {
		return nil, errorf("guest-exec %s: %v", args.Path, err)
	}
	a.mu.Lock()
	a.lastPID = int64(cmd.Process.Pid)
	a.execs[a.lastPID] = p
	pid := a.lastPID
	a.mu.Unlock()
	go func() {
		err := cmd.Wait()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				p.signal = int(ws.Signal())
			} else {
				p.code = ee.ExitCode()
			}
		} else if err != nil {
			p.code = -1
		}
		close(p.done)
	}()
	return map[string]int64{"pid": pid}, nil
}

func (a *Agent) execStatus(req request) (any, error) {
	var args struct {
		PID int64 `json:"pid"`
	}
	if err := decodeArgs(req, &args); err != nil {
		return nil, err
	}
	a.mu.Lock()
	p, ok := a.execs[args.PID]
	a.mu.Unlock()
	if !ok {
		return nil, errorf("Invalid parameter 'pid'")
	}
	select {
	case <-p.done:
	default:
		return map[string]any{"exited": false}, nil
	}
	a.mu.Lock()
	delete(a.execs, args.PID)
	a.mu.Unlock()
	r := map[string]any{"exited": true}
	if p.signal != 0 {
		r["signal"] = p.signal
	} else {
		r["exitcode"] = p.code
	}
	if b := p.out.Bytes(); len(b) > 0 {
		r["out-data"] = base64.StdEncoding.EncodeToString(b)
	}
	if b := p.err.Bytes(); len(b) > 0 {
		r["err-data"] = base64.StdEncoding.EncodeToString(b)
	}
	return r, nil
}

// limitedBuffer keeps the first maxOutput bytes written to it.
type limitedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := maxOutput - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *limitedBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}
