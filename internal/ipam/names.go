package ipam

import (
	"net/netip"
	"strconv"
	"strings"
)

// Limits of DNS names (RFC 1035 §2.3.4).
const (
	maxNameLen  = 253
	maxLabelLen = 63
)

// DefaultReverse returns the reverse name Berth gives a new public address, in the
// style of Gandi's `xvm-130-243.dc3.ghst.net`:
//
//   - IPv4 a.b.c.d:   xvm-<c>-<d>.<dc>.<domain>, e.g. xvm-2-10.fr-sd5.berth.test
//   - IPv6:           xvm6-<g5>-<g6>-<g7>-<g8>.<dc>.<domain>, where g5..g8 are the last
//     four 16-bit groups in lowercase hex without leading zeros, e.g.
//     2001:db8:0:5::1a → xvm6-0-0-0-1a.fr-sd5.berth.test
//
// <dc> is dcCode lowercased, with every character outside [a-z0-9-] replaced by '-'
// and leading or trailing '-' trimmed; the label is left out when nothing remains.
// <domain> is lowercased and loses its trailing dot; it is left out when empty. The
// result has no trailing dot. An invalid address gives "".
func DefaultReverse(addr netip.Addr, dcCode, domain string) string {
	if !addr.IsValid() {
		return ""
	}
	addr = addr.Unmap()
	var b strings.Builder
	if addr.Is4() {
		a := addr.As4()
		b.WriteString("xvm-")
		b.WriteString(strconv.Itoa(int(a[2])))
		b.WriteByte('-')
		b.WriteString(strconv.Itoa(int(a[3])))
	} else {
		a := addr.As16()
		b.WriteString("xvm6")
		for i := 8; i < 16; i += 2 {
			b.WriteByte('-')
			b.WriteString(strconv.FormatUint(uint64(a[i])<<8|uint64(a[i+1]), 16))
		}
	}
	if dc := dcLabel(dcCode); dc != "" {
		b.WriteByte('.')
		b.WriteString(dc)
	}
	if d := strings.ToLower(strings.TrimSuffix(domain, ".")); d != "" {
		b.WriteByte('.')
		b.WriteString(d)
	}
	return b.String()
}

// dcLabel turns a datacenter code such as "FR-SD5" into a DNS label ("fr-sd5").
func dcLabel(code string) string {
	l := []byte(strings.ToLower(code))
	for i, c := range l {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			l[i] = '-'
		}
	}
	s := strings.Trim(string(l), "-")
	if len(s) > maxLabelLen {
		s = strings.Trim(s[:maxLabelLen], "-")
	}
	return s
}

// ValidateReverse checks a reverse name given to hosting.ip.update. The empty string
// is valid (it resets the reverse to the default). Otherwise the name must be a fully
// qualified host name: at least two labels separated by dots, an optional trailing
// dot, at most 253 characters without it, labels of 1–63 characters from
// [A-Za-z0-9-] that neither start nor end with '-', and a last label that is not all
// digits (so an IP address is not a valid name).
func ValidateReverse(name string) error {
	if name == "" {
		return nil
	}
	n := strings.TrimSuffix(name, ".")
	if n == "" {
		return invalidf("reverse %q: empty name", name)
	}
	if len(n) > maxNameLen {
		return invalidf("reverse %q: longer than %d characters", name, maxNameLen)
	}
	labels := strings.Split(n, ".")
	if len(labels) < 2 {
		return invalidf("reverse %q: not a fully qualified name (needs at least two labels)", name)
	}
	for _, l := range labels {
		switch {
		case l == "":
			return invalidf("reverse %q: empty label", name)
		case len(l) > maxLabelLen:
			return invalidf("reverse %q: label %q longer than %d characters", name, l, maxLabelLen)
		case l[0] == '-' || l[len(l)-1] == '-':
			return invalidf("reverse %q: label %q starts or ends with '-'", name, l)
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return invalidf("reverse %q: label %q has character %q outside [A-Za-z0-9-]", name, l, c)
			}
		}
	}
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return invalidf("reverse %q: the top-level label is all digits", name)
	}
	return nil
}
