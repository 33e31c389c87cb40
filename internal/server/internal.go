package server

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/berth-io/berth/internal/config"
	"github.com/berth-io/berth/internal/hosttoken"
	"github.com/berth-io/berth/internal/service"
	"github.com/berth-io/berth/internal/store"
)

// The internal listener of an agent serves API servers, never clients: today the console
// of its VMs (GET /internal/v1/vms/{id}/console), each request carrying a short-lived token
// an API server signed (internal/hosttoken). Plain TCP; Options.WrapInternal (listener)
// and Options.DialInternal (API servers) are where TLS with a cluster CA plugs in.

// internalSecret returns the key host tokens are signed with: the file named by the
// configuration's internal_secret, else the cluster's, made once in the database.
func (d *Daemon) internalSecret(ctx context.Context) ([]byte, error) {
	d.secretMu.Lock()
	defer d.secretMu.Unlock()
	if d.secret != nil {
		return d.secret, nil
	}
	if f := d.cfg.InternalSecret; f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("internal secret: %w", err)
		}
		if s := strings.TrimSpace(string(b)); len(s) >= 16 {
			d.secret = []byte(s)
			return d.secret, nil
		}
		return nil, fmt.Errorf("internal secret %s: shorter than 16 bytes", f)
	}
	var r [32]byte
	if _, err := rand.Read(r[:]); err != nil {
		return nil, err
	}
	var v string
	err := d.st.Write(ctx, func(tx store.Tx) error {
		var err error
		v, err = tx.ClusterSecret("internal", hex.EncodeToString(r[:]))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("internal secret: %w", err)
	}
	d.secret = []byte(v)
	return d.secret, nil
}

// startInternal listens on the configuration's internal_listen (agents) and sets the URL
// the host registers.
func (d *Daemon) startInternal(ctx context.Context) error {
	if d.cfg.InternalListen == "" || d.opt.Role != RoleAgent {
		return nil
	}
	secret, err := d.internalSecret(ctx)
	if err != nil {
		return err
	}
	d.checker = &hosttoken.Checker{Secret: secret, Host: d.opt.Host}
	ln, err := net.Listen("tcp", d.cfg.InternalListen)
	if err != nil {
		return fmt.Errorf("internal listener: %w", err)
	}
	if d.opt.WrapInternal != nil {
		ln = d.opt.WrapInternal(ln)
	}
	d.internalURL = "http://" + ln.Addr().String()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /internal/v1/vms/{id}/console", d.internalConsole)
	mux.HandleFunc("GET /internal/v1/disks/{id}", d.internalDisk)
	d.internal = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := d.internal.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("internal listener", "err", err)
		}
	}()
	d.log.Info("internal listener", "url", d.internalURL)
	return nil
}

// migrationHost is the address the other hosts send this host's live migrations to: the
// internal listener's, or the VTEP's when it listens on every address.
func migrationHost(cfg config.Config) string {
	host, _, err := net.SplitHostPort(cfg.InternalListen)
	if ip := net.ParseIP(host); err != nil || host == "" || (ip != nil && ip.IsUnspecified()) {
		return cfg.VTEPAddr
	}
	return host
}

// internalAuth reads the object id of an internal request and checks its host token for
// that purpose ("console": a VM id, "disk": a disk id); on a refusal it has answered.
func (d *Daemon) internalAuth(w http.ResponseWriter, r *http.Request, purpose string) (int64, hosttoken.Claims, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		http.Error(w, "bad "+map[string]string{"console": "vm", "disk": "disk"}[purpose]+" id", http.StatusBadRequest)
		return 0, hosttoken.Claims{}, false
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), hosttoken.Scheme+" ")
	if !ok {
		http.Error(w, "missing Authorization: "+hosttoken.Scheme+" <token>", http.StatusUnauthorized)
		return 0, hosttoken.Claims{}, false
	}
	cl, err := d.checker.Check(strings.TrimSpace(tok), purpose, id)
	if err != nil {
		d.log.Warn("internal "+purpose+" refused", "id", id, "remote", r.RemoteAddr, "err", err)
		http.Error(w, purpose+" refused: "+err.Error(), http.StatusUnauthorized)
		return 0, hosttoken.Claims{}, false
	}
	return id, cl, true
}

