package xmlrpc

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

type (
	namedInt    int
	namedString string
	namedBool   bool
	namedFloat  float64
	namedBytes  []byte
)

func TestEncodeValue(t *testing.T) {
	ts := time.Date(2018, 5, 18, 17, 21, 59, 0, time.UTC)
	seven := 7
	var nilPtr *int
	var nilMap map[string]any
	var nilSlice []any
	var nilBytes []byte
	tests := []struct {
		name string
		in   any
		want string // without the surrounding <value></value>
	}{
		{"nil", nil, "<nil/>"},
		{"nil pointer", nilPtr, "<nil/>"},
		{"pointer", &seven, "<int>7</int>"},
		{"pointer to pointer", func() any { p := &seven; return &p }(), "<int>7</int>"},
		{"nil map is empty struct", nilMap, "<struct></struct>"},
		{"nil slice is empty array", nilSlice, "<array><data></data></array>"},
		{"nil bytes is empty base64", nilBytes, "<base64></base64>"},
		{"true", true, "<boolean>1</boolean>"},
		{"false", false, "<boolean>0</boolean>"},
		{"named bool", namedBool(true), "<boolean>1</boolean>"},
		{"int", 42, "<int>42</int>"},
		{"int zero", 0, "<int>0</int>"},
		{"int negative", -42, "<int>-42</int>"},
		{"int8", int8(-128), "<int>-128</int>"},
		{"int16", int16(32767), "<int>32767</int>"},
		{"int32 max", int32(math.MaxInt32), "<int>2147483647</int>"},
		{"int32 min", int32(math.MinInt32), "<int>-2147483648</int>"},
		{"int64 at int32 max", int64(math.MaxInt32), "<int>2147483647</int>"},
		{"int64 just above", int64(math.MaxInt32) + 1, "<i8>2147483648</i8>"},
		{"int64 at int32 min", int64(math.MinInt32), "<int>-2147483648</int>"},
		{"int64 just below", int64(math.MinInt32) - 1, "<i8>-2147483649</i8>"},
		{"int64 max", int64(math.MaxInt64), "<i8>9223372036854775807</i8>"},
		{"int64 min", int64(math.MinInt64), "<i8>-9223372036854775808</i8>"},
		{"int beyond int32", 1 << 40, "<i8>1099511627776</i8>"},
		{"uint", uint(7), "<int>7</int>"},
		{"uint8", uint8(255), "<int>255</int>"},
		{"uint16", uint16(65535), "<int>65535</int>"},
		{"uint32 max", uint32(math.MaxUint32), "<i8>4294967295</i8>"},
		{"uint64", uint64(1 << 62), "<i8>4611686018427387904</i8>"},
		{"named int", namedInt(3), "<int>3</int>"},
		{"double integral", 102400.0, "<double>102400.0</double>"},
		{"double zero", 0.0, "<double>0.0</double>"},
		{"double negative zero", math.Copysign(0, -1), "<double>-0.0</double>"},
		{"double fraction", 0.1, "<double>0.1</double>"},
		{"double negative", -2.5, "<double>-2.5</double>"},
		{"double large", 1e21, "<double>1000000000000000000000.0</double>"},
		{"double small", 1.5e-7, "<double>0.00000015</double>"},
		{"float32", float32(0.1), "<double>0.1</double>"},
		{"float32 integral", float32(5120), "<double>5120.0</double>"},
		{"named float", namedFloat(1.25), "<double>1.25</double>"},
		{"string", "hello", "<string>hello</string>"},
		{"string empty", "", "<string></string>"},
		{"string escaping", `a<b>&c"d'e`, `<string>a&lt;b&gt;&amp;c"d'e</string>`},
		{"string cdata end", "]]>", "<string>]]&gt;</string>"},
		{"string unicode", "héllo ☃ 𝄞", "<string>héllo ☃ 𝄞</string>"},
		{"string newline and tab kept", "a\n\tb", "<string>a\n\tb</string>"},
		{"string carriage return", "a\r\nb", "<string>a&#xD;\nb</string>"},
		{"string control replaced", "a\x00b\x1fc", "<string>a\uFFFDb\uFFFDc</string>"},
		{"string invalid utf8 replaced", "a\xffb", "<string>a\uFFFDb</string>"},
		{"string nonchar replaced", "a\uFFFEb", "<string>a\uFFFDb</string>"},
		{"named string", namedString("x"), "<string>x</string>"},
		{"time utc", ts, "<dateTime.iso8601>20180518T17:21:59</dateTime.iso8601>"},
		{"time zone converted", ts.In(time.FixedZone("X", -5*3600)), "<dateTime.iso8601>20180518T17:21:59</dateTime.iso8601>"},
		{"time fraction dropped", ts.Add(999 * time.Millisecond), "<dateTime.iso8601>20180518T17:21:59</dateTime.iso8601>"},
		{"time pointer", &ts, "<dateTime.iso8601>20180518T17:21:59</dateTime.iso8601>"},
		{"time zero", time.Time{}, "<dateTime.iso8601>00010101T00:00:00</dateTime.iso8601>"},
		{"bytes", []byte("hello"), "<base64>aGVsbG8=</base64>"},
		{"bytes empty", []byte{}, "<base64></base64>"},
		{"named bytes", namedBytes("hi"), "<base64>aGk=</base64>"},
		{"byte array", [3]byte{1, 2, 3}, "<base64>AQID</base64>"},
		{"array", []any{1, "a", nil}, "<array><data><value><int>1</int></value><value><string>a</string></value><value><nil/></value></data></array>"},
		{"array empty", []any{}, "<array><data></data></array>"},
		{"typed slice int64", []int64{1, 1 << 33}, "<array><data><value><int>1</int></value><value><i8>8589934592</i8></value></data></array>"},
		{"typed slice string", []string{"a", "<"}, "<array><data><value><string>a</string></value><value><string>&lt;</string></value></data></array>"},
		{"typed slice maps", []map[string]any{{"a": 1}}, "<array><data><value><struct><member><name>a</name><value><int>1</int></value></member></struct></value></data></array>"},
		{"go array", [2]int{1, 2}, "<array><data><value><int>1</int></value><value><int>2</int></value></data></array>"},
		{"nested arrays", []any{[]any{[]any{}}}, "<array><data><value><array><data><value><array><data></data></array></value></data></array></value></data></array>"},
		{"struct sorted", map[string]any{"b": 2, "a": 1, "C": 3}, "<struct><member><name>C</name><value><int>3</int></value></member><member><name>a</name><value><int>1</int></value></member><member><name>b</name><value><int>2</int></value></member></struct>"},
		{"struct empty", map[string]any{}, "<struct></struct>"},
		{"struct escaped name", map[string]any{"a<&>b": nil}, "<struct><member><name>a&lt;&amp;&gt;b</name><value><nil/></value></member></struct>"},
		{"typed map", map[string]int{"y": 2, "x": 1}, "<struct><member><name>x</name><value><int>1</int></value></member><member><name>y</name><value><int>2</int></value></member></struct>"},
		{"named key map", map[namedString]string{"k": "v"}, "<struct><member><name>k</name><value><string>v</string></value></member></struct>"},
		{"members keep order", Members{{"z", 1}, {"a", "x"}}, "<struct><member><name>z</name><value><int>1</int></value></member><member><name>a</name><value><string>x</string></value></member></struct>"},
		{"members empty", Members{}, "<struct></struct>"},
		{"struct nested", map[string]any{"a": map[string]any{"b": []any{true}}}, "<struct><member><name>a</name><value><struct><member><name>b</name><value><array><data><value><boolean>1</boolean></value></data></array></value></member></struct></value></member></struct>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := EncodeValue(&b, tt.in); err != nil {
				t.Fatalf("EncodeValue: %v", err)
			}
			if diff := cmp.Diff("<value>"+tt.want+"</value>", b.String()); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEncodeErrors(t *testing.T) {
	cyclic := map[string]any{}
	cyclic["self"] = cyclic
	cyclicSlice := make([]any, 1)
	cyclicSlice[0] = cyclicSlice
	tests := []struct {
		name string
		in   any
		msg  string
	}{
		{"channel", make(chan int), "chan int"},
		{"func", func() {}, "func()"},
		{"go struct", struct{ A int }{1}, "struct"},
		{"int keyed map", map[int]string{1: "a"}, "map keys must be strings"},
		{"complex", complex(1, 2), "complex128"},
		{"nan", math.NaN(), "NaN"},
		{"inf", math.Inf(1), "+Inf"},
		{"float32 inf", float32(math.Inf(-1)), "-Inf"},
		{"uint64 too big", uint64(math.MaxUint64), "does not fit"},
		{"year 10000", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), "year 10000"},
		{"negative year", time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC), "year -1"},
		{"nested bad value", map[string]any{"ok": 1, "bad": []any{make(chan int)}}, `member "bad"`},
		{"fault is not a value", Fault{Code: 1}, "xmlrpc.Fault"},
		{"cyclic map", cyclic, "cyclic"},
		{"cyclic slice", cyclicSlice, "cyclic"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			err := EncodeResponse(&b, tt.in)
			if !errors.Is(err, ErrUnsupportedType) {
				t.Fatalf("err = %v, want ErrUnsupportedType", err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("err = %q, want it to contain %q", err, tt.msg)
			}
			if b.Len() != 0 {
				t.Errorf("EncodeResponse wrote %d bytes on error, want none", b.Len())
			}
			if err := EncodeCall(&b, "m", 1, tt.in); !errors.Is(err, ErrUnsupportedType) {
				t.Errorf("EncodeCall: err = %v, want ErrUnsupportedType", err)
			}
			if b.Len() != 0 {
				t.Errorf("EncodeCall wrote %d bytes on error, want none", b.Len())
			}
		})
	}
}

