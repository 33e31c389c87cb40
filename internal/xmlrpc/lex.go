package xmlrpc

import (
	"encoding/base64"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// parseTime parses a dateTime.iso8601 value in any accepted layout, with an
// optional Z or numeric offset. The result is in UTC, truncated to the second
// (the wire precision), with a year in 0..9999.
func parseTime(s string) (time.Time, bool) {
	layouts := [...]string{
		"20060102T15:04:05",
		"2006-01-02T15:04:05",
		"20060102T150405",
		"2006-01-02T150405",
	}
	for _, base := range layouts {
		for _, zone := range [...]string{"", "Z07:00", "Z0700"} {
			t, err := time.Parse(base+zone, s)
			if err != nil {
				continue
			}
			t = t.UTC().Truncate(time.Second)
			if y := t.Year(); y < 0 || y > 9999 {
				return time.Time{}, false
			}
			return t, true
		}
	}
	return time.Time{}, false
}

// parseBase64 decodes standard base64, ignoring white space and tolerating
// missing padding. The result is never nil.
func parseBase64(s string) ([]byte, bool) {
	clean := strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\r', '\n':
			return -1
		}
		return r
	}, s)
	b, err := base64.StdEncoding.DecodeString(clean)
	if err != nil {
		if b, err = base64.RawStdEncoding.DecodeString(clean); err != nil {
			return nil, false
		}
	}
	if b == nil {
		b = []byte{}
	}
	return b, true
}

// isSpace reports whether b holds only XML white space.
func isSpace(b []byte) bool {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
		default:
			return false
		}
	}
	return true
}

// truncate shortens b for use in an error message.
func truncate(b []byte) string {
	const max = 40
	if len(b) <= max {
		return string(b)
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(b[cut]) {
		cut--
	}
	return string(b[:cut]) + "..."
}

// capReader returns ErrTooLarge once more than limit bytes were read (a
// negative limit means no limit) and remembers the first read error.
type capReader struct {
	r     io.Reader
	left  int64
	limit int64
	err   error
}

func (c *capReader) Read(p []byte) (n int, err error) {
	defer func() {
		if err != nil && err != io.EOF && c.err == nil {
			c.err = err
		}
	}()
	if c.limit < 0 {
		return c.r.Read(p)
	}
	if c.left <= 0 {
		var one [1]byte
		n, err := c.r.Read(one[:])
		if n > 0 {
			return 0, fmt.Errorf("%w: over %d bytes", ErrTooLarge, c.limit)
		}
		return 0, err
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err = c.r.Read(p)
	c.left -= int64(n)
	return n, err
}

// charsetReader accepts the single-byte charsets some clients declare.
func charsetReader(label string, input io.Reader) (io.Reader, error) {
	switch strings.ToLower(label) {
	case "us-ascii", "ascii", "utf8":
		return input, nil
	case "iso-8859-1", "iso8859-1", "latin1", "latin-1":
		return &latin1Reader{r: input}, nil
	}
	return nil, fmt.Errorf("xml: unsupported charset %q", label)
}

// latin1Reader converts ISO-8859-1 to UTF-8.
type latin1Reader struct {
	r   io.Reader
	buf []byte
	out []byte
}

func (l *latin1Reader) Read(p []byte) (int, error) {
	if len(l.out) == 0 {
		if cap(l.buf) == 0 {
			l.buf = make([]byte, 2048)
		}
		n, err := l.r.Read(l.buf)
		for _, c := range l.buf[:n] {
			l.out = utf8.AppendRune(l.out, rune(c))
		}
		if len(l.out) == 0 {
			return 0, err
		}
	}
	n := copy(p, l.out)
	l.out = l.out[n:]
	return n, nil
}
