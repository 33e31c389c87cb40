// Package arch checks the import rules of design.md §2 with `go list`.
package arch

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/berth-io/berth"

type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
	Standard   bool
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", mod+"/...")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func internal(path string) bool { return strings.HasPrefix(path, mod+"/") || path == mod }

func under(path, dir string) bool {
	full := mod + "/" + dir
	return path == full || strings.HasPrefix(path, full+"/")
}

func TestImportRules(t *testing.T) {
	pkgs := listPackages(t)
	if len(pkgs) < 10 {
		t.Fatalf("only %d packages listed", len(pkgs))
	}
	std := map[string]bool{}
	out, err := exec.Command("go", "list", "std").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range strings.Fields(string(out)) {
		std[s] = true
	}
	drivers := []string{"internal/hypervisor", "internal/volume", "internal/netdev", "internal/seed", "internal/ipam", "internal/placement", "internal/image"}
	for _, p := range pkgs {
		for _, imp := range p.Imports {
			switch {
			case under(p.ImportPath, "api") && !std[imp]:
				t.Errorf("%s imports %s: api imports only the standard library", p.ImportPath, imp)
			case (under(p.ImportPath, "client") || under(p.ImportPath, "internal/cli")) && internal(imp) && !under(imp, "api") && !under(imp, "client") && !under(imp, "internal/cli") && !under(imp, "internal/xmlrpc"):
				t.Errorf("%s imports %s: client and cli import only api, client and the wire codec", p.ImportPath, imp)
			case (under(p.ImportPath, "internal/gandi") || under(p.ImportPath, "internal/xmlrpc") || under(p.ImportPath, "internal/web")) && under(imp, "internal/store"):
				t.Errorf("%s imports %s: transports go through service, never store", p.ImportPath, imp)
			case under(imp, "internal/server") && !under(p.ImportPath, "cmd/berthd") && !under(p.ImportPath, "internal/server") && !under(p.ImportPath, "bench"):
				t.Errorf("%s imports %s: nothing imports server but cmd/berthd (and bench programs)", p.ImportPath, imp)
			}
		}
		for _, d := range drivers {
			if !under(p.ImportPath, d) {
				continue
			}
			for _, dep := range p.Deps {
				for _, banned := range []string{"internal/store", "internal/ops", "internal/service", "internal/agent", "internal/gandi"} {
					if under(dep, banned) {
						t.Errorf("%s depends on %s: drivers never import store, ops or service", p.ImportPath, dep)
					}
				}
			}
		}
	}
}
