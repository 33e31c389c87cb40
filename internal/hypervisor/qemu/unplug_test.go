package qemu

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-io/berth/internal/hypervisor/qemu/qmp"
)

// fakeQMP is a client connected to a fake QEMU: handle answers each command (after
// qmp_capabilities) with a raw reply ("return" value or "error" object, as JSON) and
// the events to send after it.
func fakeQMP(t *testing.T, handle func(cmd string, args map[string]any) (reply string, events []string)) *qmp.Client {
	t.Helper()
	cli, srv := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer srv.Close()
		w := func(s string) bool { _, err := fmt.Fprint(srv, s+"\r\n"); return err == nil }
		w(`{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": ""}, "capabilities": []}}`)
		r := bufio.NewReader(srv)
		for {
			line, err := r.ReadBytes('\n')
			if err != nil {
				return
			}
			var c struct {
				Execute   string          `json:"execute"`
				Arguments map[string]any  `json:"arguments"`
				ID        json.RawMessage `json:"id"`
			}
			if err := json.Unmarshal(line, &c); err != nil {
				t.Errorf("fake qmp: %q: %v", line, err)
				return
			}
			reply, events := `{"return": {}}`, []string(nil)
			if c.Execute != "qmp_capabilities" {
				reply, events = handle(c.Execute, c.Arguments)
			}
			msg := strings.TrimSuffix(reply, "}") + fmt.Sprintf(`, "id": %s}`, c.ID)
			if !w(msg) {
				return
			}
			for _, ev := range events {
				w(ev)
			}
		}
	}()
	c, err := qmp.NewClient(context.Background(), cli)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		<-done
	})
	return c
}

// TestUnplugRetries covers unplug against a fake QEMU: the request is repeated until
// the guest releases the device, not sent to a guest that is not ready, and given up
// after unplugTimeout with the device left plugged.
func TestUnplugRetries(t *testing.T) {
	savedRetry, savedTimeout, savedPoll := unplugRetry, unplugTimeout, readyPoll
	unplugRetry, unplugTimeout, readyPoll = 50*time.Millisecond, 2*time.Second, 10*time.Millisecond
	t.Cleanup(func() { unplugRetry, unplugTimeout, readyPoll = savedRetry, savedTimeout, savedPoll })
	const deleted = `{"event": "DEVICE_DELETED", "data": {"device": "vd1", "path": "/machine/peripheral/vd1"}, "timestamp": {"seconds": 1, "microseconds": 0}}`
	tests := []struct {
		name string
		en   string // GPE0 enable register
		// del answers the n-th device_del (from 1).
		del      func(n int) (string, []string)
		wantDels int
		wantErr  string
	}{
		{
			name: "released at the third request",
			en:   "0x0e",
			del: func(n int) (string, []string) {
				if n == 3 {
					return `{"return": {}}`, []string{deleted}
				}
				return `{"return": {}}`, nil
			},
			wantDels: 3,
		},
		{
			name: "older qemu refuses the repeats",
			en:   "0x0e",
			del: func(n int) (string, []string) {
				switch n {
				case 1:
					return `{"return": {}}`, nil
				case 2:
					return `{"error": {"class": "GenericError", "desc": "Device vd1 is already in the process of unplug"}}`, nil
				}
				return `{"error": {"class": "GenericError", "desc": "Device vd1 is already in the process of unplug"}}`, []string{deleted}
			},
			wantDels: 3,
		},
		{
			name: "gone between two requests",
			en:   "0x0e",
			del: func(n int) (string, []string) {
				if n == 2 {
					return `{"error": {"class": "DeviceNotFound", "desc": "Device 'vd1' not found"}}`, nil
				}
				return `{"return": {}}`, nil
			},
			wantDels: 2,
		},
		{
			name:    "never released",
			en:      "0x0e",
			del:     func(int) (string, []string) { return `{"return": {}}`, nil },
			wantErr: "the guest did not release the device",
		},
		{
			name:     "guest not ready",
			en:       "0x00",
			del:      func(int) (string, []string) { return `{"return": {}}`, nil },
			wantDels: 0,
			wantErr:  errGuestNotReady.Error(),
		},
		{
			name:     "other error",
			en:       "0x0e",
			del:      func(int) (string, []string) { return `{"error": {"class": "GenericError", "desc": "boom"}}`, nil },
			wantDels: 1,
			wantErr:  "boom",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			dels := 0
			c := fakeQMP(t, func(cmd string, args map[string]any) (string, []string) {
				switch cmd {
				case "human-monitor-command":
					if args["command-line"] != "i /b 0xafe2" {
						t.Errorf("human monitor command %v", args)
					}
					return fmt.Sprintf(`{"return": "portb[0xafe2] = %s\r\n"}`, tt.en), nil
				case "device_del":
					if args["id"] != "vd1" {
						t.Errorf("device_del %v", args)
					}
					mu.Lock()
					dels++
					n := dels
					mu.Unlock()
					return tt.del(n)
				}
				return `{"error": {"class": "CommandNotFound", "desc": "no"}}`, nil
			})
			err := unplug(context.Background(), c, "vd1", gpePCI)
			mu.Lock()
			n := dels
			mu.Unlock()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("unplug: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("unplug: %v, want an error with %q", err, tt.wantErr)
			}
			if tt.wantErr == errGuestNotReady.Error() && !errors.Is(err, errGuestNotReady) {
				t.Errorf("unplug: %v, want errGuestNotReady", err)
			}
			if tt.name != "never released" && n != tt.wantDels {
				t.Errorf("%d device_del sent, want %d", n, tt.wantDels)
			}
			if tt.name == "never released" && n < 5 {
				t.Errorf("%d device_del sent in %s, want one every %s", n, unplugTimeout, unplugRetry)
			}
		})
	}
}
