// Command berth-guest-agent is the guest agent of the Berth Tiny image (see package
// guestagent): it serves the QGA protocol on virtio-serial port org.qemu.guest_agent.0.
package main

import (
	"context"
	"log"
	"log/syslog"
	"os"
	"os/signal"
	"syscall"

	"github.com/berth-io/berth/internal/guestagent"
)

func main() {
	l := log.New(os.Stderr, "berth-guest-agent: ", 0)
	if w, err := syslog.New(syslog.LOG_DAEMON|syslog.LOG_INFO, "berth-guest-agent"); err == nil {
		l = log.New(w, "", 0) // not the console: tests read it
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	err := guestagent.New(guestagent.Config{Log: l}).Run(ctx, "/sys", "/dev")
	if err != nil && ctx.Err() == nil {
		l.Printf("%v", err)
		os.Exit(1)
	}
}
