package xmlrpc

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// addSeeds adds every file matching the patterns to the fuzz corpus.
func addSeeds(f *testing.F, patterns ...string) {
	f.Helper()
	n := 0
	for _, p := range patterns {
		files, err := filepath.Glob(p)
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
			n++
		}
	}
	if n == 0 {
		f.Fatalf("no seed files match %v", patterns)
	}
}

// FuzzDecodeCall checks that the decoder never panics and that any call it
// accepts re-encodes to a document that decodes to the same call.
func FuzzDecodeCall(f *testing.F) {
	addSeeds(f, "testdata/wire/call-*.xml", "testdata/encode/call-*.xml")
	for _, s := range []string{
		callWith("<value><array><data><value><struct><member><name>a</name><value><i8>-1</i8></value></member></struct></value></data></array></value>"),
		callWith("<value><dateTime.iso8601>20180518T17:21:59+02:00</dateTime.iso8601></value>", "<value><base64>aGk</base64></value>"),
		callWith("<value><double>-0.0</double></value>", "<value>&#13;&#10;x</value>", ""),
		`<!DOCTYPE x [<!ENTITY e "boom">]><methodCall><methodName>&e;</methodName></methodCall>`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		method, params, err := DecodeCall(bytes.NewReader(data), Limits{})
		if err != nil {
			if method != "" || params != nil {
				t.Fatalf("DecodeCall returned a call with an error: %q %v %v", method, params, err)
			}
			return
		}
		var b bytes.Buffer
		if err := EncodeCall(&b, method, params...); err != nil {
			t.Fatalf("EncodeCall of a decoded call: %v", err)
		}
		// The canonical form may hold more elements than the input (<value>x</value>
		// becomes <value><string>x</string></value>), so only depth stays limited.
		m2, p2, err := DecodeCall(bytes.NewReader(b.Bytes()), Limits{MaxBytes: -1, MaxElements: -1})
		if err != nil {
			t.Fatalf("DecodeCall of a re-encoded call: %v\n%s", err, b.String())
		}
		if diff := cmp.Diff([]any{method, params}, []any{m2, p2}); diff != "" {
			t.Fatalf("round trip changed the call (-first +second):\n%s", diff)
		}
	})
}

// FuzzDecodeResponse checks the response decoder the same way.
func FuzzDecodeResponse(f *testing.F) {
	addSeeds(f, "testdata/wire/resp-*.xml", "testdata/encode/response-*.xml")
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := DecodeResponse(bytes.NewReader(data))
		var b bytes.Buffer
		var fault *Fault
		switch {
		case errors.As(err, &fault):
			if err := EncodeFault(&b, *fault); err != nil {
				t.Fatal(err)
			}
		case err != nil:
			return
		default:
			if err := EncodeResponse(&b, v); err != nil {
				t.Fatalf("EncodeResponse of a decoded result: %v", err)
			}
		}
		v2, err2 := DecodeResponse(bytes.NewReader(b.Bytes()))
		var fault2 *Fault
		if fault != nil {
			if !errors.As(err2, &fault2) || *fault2 != *fault {
				t.Fatalf("fault round trip: %v then %v", fault, err2)
			}
			return
		}
		if err2 != nil {
			t.Fatalf("DecodeResponse of a re-encoded result: %v\n%s", err2, b.String())
		}
		if diff := cmp.Diff(v, v2); diff != "" {
			t.Fatalf("round trip changed the result (-first +second):\n%s", diff)
		}
	})
}
