package qmp

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// HumanMonitorCommand runs one command of the human monitor (human-monitor-command)
// and returns its output.
func (c *Client) HumanMonitorCommand(ctx context.Context, line string) (string, error) {
	var out string
	err := c.Execute(ctx, "human-monitor-command", map[string]any{"command-line": line}, &out)
	return out, err
}

// InByte reads one byte from I/O port port as the guest would (the human monitor's
// "i /b"). Reading a register with read side effects triggers them: use it only on
// registers that have none, such as an ACPI GPE enable register.
func (c *Client) InByte(ctx context.Context, port uint16) (byte, error) {
	out, err := c.HumanMonitorCommand(ctx, fmt.Sprintf("i /b 0x%x", port))
	if err != nil {
		return 0, err
	}
	// "portb[0xafe2] = 0x0e"
	_, val, ok := strings.Cut(strings.TrimSpace(out), "=")
	if !ok {
		return 0, fmt.Errorf("qmp i /b 0x%x: unexpected output %q", port, out)
	}
	n, err := strconv.ParseUint(strings.TrimSpace(val), 0, 8)
	if err != nil {
		return 0, fmt.Errorf("qmp i /b 0x%x: unexpected output %q", port, out)
	}
	return byte(n), nil
}
