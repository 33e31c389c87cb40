// Package guestagent is the guest side of Berth's guest agent for the Tiny image: a
// small program that speaks the QEMU guest agent (QGA) JSON protocol over the
// virtio-serial port org.qemu.guest_agent.0, for the commands Berth uses (sync, ping,
// info, set-user-password, fsfreeze, exec). Debian guests run QEMU's own qemu-ga; the
// host side (internal/hypervisor/qemu) talks to both the same way.
package guestagent

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// maxRequest is the longest request accepted; a longer one is dropped.
const maxRequest = 1 << 20

// delimiter is the byte that resets the parser (sent by the host before a sync) and that
// precedes the reply of guest-sync-delimited.
const delimiter = 0xff

// splitter cuts a byte stream into JSON objects: it tracks braces outside strings, and a
// delimiter byte drops what was read of the current object.
type splitter struct {
	r       *bufio.Reader
	buf     []byte
	depth   int
	inStr   bool
	escaped bool
}

func newSplitter(r io.Reader) *splitter { return &splitter{r: bufio.NewReader(r)} }

// next returns the next complete top-level JSON object.
func (s *splitter) next() ([]byte, error) {
	for {
		c, err := s.r.ReadByte()
		if err != nil {
			return nil, err
		}
		if c == delimiter {
			s.reset()
			continue
		}
		if s.depth == 0 && c != '{' {
			continue // whitespace or garbage between objects
		}
		s.buf = append(s.buf, c)
		switch {
		case s.inStr && s.escaped:
			s.escaped = false
		case s.inStr && c == '\\':
			s.escaped = true
		case c == '"':
			s.inStr = !s.inStr
		case s.inStr:
		case c == '{' || c == '[':
			s.depth++
		case c == '}' || c == ']':
			s.depth--
			if s.depth == 0 {
				obj := s.buf
				s.buf = nil
				s.reset()
				return obj, nil
			}
		}
		if len(s.buf) > maxRequest {
			s.reset()
		}
	}
}

func (s *splitter) reset() {
	s.buf, s.depth, s.inStr, s.escaped = s.buf[:0], 0, false, false
}

// request is one QGA command.
type request struct {
	Execute   string          `json:"execute"`
	Arguments json.RawMessage `json:"arguments"`
	ID        json.RawMessage `json:"id,omitempty"`
}

// qgaError is an error reply.
type qgaError struct {
	Class string `json:"class"`
	Desc  string `json:"desc"`
}

func (e *qgaError) Error() string { return e.Class + ": " + e.Desc }

// errorf is a GenericError reply.
func errorf(format string, args ...any) error {
	return &qgaError{Class: "GenericError", Desc: fmt.Sprintf(format, args...)}
}

// reply encodes the reply to req: its return value or its error, then a newline. The
// reply of guest-sync-delimited starts with the delimiter byte.
func reply(req request, ret any, err error) []byte {
	m := map[string]any{}
	var qe *qgaError
	switch {
	case errors.As(err, &qe):
		m["error"] = qe
	case err != nil:
		m["error"] = &qgaError{Class: "GenericError", Desc: err.Error()}
	case ret == nil:
		m["return"] = struct{}{}
	default:
		m["return"] = ret
	}
	if len(req.ID) > 0 {
		m["id"] = req.ID
	}
	b, _ := json.Marshal(m) // maps, strings, numbers: cannot fail
	b = append(b, '\n')
	if req.Execute == "guest-sync-delimited" {
		b = append([]byte{delimiter}, b...)
	}
	return b
}

// decodeArgs decodes req's arguments into v; missing arguments leave v zero.
func decodeArgs(req request, v any) error {
	if len(bytes.TrimSpace(req.Arguments)) == 0 || string(req.Arguments) == "null" {
		return nil
	}
	if err := json.Unmarshal(req.Arguments, v); err != nil {
		return &qgaError{Class: "GenericError", Desc: "invalid arguments: " + err.Error()}
	}
	return nil
}
