package web

import (
	"fmt"
	"html/template"
	"net/http"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/service"
)

// The account page: credits, prepaid balance, hourly burn and time left; buy credits.
// Live on account events (billing, purchases) and on changes of what is billed.

func (s *Server) accountRoutes() []route {
	return []route{
		{"GET /account", s.accountPage},
		{"GET /account/panel", s.accountPanel},
		{"GET /account/badge", s.accountBadge},
		{"POST /account/credits", s.buyCredits},
	}
}

type accountData struct {
	Account   api.Account
	BurnMilli int64
	TimeLeft  string
	Currency  string
	Rating    api.Rating
}

func (s *Server) accountData(r *http.Request, c *service.Caller) (*accountData, error) {
	a, err := s.svc.AccountInfo(r.Context(), c)
	if err != nil {
		return nil, err
	}
	burn, err := s.svc.HourlyBurn(r.Context(), c)
	if err != nil {
		return nil, err
	}
	d := &accountData{Account: *a, BurnMilli: burn, Currency: s.svc.Currency(), Rating: s.svc.Rating(), TimeLeft: "∞ (nothing billed)"}
	if burn > 0 {
		hours := float64(a.Credits) * 1000 / float64(burn)
		switch {
		case hours <= 0:
			d.TimeLeft = "none: buy credits"
		case hours < 48:
			d.TimeLeft = fmt.Sprintf("%.1f hours", hours)
		default:
			d.TimeLeft = fmt.Sprintf("%.0f days", hours/24)
		}
	}
	return d, nil
}

func (s *Server) accountPage(w http.ResponseWriter, r *http.Request, c *service.Caller) error {
	d, err := s.accountData(r, c)
	if err != nil {
		return err
	}
	s.render(w, r, c, "account", "Account", d)
	return nil
}

func (s *Server) accountPanel(w http.ResponseWriter, r *http.Request, c *service.Caller) error {
	d, err := s.accountData(r, c)
	if err != nil {
		return err
	}
	s.renderFragment(w, "account", "account-panel", d)
	return nil
}

func (s *Server) accountBadge(w http.ResponseWriter, r *http.Request, c *service.Caller) error {
	a, err := s.svc.AccountInfo(r.Context(), c)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s credits", template.HTMLEscapeString(fmt.Sprint(a.Credits)))
	return nil
}

func (s *Server) buyCredits(w http.ResponseWriter, r *http.Request, c *service.Caller) error {
	n, err := formInt(r, "credits")
	if err != nil {
		return err
	}
	op, err := s.svc.BuyCredits(r.Context(), c, n)
	return s.opQueued(w, op, err)
}
