package ipam

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDefaultReverse(t *testing.T) {
	tests := []struct {
		addr   netip.Addr
		dc     string
		domain string
		want   string
	}{
		{ip("155.133.130.243"), "dc3", "ghst.net", "xvm-130-243.dc3.ghst.net"},
		{ip("192.0.2.10"), "FR-SD5", "berth.test", "xvm-2-10.fr-sd5.berth.test"},
		{ip("192.0.2.10"), "FR-SD5", "Berth.Test.", "xvm-2-10.fr-sd5.berth.test"},
		{ip("::ffff:192.0.2.10"), "LU-BI1", "berth.test", "xvm-2-10.lu-bi1.berth.test"},
		{ip("198.51.100.0"), "dc0", "berth.test", "xvm-100-0.dc0.berth.test"},
		{ip("2001:db8:0:5::1a"), "FR-SD5", "berth.test", "xvm6-0-0-0-1a.fr-sd5.berth.test"},
		{ip("2001:db8:0:5:216:3eff:fe8f:db3c"), "FR-SD5", "berth.test", "xvm6-216-3eff-fe8f-db3c.fr-sd5.berth.test"},
		{ip("2001:db8::ABCD:0:0:1"), "dc1", "berth.test", "xvm6-abcd-0-0-1.dc1.berth.test"},
		{ip("192.0.2.10"), " US_BA 1!", "berth.test", "xvm-2-10.us-ba-1.berth.test"},
		{ip("192.0.2.10"), "--", "berth.test", "xvm-2-10.berth.test"},
		{ip("192.0.2.10"), "dc1", "", "xvm-2-10.dc1"},
		{ip("192.0.2.10"), strings.Repeat("a", 70), "berth.test", "xvm-2-10." + strings.Repeat("a", 63) + ".berth.test"},
		{netip.Addr{}, "dc1", "berth.test", ""},
	}
	for _, tt := range tests {
		got := DefaultReverse(tt.addr, tt.dc, tt.domain)
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("DefaultReverse(%v, %q, %q) mismatch (-want +got):\n%s", tt.addr, tt.dc, tt.domain, diff)
		}
		if tt.want != "" {
			if err := ValidateReverse(got); err != nil {
				t.Errorf("DefaultReverse(%v, %q, %q) = %q fails ValidateReverse: %v", tt.addr, tt.dc, tt.domain, got, err)
			}
		}
	}
}

func TestValidateReverse(t *testing.T) {
	label63 := strings.Repeat("a", 63)
	long := strings.Repeat(label63+".", 3) + strings.Repeat("b", 61) // 253 characters
	tests := []struct {
		name    string
		in      string
		wantErr string
	}{
		{"empty resets", "", ""},
		{"simple", "host.example", ""},
		{"trailing dot", "host.example.", ""},
		{"mixed case and digits", "Web-01.Example.COM", ""},
		{"gandi style", "xvm-130-243.dc3.ghst.net", ""},
		{"numeric labels but not the last", "1.2.3.example", ""},
		{"63-char label", label63 + ".example", ""},
		{"253 characters", long, ""},
		{"253 characters and a dot", long + ".", ""},
		{"254 characters", long + "b", "longer than 253 characters"},
		{"64-char label", label63 + "a.example", "longer than 63 characters"},
		{"single label", "localhost", "needs at least two labels"},
		{"single label with dot", "localhost.", "needs at least two labels"},
		{"only a dot", ".", "empty name"},
		{"two trailing dots", "host.example..", "empty label"},
		{"leading dot", ".host.example", "empty label"},
		{"empty middle label", "host..example", "empty label"},
		{"leading hyphen", "-host.example", `label "-host" starts or ends with '-'`},
		{"trailing hyphen", "host-.example", "starts or ends with '-'"},
		{"underscore", "my_host.example", `character '_'`},
		{"space", "my host.example", `character ' '`},
		{"non-ascii", "hôte.example", "outside [A-Za-z0-9-]"},
		{"ip address", "192.0.2.1", "top-level label is all digits"},
		{"ip address with dot", "192.0.2.1.", "top-level label is all digits"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateReverse(tt.in)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ValidateReverse(%q) = %v, want nil", tt.in, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("ValidateReverse(%q) = %v, want ErrInvalid containing %q", tt.in, err, tt.wantErr)
			}
		})
	}
}
