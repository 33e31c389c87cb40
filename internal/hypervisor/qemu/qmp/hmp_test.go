package qmp

import (
	"context"
	"encoding/json"
	"testing"
	"time"
)

func TestInByteFake(t *testing.T) {
	tests := []struct {
		reply   string
		want    byte
		wantErr bool
	}{
		{reply: `"portb[0xafe2] = 0x0e\r\n"`, want: 0x0e},
		{reply: `"portb[0xafe2] = 0x00\r\n"`, want: 0},
		{reply: `"portb[0xafe2] = 0xff"`, want: 0xff},
		{reply: `"unknown command: 'i'\r\n"`, wantErr: true},
		{reply: `"portb[0xafe2] = 0x1ff\r\n"`, wantErr: true},
	}
	for _, tt := range tests {
		path := startFake(t, func(s *fakeConn) {
			s.handshake()
			c := s.expect("human-monitor-command")
			var args map[string]string
			if err := json.Unmarshal(c.Arguments, &args); err != nil || args["command-line"] != "i /b 0xafe2" {
				t.Errorf("human-monitor-command arguments %s, want command-line \"i /b 0xafe2\"", c.Arguments)
			}
			s.reply(c, tt.reply)
		})
		c := dialFake(t, path)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		got, err := c.InByte(ctx, 0xafe2)
		cancel()
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("InByte with reply %s = %#x, %v; want %#x, error %v", tt.reply, got, err, tt.want, tt.wantErr)
		}
	}
}
