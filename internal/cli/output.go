package cli

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/berth-io/berth/client"
)

// printJSON writes v as indented JSON on stdout. Maps come out with sorted keys and times in
// RFC 3339, so the API's structs print as they are.
func (a *app) printJSON(v any) error {
	if l, ok := v.([]client.Object); ok && l == nil {
		v = []client.Object{}
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("print json: %w", err)
	}
	_, err = fmt.Fprintf(a.stdout, "%s\n", b)
	return err
}

// output prints v as JSON with --json, else calls human.
func (a *app) output(v any, human func() error) error {
	if a.asJSON {
		return a.printJSON(v)
	}
	return human()
}

// printTable prints aligned columns on stdout; with no rows it prints nothing there and
// says so on stderr ("no vms").
func (a *app) printTable(head []string, rows [][]string, none string) error {
	if len(rows) == 0 {
		fmt.Fprintln(a.stderr, none)
		return nil
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, r := range rows {
		for i := range r {
			r[i] = dash(r[i])
		}
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// kv is one `key : value` line of an info block.
type kv struct{ k, v string }

// printInfo prints `key : value` lines, keys padded to the longest, like gandi.cli. Blocks
// are separated by a blank line.
func (a *app) printInfo(blocks ...[]kv) error {
	width := 0
	for _, b := range blocks {
		for _, l := range b {
			width = max(width, len(l.k))
		}
	}
	var sb strings.Builder
	for i, b := range blocks {
		if i > 0 {
			sb.WriteString("\n")
		}
		for _, l := range b {
			fmt.Fprintf(&sb, "%-*s : %s\n", width, l.k, dash(l.v))
		}
	}
	_, err := fmt.Fprint(a.stdout, sb.String())
	return err
}

// dash is s, or "-" when it is empty.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// fmtSize formats MB: "3 GB" for whole GB, else "768 MB".
func fmtSize(mb int64) string {
	if mb != 0 && mb%1024 == 0 {
		return fmt.Sprintf("%d GB", mb/1024)
	}
	return fmt.Sprintf("%d MB", mb)
}

// fmtTime formats a time in RFC 3339 (UTC), "" for the zero time.
func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// fmtShortTime is the table form of a time: "2026-11-26 21:45" (UTC).
func fmtShortTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04")
}

// fmtBandwidth formats kbit/s: "100 Mbit/s" for whole Mbit/s (of 1024 kbit), else kbit/s.
func fmtBandwidth(kbit float64) string {
	if kbit == 0 {
		return ""
	}
	n := int64(kbit)
	if float64(n) == kbit && n%1024 == 0 {
		return fmt.Sprintf("%d Mbit/s", n/1024)
	}
	return strconv.FormatFloat(kbit, 'f', -1, 64) + " kbit/s"
}

// itoa formats an id, "" for 0.
func itoa(n int64) string {
	if n == 0 {
		return ""
	}
	return strconv.FormatInt(n, 10)
}

// yesno formats a flag.
func yesno(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// plural is "1 vm", "2 vms".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
