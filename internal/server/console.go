package server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
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
	var cons hypervisor.Consoler
	if d.be != nil {
		cons, _ = d.be.hv.(hypervisor.Consoler)
	}
	if cons == nil {
		http.Error(w, fmt.Sprintf("vm %d has no console here: the %s backend runs no VM, or this berthd is not its host", id, d.cfg.Backend), http.StatusConflict)
		return
	}
	if vm.VM.State != api.VMRunning {
		http.Error(w, fmt.Sprintf("vm %d is %s: its console exists while it runs", id, vm.VM.State), http.StatusConflict)
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
	d.log.Info("console attached", "vm", id, "account", c.Handle, "remote", r.RemoteAddr)
	fmt.Fprint(rw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: berth-console\r\nConnection: Upgrade\r\n\r\n")
	if err := rw.Flush(); err != nil {
		conn.Close()
		sock.Close()
		return
	}
	splice(conn, rw.Reader, sock)
	d.log.Info("console detached", "vm", id, "account", c.Handle)
}

// splice copies both ways until either side closes, then closes both.
func splice(conn net.Conn, buffered *bufio.Reader, sock net.Conn) {
	done := make(chan struct{}, 2)
	go func() { io.Copy(sock, buffered); done <- struct{}{} }() // buffered holds what came with the request
	go func() { io.Copy(conn, sock); done <- struct{}{} }()
	<-done
	conn.Close()
	sock.Close()
	<-done
}
