package service

import (
	"net/netip"
	"time"
)

type timeT = time.Time

func mustAddr(s string) netip.Addr {
	a, _ := netip.ParseAddr(s)
	return a
}
