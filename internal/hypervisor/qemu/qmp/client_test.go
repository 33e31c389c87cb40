package qmp

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The tests in this file run the client against a fake QMP server on a unix socket,
// to cover protocol edge cases that a real QEMU does not produce on demand.

const fakeGreeting = `{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": "Debian 1:7.2+dfsg-7+deb12u18+b3"}, "capabilities": ["oob"]}}`

// fakeCmd is a command received by the fake server.
type fakeCmd struct {
	Execute   string          `json:"execute"`
	Arguments json.RawMessage `json:"arguments"`
	ID        json.RawMessage `json:"id"`
}

// fakeConn is the server side of one client connection.
type fakeConn struct {
	t    *testing.T
	conn *net.UnixConn
	r    *bufio.Reader
	wmu  sync.Mutex
}

// send writes one raw line, QEMU style ("\r\n" terminated).
func (s *fakeConn) send(line string) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if _, err := io.WriteString(s.conn, line+"\r\n"); err != nil {
		s.t.Errorf("fake server: write: %v", err)
	}
}

// read returns the next command, or false at EOF.
func (s *fakeConn) read() (fakeCmd, bool) {
	line, err := s.r.ReadBytes('\n')
	if err != nil {
		return fakeCmd{}, false
	}
	var c fakeCmd
	if err := json.Unmarshal(line, &c); err != nil {
		s.t.Errorf("fake server: bad command %q: %v", line, err)
		return fakeCmd{}, false
	}
	return c, true
}

// expect reads the next command and checks its name.
func (s *fakeConn) expect(name string) fakeCmd {
	c, ok := s.read()
	if !ok {
		s.t.Errorf("fake server: connection ended, want command %s", name)
	} else if c.Execute != name {
		s.t.Errorf("fake server: got command %s, want %s", c.Execute, name)
	}
	return c
}

// reply sends {"return": ret, "id": id}.
func (s *fakeConn) reply(c fakeCmd, ret string) {
	s.send(fmt.Sprintf(`{"return": %s, "id": %s}`, ret, c.ID))
}

// handshake sends the greeting and answers qmp_capabilities.
func (s *fakeConn) handshake() {
	s.send(fakeGreeting)
	s.reply(s.expect("qmp_capabilities"), "{}")
}

// shortTempDir returns a directory whose paths fit in a unix socket address.
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "qmp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// startFake listens on a unix socket and runs script on the first connection. When
// script returns, the server keeps the connection open until the client closes it.
func startFake(t *testing.T, script func(s *fakeConn)) string {
	t.Helper()
	path := filepath.Join(shortTempDir(t), "fake.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	go func() {
		defer close(done)
		conn, err := ln.AcceptUnix()
		if err != nil {
			return // listener closed by cleanup
		}
		defer conn.Close()
		s := &fakeConn{t: t, conn: conn, r: bufio.NewReader(conn)}
		script(s)
		_, _ = io.Copy(io.Discard, s.r)
	}()
	return path
}

// dialFake connects to a fake server with a 5 s bound.
func dialFake(t *testing.T, path string, opts ...Option) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, path, opts...)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestDialGreeting(t *testing.T) {
	caps := make(chan fakeCmd, 1)
	path := startFake(t, func(s *fakeConn) {
		s.send(fakeGreeting)
		c := s.expect("qmp_capabilities")
		caps <- c
		s.reply(c, "{}")
	})
	c := dialFake(t, path)
	want := Greeting{
		Version:      Version{Major: 7, Minor: 2, Micro: 22, Package: "Debian 1:7.2+dfsg-7+deb12u18+b3"},
		Capabilities: []string{"oob"},
	}
	if diff := cmp.Diff(want, c.Greeting()); diff != "" {
		t.Errorf("greeting (-want +got):\n%s", diff)
	}
	if got := c.Version().String(); got != "7.2.22" {
		t.Errorf("Version().String() = %q, want 7.2.22", got)
	}
	if !c.Version().AtLeast(7, 2) || c.Version().AtLeast(7, 3) || !c.Version().AtLeast(6, 9) {
		t.Errorf("AtLeast gives wrong answers for %v", c.Version())
	}
	if got := <-caps; got.Arguments != nil {
		t.Errorf("qmp_capabilities sent with arguments %s, want none", got.Arguments)
	}
}

