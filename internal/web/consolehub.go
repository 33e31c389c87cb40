package web

import (
	"context"
	"io"
	"net"
	"os"
	"sync"
)

// consoleHub shares one VM's serial console among its viewers: QEMU's console socket takes
// one client at a time, so the hub holds the one connection, copies the console's output to
// every viewer and writes every viewer's input to it. It closes the socket when the last
// viewer leaves.
type consoleHub struct {
	s    *Server
	id   int64
	conn net.Conn

	mu      sync.Mutex
	viewers map[*viewer]struct{}
	done    bool
}

// viewer is one browser tab on a console.
type viewer struct {
	out  chan []byte
	gone chan struct{}
	once sync.Once
}

func (v *viewer) close() { v.once.Do(func() { close(v.gone) }) }

// join adds a viewer to the VM's hub, dialing the console for the first one.
func (s *Server) join(ctx context.Context, id int64) (*consoleHub, *viewer, error) {
	s.hubsMu.Lock()
	defer s.hubsMu.Unlock()
	h := s.hubs[id]
	if h == nil {
		conn, err := s.opt.Console(ctx, id)
		if err != nil {
			return nil, nil, err
		}
		h = &consoleHub{s: s, id: id, conn: conn, viewers: map[*viewer]struct{}{}}
		s.hubs[id] = h
		go h.read()
	}
	v := &viewer{out: make(chan []byte, 256), gone: make(chan struct{})}
	h.mu.Lock()
	h.viewers[v] = struct{}{}
	h.mu.Unlock()
	return h, v, nil
}

// leave removes a viewer; the last one closes the console connection.
func (h *consoleHub) leave(v *viewer) {
	v.close()
	h.s.hubsMu.Lock()
	defer h.s.hubsMu.Unlock()
	h.mu.Lock()
	delete(h.viewers, v)
	last := len(h.viewers) == 0
	h.mu.Unlock()
	if last && h.s.hubs[h.id] == h {
		delete(h.s.hubs, h.id)
		h.conn.Close()
	}
}

func (h *consoleHub) write(b []byte) error {
	_, err := h.conn.Write(b)
	return err
}

// read copies the console's output to every viewer; a viewer too slow to keep up is
// disconnected (it reconnects and gets the log tail).
func (h *consoleHub) read() {
	buf := make([]byte, 16<<10)
	for {
		n, err := h.conn.Read(buf)
		if n > 0 {
			b := append([]byte(nil), buf[:n]...)
			h.mu.Lock()
			for v := range h.viewers {
				select {
				case v.out <- b:
				default:
					v.close()
				}
			}
			h.mu.Unlock()
		}
		if err != nil {
			break
		}
	}
	h.s.hubsMu.Lock()
	if h.s.hubs[h.id] == h {
		delete(h.s.hubs, h.id)
	}
	h.s.hubsMu.Unlock()
	h.mu.Lock()
	for v := range h.viewers {
		v.close()
	}
	h.done = true
	h.mu.Unlock()
	h.conn.Close()
}

// closeConsoles ends every console session (at shutdown).
func (s *Server) closeConsoles() {
	s.hubsMu.Lock()
	defer s.hubsMu.Unlock()
	for id, h := range s.hubs {
		h.conn.Close()
		delete(s.hubs, id)
	}
}

// logTail returns the last n bytes of a VM's console log, starting at a line.
func (s *Server) logTail(id int64, n int64) []byte {
	if s.opt.ConsoleLog == nil {
		return nil
	}
	f, err := os.Open(s.opt.ConsoleLog(id))
	if err != nil {
		return nil
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil
	}
	off := max(st.Size()-n, 0)
	b, err := io.ReadAll(io.NewSectionReader(f, off, st.Size()-off))
	if err != nil {
		return nil
	}
	if off > 0 {
		for i, c := range b {
			if c == '\n' {
				return b[i+1:]
			}
		}
	}
	return b
}
