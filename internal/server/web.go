package server

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"

	"github.com/berth-io/berth/internal/hypervisor"
	"github.com/berth-io/berth/internal/web"
)

// registerWeb adds the web console (GET / and its pages) and the events stream
// (GET /v1/events) to the API's mux.
func (d *Daemon) registerWeb(mux *http.ServeMux) {
	opt := web.Options{Log: d.log}
	if d.be != nil {
		if cons, ok := d.be.hv.(hypervisor.Consoler); ok {
			opt.Console = func(ctx context.Context, id int64) (net.Conn, error) {
				var dl net.Dialer
				c, err := dl.DialContext(ctx, "unix", cons.ConsolePath(id))
				if err != nil {
					return nil, fmt.Errorf("vm %d console: %w", id, err)
				}
				return c, nil
			}
			opt.ConsoleLog = func(id int64) string { return filepath.Join(filepath.Dir(cons.ConsolePath(id)), "console.log") }
		}
	}
	w, err := web.New(d.svc, opt)
	if err != nil { // the templates are embedded: a parse error is a build bug
		panic(err)
	}
	w.Register(mux)
	d.web = w
}

// startEvents runs the event hub of this API server and ends the streams and consoles
// when the HTTP server shuts down (they would hold Shutdown until its deadline).
func (d *Daemon) startEvents(ctx context.Context) {
	go d.svc.Events().Run(ctx)
	d.http.RegisterOnShutdown(func() {
		d.svc.Events().CloseAll()
		if d.web != nil {
			d.web.Close()
		}
	})
}