func TestDialErrors(t *testing.T) {
	tests := []struct {
		name   string
		script func(s *fakeConn) // nil: no server at all
		want   error
	}{
		{
			name:   "silent server",
			script: func(s *fakeConn) { _, _ = s.read() },
			want:   context.DeadlineExceeded,
		},
		{
			name:   "closed before greeting",
			script: func(s *fakeConn) { s.conn.Close() },
			want:   ErrClosed,
		},
		{
			name: "capabilities refused",
			script: func(s *fakeConn) {
				s.send(fakeGreeting)
				c := s.expect("qmp_capabilities")
				s.send(fmt.Sprintf(`{"error": {"class": "CommandNotFound", "desc": "nope"}, "id": %s}`, c.ID))
			},
			want: &Error{Class: "CommandNotFound", Desc: "nope"},
		},
		{
			name: "no socket",
			want: syscall.ENOENT,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(shortTempDir(t), "none.sock")
			if tt.script != nil {
				path = startFake(t, tt.script)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			start := time.Now()
			c, err := Dial(ctx, path)
			if err == nil {
				c.Close()
				t.Fatal("Dial succeeded, want an error")
			}
			if el := time.Since(start); el > 3*time.Second {
				t.Errorf("Dial took %v, want it bounded by its context", el)
			}
			var qe *Error
			if want, ok := tt.want.(*Error); ok {
				if !errors.As(err, &qe) || *qe != *want {
					t.Errorf("Dial error = %v, want %v", err, want)
				}
			} else if !errors.Is(err, tt.want) {
				t.Errorf("Dial error = %v, want one wrapping %v", err, tt.want)
			}
		})
	}
}

func TestExecuteProtocol(t *testing.T) {
	big := strings.Repeat("x", 300<<10)
	huge := strings.Repeat("y", 5<<20)
	tests := []struct {
		name      string
		serve     func(s *fakeConn, c fakeCmd) // answers one command
		wantRet   string
		wantErr   *Error
		wantStats Stats
		wantEvent string // name of an event the subscriber must have received
	}{
		{
			name:    "plain reply",
			serve:   func(s *fakeConn, c fakeCmd) { s.reply(c, `{"status": "prelaunch"}`) },
			wantRet: `{"status": "prelaunch"}`,
		},
		{
			name: "event interleaved before the reply",
			serve: func(s *fakeConn, c fakeCmd) {
				s.send(`{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "STOP"}`)
				s.reply(c, `"ok"`)
			},
			wantRet:   `"ok"`,
			wantEvent: "STOP",
		},
		{
			name:    "reply over 64 KiB",
			serve:   func(s *fakeConn, c fakeCmd) { s.reply(c, `"`+big+`"`) },
			wantRet: `"` + big + `"`,
		},
		{
			name:    "reply of 5 MiB",
			serve:   func(s *fakeConn, c fakeCmd) { s.reply(c, `"`+huge+`"`) },
			wantRet: `"` + huge + `"`,
		},
		{
			name: "garbage lines are skipped",
			serve: func(s *fakeConn, c fakeCmd) {
				s.send(`this is not json`)
				s.send(`{"half": `)
				s.send(`{"neither": "reply nor event"}`)
				s.send(`{"return": {}, "id": "not-ours"}`)
				s.send(``)
				s.reply(c, `[1, 2]`)
			},
			wantRet:   `[1, 2]`,
			wantStats: Stats{GarbageLines: 4},
		},
		{
			name: "reply for a forgotten command",
			serve: func(s *fakeConn, c fakeCmd) {
				s.send(`{"return": {}, "id": 999999}`)
				s.reply(c, `true`)
			},
			wantRet:   `true`,
			wantStats: Stats{LateReplies: 1},
		},
		{
			name: "error reply",
			serve: func(s *fakeConn, c fakeCmd) {
				s.send(fmt.Sprintf(`{"id": %s, "error": {"class": "DeviceNotFound", "desc": "Device 'x' not found"}}`, c.ID))
			},
			wantErr: &Error{Class: "DeviceNotFound", Desc: "Device 'x' not found"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := startFake(t, func(s *fakeConn) {
				s.handshake()
				tt.serve(s, s.expect("test-command"))
			})
			c := dialFake(t, path)
			events, cancel := c.Subscribe(nil)
			defer cancel()

			var got json.RawMessage
			err := c.Execute(context.Background(), "test-command", map[string]any{"a": 1}, &got)
			if tt.wantErr != nil {
				var qe *Error
				if !errors.As(err, &qe) || *qe != *tt.wantErr {
					t.Fatalf("Execute error = %v, want %v", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), "test-command") {
					t.Errorf("error %q does not name the command", err)
				}
			} else if err != nil {
				t.Fatalf("Execute: %v", err)
			}
			if tt.wantErr == nil && string(got) != tt.wantRet {
				t.Errorf("return = %.80q (len %d), want %.80q (len %d)", got, len(got), tt.wantRet, len(tt.wantRet))
			}
			if diff := cmp.Diff(tt.wantStats, c.Stats()); diff != "" {
				t.Errorf("stats (-want +got):\n%s", diff)
			}
			if tt.wantEvent != "" {
				select {
				case ev := <-events:
					if ev.Name != tt.wantEvent || !ev.Time.Equal(time.Unix(1, 2000)) {
						t.Errorf("event = %+v, want %s at 1.000002", ev, tt.wantEvent)
					}
				default:
					t.Errorf("event %s not delivered before the reply", tt.wantEvent)
				}
			}
		})
	}
}

