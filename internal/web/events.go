package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/berth-io/berth/api"
)

// events serves GET /v1/events: Server-Sent Events of every change of the caller's objects
// and operations, read from the outbox the store writes in each change's transaction.
// Each frame is `id: <seq>`, `event: <type>` (vm, disk, iface, ip, vlan, ssh_key,
// operation, account) and `data: <api.Event JSON>`. A client that reconnects with
// Last-Event-ID (or ?last_event_id=) gets what it missed first; when that was already
// pruned it gets `event: reset` and should reload its state. Authentication: Bearer API key
// or the console's session cookie. ?types=vm,operation keeps only those types.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	c, err := s.caller(r)
	if err != nil {
		msg, _ := errorText(err)
		http.Error(w, msg, http.StatusUnauthorized)
		return
	}
	var after int64
	last := r.Header.Get("Last-Event-ID")
	if last == "" {
		last = r.URL.Query().Get("last_event_id")
	}
	if last != "" {
		if after, err = strconv.ParseInt(last, 10, 64); err != nil || after < 0 {
			http.Error(w, "bad Last-Event-ID", http.StatusBadRequest)
			return
		}
	}
	types := map[string]bool{}
	for _, t := range strings.Split(r.URL.Query().Get("types"), ",") {
		if t = strings.TrimSpace(t); t != "" {
			types[t] = true
		}
	}
	hub := s.svc.Events()
	sub, err := hub.Subscribe(r.Context(), c)
	if err != nil {
		msg, _ := errorText(err)
		http.Error(w, msg, http.StatusServiceUnavailable)
		return
	}
	defer hub.Unsubscribe(sub)
	rc := http.NewResponseController(w)
	rc.SetWriteDeadline(time.Time{}) // a stream outlives the server's timeouts
	rc.SetReadDeadline(time.Time{})
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 2000\n: berth events\n\n")
	sent := after
	send := func(e api.Event) error {
		if e.Seq <= sent {
			return nil
		}
		sent = e.Seq
		if len(types) > 0 && !types[e.Kind] {
			return nil
		}
		b, _ := json.Marshal(e)
		_, err := fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", e.Seq, e.Kind, b)
		return err
	}
	if after > 0 { // the backlog, up to where the live subscription starts
		for after < sub.From {
			list, gone, err := hub.Backlog(r.Context(), c, after, sub.From, 500)
			if err != nil {
				return
			}
			if gone {
				fmt.Fprintf(w, "id: %d\nevent: reset\ndata: {}\n\n", sub.From)
				sent = sub.From
				break
			}
			for _, e := range list {
				if send(e) != nil {
					return
				}
			}
			if len(list) < 500 {
				break
			}
			after = list[len(list)-1].Seq
		}
	}
	if sent < sub.From && after == 0 {
		sent = sub.From
	}
	if rc.Flush() != nil {
		return
	}
	ping := time.NewTicker(25 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case e, ok := <-sub.C:
			if !ok {
				return // dropped (too slow, or shutdown): the client resumes with Last-Event-ID
			}
			if send(e) != nil {
				return
			}
			for n := len(sub.C); n > 0; n-- { // batch what is already queued
				if send(<-sub.C) != nil {
					return
				}
			}
			if rc.Flush() != nil {
				return
			}
		case <-ping.C:
			if _, err := fmt.Fprint(w, ": ping\n\n"); err != nil || rc.Flush() != nil {
				return
			}
		}
	}
}
