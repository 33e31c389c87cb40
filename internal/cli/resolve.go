package cli

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/berth-io/berth/client"
)

// kind is a type of object users name on the command line.
type kind struct {
	noun   string // vm
	list   string // hosting.vm.list
	name   string // the member users name it by: hostname
	listed string // the command that lists them, for hints
	info   string // hosting.vm.info
	fold   bool   // names compare case-insensitively (datacenter codes)
}

var (
	kindVM         = kind{noun: "vm", list: "hosting.vm.list", name: "hostname", listed: "berth vm list", info: "hosting.vm.info"}
	kindDisk       = kind{noun: "disk", list: "hosting.disk.list", name: "name", listed: "berth disk list", info: "hosting.disk.info"}
	kindVLAN       = kind{noun: "vlan", list: "hosting.vlan.list", name: "name", listed: "berth vlan list", info: "hosting.vlan.info"}
	kindKey        = kind{noun: "ssh key", list: "hosting.ssh.list", name: "name", listed: "berth sshkey list", info: "hosting.ssh.info"}
	kindImage      = kind{noun: "image", list: "hosting.image.list", name: "label", listed: "berth image list", info: "hosting.image.info"}
	kindDatacenter = kind{noun: "datacenter", list: "hosting.datacenter.list", name: "dc_code", listed: "berth datacenter list", fold: true}
	kindIP         = kind{noun: "ip", list: "hosting.ip.list", name: "ip", listed: "berth ip list", info: "hosting.ip.info"}
	kindIface      = kind{noun: "iface", list: "hosting.iface.list", name: "", listed: "berth iface list", info: "hosting.iface.info"}
)

// notFound is the error of a name that matches nothing.
type notFound struct {
	k       kind
	arg     string
	in      string // where it was looked for, when not everywhere: "in FR-SD5"
	similar []string
}

func (e *notFound) Error() string {
	msg := fmt.Sprintf("%s %q not found", e.k.noun, e.arg)
	if e.in != "" {
		msg += " " + e.in
	}
	if len(e.similar) > 0 {
		return msg + "; did you mean " + quoteNames(e.similar) + "?"
	}
	return msg + " (" + e.k.listed + " shows them)"
}

// quoteNames joins names, quoting those with spaces: web1, "Berth Tiny".
func quoteNames(l []string) string {
	q := make([]string, len(l))
	for i, s := range l {
		q[i] = s
		if strings.ContainsAny(s, " \t\"") {
			q[i] = strconv.Quote(s)
		}
	}
	return strings.Join(q, ", ")
}

// list returns every object of a kind matching filters.
func (a *app) list(ctx context.Context, k kind, filters map[string]any) ([]client.Object, error) {
	c, err := a.client()
	if err != nil {
		return nil, err
	}
	if k == kindDatacenter && filters == nil {
		return a.datacenters(ctx)
	}
	return c.ListAll(ctx, k.list, filters)
}

// datacenters returns the datacenter list, fetched once per run.
func (a *app) datacenters(ctx context.Context) ([]client.Object, error) {
	if a.dcs != nil {
		return a.dcs, nil
	}
	c, err := a.client()
	if err != nil {
		return nil, err
	}
	l, err := c.ListAll(ctx, kindDatacenter.list, nil)
	if err != nil {
		return nil, err
	}
	a.dcs = l
	return l, nil
}

// dcCode returns the code of a datacenter id ("" when unknown).
func (a *app) dcCode(ctx context.Context, id int64) string {
	l, err := a.datacenters(ctx)
	if err != nil {
		return ""
	}
	for _, d := range l {
		if d.ID() == id {
			return d.Str("dc_code")
		}
	}
	return strconv.FormatInt(id, 10)
}

// resolve finds one object of a kind by name or id among those matching filters: an exact
// name first, then an id, then a case-insensitive name; otherwise a notFound error naming
// the closest names.
func (a *app) resolve(ctx context.Context, k kind, arg string, filters map[string]any) (client.Object, error) {
	all, err := a.list(ctx, k, filters)
	if err != nil {
		return nil, err
	}
	return pick(k, arg, all)
}