func TestExecuteArguments(t *testing.T) {
	got := make(chan fakeCmd, 3)
	path := startFake(t, func(s *fakeConn) {
		s.handshake()
		for range 3 {
			c, ok := s.read()
			if !ok {
				return
			}
			got <- c
			s.reply(c, "{}")
		}
	})
	c := dialFake(t, path)
	ctx := context.Background()
	var nilMap map[string]any
	for _, args := range []any{nil, nilMap, map[string]any{"id": "x", "size": 1 << 30}} {
		if err := c.Execute(ctx, "cmd", args, nil); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"", "", `{"id":"x","size":1073741824}`}
	for i, w := range want {
		if a := string((<-got).Arguments); a != w {
			t.Errorf("command %d arguments = %s, want %q", i, a, w)
		}
	}
}

func TestExecuteOutOfOrderAndConcurrent(t *testing.T) {
	// The server collects 8 commands, then answers them in reverse order, echoing the
	// arguments, so each goroutine can check it got its own reply.
	const workers, rounds = 8, 25
	path := startFake(t, func(s *fakeConn) {
		s.handshake()
		for {
			var batch []fakeCmd
			for range workers {
				c, ok := s.read()
				if !ok {
					return
				}
				batch = append(batch, c)
			}
			for i := len(batch) - 1; i >= 0; i-- {
				s.reply(batch[i], string(batch[i].Arguments))
			}
		}
	})
	c := dialFake(t, path)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for r := range rounds {
				want := map[string]int{"worker": w, "round": r}
				var got map[string]int
				if err := c.Execute(context.Background(), "echo", want, &got); err != nil {
					t.Errorf("worker %d round %d: %v", w, r, err)
					return
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("worker %d round %d: reply (-want +got):\n%s", w, r, diff)
				}
			}
		})
	}
	wg.Wait()
}

func TestExecuteTimeout(t *testing.T) {
	late := make(chan fakeCmd, 2)
	path := startFake(t, func(s *fakeConn) {
		s.handshake()
		for range 2 { // never answered in time
			late <- s.expect("slow")
		}
		c := s.expect("after")
		for range 2 {
			s.reply(<-late, "{}") // now too late
		}
		s.reply(c, `"fine"`)
	})
	c := dialFake(t, path, WithDefaultTimeout(200*time.Millisecond))

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	for _, ctx := range []context.Context{ctx, context.Background()} { // explicit, then default
		start := time.Now()
		err := c.Execute(ctx, "slow", nil, nil)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Execute error = %v, want DeadlineExceeded", err)
		}
		if el := time.Since(start); el > 2*time.Second {
			t.Errorf("Execute took %v", el)
		}
	}
	var s string
	if err := c.Execute(context.Background(), "after", nil, &s); err != nil || s != "fine" {
		t.Fatalf("Execute after timeouts = %q, %v; want fine", s, err)
	}
	if got := c.Stats().LateReplies; got != 2 {
		t.Errorf("LateReplies = %d, want 2", got)
	}
}

