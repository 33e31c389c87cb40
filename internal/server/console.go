package server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/hypervisor"
)

// consoleHandler serves GET /api/console/{id}: an authenticated upgrade of the HTTP
// connection to a raw stream joined to the VM's serial console.
//
// Request: `Authorization: Bearer <apikey>`, `Connection: Upgrade`, `Upgrade:
// berth-console`. Answers: 101 then raw bytes both ways; 401 for a bad key; 404 when the VM
// is not the account's; 409 when it has no console now (halted, or a backend without
// consoles). QEMU's console socket takes one client at a time: a second one waits.
func (d *Daemon) consoleHandler(w http.ResponseWriter, r *http.Request) {
	key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		http.Error(w, "missing Authorization: Bearer <api key>", http.StatusUnauthorized)
		return
	}
	c, err := d.svc.Auth(r.Context(), strings.TrimSpace(key))
	if err != nil {
		http.Error(w, "invalid API key", http.StatusUnauthorized)
		return
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		http.Error(w, "bad vm id", http.StatusBadRequest)
		return
	}
	vm, err := d.svc.VMInfo(r.Context(), c, id)
	if err != nil {
		http.Error(w, fmt.Sprintf("vm %d not found", id), http.StatusNotFound)
		return
	}
	if !strings.EqualFold(r.Header.Get("Upgrade"), "berth-console") {
		http.Error(w, "want Upgrade: berth-console", http.StatusUpgradeRequired)
		return
	}
	if vm.VM.State != api.VMRunning {
		http.Error(w, fmt.Sprintf("vm %d is %s: its console exists while it runs", id, vm.VM.State), http.StatusConflict)
		return
	}
	if d.be == nil || d.opt.Role == RoleAgent {
		// An API server: the VM's host serves its console; proxy to it.
		d.proxyConsole(w, r, c, id)
		return
	}
	d.serveConsole(w, r, id, c.Handle)
}

// serveConsole joins the request's connection to the console of a VM of this host.
func (d *Daemon) serveConsole(w http.ResponseWriter, r *http.Request, id int64, who string) {
	var cons hypervisor.Consoler
	if d.be != nil {
		cons, _ = d.be.hv.(hypervisor.Consoler)
	}
	if cons == nil {
		http.Error(w, fmt.Sprintf("vm %d has no console here: the %s backend runs no VM", id, d.cfg.Backend), http.StatusConflict)
		return
	}
	sock, err := net.DialTimeout("unix", cons.ConsolePath(id), 5*time.Second)
	if err != nil {
		http.Error(w, fmt.Sprintf("vm %d console: %v", id, err), http.StatusConflict)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		sock.Close()
		http.Error(w, "connection cannot be upgraded", http.StatusInternalServerError)
		return
	}
	conn, rw, err := hj.Hijack()
	if err != nil {
		sock.Close()
		return
	}
	d.log.Info("console attached", "vm", id, "account", who, "remote", r.RemoteAddr)
	fmt.Fprint(rw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: berth-console\r\nConnection: Upgrade\r\n\r\n")
	if err := rw.Flush(); err != nil {
		conn.Close()
		sock.Close()
		return
	}
	splice(conn, rw.Reader, sock)
	d.log.Info("console detached", "vm", id, "account", who)
}

// splice copies both ways until either side closes. When the client's input ends first,
// the console's output keeps flowing to it until the console has been quiet for a moment
// (at most a few seconds), so `echo cmd | berth vm console` gets the command's output.
func splice(conn net.Conn, buffered *bufio.Reader, sock net.Conn) {
	var drainUntil atomic.Int64 // unix nanoseconds; 0 while the client still sends
	toClient := make(chan struct{})
	go func() {
		defer close(toClient)
		buf := make([]byte, 32<<10)
		for {
			n, err := sock.Read(buf)
			if n > 0 {
				if _, err := conn.Write(buf[:n]); err != nil {
					return
				}
			}
			if err != nil {
				return
			}
			if end := drainUntil.Load(); end != 0 {
				sock.SetReadDeadline(minTime(time.Now().Add(consoleQuiet), time.Unix(0, end)))
			}
		}
	}()
	go func() { <-toClient; conn.Close() }() // the console closed: stop reading the client
	io.Copy(sock, buffered)                  // buffered holds what came with the request
	end := time.Now().Add(consoleDrainMax)
	drainUntil.Store(end.UnixNano())
	sock.SetReadDeadline(minTime(time.Now().Add(consoleQuiet), end))
	<-toClient
	conn.Close()
	sock.Close()
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// Console drain: how long the console must be quiet, and how long at most its output is
// still sent, after the client's input ended.
const (
	consoleQuiet    = 500 * time.Millisecond
	consoleDrainMax = 5 * time.Second
)
