package xmlrpc

import (
	"errors"
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// wantParamErr checks err against the expected ParamError (nil: no error).
func wantParamErr(t *testing.T, err error, want *ParamError) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	var pe *ParamError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v, want a *ParamError", err)
	}
	if diff := cmp.Diff(want, pe); diff != "" {
		t.Errorf("ParamError mismatch (-want +got):\n%s", diff)
	}
}

func TestParamErrorMessage(t *testing.T) {
	tests := []struct {
		err  *ParamError
		want string
	}{
		{&ParamError{Index: 1, Name: "vm_id", Want: "int", Got: "string"}, "parameter 2 (vm_id): want int, got string"},
		{&ParamError{Index: 0, Name: "apikey", Want: "string", Got: "nothing"}, "parameter 1 (apikey): want string, got nothing"},
		{&ParamError{Index: -1, Name: "memory", Want: "int", Got: "array"}, "member memory: want int, got array"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

func TestInt(t *testing.T) {
	params := []any{int64(42), 3.0, 3.5, "42", nil, true, math.Pow(2, 63), -math.Pow(2, 63)}
	tests := []struct {
		i       int
		want    int64
		wantErr *ParamError
	}{
		{0, 42, nil},
		{1, 3, nil},
		{2, 0, &ParamError{Index: 2, Name: "p", Want: "int", Got: "double"}},
		{3, 0, &ParamError{Index: 3, Name: "p", Want: "int", Got: "string"}},
		{4, 0, &ParamError{Index: 4, Name: "p", Want: "int", Got: "nil"}},
		{5, 0, &ParamError{Index: 5, Name: "p", Want: "int", Got: "boolean"}},
		{6, 0, &ParamError{Index: 6, Name: "p", Want: "int", Got: "double"}},
		{7, math.MinInt64, nil},
		{8, 0, &ParamError{Index: 8, Name: "p", Want: "int", Got: "nothing"}},
	}
	for _, tt := range tests {
		got, err := Int(params, tt.i, "p")
		wantParamErr(t, err, tt.wantErr)
		if got != tt.want {
			t.Errorf("Int(%d) = %d, want %d", tt.i, got, tt.want)
		}
	}
}

func TestString(t *testing.T) {
	params := []any{"abc", int64(-12), "", 1.5, nil, []any{}}
	tests := []struct {
		i       int
		want    string
		wantErr *ParamError
	}{
		{0, "abc", nil},
		{1, "-12", nil},
		{2, "", nil},
		{3, "", &ParamError{Index: 3, Name: "s", Want: "string", Got: "double"}},
		{4, "", &ParamError{Index: 4, Name: "s", Want: "string", Got: "nil"}},
		{5, "", &ParamError{Index: 5, Name: "s", Want: "string", Got: "array"}},
		{6, "", &ParamError{Index: 6, Name: "s", Want: "string", Got: "nothing"}},
	}
	for _, tt := range tests {
		got, err := String(params, tt.i, "s")
		wantParamErr(t, err, tt.wantErr)
		if got != tt.want {
			t.Errorf("String(%d) = %q, want %q", tt.i, got, tt.want)
		}
	}
}

func TestStructAndOptStruct(t *testing.T) {
	m := map[string]any{"a": int64(1)}
	params := []any{m, nil, "", "x", int64(1)}
	tests := []struct {
		i          int
		want       map[string]any
		wantErr    *ParamError
		wantOpt    map[string]any
		wantOptErr *ParamError
	}{
		{0, m, nil, m, nil},
		{1, nil, &ParamError{Index: 1, Name: "spec", Want: "struct", Got: "nil"}, map[string]any{}, nil},
		{2, nil, &ParamError{Index: 2, Name: "spec", Want: "struct", Got: "string"}, map[string]any{}, nil},
		{3, nil, &ParamError{Index: 3, Name: "spec", Want: "struct", Got: "string"}, nil, &ParamError{Index: 3, Name: "spec", Want: "struct", Got: "string"}},
		{4, nil, &ParamError{Index: 4, Name: "spec", Want: "struct", Got: "int"}, nil, &ParamError{Index: 4, Name: "spec", Want: "struct", Got: "int"}},
		{5, nil, &ParamError{Index: 5, Name: "spec", Want: "struct", Got: "nothing"}, map[string]any{}, nil},
	}
	for _, tt := range tests {
		got, err := Struct(params, tt.i, "spec")
		wantParamErr(t, err, tt.wantErr)
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("Struct(%d) mismatch (-want +got):\n%s", tt.i, diff)
		}
		got, err = OptStruct(params, tt.i, "spec")
		wantParamErr(t, err, tt.wantOptErr)
		if diff := cmp.Diff(tt.wantOpt, got); diff != "" {
			t.Errorf("OptStruct(%d) mismatch (-want +got):\n%s", tt.i, diff)
		}
		if tt.wantOptErr == nil && got == nil {
			t.Errorf("OptStruct(%d) returned a nil map", tt.i)
		}
	}
}

func TestBoolAndFloat(t *testing.T) {
	params := []any{true, false, int64(1), int64(0), int64(2), "1", 2.5, int64(4)}
	boolTests := []struct {
		i       int
		want    bool
		wantErr *ParamError
	}{
		{0, true, nil},
		{1, false, nil},
		{2, true, nil},
		{3, false, nil},
		{4, false, &ParamError{Index: 4, Name: "b", Want: "boolean", Got: "int"}},
		{5, false, &ParamError{Index: 5, Name: "b", Want: "boolean", Got: "string"}},
		{9, false, &ParamError{Index: 9, Name: "b", Want: "boolean", Got: "nothing"}},
	}
	for _, tt := range boolTests {
		got, err := Bool(params, tt.i, "b")
		wantParamErr(t, err, tt.wantErr)
		if got != tt.want {
			t.Errorf("Bool(%d) = %t, want %t", tt.i, got, tt.want)
		}
	}
	floatTests := []struct {
		i       int
		want    float64
		wantErr *ParamError
	}{
		{6, 2.5, nil},
		{7, 4, nil},
		{0, 0, &ParamError{Index: 0, Name: "f", Want: "double", Got: "boolean"}},
		{9, 0, &ParamError{Index: 9, Name: "f", Want: "double", Got: "nothing"}},
	}
	for _, tt := range floatTests {
		got, err := Float(params, tt.i, "f")
		wantParamErr(t, err, tt.wantErr)
		if got != tt.want {
			t.Errorf("Float(%d) = %v, want %v", tt.i, got, tt.want)
		}
	}
}

func TestMemberScalars(t *testing.T) {
	m := map[string]any{
		"int":      int64(5),
		"intfloat": 5.0,
		"frac":     5.5,
		"str":      "abc",
		"numstr":   int64(1234),
		"empty":    "",
		"nil":      nil,
		"true":     true,
		"one":      int64(1),
		"zero":     int64(0),
		"two":      int64(2),
		"list":     []any{int64(1)},
		"struct":   map[string]any{},
	}
	type result struct {
		V   any
		OK  bool
		Err *ParamError
	}
	run := func(v any, ok bool, err error) result {
		var pe *ParamError
		if err != nil && !errors.As(err, &pe) {
			t.Fatalf("err = %v, want *ParamError", err)
		}
		return result{v, ok, pe}
	}
	mi := func(k string) result { return run(MemberInt(m, k)) }
	ms := func(k string) result { return run(MemberString(m, k)) }
	mb := func(k string) result { return run(MemberBool(m, k)) }
	mf := func(k string) result { return run(MemberFloat(m, k)) }
	merr := func(k, want, got string) *ParamError {
		return &ParamError{Index: -1, Name: k, Want: want, Got: got}
	}
	tests := []struct {
		name string
		got  result
		want result
	}{
		{"int", mi("int"), result{int64(5), true, nil}},
		{"int from integral double", mi("intfloat"), result{int64(5), true, nil}},
		{"int from fraction", mi("frac"), result{int64(0), false, merr("frac", "int", "double")}},
		{"int from string", mi("str"), result{int64(0), false, merr("str", "int", "string")}},
		{"int absent", mi("absent"), result{int64(0), false, nil}},
		{"int nil", mi("nil"), result{int64(0), false, nil}},
		{"int empty string", mi("empty"), result{int64(0), false, nil}},
		{"int from list", mi("list"), result{int64(0), false, merr("list", "int", "array")}},
		{"string", ms("str"), result{"abc", true, nil}},
		{"string from int", ms("numstr"), result{"1234", true, nil}},
		{"string empty", ms("empty"), result{"", false, nil}},
		{"string nil", ms("nil"), result{"", false, nil}},
		{"string absent", ms("absent"), result{"", false, nil}},
		{"string from double", ms("frac"), result{"", false, merr("frac", "string", "double")}},
		{"string from struct", ms("struct"), result{"", false, merr("struct", "string", "struct")}},
		{"bool", mb("true"), result{true, true, nil}},
		{"bool from 1", mb("one"), result{true, true, nil}},
		{"bool from 0", mb("zero"), result{false, true, nil}},
		{"bool from 2", mb("two"), result{false, false, merr("two", "boolean", "int")}},
		{"bool from string", mb("str"), result{false, false, merr("str", "boolean", "string")}},
		{"bool absent", mb("absent"), result{false, false, nil}},
		{"bool empty", mb("empty"), result{false, false, nil}},
		{"float", mf("frac"), result{5.5, true, nil}},
		{"float from int", mf("int"), result{5.0, true, nil}},
		{"float from string", mf("str"), result{0.0, false, merr("str", "double", "string")}},
		{"float nil", mf("nil"), result{0.0, false, nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.got); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMemberLists(t *testing.T) {
	m := map[string]any{
		"one":     int64(3),
		"onef":    3.0,
		"many":    []any{int64(1), int64(2), 3.0},
		"empty":   []any{},
		"mixed":   []any{int64(1), "x"},
		"str":     "data",
		"strs":    []any{"data", "snapshot", int64(7)},
		"badstrs": []any{"a", 1.5},
		"nil":     nil,
		"blank":   "",
		"struct":  map[string]any{},
	}
	intTests := []struct {
		key     string
		want    []int64
		wantOK  bool
		wantErr *ParamError
	}{
		{"one", []int64{3}, true, nil},
		{"onef", []int64{3}, true, nil},
		{"many", []int64{1, 2, 3}, true, nil},
		{"empty", []int64{}, true, nil},
		{"mixed", nil, false, &ParamError{Index: -1, Name: "mixed", Want: "int or array of int", Got: "array with string"}},
		{"str", nil, false, &ParamError{Index: -1, Name: "str", Want: "int or array of int", Got: "string"}},
		{"struct", nil, false, &ParamError{Index: -1, Name: "struct", Want: "int or array of int", Got: "struct"}},
		{"nil", nil, false, nil},
		{"blank", nil, false, nil},
		{"absent", nil, false, nil},
	}
	for _, tt := range intTests {
		t.Run("int/"+tt.key, func(t *testing.T) {
			got, ok, err := MemberIntList(m, tt.key)
			wantParamErr(t, err, tt.wantErr)
			if ok != tt.wantOK {
				t.Errorf("ok = %t, want %t", ok, tt.wantOK)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
	strTests := []struct {
		key     string
		want    []string
		wantOK  bool
		wantErr *ParamError
	}{
		{"str", []string{"data"}, true, nil},
		{"one", []string{"3"}, true, nil},
		{"strs", []string{"data", "snapshot", "7"}, true, nil},
		{"empty", []string{}, true, nil},
		{"badstrs", nil, false, &ParamError{Index: -1, Name: "badstrs", Want: "string or array of string", Got: "array with double"}},
		{"struct", nil, false, &ParamError{Index: -1, Name: "struct", Want: "string or array of string", Got: "struct"}},
		{"blank", nil, false, nil},
		{"nil", nil, false, nil},
		{"absent", nil, false, nil},
	}
	for _, tt := range strTests {
		t.Run("string/"+tt.key, func(t *testing.T) {
			got, ok, err := MemberStringList(m, tt.key)
			wantParamErr(t, err, tt.wantErr)
			if ok != tt.wantOK {
				t.Errorf("ok = %t, want %t", ok, tt.wantOK)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