func TestExecuteCancel(t *testing.T) {
	received := make(chan struct{})
	path := startFake(t, func(s *fakeConn) {
		s.handshake()
		s.expect("hang")
		close(received)
	})
	c := dialFake(t, path)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- c.Execute(ctx, "hang", nil, nil) }()
	<-received
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Execute error = %v, want Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Execute did not return after cancel")
	}
}

func TestServerCloses(t *testing.T) {
	path := startFake(t, func(s *fakeConn) {
		s.handshake()
		s.expect("pending")
		s.send(`{"event": "SHUTDOWN", "data": {"guest": false}}`)
		s.conn.Close()
	})
	c := dialFake(t, path)
	events, cancel := c.Subscribe(nil)
	defer cancel()

	err := c.Execute(context.Background(), "pending", nil, nil)
	if !errors.Is(err, ErrClosed) || !errors.Is(err, io.EOF) {
		t.Errorf("pending Execute error = %v, want ErrClosed and EOF", err)
	}
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed after EOF")
	}
	if !errors.Is(c.Err(), ErrClosed) {
		t.Errorf("Err() = %v, want ErrClosed", c.Err())
	}
	if err := c.Execute(context.Background(), "later", nil, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("later Execute error = %v, want ErrClosed", err)
	}
	// The buffered event is still delivered, then the channel is closed.
	if ev, ok := <-events; !ok || ev.Name != "SHUTDOWN" {
		t.Errorf("first event = %+v, %v; want SHUTDOWN", ev, ok)
	}
	if ev, ok := <-events; ok {
		t.Errorf("event channel still open, got %+v", ev)
	}
	if ch, _ := c.Subscribe(nil); ch != nil {
		if _, ok := <-ch; ok {
			t.Error("Subscribe after the end returned an open channel")
		}
	}
	if _, err := c.WaitEvent(context.Background(), "X", nil); !errors.Is(err, ErrClosed) {
		t.Errorf("WaitEvent after the end = %v, want ErrClosed", err)
	}
}

func TestClientClose(t *testing.T) {
	path := startFake(t, func(s *fakeConn) { s.handshake() })
	c := dialFake(t, path)
	if c.Err() != nil {
		t.Fatalf("Err() = %v before Close", c.Err())
	}
	c.Close()
	c.Close() // idempotent
	<-c.Done()
	if !errors.Is(c.Err(), ErrClosed) {
		t.Errorf("Err() = %v, want ErrClosed", c.Err())
	}
	if err := c.Execute(context.Background(), "x", nil, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Execute after Close = %v, want ErrClosed", err)
	}
}

func TestMessageTooLong(t *testing.T) {
	path := startFake(t, func(s *fakeConn) {
		s.handshake()
		s.reply(s.expect("big"), `"`+strings.Repeat("z", 4096)+`"`)
	})
	c := dialFake(t, path, WithMaxMessageSize(1024))
	err := c.Execute(context.Background(), "big", nil, nil)
	if !errors.Is(err, ErrClosed) || !strings.Contains(err.Error(), "longer than 1024 bytes") {
		t.Errorf("Execute error = %v, want ErrClosed with the size limit", err)
	}
}

func TestSlowSubscriberDoesNotBlockReplies(t *testing.T) {
	const flood = 500
	path := startFake(t, func(s *fakeConn) {
		s.handshake()
		c := s.expect("go")
		for i := range flood {
			s.send(fmt.Sprintf(`{"event": "TICK", "data": {"n": %d}}`, i))
		}
		s.send(`{"event": "WANTED", "data": {"device": "d1"}}`)
		s.reply(c, "{}")
	})
	c := dialFake(t, path, WithEventBuffer(4))
	_, cancelStuck := c.Subscribe(nil) // never read
	defer cancelStuck()
	wanted := c.Expect("WANTED", nil)
	defer wanted.Cancel()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Execute(ctx, "go", nil, nil); err != nil {
		t.Fatalf("Execute with a stuck subscriber: %v", err)
	}
	ev, err := wanted.Wait(ctx)
	if err != nil || ev.DataString("device") != "d1" {
		t.Fatalf("Wait = %+v, %v; want WANTED for d1", ev, err)
	}
	// The stuck subscriber kept 4 events and lost the other flood+1-4.
	if got, want := c.Stats().DroppedEvents, uint64(flood+1-4); got != want {
		t.Errorf("DroppedEvents = %d, want %d", got, want)
	}
}

