package qmp

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Default settings, overridable with the With* options.
const (
	// DefaultTimeout bounds Dial and each command whose context has no deadline.
	DefaultTimeout = 10 * time.Second
	// DefaultEventBuffer is the buffer size of each event subscription.
	DefaultEventBuffer = 64
	// DefaultMaxMessageSize is the longest QMP line accepted from QEMU.
	DefaultMaxMessageSize = 16 << 20
)

// ErrClosed is wrapped by every error caused by the end of the connection.
var ErrClosed = errors.New("qmp connection closed")

// errClosedByClient is the cause recorded by Close.
var errClosedByClient = errors.New("closed by client")

// Error is an error reply from QEMU ({"error": {"class": ..., "desc": ...}}).
type Error struct {
	// Class is the QMP error class, e.g. "GenericError", "CommandNotFound", "DeviceNotFound".
	Class string `json:"class"`
	// Desc is QEMU's human-readable description.
	Desc string `json:"desc"`
}

// Error implements error.
func (e *Error) Error() string { return e.Class + ": " + e.Desc }

// Version is a QEMU version from the QMP greeting.
type Version struct {
	// Major, Minor and Micro are the numeric version parts (7, 2, 22 for QEMU 7.2.22).
	Major, Minor, Micro int
	// Package is the distribution's package string, e.g. "Debian 1:7.2+dfsg-7+deb12u18+b3".
	Package string
}

// String returns "major.minor.micro".
func (v Version) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Micro) }

// AtLeast reports whether v is major.minor or newer.
func (v Version) AtLeast(major, minor int) bool {
	return v.Major > major || (v.Major == major && v.Minor >= minor)
}

// Greeting is the banner QEMU sends when a client connects.
type Greeting struct {
	// Version is the QEMU version.
	Version Version
	// Capabilities lists the optional protocol capabilities QEMU offers (e.g. "oob").
	Capabilities []string
}

// Stats counts messages the client received but could not deliver.
type Stats struct {
	// DroppedEvents counts event deliveries dropped because a subscriber's buffer was full.
	DroppedEvents uint64
	// GarbageLines counts lines that were not a valid QMP message.
	GarbageLines uint64
	// LateReplies counts replies whose command had already timed out or was cancelled.
	LateReplies uint64
}

// Option configures a Client.
type Option func(*options)

type options struct {
	defaultTimeout time.Duration
	eventBuffer    int
	maxMessage     int
	logger         *slog.Logger
}

// WithDefaultTimeout sets the deadline used when a context has none (default DefaultTimeout; ignored if not positive).
func WithDefaultTimeout(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.defaultTimeout = d
		}
	}
}

// WithEventBuffer sets the buffer size of each event subscription (default DefaultEventBuffer; ignored if not positive).
func WithEventBuffer(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.eventBuffer = n
		}
	}
}

// WithMaxMessageSize sets the longest line accepted from QEMU (default DefaultMaxMessageSize; ignored if not positive).
func WithMaxMessageSize(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.maxMessage = n
		}
	}
}

// WithLogger sets the logger used for protocol anomalies (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}

// Client is a QMP connection. All methods are safe for concurrent use.
type Client struct {
	conn     net.Conn
	opts     options
	greeting Greeting
	greetCh  chan Greeting

	nextID atomic.Uint64
	// wlock serialises writes; a buffered channel so that waiting for it honours ctx.
	wlock chan struct{}

	mu      sync.Mutex
	pending map[uint64]chan response
	subs    map[*subscription]struct{}
	closed  bool // set with done, under mu

	done    chan struct{}
	err     error // why the connection ended; written once before done is closed
	endOnce sync.Once

	droppedEvents atomic.Uint64
	garbageLines  atomic.Uint64
	lateReplies   atomic.Uint64
}

// response is a routed command reply.
type response struct {
	ret json.RawMessage
	err *Error
}

// message is any QMP message from QEMU.
type message struct {
	QMP       *greetingWire   `json:"QMP"`
	ID        json.RawMessage `json:"id"`
	Return    json.RawMessage `json:"return"`
	Error     *Error          `json:"error"`
	Event     string          `json:"event"`
	Data      json.RawMessage `json:"data"`
	Timestamp *struct {
		Seconds      int64 `json:"seconds"`
		Microseconds int64 `json:"microseconds"`
	} `json:"timestamp"`
}

type greetingWire struct {
	Version struct {
		QEMU struct {
			Major int `json:"major"`
			Minor int `json:"minor"`
			Micro int `json:"micro"`
		} `json:"qemu"`
		Package string `json:"package"`
	} `json:"version"`
	Capabilities []string `json:"capabilities"`
}

// request is a command sent to QEMU.
type request struct {
	Execute   string `json:"execute"`
	Arguments any    `json:"arguments,omitempty"`
	ID        uint64 `json:"id"`
}

