// Package qmp is a client for the QEMU Machine Protocol (QMP) over a unix socket.
//
// It replaces github.com/digitalocean/go-qemu/qmp (see deps.md §Q4): messages of any
// size are read (query-qmp-schema is well over 64 KiB), every command has a deadline,
// replies are routed by command id so several goroutines can share one Client, and
// file descriptors can be passed with SCM_RIGHTS (getfd).
//
// # Framing
//
// QEMU writes one JSON object per line ("\r\n" terminated) unless it was started with
// -qmp-pretty, which this package does not support. The reader splits on newlines,
// so a malformed line is counted (Stats.GarbageLines) and skipped without losing the
// messages around it. A single line longer than the maximum message size (16 MiB by
// default, see WithMaxMessageSize) ends the connection with an error.
//
// # Deadlines
//
// Dial and every command are bounded by their context. When the context has no
// deadline, the client's default timeout (10 s, see WithDefaultTimeout) applies. A
// command that times out may still run inside QEMU; its late reply is discarded and
// counted (Stats.LateReplies).
//
// # Events
//
// Events are fanned out to subscribers (Subscribe, Expect, WaitEvent). Each
// subscription has a bounded buffer (64 events by default, see WithEventBuffer) and
// an optional filter that runs on the reader goroutine. When a subscriber's buffer is
// full, the event is dropped for that subscriber only and counted
// (Stats.DroppedEvents): a slow or absent subscriber never delays command replies or
// other subscribers. Filtered subscriptions (Expect) rarely fill up.
//
// An event that QEMU emits before a waiter subscribes is not seen by that waiter. To
// wait for the consequence of a command, subscribe first with Expect, then send the
// command, then Wait; DeviceDel does exactly this for DEVICE_DELETED.
//
// # End of connection
//
// Done is closed when the connection ends: QEMU exited (socket EOF), a read or write
// failed, or Close was called. Err then tells why; it always wraps ErrClosed. Pending
// and later commands fail with an error wrapping ErrClosed, and subscriber channels
// are closed after the events already buffered.
package qmp
