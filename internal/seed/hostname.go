package seed

import (
	"bytes"
	"context"
	"fmt"
	"strings"
)

// UpdateHostname sets the hostname of an existing seed (berth/hostname, meta-data's
// local-hostname, user-data's hostname), so that a VM whose hostname changed
// (vm.update) keeps the new one at its next boots: both the tiny guest and cloud-init
// set the hostname from the seed at every boot.
func (w *Writer) UpdateHostname(ctx context.Context, vmID int64, hostname string) error {
	if hostname == "" || strings.ContainsAny(hostname, " \t\r\n") {
		return fmt.Errorf("seed of vm %d: invalid hostname %q", vmID, hostname)
	}
	return w.rewrite(ctx, vmID, func(files map[string][]byte) {
		files["berth/hostname"] = line(hostname)
		if b, ok := files["meta-data"]; ok {
			files["meta-data"] = replaceKey(b, "local-hostname: ", q(hostname))
		}
		if b, ok := files["user-data"]; ok {
			files["user-data"] = replaceKey(b, "hostname: ", q(hostname))
		}
	})
}

// replaceKey replaces the value of the top-level YAML lines starting with prefix.
func replaceKey(b []byte, prefix, value string) []byte {
	lines := bytes.SplitAfter(b, []byte("\n"))
	for i, l := range lines {
		if bytes.HasPrefix(l, []byte(prefix)) {
			lines[i] = []byte(prefix + value + "\n")
		}
	}
	return bytes.Join(lines, nil)
}
