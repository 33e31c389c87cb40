package web

import (
	"bytes"
	"context"
	"net/http"
	"time"

	"github.com/coder/websocket"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/service"
)

// The serial console page: xterm.js over a WebSocket (binary frames both ways). The recent
// console output (the tail of console.log) comes first, then the live console, shared by
// every viewer. The WebSocket takes the session cookie and only the page's own origin.

func (s *Server) consoleRoutes() []route {
	return []route{
		{"GET /vms/{id}/console", s.consolePage},
		{"GET /vms/{id}/console/ws", s.consoleWS},
	}
}

const consoleTail = 64 << 10

func (s *Server) consolePage(w http.ResponseWriter, r *http.Request, c *service.Caller) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	vm, err := s.svc.VMInfo(r.Context(), c, id)
	if err != nil {
		return err
	}
	s.render(w, r, c, "console", vm.VM.Hostname+" console", map[string]any{"VM": vm.VM, "Available": s.opt.Console != nil})
	return nil
}

func (s *Server) consoleWS(w http.ResponseWriter, r *http.Request, c *service.Caller) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	vm, err := s.svc.VMInfo(r.Context(), c, id)
	if err != nil {
		return err
	}
	if s.opt.Console == nil {
		return api.Errorf(api.Unavailable, api.ObjVM, "vm %d has no console on this server", id)
	}
	if vm.VM.State != api.VMRunning {
		return api.Errorf(api.Conflict, api.ObjVM, "vm %d is %s: its console exists while it runs", id, vm.VM.State)
	}
	rc := http.NewResponseController(w) // a console outlives the server's timeouts
	rc.SetReadDeadline(time.Time{})
	rc.SetWriteDeadline(time.Time{})
	ws, err := websocket.Accept(w, r, nil) // nil options: only the request's own host as Origin
	if err != nil {
		return nil // Accept has answered
	}
	defer ws.CloseNow()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	h, v, err := s.join(ctx, id)
	if err != nil {
		ws.Close(websocket.StatusTryAgainLater, "console: "+err.Error())
		return nil
	}
	defer h.leave(v)
	s.log.Info("web console attached", "vm", id, "account", c.Handle)
	if tail := s.logTail(id, consoleTail); len(tail) > 0 {
		tail = bytes.ReplaceAll(bytes.ReplaceAll(tail, []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n"))
		if err := ws.Write(ctx, websocket.MessageBinary, tail); err != nil {
			return nil
		}
	}
	go func() { // input: every frame goes to the console
		defer cancel()
		for {
			_, b, err := ws.Read(ctx)
			if err != nil {
				return
			}
			if h.write(b) != nil {
				return
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-v.gone:
			ws.Close(websocket.StatusGoingAway, "console closed")
			return nil
		case b := <-v.out:
			wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
			err := ws.Write(wctx, websocket.MessageBinary, b)
			wcancel()
			if err != nil {
				return nil
			}
		}
	}
}
