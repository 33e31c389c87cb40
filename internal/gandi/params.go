package gandi

import (
	"strings"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/xmlrpc"
)

// invalid is a bad-parameter error on obj.
func invalid(obj api.Object, format string, args ...any) error {
	return api.Errorf(api.Invalid, obj, format, args...)
}

// listOptions turns a Gandi opts struct into list options: items_per_page, page, sort_by,
// scalar = equality, array = IN, ~field = LIKE. Unknown keys pass through and the store
// ignores them (D5); nil and "" mean absent.
func listOptions(obj api.Object, m map[string]any, paged bool) (api.ListOptions, error) {
	var o api.ListOptions
	for k, v := range m {
		switch k {
		case "items_per_page", "page":
			if !paged {
				continue
			}
			n, ok, err := xmlrpc.MemberInt(m, k)
			if err != nil {
				return o, invalid(obj, "%s must be an int", k)
			}
			if !ok {
				continue
			}
			if k == "page" {
				if n < 0 {
					return o, invalid(obj, "page %d is negative", n)
				}
				o.Page = n
			} else {
				if n < 1 || n > api.MaxPerPage {
					return o, invalid(obj, "items_per_page %d is not between 1 and %d", n, api.MaxPerPage)
				}
				o.PerPage = n
			}
		case "sort_by":
			s, ok, err := xmlrpc.MemberString(m, k)
			if err != nil {
				return o, invalid(obj, "sort_by must be a string")
			}
			if !ok {
				continue
			}
			f := strings.Fields(s)
			if len(f) == 0 || len(f) > 2 {
				return o, invalid(obj, "sort_by %q: want 'field [ASC|DESC]'", s)
			}
			o.SortBy = strings.TrimPrefix(f[0], "-")
			if len(f) == 2 {
				switch strings.ToUpper(f[1]) {
				case "ASC":
				case "DESC":
					o.SortDesc = true
				default:
					return o, invalid(obj, "sort_by %q: want 'field [ASC|DESC]'", s)
				}
			}
		default:
			if v == nil || v == "" {
				continue
			}
			field, op := k, api.OpEq
			if strings.HasPrefix(k, "~") {
				field, op = k[1:], api.OpLike
			}
			var vals []any
			if list, ok := v.([]any); ok {
				if op == api.OpLike {
					return o, invalid(obj, "%s wants a string", k)
				}
				op, vals = api.OpIn, list
			} else {
				vals = []any{v}
			}
			for i, x := range vals {
				switch x.(type) {
				case string, int64, bool, float64:
				default:
					return o, invalid(obj, "filter %s: value %d is not a scalar", k, i)
				}
			}
			vals = normalize(field, vals)
			o.Filters = append(o.Filters, api.Filter{Field: field, Op: op, Values: vals})
		}
	}
	return o, nil
}

// normalize converts filter values whose wire type varies: ip version arrives as string or
// int; kolo sends every number as a double.
func normalize(field string, vals []any) []any {
	out := make([]any, len(vals))
	for i, v := range vals {
		switch x := v.(type) {
		case string:
			if field == "version" && (x == "4" || x == "6") {
				v = int64(x[0] - '0')
			}
		case float64:
			if x == float64(int64(x)) {
				v = int64(x)
			}
		}
		out[i] = v
	}
	return out
}

// memberString reads an optional string member of a spec.
func memberString(obj api.Object, m map[string]any, key string) (string, error) {
	s, _, err := xmlrpc.MemberString(m, key)
	if err != nil {
		return "", invalid(obj, "%s must be a string", key)
	}
	return s, nil
}

func memberInt(obj api.Object, m map[string]any, key string) (int64, bool, error) {
	n, ok, err := xmlrpc.MemberInt(m, key)
	if err != nil {
		return 0, false, invalid(obj, "%s must be an int", key)
	}
	return n, ok, nil
}

func memberFloat(obj api.Object, m map[string]any, key string) (float64, bool, error) {
	f, ok, err := xmlrpc.MemberFloat(m, key)
	if err != nil {
		return 0, false, invalid(obj, "%s must be a number", key)
	}
	return f, ok, nil
}

func memberBool(obj api.Object, m map[string]any, key string) (bool, bool, error) {
	b, ok, err := xmlrpc.MemberBool(m, key)
	if err != nil {
		return false, false, invalid(obj, "%s must be a boolean", key)
	}
	return b, ok, nil
}
