package server

import (
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/berth-io/berth/internal/service"
)

// withClient records each request's client address in its context (service.WithClient),
// which the authentication throttle and the audit log key on. Every transport mounted on
// the daemon's mux gets it. When the peer is a trusted proxy (--trusted-proxy), the client
// is the right-most X-Forwarded-For address that is not itself a trusted proxy.
func withClient(h http.Handler, trusted []netip.Prefix) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		addr := r.RemoteAddr
		if host, _, err := net.SplitHostPort(addr); err == nil {
			addr = host
		}
		if isTrusted(addr, trusted) {
			hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
			for i := len(hops) - 1; i >= 0; i-- {
				hop := strings.TrimSpace(hops[i])
				if _, err := netip.ParseAddr(hop); err != nil {
					break
				}
				addr = hop
				if !isTrusted(hop, trusted) {
					break
				}
			}
		}
		h.ServeHTTP(w, r.WithContext(service.WithClient(r.Context(), addr)))
	})
}

func isTrusted(addr string, trusted []netip.Prefix) bool {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