func TestDeviceDelFake(t *testing.T) {
	tests := []struct {
		name    string
		serve   func(s *fakeConn, c fakeCmd)
		wantErr error
	}{
		{
			// QEMU emits DEVICE_DELETED before the reply for devices removed at once.
			name: "event before the reply",
			serve: func(s *fakeConn, c fakeCmd) {
				s.send(`{"event": "DEVICE_DELETED", "data": {"path": "/machine/peripheral/d1/virtio-backend"}}`)
				s.send(`{"event": "DEVICE_DELETED", "data": {"device": "d1", "path": "/machine/peripheral/d1"}}`)
				s.reply(c, "{}")
			},
		},
		{
			name: "event after the reply",
			serve: func(s *fakeConn, c fakeCmd) {
				s.reply(c, "{}")
				s.send(`{"event": "DEVICE_DELETED", "data": {"device": "d1", "path": "/machine/peripheral/d1"}}`)
			},
		},
		{
			name: "other device only",
			serve: func(s *fakeConn, c fakeCmd) {
				s.reply(c, "{}")
				s.send(`{"event": "DEVICE_DELETED", "data": {"device": "d2", "path": "/machine/peripheral/d2"}}`)
			},
			wantErr: context.DeadlineExceeded,
		},
		{
			name: "refused",
			serve: func(s *fakeConn, c fakeCmd) {
				s.send(fmt.Sprintf(`{"error": {"class": "DeviceNotFound", "desc": "Device 'd1' not found"}, "id": %s}`, c.ID))
			},
			wantErr: &Error{Class: "DeviceNotFound", Desc: "Device 'd1' not found"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := startFake(t, func(s *fakeConn) {
				s.handshake()
				c := s.expect("device_del")
				if string(c.Arguments) != `{"id":"d1"}` {
					t.Errorf("device_del arguments = %s", c.Arguments)
				}
				tt.serve(s, c)
			})
			c := dialFake(t, path)
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			err := c.DeviceDel(ctx, "d1")
			var want *Error
			switch {
			case tt.wantErr == nil:
				if err != nil {
					t.Errorf("DeviceDel: %v", err)
				}
			case errors.As(tt.wantErr, &want):
				var qe *Error
				if !errors.As(err, &qe) || *qe != *want {
					t.Errorf("DeviceDel error = %v, want %v", err, want)
				}
			case !errors.Is(err, tt.wantErr):
				t.Errorf("DeviceDel error = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestSendFDFake(t *testing.T) {
	type received struct {
		cmd  fakeCmd
		stat syscall.Stat_t
		nfd  int
	}
	got := make(chan received, 1)
	path := startFake(t, func(s *fakeConn) {
		s.handshake()
		buf := make([]byte, 4096)
		oob := make([]byte, syscall.CmsgSpace(4*4))
		n, oobn, _, _, err := s.conn.ReadMsgUnix(buf, oob)
		if err != nil {
			t.Errorf("fake server: ReadMsgUnix: %v", err)
			return
		}
		var r received
		if err := json.Unmarshal(buf[:n], &r.cmd); err != nil {
			t.Errorf("fake server: %v", err)
		}
		msgs, err := syscall.ParseSocketControlMessage(oob[:oobn])
		if err != nil || len(msgs) != 1 {
			t.Errorf("fake server: control messages %v, %v", msgs, err)
		} else if fds, err := syscall.ParseUnixRights(&msgs[0]); err != nil {
			t.Errorf("fake server: %v", err)
		} else {
			r.nfd = len(fds)
			for _, fd := range fds {
				if err := syscall.Fstat(fd, &r.stat); err != nil {
					t.Errorf("fake server: fstat: %v", err)
				}
				syscall.Close(fd)
			}
		}
		got <- r
		s.reply(r.cmd, "{}")
	})
	c := dialFake(t, path)
	f, err := os.Open("/dev/null")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := c.SendFD(context.Background(), "null0", f); err != nil {
		t.Fatalf("SendFD: %v", err)
	}
	r := <-got
	var want syscall.Stat_t
	if err := syscall.Stat("/dev/null", &want); err != nil {
		t.Fatal(err)
	}
	if r.cmd.Execute != "getfd" || string(r.cmd.Arguments) != `{"fdname":"null0"}` {
		t.Errorf("command = %s %s, want getfd {\"fdname\":\"null0\"}", r.cmd.Execute, r.cmd.Arguments)
	}
	if r.nfd != 1 || r.stat.Rdev != want.Rdev || r.stat.Ino != want.Ino {
		t.Errorf("received %d fds, rdev %d ino %d; want 1 fd of /dev/null (rdev %d ino %d)",
			r.nfd, r.stat.Rdev, r.stat.Ino, want.Rdev, want.Ino)
	}
	// The caller's file is untouched.
	if _, err := f.Stat(); err != nil {
		t.Errorf("caller's file unusable after SendFD: %v", err)
	}
}

func TestEventData(t *testing.T) {
	tests := []struct {
		data json.RawMessage
		key  string
		want string
	}{
		{json.RawMessage(`{"device": "d1", "path": "/p"}`), "device", "d1"},
		{json.RawMessage(`{"path": "/p"}`), "device", ""},
		{json.RawMessage(`{"device": 3}`), "device", ""},
		{nil, "device", ""},
	}
	for _, tt := range tests {
		if got := (Event{Name: "E", Data: tt.data}).DataString(tt.key); got != tt.want {
			t.Errorf("DataString(%s) on %s = %q, want %q", tt.key, tt.data, got, tt.want)
		}
	}
	var v struct{ Device string }
	if err := (Event{Data: json.RawMessage(`{"device": "d1"}`)}).Decode(&v); err != nil || v.Device != "d1" {
		t.Errorf("Decode = %+v, %v", v, err)
	}
	if err := (Event{Name: "E"}).Decode(&v); err == nil {
		t.Error("Decode of an event without data succeeded")
	}
}

func TestReadLine(t *testing.T) {
	long := strings.Repeat("a", 200<<10)
	tests := []struct {
		name    string
		in      string
		max     int
		want    []string
		wantErr error // after the lines in want
	}{
		{"crlf and lf", "{\"a\":1}\r\n{}\n", 1 << 20, []string{`{"a":1}`, `{}`}, io.EOF},
		{"longer than the read buffer", long + "\r\nx\n", 1 << 20, []string{long, "x"}, io.EOF},
		{"eof inside a message", "{}\n{\"partial\"", 1 << 20, []string{`{}`}, io.ErrUnexpectedEOF},
		{"exactly max", "abcd\r\n", 4, []string{"abcd"}, io.EOF},
		{"over max", "abcde\r\n", 4, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := bufio.NewReaderSize(strings.NewReader(tt.in), 16)
			var got []string
			var err error
			for {
				var line []byte
				if line, err = readLine(r, tt.max); err != nil {
					break
				}
				got = append(got, string(line))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("lines (-want +got):\n%s", diff)
			}
			switch {
			case tt.wantErr == nil:
				if err == nil || !strings.Contains(err.Error(), "longer than") {
					t.Errorf("error = %v, want a size error", err)
				}
			case !errors.Is(err, tt.wantErr):
				t.Errorf("error = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestExpectationCancelled(t *testing.T) {
	path := startFake(t, func(s *fakeConn) { s.handshake() })
	c := dialFake(t, path)
	x := c.Expect("X", nil)
	x.Cancel()
	x.Cancel()
	if _, err := x.Wait(context.Background()); err == nil || errors.Is(err, ErrClosed) {
		t.Errorf("Wait after Cancel = %v, want a cancellation error", err)
	}
}
