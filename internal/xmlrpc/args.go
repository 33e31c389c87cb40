package xmlrpc

import (
	"fmt"
	"math"
	"strconv"
)

// ParamError reports a missing or mistyped parameter or struct member.
type ParamError struct {
	// Index is the 0-based position of the parameter, or -1 for a struct member.
	Index int
	// Name is the parameter or member name.
	Name string
	// Want is the expected XML-RPC type ("int", "string", "struct", ...).
	Want string
	// Got is the XML-RPC type received, or "nothing" for a missing parameter.
	Got string
}

// Error implements error. Parameters are numbered from 1 in the message.
func (e *ParamError) Error() string {
	if e.Index < 0 {
		return fmt.Sprintf("member %s: want %s, got %s", e.Name, e.Want, e.Got)
	}
	return fmt.Sprintf("parameter %d (%s): want %s, got %s", e.Index+1, e.Name, e.Want, e.Got)
}

// missing is the Got of a ParamError for an absent parameter.
const missing = "nothing"

func paramErr(i int, name, want string, got any) *ParamError {
	return &ParamError{Index: i, Name: name, Want: want, Got: TypeName(got)}
}

func memberErr(key, want string, got any) *ParamError {
	return &ParamError{Index: -1, Name: key, Want: want, Got: TypeName(got)}
}

// Int returns parameter i as an integer; an integral double is accepted.
func Int(params []any, i int, name string) (int64, error) {
	if i >= len(params) {
		return 0, &ParamError{Index: i, Name: name, Want: "int", Got: missing}
	}
	if n, ok := asInt(params[i]); ok {
		return n, nil
	}
	return 0, paramErr(i, name, "int", params[i])
}

// String returns parameter i as a string; an int is rendered in base 10
// (Perl XMLRPC::Lite sends numeric-looking strings as ints).
func String(params []any, i int, name string) (string, error) {
	if i >= len(params) {
		return "", &ParamError{Index: i, Name: name, Want: "string", Got: missing}
	}
	if s, ok := asString(params[i]); ok {
		return s, nil
	}
	return "", paramErr(i, name, "string", params[i])
}

// Struct returns parameter i as a struct.
func Struct(params []any, i int, name string) (map[string]any, error) {
	if i >= len(params) {
		return nil, &ParamError{Index: i, Name: name, Want: "struct", Got: missing}
	}
	if m, ok := params[i].(map[string]any); ok {
		return m, nil
	}
	return nil, paramErr(i, name, "struct", params[i])
}

// OptStruct returns optional parameter i as a struct: missing, nil or ""
// yield an empty map.
func OptStruct(params []any, i int, name string) (map[string]any, error) {
	if i >= len(params) {
		return map[string]any{}, nil
	}
	switch v := params[i].(type) {
	case map[string]any:
		return v, nil
	case nil:
		return map[string]any{}, nil
	case string:
		if v == "" {
			return map[string]any{}, nil
		}
	}
	return nil, paramErr(i, name, "struct", params[i])
}

// Bool returns parameter i as a boolean; the ints 0 and 1 are accepted.
func Bool(params []any, i int, name string) (bool, error) {
	if i >= len(params) {
		return false, &ParamError{Index: i, Name: name, Want: "boolean", Got: missing}
	}
	if b, ok := asBool(params[i]); ok {
		return b, nil
	}
	return false, paramErr(i, name, "boolean", params[i])
}

// Float returns parameter i as a float; an int is accepted.
func Float(params []any, i int, name string) (float64, error) {
	if i >= len(params) {
		return 0, &ParamError{Index: i, Name: name, Want: "double", Got: missing}
	}
	if f, ok := asFloat(params[i]); ok {
		return f, nil
	}
	return 0, paramErr(i, name, "double", params[i])
}

// absent reports whether a struct member counts as not given: missing, nil
// or the empty string (kolo/xmlrpc sends every field, "" when unused).
func absent(m map[string]any, key string) (any, bool) {
	v, ok := m[key]
	if !ok || v == nil {
		return nil, true
	}
	if s, isStr := v.(string); isStr && s == "" {
		return nil, true
	}
	return v, false
}

