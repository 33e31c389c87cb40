package qmp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
)

// SendFD passes the file descriptor of f (an *os.File, a *net.UnixConn, …) to QEMU
// under name, with the getfd command and SCM_RIGHTS. QEMU keeps its own copy: f can
// be closed afterwards. Commands such as netdev_add {"type":"tap","fd":name} then use
// it; CloseFD releases an unused one. It needs a unix socket connection.
func (c *Client) SendFD(ctx context.Context, name string, f syscall.Conn) error {
	if name == "" {
		return errors.New("qmp getfd: empty fd name")
	}
	if _, ok := c.conn.(*net.UnixConn); !ok {
		return fmt.Errorf("qmp getfd %s: connection is a %T, not a unix socket", name, c.conn)
	}
	fd, err := dupCloexec(f)
	if err != nil {
		return fmt.Errorf("qmp getfd %s: %w", name, err)
	}
	defer syscall.Close(fd) // QEMU has its own copy once the message is sent
	oob := syscall.UnixRights(fd)
	return c.execute(ctx, "getfd", map[string]any{"fdname": name}, nil, oob)
}

// CloseFD closes a descriptor that SendFD passed to QEMU and no device uses.
func (c *Client) CloseFD(ctx context.Context, name string) error {
	return c.Execute(ctx, "closefd", map[string]any{"fdname": name}, nil)
}

// dupCloexec duplicates the descriptor behind f with the close-on-exec flag, so the
// copy is not inherited by children forked meanwhile.
func dupCloexec(f syscall.Conn) (int, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return -1, fmt.Errorf("get raw fd: %w", err)
	}
	fd := -1
	var dupErr error
	err = rc.Control(func(raw uintptr) {
		r, _, errno := syscall.Syscall(syscall.SYS_FCNTL, raw, syscall.F_DUPFD_CLOEXEC, 0)
		if errno != 0 {
			dupErr = errno
			return
		}
		fd = int(r)
	})
	if err != nil {
		return -1, fmt.Errorf("get raw fd: %w", err)
	}
	if dupErr != nil {
		return -1, fmt.Errorf("dup fd: %w", dupErr)
	}
	return fd, nil
}

// writeWithRights writes line with oob as ancillary data on its first byte.
func writeWithRights(conn net.Conn, line, oob []byte) (int, error) {
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return 0, fmt.Errorf("pass fd: connection is a %T, not a unix socket", conn)
	}
	n, _, err := uc.WriteMsgUnix(line, oob, nil)
	if err != nil || n == len(line) {
		return n, err
	}
	// A short stream write: the descriptors went with the first byte; send the rest.
	m, err := uc.Write(line[n:])
	return n + m, err
}
