package web

import (
	"net/http"
	"strings"
	"time"

	"github.com/berth-io/berth/internal/service"
)

const sessionCookie = "berth_session"

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, nil, "login", "Log in", map[string]string{})
}

// login opens a session for an API key: an HttpOnly, SameSite=Strict cookie holding a
// random token (the key itself never reaches the browser's storage).
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	r = auditRequest(r, "POST /login") // recorded once the key names the account
	key := strings.TrimSpace(r.FormValue("apikey"))
	token, _, err := s.svc.Login(r.Context(), key)
	defer s.svc.AuditEnd(r.Context(), err)
	if err != nil {
		msg, _ := errorText(err)
		w.WriteHeader(http.StatusUnauthorized)
		s.render(w, r, nil, "login", "Log in", map[string]string{"Error": msg})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: token, Path: "/", HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode, Expires: time.Now().Add(service.SessionTTL)})
	http.Redirect(w, r, "/vms", http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if ck, err := r.Cookie(sessionCookie); err == nil {
		s.svc.Logout(r.Context(), ck.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
