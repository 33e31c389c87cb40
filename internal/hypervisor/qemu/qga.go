package qemu

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/berth-io/berth/internal/hypervisor"
)

// The QEMU guest agent (QGA) protocol: JSON commands and replies over the virtio-serial
// port org.qemu.guest_agent.0, whose host end is the unix socket qga.sock in the VM's run
// directory. The guest agent keeps no session: a reply left over from an earlier client
// (one that timed out) may still come out of the port, so every connection starts with
// guest-sync-delimited: a 0xFF byte resets the agent's parser, the agent answers with a
// 0xFF byte then {"return": id}, and everything up to that reply is discarded.

// qgaSyncTimeout bounds the sync handshake: an agent that answers does so at once.
const qgaSyncTimeout = 3 * time.Second

// qgaMaxReply is the longest reply accepted.
const qgaMaxReply = 1 << 20

// qgaError is an error reply of the guest agent.
type qgaError struct {
	Class string `json:"class"`
	Desc  string `json:"desc"`
}

func (e *qgaError) Error() string { return "guest agent: " + e.Class + ": " + e.Desc }

// qga is one connection to a guest agent, synchronized.
type qga struct {
	conn net.Conn
	r    *bufio.Reader
}

// dialQGA connects to the guest agent socket path and synchronizes. ctx bounds the
// whole connection's life (the caller closes it).
func dialQGA(ctx context.Context, path string) (*qga, error) {
	var dd net.Dialer
	conn, err := dd.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", hypervisor.ErrNoGuestAgent, err)
	}
	g := &qga{conn: conn, r: bufio.NewReader(conn)}
	if err := g.sync(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	return g, nil
}

func (g *qga) Close() error { return g.conn.Close() }

// sync runs guest-sync-delimited with a random id and discards what comes before its
// reply. Its wait is bounded by qgaSyncTimeout.
func (g *qga) sync(ctx context.Context) error {
	var b [4]byte
	_, _ = rand.Read(b[:])
	id := int64(binary.BigEndian.Uint32(b[:]) >> 1)
	deadline := time.Now().Add(qgaSyncTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = g.conn.SetDeadline(deadline)
	defer func() { _ = g.conn.SetDeadline(time.Time{}) }()
	req, _ := json.Marshal(map[string]any{"execute": "guest-sync-delimited", "arguments": map[string]any{"id": id}})
	if _, err := g.conn.Write(append([]byte{0xff}, append(req, '\n')...)); err != nil {
		return fmt.Errorf("%w: sync: %w", hypervisor.ErrNoGuestAgent, err)
	}
	for {
		// Skip to the delimiter, then read one reply.
		if _, err := g.r.ReadBytes(0xff); err != nil {
			return fmt.Errorf("%w: sync: %w", hypervisor.ErrNoGuestAgent, err)
		}
		var rep struct {
			Return *int64 `json:"return"`
		}
		line, err := g.readReply()
		if err != nil {
			return fmt.Errorf("%w: sync: %w", hypervisor.ErrNoGuestAgent, err)
		}
		if json.Unmarshal(line, &rep) == nil && rep.Return != nil && *rep.Return == id {
			return nil
		}
	}
}

// readReply reads one JSON object, skipping blank space and stray delimiters.
func (g *qga) readReply() ([]byte, error) {
	for {
		line, err := g.r.ReadSlice('\n')
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return nil, err
		}
		buf := append([]byte(nil), line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			if len(buf) > qgaMaxReply {
				return nil, errors.New("reply too long")
			}
			line, err = g.r.ReadSlice('\n')
			if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
				return nil, err
			}
			buf = append(buf, line...)
		}
		buf = bytes.TrimSpace(bytes.Trim(buf, "\xff"))
		if len(buf) > 0 {
			return buf, nil
		}
	}
}