// Dial connects to the QMP unix socket at socketPath, reads the greeting and leaves
// capabilities negotiation mode. While the socket does not exist yet or refuses
// connections (QEMU still starting), Dial retries until ctx (or the default timeout)
// expires.
func Dial(ctx context.Context, socketPath string, opts ...Option) (*Client, error) {
	o := buildOptions(opts)
	ctx, cancel := withDeadline(ctx, o.defaultTimeout)
	defer cancel()

	var d net.Dialer
	for {
		conn, err := d.DialContext(ctx, "unix", socketPath)
		if err == nil {
			return newClient(ctx, conn, o)
		}
		if !errors.Is(err, syscall.ENOENT) && !errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("dial qmp %s: %w", socketPath, err)
		}
		t := time.NewTimer(20 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("dial qmp %s: %w (last error: %w)", socketPath, ctx.Err(), err)
		case <-t.C:
		}
	}
}

// NewClient runs the QMP handshake on an established connection and returns a Client
// that owns conn. SendFD needs conn to be a *net.UnixConn.
func NewClient(ctx context.Context, conn net.Conn, opts ...Option) (*Client, error) {
	o := buildOptions(opts)
	ctx, cancel := withDeadline(ctx, o.defaultTimeout)
	defer cancel()
	return newClient(ctx, conn, o)
}

func buildOptions(opts []Option) options {
	o := options{
		defaultTimeout: DefaultTimeout,
		eventBuffer:    DefaultEventBuffer,
		maxMessage:     DefaultMaxMessageSize,
		logger:         slog.New(slog.DiscardHandler),
	}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

func newClient(ctx context.Context, conn net.Conn, o options) (*Client, error) {
	c := &Client{
		conn:    conn,
		opts:    o,
		greetCh: make(chan Greeting, 1),
		wlock:   make(chan struct{}, 1),
		pending: make(map[uint64]chan response),
		subs:    make(map[*subscription]struct{}),
		done:    make(chan struct{}),
	}
	go c.readLoop()

	select {
	case g := <-c.greetCh:
		c.greeting = g
	case <-c.done:
		return nil, fmt.Errorf("qmp handshake: no greeting: %w", c.err)
	case <-ctx.Done():
		c.end(fmt.Errorf("no greeting: %w", ctx.Err()))
		return nil, fmt.Errorf("qmp handshake: no greeting: %w", ctx.Err())
	}
	if err := c.Execute(ctx, "qmp_capabilities", nil, nil); err != nil {
		c.end(fmt.Errorf("handshake failed: %w", err))
		return nil, fmt.Errorf("qmp handshake: %w", err)
	}
	return c, nil
}

// Greeting returns the greeting QEMU sent on connection.
func (c *Client) Greeting() Greeting { return c.greeting }

// Version returns the QEMU version from the greeting.
func (c *Client) Version() Version { return c.greeting.Version }

// Done returns a channel closed when the connection has ended (see Err).
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns nil while the connection is up, then why it ended; it wraps ErrClosed.
func (c *Client) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// Stats returns the counters of undelivered messages.
func (c *Client) Stats() Stats {
	return Stats{
		DroppedEvents: c.droppedEvents.Load(),
		GarbageLines:  c.garbageLines.Load(),
		LateReplies:   c.lateReplies.Load(),
	}
}

// Close closes the connection. It does not stop QEMU (see Quit).
func (c *Client) Close() error {
	c.end(errClosedByClient)
	return nil
}

// end records why the connection ended, closes it, and wakes every waiter. Only the
// first call has an effect.
func (c *Client) end(cause error) {
	c.endOnce.Do(func() {
		c.err = fmt.Errorf("%w: %w", ErrClosed, cause)
		_ = c.conn.Close()
		close(c.done) // before the subscriber channels, so that Err is set when they close
		c.mu.Lock()
		c.closed = true
		for s := range c.subs {
			delete(c.subs, s)
			close(s.ch)
		}
		c.mu.Unlock()
	})
}

// withDeadline returns ctx unchanged if it has a deadline, else ctx bounded by d.
func withDeadline(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, d)
}

// withTimeout applies the client's default timeout to a context without a deadline.
func (c *Client) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return withDeadline(ctx, c.opts.defaultTimeout)
}

// Execute sends command with args (nil for none; anything json.Marshal accepts as an
// object) and decodes the reply's "return" value into result (nil to ignore it). An
// error reply is returned as a wrapped *Error.
func (c *Client) Execute(ctx context.Context, command string, args, result any) error {
	return c.execute(ctx, command, args, result, nil)
}

// execute implements Execute; oob, if not nil, is sent as ancillary data (SCM_RIGHTS)
// with the command.
func (c *Client) execute(ctx context.Context, command string, args, result any, oob []byte) error {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()

	if m, ok := args.(map[string]any); ok && m == nil {
		args = nil
	}
	id := c.nextID.Add(1)
	line, err := json.Marshal(request{Execute: command, Arguments: args, ID: id})
	if err != nil {
		return fmt.Errorf("qmp %s: encode arguments: %w", command, err)
	}
	line = append(line, '\n')

	ch := make(chan response, 1)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return fmt.Errorf("qmp %s: %w", command, c.err)
	}
	c.pending[id] = ch
	c.mu.Unlock()
	forget := func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
	}

	if err := c.write(ctx, line, oob); err != nil {
		forget()
		return fmt.Errorf("qmp %s: %w", command, err)
	}

	var resp response
	select {
	case resp = <-ch:
	case <-ctx.Done():
		forget()
		return fmt.Errorf("qmp %s: no reply: %w", command, ctx.Err())
	case <-c.done:
		select {
		case resp = <-ch: // a reply that raced with the end of the connection wins
		default:
			forget()
			return fmt.Errorf("qmp %s: %w", command, c.err)
		}
	}
	if resp.err != nil {
		return fmt.Errorf("qmp %s: %w", command, resp.err)
	}
	if result != nil {
		if err := json.Unmarshal(resp.ret, result); err != nil {
			return fmt.Errorf("qmp %s: decode reply: %w", command, err)
		}
	}
	return nil
}