// internalConsole serves a VM's console to an API server holding a valid token.
func (d *Daemon) internalConsole(w http.ResponseWriter, r *http.Request) {
	id, cl, ok := d.internalAuth(w, r, "console")
	if !ok {
		return
	}
	if !strings.EqualFold(r.Header.Get("Upgrade"), "berth-console") {
		http.Error(w, "want Upgrade: berth-console", http.StatusUpgradeRequired)
		return
	}
	d.serveConsole(w, r, id, "account "+strconv.FormatInt(cl.Account, 10)+" via "+r.RemoteAddr)
}

// proxyConsole joins the client to the console of a VM on another host, through that
// host's internal listener.
func (d *Daemon) proxyConsole(w http.ResponseWriter, r *http.Request, c *service.Caller, id int64) {
	var host *store.Host
	err := d.st.Read(r.Context(), func(tx store.Tx) error {
		vm, err := tx.VM(c.AccountID, id)
		if err != nil {
			return err
		}
		hosts, err := tx.Hosts()
		for _, h := range hosts {
			if h.Name == vm.Host {
				host = h
			}
		}
		return err
	})
	switch {
	case err != nil:
		http.Error(w, "hosts: "+err.Error(), http.StatusInternalServerError)
		return
	case host == nil:
		http.Error(w, fmt.Sprintf("vm %d has no console: it is on no registered host", id), http.StatusConflict)
		return
	case host.State != store.HostUp:
		http.Error(w, fmt.Sprintf("vm %d is on host %s, which is down: try again when it is back", id, host.Name), http.StatusServiceUnavailable)
		return
	case host.InternalURL == "":
		http.Error(w, fmt.Sprintf("vm %d runs on host %s, which serves no console (berthd agent --internal-listen)", id, host.Name), http.StatusConflict)
		return
	}
	u, err := url.Parse(host.InternalURL)
	if err != nil || u.Host == "" {
		http.Error(w, fmt.Sprintf("host %s: bad internal url %q", host.Name, host.InternalURL), http.StatusInternalServerError)
		return
	}
	secret, err := d.internalSecret(r.Context())
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	tok, err := hosttoken.Sign(secret, hosttoken.Claims{What: "console", ID: id, Host: host.Name, Account: c.AccountID}, time.Now())
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	dial := d.opt.DialInternal
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	up, err := dial(ctx, "tcp", u.Host)
	if err != nil {
		http.Error(w, fmt.Sprintf("vm %d console: host %s unreachable: %v", id, host.Name, err), http.StatusBadGateway)
		return
	}
	deadline, _ := ctx.Deadline()
	_ = up.SetDeadline(deadline)
	fmt.Fprintf(up, "GET /internal/v1/vms/%d/console HTTP/1.1\r\nHost: %s\r\nAuthorization: %s %s\r\nConnection: Upgrade\r\nUpgrade: berth-console\r\n\r\n",
		id, u.Host, hosttoken.Scheme, tok)
	br := bufio.NewReader(up)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		up.Close()
		http.Error(w, fmt.Sprintf("vm %d console: host %s: %v", id, host.Name, err), http.StatusBadGateway)
		return
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		up.Close()
		http.Error(w, strings.TrimSpace(string(body)), resp.StatusCode)
		return
	}
	_ = up.SetDeadline(time.Time{})
	hj, ok := w.(http.Hijacker)
	if !ok {
		up.Close()
		http.Error(w, "connection cannot be upgraded", http.StatusInternalServerError)
		return
	}
	conn, rw, err := hj.Hijack()
	if err != nil {
		up.Close()
		return
	}
	d.log.Info("console attached", "vm", id, "account", c.Handle, "host", host.Name, "remote", r.RemoteAddr)
	fmt.Fprint(rw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: berth-console\r\nConnection: Upgrade\r\n\r\n")
	if err := rw.Flush(); err != nil {
		conn.Close()
		up.Close()
		return
	}
	splice(conn, rw.Reader, bufferedConn{Conn: up, r: br})
	d.log.Info("console detached", "vm", id, "account", c.Handle, "host", host.Name)
}

// bufferedConn reads what a bufio.Reader already holds before the connection.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (b bufferedConn) Read(p []byte) (int, error) { return b.r.Read(p) }
