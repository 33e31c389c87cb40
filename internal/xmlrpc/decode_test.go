package xmlrpc

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// callWith wraps param fragments into a methodCall document.
func callWith(params ...string) string {
	var b strings.Builder
	b.WriteString("<?xml version=\"1.0\"?><methodCall><methodName>m</methodName><params>")
	for _, p := range params {
		b.WriteString("<param>" + p + "</param>")
	}
	b.WriteString("</params></methodCall>")
	return b.String()
}

func TestDecodeValue(t *testing.T) {
	ts := time.Date(2018, 5, 18, 17, 21, 59, 0, time.UTC)
	tests := []struct {
		name string
		in   string // the content of <param>
		want any
	}{
		{"nil", "<value><nil/></value>", nil},
		{"nil with space", "<value><nil /></value>", nil},
		{"nil open close", "<value><nil></nil></value>", nil},
		{"ex nil undeclared prefix", "<value><ex:nil/></value>", nil},
		{"ex nil declared", `<value><ex:nil xmlns:ex="http://ws.apache.org/xmlrpc/namespaces/extensions"/></value>`, nil},
		{"empty param is nil", "", nil},
		{"boolean 1", "<value><boolean>1</boolean></value>", true},
		{"boolean 0", "<value><boolean>0</boolean></value>", false},
		{"boolean spaced", "<value><boolean>\n 1 \n</boolean></value>", true},
		{"boolean word", "<value><boolean>False</boolean></value>", false},
		{"int", "<value><int>42</int></value>", int64(42)},
		{"int negative", "<value><int>-42</int></value>", int64(-42)},
		{"int plus", "<value><int>+7</int></value>", int64(7)},
		{"int spaced", "<value><int> 7\n</int></value>", int64(7)},
		{"int zero", "<value><int>0</int></value>", int64(0)},
		{"int beyond int32", "<value><int>8589934592</int></value>", int64(8589934592)},
		{"i1", "<value><i1>-128</i1></value>", int64(-128)},
		{"i2", "<value><i2>32767</i2></value>", int64(32767)},
		{"i4", "<value><i4>2147483647</i4></value>", int64(2147483647)},
		{"i4 min", "<value><i4>-2147483648</i4></value>", int64(-2147483648)},
		{"i8 max", "<value><i8>9223372036854775807</i8></value>", int64(9223372036854775807)},
		{"i8 min", "<value><i8>-9223372036854775808</i8></value>", int64(-9223372036854775808)},
		{"ex i8", "<value><ex:i8>4294967296</ex:i8></value>", int64(4294967296)},
		{"double", "<value><double>102400.0</double></value>", 102400.0},
		{"double no point", "<value><double>102400</double></value>", 102400.0},
		{"double negative", "<value><double>-0.25</double></value>", -0.25},
		{"double exponent", "<value><double>1.5e3</double></value>", 1500.0},
		{"double tiny", "<value><double>0.000001</double></value>", 0.000001},
		{"string", "<value><string>hello</string></value>", "hello"},
		{"string empty", "<value><string></string></value>", ""},
		{"string self-closed", "<value><string/></value>", ""},
		{"string spaces kept", "<value><string>  a  b  </string></value>", "  a  b  "},
		{"string escaped", "<value><string>&lt;a&gt; &amp; &quot;b&quot; &apos;c&apos;</string></value>", `<a> & "b" 'c'`},
		{"string char refs", "<value><string>&#x263A;&#9731;&#13;</string></value>", "☺☃\r"},
		{"string unicode", "<value><string>héllo ☃ 𝄞 日本</string></value>", "héllo ☃ 𝄞 日本"},
		{"string cdata", "<value><string><![CDATA[<&>]]></string></value>", "<&>"},
		{"string cdata and text", "<value><string>a<![CDATA[<b>]]>c</string></value>", "a<b>c"},
		{"string comment dropped", "<value><string>a<!-- x -->b</string></value>", "ab"},
		{"string crlf normalised", "<value><string>a\r\nb</string></value>", "a\nb"},
		{"string newlines", "<value><string>a\n\tb\n</string></value>", "a\n\tb\n"},
		{"untyped", "<value>bare text</value>", "bare text"},
		{"untyped spaces", "<value>  </value>", "  "},
		{"untyped empty", "<value></value>", ""},
		{"untyped self-closed", "<value/>", ""},
		{"untyped cdata", "<value><![CDATA[x<y]]></value>", "x<y"},
		{"space around typed", "<value>\n  <int>1</int>\n</value>", int64(1)},
		{"datetime compact", "<value><dateTime.iso8601>20180518T17:21:59</dateTime.iso8601></value>", ts},
		{"datetime hyphens", "<value><dateTime.iso8601>2018-05-18T17:21:59</dateTime.iso8601></value>", ts},
		{"datetime no colons", "<value><dateTime.iso8601>20180518T172159</dateTime.iso8601></value>", ts},
		{"datetime Z", "<value><dateTime.iso8601>20180518T17:21:59Z</dateTime.iso8601></value>", ts},
		{"datetime hyphens Z", "<value><dateTime.iso8601>2018-05-18T17:21:59Z</dateTime.iso8601></value>", ts},
		{"datetime offset", "<value><dateTime.iso8601>2018-05-18T19:21:59+02:00</dateTime.iso8601></value>", ts},
		{"datetime offset no colon", "<value><dateTime.iso8601>20180518T12:21:59-0500</dateTime.iso8601></value>", ts},
		{"datetime fraction dropped", "<value><dateTime.iso8601>20180518T17:21:59.987</dateTime.iso8601></value>", ts},
		{"datetime spaced", "<value><dateTime.iso8601> 20180518T17:21:59\n</dateTime.iso8601></value>", ts},
		{"datetime lowercase tag", "<value><datetime.iso8601>20180518T17:21:59</datetime.iso8601></value>", ts},
		{"base64", "<value><base64>aGVsbG8=</base64></value>", []byte("hello")},
		{"base64 newlines", "<value><base64>\naGVs\nbG8g\r\nd29y bGQ=\n</base64></value>", []byte("hello world")},
		{"base64 unpadded", "<value><base64>aGVsbG8</base64></value>", []byte("hello")},
		{"base64 empty", "<value><base64></base64></value>", []byte{}},
		{"base64 self-closed", "<value><base64/></value>", []byte{}},
		{"array", "<value><array><data><value><int>1</int></value><value>two</value></data></array></value>", []any{int64(1), "two"}},
		{"array self-closed", "<value><array/></value>", []any{}},
		{"array empty data", "<value><array><data/></array></value>", []any{}},
		{"array data open close", "<value><array><data></data></array></value>", []any{}},
		{"array no data", "<value><array></array></value>", []any{}},
		{"array spaced", "<value>\n<array>\n <data>\n  <value><nil/></value>\n  <value/>\n </data>\n</array>\n</value>", []any{nil, ""}},
		{"array nested", "<value><array><data><value><array><data><value><array/></value></data></array></value></data></array></value>", []any{[]any{[]any{}}}},
		{"struct", "<value><struct><member><name>a</name><value><int>1</int></value></member></struct></value>", map[string]any{"a": int64(1)}},
		{"struct self-closed", "<value><struct/></value>", map[string]any{}},
		{"struct empty", "<value><struct></struct></value>", map[string]any{}},
		{"struct escaped name", "<value><struct><member><name>a&lt;&amp;&gt;b</name><value/></member></struct></value>", map[string]any{"a<&>b": ""}},
		{"struct cdata name", "<value><struct><member><name><![CDATA[<x>]]></name><value><nil/></value></member></struct></value>", map[string]any{"<x>": nil}},
		{"struct empty name", "<value><struct><member><name></name><value><int>1</int></value></member></struct></value>", map[string]any{"": int64(1)}},
		{"struct unicode name", "<value><struct><member><name>clé ☃</name><value>v</value></member></struct></value>", map[string]any{"clé ☃": "v"}},
		{"struct value before name", "<value><struct><member><value><int>1</int></value><name>a</name></member></struct></value>", map[string]any{"a": int64(1)}},
		{"struct duplicate last wins", "<value><struct><member><name>a</name><value>1</value></member><member><name>a</name><value>2</value></member></struct></value>", map[string]any{"a": "2"}},
		{"struct nested", "<value><struct>\n <member>\n  <name>a</name>\n  <value><struct><member><name>b</name><value><array><data><value><struct/></value></data></array></value></member></struct></value>\n </member>\n</struct></value>",
			map[string]any{"a": map[string]any{"b": []any{map[string]any{}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method, params, err := DecodeCall(strings.NewReader(callWith(tt.in)), Limits{})
			if err != nil {
				t.Fatalf("DecodeCall: %v", err)
			}
			if method != "m" {
				t.Errorf("method = %q, want m", method)
			}
			if diff := cmp.Diff([]any{tt.want}, params); diff != "" {
				t.Errorf("params mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeCallShapes(t *testing.T) {
	tests := []struct {
		name       string
		in         string
		wantMethod string
		wantParams []any
	}{
		{"no params element", "<methodCall><methodName>a.b</methodName></methodCall>", "a.b", []any{}},
		{"empty params", "<methodCall><methodName>a.b</methodName><params/></methodCall>", "a.b", []any{}},
		{"params before name", "<methodCall><params><param><value>x</value></param></params><methodName>a.b</methodName></methodCall>", "a.b", []any{"x"}},
		{"name trimmed", "<methodCall><methodName>\n  a.b \n</methodName></methodCall>", "a.b", []any{}},
		{"bom and prolog", "\ufeff<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<!-- c -->\n<methodCall><methodName>x</methodName></methodCall>\n<!-- trailing -->\n", "x", []any{}},
		{"declared UTF-8 upper", `<?xml version="1.0" encoding="UTF-8"?><methodCall><methodName>x</methodName></methodCall>`, "x", []any{}},
		{"declared us-ascii", `<?xml version="1.0" encoding="us-ascii"?><methodCall><methodName>x</methodName></methodCall>`, "x", []any{}},
		{"declared UTF8 alias", `<?xml version="1.0" encoding="UTF8"?><methodCall><methodName>x</methodName></methodCall>`, "x", []any{}},
		{"latin1", "<?xml version=\"1.0\" encoding=\"latin1\"?><methodCall><methodName>x</methodName><params><param><value>caf\xe9</value></param></params></methodCall>", "x", []any{"café"}},
		{"several params", callWith("<value><int>1</int></value>", "<value>a</value>", "", "<value><nil/></value>"), "m", []any{int64(1), "a", nil, nil}},
		{"escaped method name", "<methodCall><methodName>a&amp;b</methodName></methodCall>", "a&b", []any{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method, params, err := DecodeCall(strings.NewReader(tt.in), Limits{})
			if err != nil {
				t.Fatalf("DecodeCall: %v", err)
			}
			if method != tt.wantMethod {
				t.Errorf("method = %q, want %q", method, tt.wantMethod)
			}
			if diff := cmp.Diff(tt.wantParams, params); diff != "" {
				t.Errorf("params mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeCallErrors(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		limits  Limits
		wantErr error
		wantMsg string // substring of the error message
	}{
		{"empty document", "", Limits{}, ErrMalformed, "unexpected end"},
		{"not xml", "hello", Limits{}, ErrMalformed, "text before the root"},
		{"truncated", "<methodCall><methodName>x</methodName><params>", Limits{}, ErrMalformed, ""},
		{"mismatched tags", "<methodCall><methodName>x</methodCall>", Limits{}, ErrMalformed, ""},
		{"wrong root", "<methodResponse><params/></methodResponse>", Limits{}, ErrMalformed, "want <methodCall>"},
		{"missing methodName", "<methodCall><params/></methodCall>", Limits{}, ErrMalformed, "missing methodName"},
		{"blank methodName", "<methodCall><methodName> </methodName></methodCall>", Limits{}, ErrMalformed, "missing methodName"},
		{"duplicate methodName", "<methodCall><methodName>a</methodName><methodName>b</methodName></methodCall>", Limits{}, ErrMalformed, "duplicate"},
		{"duplicate params", "<methodCall><methodName>a</methodName><params/><params/></methodCall>", Limits{}, ErrMalformed, "duplicate"},
		{"element in methodName", "<methodCall><methodName>a<b/></methodName></methodCall>", Limits{}, ErrMalformed, "unexpected <b>"},
		{"unknown element in call", "<methodCall><methodName>a</methodName><foo/></methodCall>", Limits{}, ErrMalformed, "unexpected <foo>"},
		{"text in params", "<methodCall><methodName>a</methodName><params>junk</params></methodCall>", Limits{}, ErrMalformed, "unexpected text"},
		{"two roots", "<methodCall><methodName>a</methodName></methodCall><methodCall/>", Limits{}, ErrMalformed, "after the root"},
		{"text after root", "<methodCall><methodName>a</methodName></methodCall>junk", Limits{}, ErrMalformed, "after the root"},
		{"unknown type", callWith("<value><float>1</float></value>"), Limits{}, ErrMalformed, "unknown value type <float>"},
		{"bad int", callWith("<value><int>1.5</int></value>"), Limits{}, ErrMalformed, "bad <int>"},
		{"empty int", callWith("<value><int/></value>"), Limits{}, ErrMalformed, "bad <int>"},
		{"int overflow", callWith("<value><i8>9223372036854775808</i8></value>"), Limits{}, ErrMalformed, "bad <i8>"},
		{"bad boolean", callWith("<value><boolean>2</boolean></value>"), Limits{}, ErrMalformed, "bad <boolean>"},
		{"bad double", callWith("<value><double>abc</double></value>"), Limits{}, ErrMalformed, "bad <double>"},
		{"nan", callWith("<value><double>NaN</double></value>"), Limits{}, ErrMalformed, "bad <double>"},
		{"inf", callWith("<value><double>-Inf</double></value>"), Limits{}, ErrMalformed, "bad <double>"},
		{"double overflow", callWith("<value><double>1e400</double></value>"), Limits{}, ErrMalformed, "bad <double>"},
		{"bad datetime", callWith("<value><dateTime.iso8601>yesterday</dateTime.iso8601></value>"), Limits{}, ErrMalformed, "bad <dateTime.iso8601>"},
		{"datetime out of range", callWith("<value><dateTime.iso8601>00000101T00:00:00+01:00</dateTime.iso8601></value>"), Limits{}, ErrMalformed, "bad <dateTime.iso8601>"},
		{"bad base64", callWith("<value><base64>!!!</base64></value>"), Limits{}, ErrMalformed, "bad <base64>"},
		{"text and element", callWith("<value>x<int>1</int></value>"), Limits{}, ErrMalformed, "mixed"},
		{"two typed elements", callWith("<value><int>1</int><int>2</int></value>"), Limits{}, ErrMalformed, "unexpected <int>"},
		{"element in string", callWith("<value><string>a<b>c</b></string></value>"), Limits{}, ErrMalformed, "unexpected <b>"},
		{"content in nil", callWith("<value><nil>x</nil></value>"), Limits{}, ErrMalformed, "unexpected text"},
		{"member without value", callWith("<value><struct><member><name>a</name></member></struct></value>"), Limits{}, ErrMalformed, "without name or value"},
		{"member without name", callWith("<value><struct><member><value>1</value></member></struct></value>"), Limits{}, ErrMalformed, "without name or value"},
		{"member two names", callWith("<value><struct><member><name>a</name><name>b</name><value/></member></struct></value>"), Limits{}, ErrMalformed, "unexpected <name>"},
		{"value in struct", callWith("<value><struct><value/></struct></value>"), Limits{}, ErrMalformed, "unexpected <value> in struct"},
		{"value directly in array", callWith("<value><array><value/></array></value>"), Limits{}, ErrMalformed, "unexpected <value> in array"},
		{"two data", callWith("<value><array><data/><data/></array></value>"), Limits{}, ErrMalformed, "unexpected <data>"},
		{"param without value", callWith("<int>1</int>"), Limits{}, ErrMalformed, "unexpected <int> in param"},
		{"two values in param", callWith("<value/><value/>"), Limits{}, ErrMalformed, "unexpected <value> in param"},
		{"doctype", `<?xml version="1.0"?><!DOCTYPE methodCall><methodCall><methodName>a</methodName></methodCall>`, Limits{}, ErrDTD, ""},
		{"entity declaration", `<!DOCTYPE x [<!ENTITY e "boom">]><methodCall><methodName>&e;</methodName></methodCall>`, Limits{}, ErrDTD, ""},
		{"billion laughs", `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><methodCall><methodName>&lol2;</methodName></methodCall>`, Limits{}, ErrDTD, ""},
		{"undeclared entity", "<methodCall><methodName>&xxe;</methodName></methodCall>", Limits{}, ErrMalformed, ""},
		{"external entity", `<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><methodCall><methodName>&xxe;</methodName></methodCall>`, Limits{}, ErrDTD, ""},
		{"doctype after root", "<methodCall><methodName>a</methodName></methodCall><!DOCTYPE x>", Limits{}, ErrDTD, ""},
		{"unsupported charset", `<?xml version="1.0" encoding="shift_jis"?><methodCall><methodName>a</methodName></methodCall>`, Limits{}, ErrMalformed, "charset"},
		{"invalid utf-8", callWith("<value>\xff\xfe</value>"), Limits{}, ErrMalformed, ""},
		{"control character", callWith("<value>a\x01b</value>"), Limits{}, ErrMalformed, ""},
		{"too large", callWith("<value>" + strings.Repeat("x", 200) + "</value>"), Limits{MaxBytes: 100}, ErrTooLarge, "over 100 bytes"},
		{"too deep", callWith(strings.Repeat("<value><array><data>", 4) + strings.Repeat("</data></array></value>", 4)), Limits{MaxDepth: 3}, ErrTooDeep, "more than 3 levels"},
		{"too deep structs", callWith(strings.Repeat("<value><struct><member><name>a</name>", 4) + "<value/>" + strings.Repeat("</member></struct></value>", 4)), Limits{MaxDepth: 3}, ErrTooDeep, ""},
		{"too many elements", callWith("<value><array><data>" + strings.Repeat("<value/>", 10) + "</data></array></value>"), Limits{MaxElements: 10}, ErrTooManyElements, "more than 10"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := DecodeCall(strings.NewReader(tt.in), tt.limits)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("err = %q, want it to contain %q", err, tt.wantMsg)
			}
		})
	}
}

func TestDecodeLimitsAtBoundary(t *testing.T) {
	// Exactly MaxDepth nested arrays is accepted; one more is refused.
	nest := func(n int) string {
		return callWith(strings.Repeat("<value><array><data>", n) + strings.Repeat("</data></array></value>", n))
	}
	if _, _, err := DecodeCall(strings.NewReader(nest(DefaultMaxDepth)), Limits{}); err != nil {
		t.Errorf("depth %d: %v", DefaultMaxDepth, err)
	}
	if _, _, err := DecodeCall(strings.NewReader(nest(DefaultMaxDepth+1)), Limits{}); !errors.Is(err, ErrTooDeep) {
		t.Errorf("depth %d: err = %v, want ErrTooDeep", DefaultMaxDepth+1, err)
	}
	// A body of exactly MaxBytes is accepted.
	doc := callWith("<value>x</value>")
	if _, _, err := DecodeCall(strings.NewReader(doc), Limits{MaxBytes: int64(len(doc))}); err != nil {
		t.Errorf("body of exactly MaxBytes: %v", err)
	}
	if _, _, err := DecodeCall(strings.NewReader(doc), Limits{MaxBytes: int64(len(doc) - 1)}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("body one byte over: err = %v, want ErrTooLarge", err)
	}
	// Negative limits disable the checks.
	big := callWith(strings.Repeat("<value><array><data>", 100) + strings.Repeat("</data></array></value>", 100))
	if _, _, err := DecodeCall(strings.NewReader(big), Limits{MaxBytes: -1, MaxDepth: -1, MaxElements: -1}); err != nil {
		t.Errorf("unlimited: %v", err)
	}
	// Counting elements: the document has methodCall, methodName, params, param, value.
	if _, _, err := DecodeCall(strings.NewReader(doc), Limits{MaxElements: 5}); err != nil {
		t.Errorf("5 elements with MaxElements 5: %v", err)
	}
	if _, _, err := DecodeCall(strings.NewReader(doc), Limits{MaxElements: 4}); !errors.Is(err, ErrTooManyElements) {
		t.Errorf("5 elements with MaxElements 4: err = %v, want ErrTooManyElements", err)
	}
}

func TestDecodeResponse(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		want      any
		wantFault *Fault
		wantErr   error
	}{
		{"int", "<methodResponse><params><param><value><int>1</int></value></param></params></methodResponse>", int64(1), nil, nil},
		{"i8", "<methodResponse><params><param><value><i8>8589934592</i8></value></param></params></methodResponse>", int64(8589934592), nil, nil},
		{"nil", "<methodResponse><params><param><value><nil/></value></param></params></methodResponse>", nil, nil, nil},
		{"no params", "<methodResponse><params/></methodResponse>", nil, nil, nil},
		{"spaced", "<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n<value><string>x</string></value>\n</param>\n</params>\n</methodResponse>\n", "x", nil, nil},
		{"fault", "<methodResponse><fault><value><struct><member><name>faultCode</name><value><int>530142</int></value></member><member><name>faultString</name><value><string>vm 1 not found</string></value></member></struct></value></fault></methodResponse>",
			nil, &Fault{Code: 530142, String: "vm 1 not found"}, nil},
		{"fault i4 and untyped string", "<methodResponse><fault><value><struct><member><name>faultCode</name><value><i4>-32700</i4></value></member><member><name>faultString</name><value>bad</value></member></struct></value></fault></methodResponse>",
			nil, &Fault{Code: -32700, String: "bad"}, nil},
		{"fault code not int", "<methodResponse><fault><value><struct><member><name>faultCode</name><value>x</value></member></struct></value></fault></methodResponse>", nil, nil, ErrMalformed},
		{"fault not struct", "<methodResponse><fault><value><int>1</int></value></fault></methodResponse>", nil, nil, ErrMalformed},
		{"two params", "<methodResponse><params><param><value>a</value></param><param><value>b</value></param></params></methodResponse>", nil, nil, ErrMalformed},
		{"params and fault", "<methodResponse><params/><fault/></methodResponse>", nil, nil, ErrMalformed},
		{"wrong root", "<methodCall><methodName>x</methodName></methodCall>", nil, nil, ErrMalformed},
		{"dtd", "<!DOCTYPE x><methodResponse><params/></methodResponse>", nil, nil, ErrDTD},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeResponse(strings.NewReader(tt.in))
			switch {
			case tt.wantFault != nil:
				var f *Fault
				if !errors.As(err, &f) {
					t.Fatalf("err = %v, want a *Fault", err)
				}
				if diff := cmp.Diff(tt.wantFault, f); diff != "" {
					t.Errorf("fault mismatch (-want +got):\n%s", diff)
				}
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
			default:
				if err != nil {
					t.Fatalf("DecodeResponse: %v", err)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("result mismatch (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestDecodeResponseUnlimitedSize(t *testing.T) {
	// Responses can be much bigger than requests (a 500-VM list): the default
	// DecodeResponse has no size or element limit.
	n := DefaultMaxElements
	doc := "<methodResponse><params><param><value><array><data>" +
		strings.Repeat("<value><int>1</int></value>", n) +
		"</data></array></value></param></params></methodResponse>"
	got, err := DecodeResponse(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	if l := len(got.([]any)); l != n {
		t.Errorf("got %d elements, want %d", l, n)
	}
	if _, err := DecodeResponseLimits(strings.NewReader(doc), Limits{MaxElements: 1000}); !errors.Is(err, ErrTooManyElements) {
		t.Errorf("with MaxElements 1000: err = %v, want ErrTooManyElements", err)
	}
}

// failingReader returns its data, then err.
type failingReader struct {
	data []byte
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestDecodeReadError(t *testing.T) {
	boom := errors.New("connection reset")
	_, _, err := DecodeCall(&failingReader{data: []byte("<methodCall><methodName>x"), err: boom}, Limits{})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the read error", err)
	}
	if errors.Is(err, ErrMalformed) {
		t.Errorf("a read error is reported as malformed: %v", err)
	}
	_, err = DecodeResponse(&failingReader{data: []byte("<methodResponse>"), err: boom})
	if !errors.Is(err, boom) {
		t.Fatalf("DecodeResponse: err = %v, want the read error", err)
	}
}