func TestEncodeMapIsDeterministic(t *testing.T) {
	m := map[string]any{}
	for _, k := range strings.Fields("q w e r t y u i o p a s d f g h j k l z x c v b n m") {
		m[k] = map[string]any{k + "1": 1, k + "2": 2, k + "0": 0}
	}
	var first bytes.Buffer
	if err := EncodeResponse(&first, m); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		var again bytes.Buffer
		if err := EncodeResponse(&again, m); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first.Bytes(), again.Bytes()) {
			t.Fatal("two encodings of the same map differ")
		}
	}
}

// TestRoundTrip encodes Go values, decodes them back and compares with the
// decoded model (every integer becomes int64, typed slices become []any, ...).
func TestRoundTrip(t *testing.T) {
	ts := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name string
		in   any
		want any
	}{
		{"nil", nil, nil},
		{"bool", true, true},
		{"int", 7, int64(7)},
		{"int32 boundary", int64(math.MaxInt32), int64(math.MaxInt32)},
		{"i8", int64(math.MaxInt32) + 1, int64(math.MaxInt32) + 1},
		{"i8 min", int64(math.MinInt64), int64(math.MinInt64)},
		{"uint8", uint8(9), int64(9)},
		{"double", 102400.0, 102400.0},
		{"double fraction", 1.0 / 3, 1.0 / 3},
		{"double max", math.MaxFloat64, math.MaxFloat64},
		{"double smallest", math.SmallestNonzeroFloat64, math.SmallestNonzeroFloat64},
		{"float32", float32(0.1), 0.1},
		{"string", "a<&>b\r\n\tc ☃ 𝄞 ]]>", "a<&>b\r\n\tc ☃ 𝄞 ]]>"},
		{"string empty", "", ""},
		{"string spaces", "  ", "  "},
		{"time", ts, ts},
		{"time zone", ts.In(time.FixedZone("X", 3600)), ts},
		{"bytes", []byte{0, 1, 2, 255}, []byte{0, 1, 2, 255}},
		{"bytes empty", []byte{}, []byte{}},
		{"typed slice", []int{1, 2}, []any{int64(1), int64(2)}},
		{"nil slice", []string(nil), []any{}},
		{"struct", map[string]any{"a<&>b": []any{nil, map[string]any{}}, "": 1},
			map[string]any{"a<&>b": []any{nil, map[string]any{}}, "": int64(1)}},
		{"members", Members{{"b", 1}, {"a", 2}}, map[string]any{"a": int64(2), "b": int64(1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := EncodeResponse(&b, tt.in); err != nil {
				t.Fatal(err)
			}
			got, err := DecodeResponse(&b)
			if err != nil {
				t.Fatalf("DecodeResponse: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("round trip mismatch (-want +got):\n%s", diff)
			}

			b.Reset()
			if err := EncodeCall(&b, "a.b<c>", tt.in, tt.in); err != nil {
				t.Fatal(err)
			}
			method, params, err := DecodeCall(&b, Limits{})
			if err != nil {
				t.Fatalf("DecodeCall: %v", err)
			}
			if diff := cmp.Diff([]any{"a.b<c>", []any{tt.want, tt.want}}, []any{method, params}); diff != "" {
				t.Errorf("call round trip mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFaultError(t *testing.T) {
	f := Fault{Code: 530142, String: "vm 1 not found"}
	if got, want := f.Error(), "fault 530142: vm 1 not found"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	var b bytes.Buffer
	if err := EncodeFault(&b, Fault{Code: -32700, String: "a <b> & c"}); err != nil {
		t.Fatal(err)
	}
	_, err := DecodeResponse(&b)
	var got *Fault
	if !errors.As(err, &got) {
		t.Fatalf("err = %v, want *Fault", err)
	}
	if diff := cmp.Diff(&Fault{Code: -32700, String: "a <b> & c"}, got); diff != "" {
		t.Errorf("fault mismatch (-want +got):\n%s", diff)
	}
}