// call runs command with args and decodes its return value into result (if not nil).
func (g *qga) call(ctx context.Context, command string, args, result any) error {
	if d, ok := ctx.Deadline(); ok {
		_ = g.conn.SetDeadline(d)
		defer func() { _ = g.conn.SetDeadline(time.Time{}) }()
	}
	stop := context.AfterFunc(ctx, func() { _ = g.conn.SetDeadline(time.Now()) })
	defer stop()
	req := map[string]any{"execute": command}
	if args != nil {
		req["arguments"] = args
	}
	b, err := json.Marshal(req)
	if err != nil {
		return err
	}
	if _, err := g.conn.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("guest agent %s: %w", command, err)
	}
	line, err := g.readReply()
	if err != nil {
		return fmt.Errorf("guest agent %s: %w", command, err)
	}
	var rep struct {
		Return json.RawMessage `json:"return"`
		Error  *qgaError       `json:"error"`
	}
	if err := json.Unmarshal(line, &rep); err != nil {
		return fmt.Errorf("guest agent %s: bad reply %.80q: %w", command, line, err)
	}
	if rep.Error != nil {
		return fmt.Errorf("%s: %w", command, rep.Error)
	}
	if result != nil && len(rep.Return) > 0 {
		if err := json.Unmarshal(rep.Return, result); err != nil {
			return fmt.Errorf("guest agent %s: bad reply: %w", command, err)
		}
	}
	return nil
}

// qgaInfo is the reply of guest-info.
type qgaInfo struct {
	Version  string `json:"version"`
	Commands []struct {
		Name    string `json:"name"`
		Enabled bool   `json:"enabled"`
	} `json:"supported_commands"`
}

// setPassword runs guest-set-user-password (the agent runs chpasswd in the guest).
func (g *qga) setPassword(ctx context.Context, user, password string) error {
	return g.call(ctx, "guest-set-user-password", map[string]any{
		"username": user, "password": base64.StdEncoding.EncodeToString([]byte(password)), "crypted": false,
	}, nil)
}

// exec runs path with args in the guest through guest-exec and waits for it to exit; a
// non-zero exit is an error quoting its output.
func (g *qga) exec(ctx context.Context, path string, args ...string) error {
	var started struct {
		PID int64 `json:"pid"`
	}
	if err := g.call(ctx, "guest-exec", map[string]any{"path": path, "arg": args, "capture-output": true}, &started); err != nil {
		return err
	}
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		var st struct {
			Exited   bool   `json:"exited"`
			ExitCode int    `json:"exitcode"`
			Signal   int    `json:"signal"`
			OutData  string `json:"out-data"`
			ErrData  string `json:"err-data"`
		}
		if err := g.call(ctx, "guest-exec-status", map[string]any{"pid": started.PID}, &st); err != nil {
			return err
		}
		if st.Exited {
			if st.ExitCode == 0 && st.Signal == 0 {
				return nil
			}
			errOut, _ := base64.StdEncoding.DecodeString(st.ErrData)
			out, _ := base64.StdEncoding.DecodeString(st.OutData)
			out = append(errOut, out...)
			if len(out) > 200 {
				out = out[:200]
			}
			return fmt.Errorf("guest: %s exited with %d (signal %d): %s", path, st.ExitCode, st.Signal, bytes.TrimSpace(out))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("guest: %s: %w", path, ctx.Err())
		case <-t.C:
		}
	}
}

// hostnameScript sets the running hostname and the one the guest keeps for its next
// boots; "$1" is the new name (passed as an argument, never interpolated).
const hostnameScript = `set -e
hostname "$1"
echo "$1" > /etc/hostname.berth && mv /etc/hostname.berth /etc/hostname
if [ -f /etc/hosts ]; then
	short=${1%%.*}
	if [ "$short" = "$1" ]; then names=$1; else names="$1 $short"; fi
	awk -v n="$names" 'BEGIN { done = 0 } $1 == "127.0.1.1" { if (!done) print "127.0.1.1\t" n; done = 1; next } { print } END { if (!done) print "127.0.1.1\t" n }' /etc/hosts > /etc/hosts.berth && cat /etc/hosts.berth > /etc/hosts && rm -f /etc/hosts.berth
fi`

// setHostname sets the guest's hostname with guest-exec of /bin/sh (QGA 7.2 has no
// command for it).
func (g *qga) setHostname(ctx context.Context, name string) error {
	return g.exec(ctx, "/bin/sh", "-c", hostnameScript, "sh", name)
}
