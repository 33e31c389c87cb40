package client

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Object is one Gandi struct as the API returned it (decoded by internal/xmlrpc: int64,
// float64, bool, string, time.Time, []any, map[string]any, nil). Its accessors return the
// zero value for a missing or nil member, so that callers can read optional fields directly.
type Object map[string]any

// Int returns an integer member (an int64, or a float64 or bool coerced).
func (o Object) Int(key string) int64 {
	switch v := o[key].(type) {
	case int64:
		return v
	case float64:
		return int64(v)
	case bool:
		if v {
			return 1
		}
	}
	return 0
}

// Has reports whether the member is present and not nil.
func (o Object) Has(key string) bool {
	v, ok := o[key]
	return ok && v != nil
}

// Float returns a floating-point member (an int64 is converted).
func (o Object) Float(key string) float64 {
	switch v := o[key].(type) {
	case float64:
		return v
	case int64:
		return float64(v)
	}
	return 0
}

// Str returns a string member; other scalars are formatted, nil is "".
func (o Object) Str(key string) string {
	switch v := o[key].(type) {
	case nil:
		return ""
	case string:
		return v
	case time.Time:
		return v.UTC().Format(time.RFC3339)
	case int64, float64, bool:
		return fmt.Sprint(v)
	}
	return ""
}

// Bool returns a boolean member (an int 0/1 is accepted, as for console and ai_active).
func (o Object) Bool(key string) bool {
	switch v := o[key].(type) {
	case bool:
		return v
	case int64:
		return v != 0
	}
	return false
}

// Time returns a dateTime member, the zero time when absent.
func (o Object) Time(key string) time.Time {
	if t, ok := o[key].(time.Time); ok {
		return t.UTC()
	}
	return time.Time{}
}

// Ints returns an array of integers member.
func (o Object) Ints(key string) []int64 {
	list, _ := o[key].([]any)
	out := make([]int64, 0, len(list))
	for _, x := range list {
		switch v := x.(type) {
		case int64:
			out = append(out, v)
		case float64:
			out = append(out, int64(v))
		}
	}
	return out
}

// Strs returns an array of strings member.
func (o Object) Strs(key string) []string {
	list, _ := o[key].([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// Obj returns a nested struct member, nil when absent.
func (o Object) Obj(key string) Object {
	m, _ := o[key].(map[string]any)
	return Object(m)
}

// Objs returns an array of structs member.
func (o Object) Objs(key string) []Object {
	list, _ := o[key].([]any)
	out := make([]Object, 0, len(list))
	for _, x := range list {
		if m, ok := x.(map[string]any); ok {
			out = append(out, Object(m))
		}
	}
	return out
}

// ID is Int("id").
func (o Object) ID() int64 { return o.Int("id") }

// Cmdline formats a kernel_cmdline struct as a command line: key=value pairs and bare
// keys for true values, sorted by key, false and nil left out. It returns "" for nil.
func Cmdline(m Object) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		switch v := m[k].(type) {
		case bool:
			if v {
				parts = append(parts, k)
			}
		case nil:
		default:
			parts = append(parts, k+"="+Object(m).Str(k))
		}
	}
	return strings.Join(parts, " ")
}