// pick is resolve on a list already fetched.
func pick(k kind, arg string, all []client.Object) (client.Object, error) {
	name := func(o client.Object) string { return o.Str(k.name) }
	if k == kindIP {
		if p, err := netip.ParseAddr(arg); err == nil {
			arg = p.String()
		}
	}
	var exact, folded []client.Object
	for _, o := range all {
		switch n := name(o); {
		case k.name == "":
		case n == arg && !k.fold:
			exact = append(exact, o)
		case strings.EqualFold(n, arg):
			folded = append(folded, o)
		}
	}
	if k.fold {
		exact, folded = folded, nil
	}
	if len(exact) == 1 {
		return exact[0], nil
	}
	if len(exact) > 1 {
		return nil, ambiguous(k, arg, exact)
	}
	if id, err := strconv.ParseInt(arg, 10, 64); err == nil && id > 0 {
		for _, o := range all {
			if o.ID() == id {
				return o, nil
			}
		}
	}
	if len(folded) == 1 {
		return folded[0], nil
	}
	if len(folded) > 1 {
		return nil, ambiguous(k, arg, folded)
	}
	names := make([]string, 0, len(all))
	for _, o := range all {
		if n := name(o); n != "" {
			names = append(names, n)
		}
	}
	return nil, &notFound{k: k, arg: arg, similar: closest(arg, names, 3)}
}

func ambiguous(k kind, arg string, list []client.Object) error {
	ids := make([]string, len(list))
	for i, o := range list {
		ids[i] = strconv.FormatInt(o.ID(), 10)
	}
	return fmt.Errorf("%d %ss are named %q: use an id (%s)", len(list), k.noun, arg, strings.Join(ids, ", "))
}

// closest returns up to n names near arg: those at the smallest edit distance
// (case-insensitive, a transposition counts as one edit) if it is within max(2, len/3),
// and those arg is a prefix of; nearest first, then alphabetical.
func closest(arg string, names []string, n int) []string {
	type cand struct {
		name string
		d    int
	}
	la := strings.ToLower(arg)
	limit := max(2, len([]rune(arg))/3)
	seen := map[string]bool{}
	var cs []cand
	for _, name := range names {
		if seen[name] {
			continue
		}
		seen[name] = true
		ln := strings.ToLower(name)
		d := editDistance(la, ln)
		if d <= limit || (len(la) >= 2 && strings.HasPrefix(ln, la)) {
			cs = append(cs, cand{name, d})
		}
	}
	best := limit
	for _, c := range cs {
		best = min(best, c.d)
	}
	sort.Slice(cs, func(i, j int) bool {
		if cs[i].d != cs[j].d {
			return cs[i].d < cs[j].d
		}
		return cs[i].name < cs[j].name
	})
	out := []string{}
	for _, c := range cs {
		if len(out) == n {
			break
		}
		if c.d <= best || strings.HasPrefix(strings.ToLower(c.name), la) {
			out = append(out, c.name)
		}
	}
	return out
}

// editDistance is the optimal string alignment distance between a and b, in runes:
// insertions, deletions, substitutions and transpositions of neighbours each cost one.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// resolveIface finds an iface by id, or by one of its IP addresses.
func (a *app) resolveIface(ctx context.Context, arg string) (client.Object, error) {
	c, err := a.client()
	if err != nil {
		return nil, err
	}
	if _, err := netip.ParseAddr(arg); err == nil {
		ip, err := a.resolve(ctx, kindIP, arg, nil)
		if err != nil {
			return nil, err
		}
		return c.Info(ctx, "hosting.iface.info", ip.Int("iface_id"))
	}
	all, err := a.list(ctx, kindIface, nil)
	if err != nil {
		return nil, err
	}
	id, err := strconv.ParseInt(arg, 10, 64)
	if err == nil {
		for _, o := range all {
			if o.ID() == id {
				return c.Info(ctx, "hosting.iface.info", id)
			}
		}
	}
	ids := make([]string, len(all))
	for i, o := range all {
		ids[i] = strconv.FormatInt(o.ID(), 10)
	}
	return nil, &notFound{k: kindIface, arg: arg, similar: closest(arg, ids, 3)}
}

// resolveDC resolves a datacenter by code, id or name; "" means the default one: the first
// (lowest id) whose iaas_closed_for is NONE.
func (a *app) resolveDC(ctx context.Context, arg string) (client.Object, error) {
	all, err := a.datacenters(ctx)
	if err != nil {
		return nil, err
	}
	if arg != "" {
		return pick(kindDatacenter, arg, all)
	}
	var best client.Object
	for _, d := range all {
		if d.Str("iaas_closed_for") == "NONE" && (best == nil || d.ID() < best.ID()) {
			best = d
		}
	}
	if best == nil {
		return nil, fmt.Errorf("no datacenter is open for new resources (berth datacenter list)")
	}
	return best, nil
}

// completer returns a cobra completion function proposing names of a kind.
func (a *app) completer(k kind) cobra.CompletionFunc {
	return func(cmd *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
		all, err := a.list(cmd.Context(), k, nil)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveError
		}
		var out []string
		for _, o := range all {
			if n := o.Str(k.name); n != "" {
				out = append(out, n)
			} else {
				out = append(out, strconv.FormatInt(o.ID(), 10))
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}