// write sends one message, holding the write lock. A partial write leaves the stream
// unusable, so it ends the connection.
func (c *Client) write(ctx context.Context, line, oob []byte) error {
	select {
	case c.wlock <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("wait to send: %w", ctx.Err())
	case <-c.done:
		return c.err
	}
	defer func() { <-c.wlock }()

	if dl, ok := ctx.Deadline(); ok {
		_ = c.conn.SetWriteDeadline(dl)
	}
	var n int
	var err error
	if oob != nil {
		n, err = writeWithRights(c.conn, line, oob)
	} else {
		n, err = c.conn.Write(line)
	}
	if err != nil {
		// A timeout before any byte went out leaves the stream intact; anything else
		// (a partial line, EPIPE because QEMU exited, …) leaves it unusable.
		if n > 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
			c.end(fmt.Errorf("write: %w", err))
		}
		select {
		case <-c.done:
			return fmt.Errorf("send: %w", c.err)
		default:
			return fmt.Errorf("send: %w", err)
		}
	}
	return nil
}

// readLoop reads messages until the connection fails, then ends the client.
func (c *Client) readLoop() {
	r := bufio.NewReaderSize(c.conn, 64<<10)
	for {
		line, err := readLine(r, c.opts.maxMessage)
		if err != nil {
			c.end(err)
			return
		}
		c.handleLine(line)
	}
}

// readLine returns the next line without its terminator. A line longer than max is
// an error.
func readLine(r *bufio.Reader, max int) ([]byte, error) {
	var buf []byte
	for {
		frag, err := r.ReadSlice('\n')
		if len(buf)+len(frag) > max+2 { // +2: the "\r\n" terminator
			return nil, fmt.Errorf("message longer than %d bytes", max)
		}
		switch {
		case err == nil:
			if buf == nil {
				// ReadSlice's buffer is reused by the next read: copy.
				buf = append(make([]byte, 0, len(frag)), frag...)
			} else {
				buf = append(buf, frag...)
			}
			return bytes.TrimRight(buf, "\r\n"), nil
		case errors.Is(err, bufio.ErrBufferFull):
			buf = append(buf, frag...)
		case errors.Is(err, io.EOF) && len(buf)+len(frag) > 0:
			return nil, fmt.Errorf("read: %w (inside a message)", io.ErrUnexpectedEOF)
		default:
			return nil, fmt.Errorf("read: %w", err)
		}
	}
}

// handleLine routes one message: greeting, reply or event.
func (c *Client) handleLine(line []byte) {
	if len(bytes.TrimSpace(line)) == 0 {
		return
	}
	var m message
	if err := json.Unmarshal(line, &m); err != nil {
		c.garbage(line, err.Error())
		return
	}
	switch {
	case m.QMP != nil:
		g := Greeting{
			Version: Version{
				Major:   m.QMP.Version.QEMU.Major,
				Minor:   m.QMP.Version.QEMU.Minor,
				Micro:   m.QMP.Version.QEMU.Micro,
				Package: m.QMP.Version.Package,
			},
			Capabilities: m.QMP.Capabilities,
		}
		select {
		case c.greetCh <- g:
		default:
			c.garbage(line, "second greeting")
		}
	case m.Return != nil || m.Error != nil:
		id, err := strconv.ParseUint(string(m.ID), 10, 64)
		if err != nil {
			c.garbage(line, "reply without a valid id")
			return
		}
		c.mu.Lock()
		ch, ok := c.pending[id]
		delete(c.pending, id)
		c.mu.Unlock()
		if !ok {
			c.lateReplies.Add(1)
			c.opts.logger.Debug("qmp reply for no pending command", "id", id)
			return
		}
		ch <- response{ret: m.Return, err: m.Error} // buffered, never blocks
	case m.Event != "":
		ev := Event{Name: m.Event, Data: m.Data}
		if m.Timestamp != nil {
			ev.Time = time.Unix(m.Timestamp.Seconds, m.Timestamp.Microseconds*1000)
		}
		c.dispatch(ev)
	default:
		c.garbage(line, "neither greeting, reply nor event")
	}
}

func (c *Client) garbage(line []byte, why string) {
	c.garbageLines.Add(1)
	const show = 200
	if len(line) > show {
		line = line[:show]
	}
	c.opts.logger.Warn("qmp: ignored malformed message", "reason", why, "line", string(line))
}