// MemberInt returns member key as an integer (an integral double is
// accepted). ok is false when the member is absent, nil or "".
func MemberInt(m map[string]any, key string) (v int64, ok bool, err error) {
	raw, none := absent(m, key)
	if none {
		return 0, false, nil
	}
	if n, isInt := asInt(raw); isInt {
		return n, true, nil
	}
	return 0, false, memberErr(key, "int", raw)
}

// MemberString returns member key as a string (an int is rendered in base
// 10). ok is false when the member is absent, nil or "".
func MemberString(m map[string]any, key string) (v string, ok bool, err error) {
	raw, none := absent(m, key)
	if none {
		return "", false, nil
	}
	if s, isStr := asString(raw); isStr {
		return s, true, nil
	}
	return "", false, memberErr(key, "string", raw)
}

// MemberBool returns member key as a boolean (the ints 0 and 1 are
// accepted). ok is false when the member is absent, nil or "".
func MemberBool(m map[string]any, key string) (v bool, ok bool, err error) {
	raw, none := absent(m, key)
	if none {
		return false, false, nil
	}
	if b, isBool := asBool(raw); isBool {
		return b, true, nil
	}
	return false, false, memberErr(key, "boolean", raw)
}

// MemberFloat returns member key as a float (an int is accepted). ok is
// false when the member is absent, nil or "".
func MemberFloat(m map[string]any, key string) (v float64, ok bool, err error) {
	raw, none := absent(m, key)
	if none {
		return 0, false, nil
	}
	if f, isFloat := asFloat(raw); isFloat {
		return f, true, nil
	}
	return 0, false, memberErr(key, "double", raw)
}

// MemberIntList returns member key as a list of integers: a scalar int
// yields a one-element list, an array must hold only ints. ok is false when
// the member is absent, nil or "".
func MemberIntList(m map[string]any, key string) (v []int64, ok bool, err error) {
	raw, none := absent(m, key)
	if none {
		return nil, false, nil
	}
	if n, isInt := asInt(raw); isInt {
		return []int64{n}, true, nil
	}
	list, isList := raw.([]any)
	if !isList {
		return nil, false, memberErr(key, "int or array of int", raw)
	}
	out := make([]int64, 0, len(list))
	for _, el := range list {
		n, isInt := asInt(el)
		if !isInt {
			return nil, false, &ParamError{Index: -1, Name: key, Want: "int or array of int", Got: "array with " + TypeName(el)}
		}
		out = append(out, n)
	}
	return out, true, nil
}

// MemberStringList returns member key as a list of strings: a scalar string
// (or int) yields a one-element list, an array must hold only strings (or
// ints). ok is false when the member is absent, nil or "".
func MemberStringList(m map[string]any, key string) (v []string, ok bool, err error) {
	raw, none := absent(m, key)
	if none {
		return nil, false, nil
	}
	if s, isStr := asString(raw); isStr {
		return []string{s}, true, nil
	}
	list, isList := raw.([]any)
	if !isList {
		return nil, false, memberErr(key, "string or array of string", raw)
	}
	out := make([]string, 0, len(list))
	for _, el := range list {
		s, isStr := asString(el)
		if !isStr {
			return nil, false, &ParamError{Index: -1, Name: key, Want: "string or array of string", Got: "array with " + TypeName(el)}
		}
		out = append(out, s)
	}
	return out, true, nil
}

func asInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case float64:
		// 2^63 itself is representable as a float64 but not as an int64.
		if x == math.Trunc(x) && x >= math.MinInt64 && x < math.MaxInt64 {
			return int64(x), true
		}
	}
	return 0, false
}

func asString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case int64:
		return strconv.FormatInt(x, 10), true
	}
	return "", false
}

func asBool(v any) (bool, bool) {
	switch x := v.(type) {
	case bool:
		return x, true
	case int64:
		switch x {
		case 0:
			return false, true
		case 1:
			return true, true
		}
	}
	return false, false
}

func asFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int64:
		return float64(x), true
	}
	return 0, false
}
