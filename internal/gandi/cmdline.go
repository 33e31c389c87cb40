package gandi

import (
	"fmt"
	"sort"
	"strings"
)

// CmdlineStruct turns a kernel command line into Gandi's kernel_cmdline struct: key=value
// becomes {key: "value"}, a bare word {word: true}. An empty line is nil.
func CmdlineStruct(s string) map[string]any {
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return nil
	}
	m := make(map[string]any, len(fields))
	for _, f := range fields {
		if k, v, ok := strings.Cut(f, "="); ok {
			m[k] = v
		} else {
			m[f] = true
		}
	}
	return m
}

// CmdlineString turns a kernel_cmdline struct back into a command line, keys sorted:
// string values as key=value, true as a bare key, false and nil left out.
func CmdlineString(m map[string]any) (string, error) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		if k == "" || strings.ContainsAny(k, " \t\n=") {
			return "", fmt.Errorf("cmdline key %q is not a word", k)
		}
		switch v := m[k].(type) {
		case bool:
			if v {
				parts = append(parts, k)
			}
		case nil:
		case string:
			if strings.ContainsAny(v, " \t\n") {
				return "", fmt.Errorf("cmdline value of %s has spaces", k)
			}
			parts = append(parts, k+"="+v)
		case int64:
			parts = append(parts, fmt.Sprintf("%s=%d", k, v))
		default:
			return "", fmt.Errorf("cmdline value of %s: want string or boolean", k)
		}
	}
	return strings.Join(parts, " "), nil
}
