package web

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"strings"
	"testing"
)

// TestVendorSum checks the vendored browser assets against static/vendor.sum, which
// `make web-vendor` writes from the npm packages pinned in npm/package-lock.json.
func TestVendorSum(t *testing.T) {
	sum, err := fs.ReadFile(staticFS, "static/vendor.sum")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(sum)), "\n") {
		h, name, ok := strings.Cut(line, "  ")
		if !ok {
			t.Fatalf("vendor.sum: bad line %q", line)
		}
		want[name] = h
	}
	files, err := fs.ReadDir(staticFS, "static/vendor")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := fs.ReadFile(staticFS, "static/vendor/"+f.Name())
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.Sum256(b)
		switch w, ok := want[f.Name()]; {
		case !ok:
			t.Errorf("static/vendor/%s is not in vendor.sum", f.Name())
		case w != hex.EncodeToString(h[:]):
			t.Errorf("static/vendor/%s: sha256 %x, vendor.sum says %s", f.Name(), h, w)
		}
		delete(want, f.Name())
	}
	for name := range want {
		t.Errorf("vendor.sum lists %s, which is not vendored", name)
	}
}
