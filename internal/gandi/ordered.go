package gandi

import "github.com/berth-io/berth/internal/xmlrpc"

// members is a struct encoded in the order of its members; the shapes keep them in name
// order, as the encoder writes a map.
type members = xmlrpc.Members

// merge merges two member lists each in name order into one in name order.
func merge(a, b members) members {
	out := make(members, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		if b[j].Name < a[i].Name {
			out = append(out, b[j])
			j++
		} else {
			out = append(out, a[i])
			i++
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}

// mb is one member.
func mb(name string, value any) xmlrpc.Member { return xmlrpc.Member{Name: name, Value: value} }
