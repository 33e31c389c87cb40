package xmlrpc

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"math"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// maxEncodeDepth bounds encoder recursion so that a cyclic value fails
// instead of overflowing the stack.
const maxEncodeDepth = 1000

// timeLayout is the only dateTime.iso8601 layout the encoder writes.
const timeLayout = "20060102T15:04:05"

// xmlHeader starts every document the encoder writes.
const xmlHeader = "<?xml version=\"1.0\"?>\n"

// EncodeCall writes a <methodCall> document. Nothing is written if a
// parameter cannot be encoded.
func EncodeCall(w io.Writer, method string, params ...any) error {
	var e encoder
	e.buf.WriteString(xmlHeader)
	e.buf.WriteString("<methodCall><methodName>")
	escape(&e.buf, method)
	e.buf.WriteString("</methodName><params>")
	for i, p := range params {
		e.buf.WriteString("<param>")
		if err := e.value(p, 0); err != nil {
			return fmt.Errorf("encode parameter %d of %s: %w", i+1, method, err)
		}
		e.buf.WriteString("</param>")
	}
	e.buf.WriteString("</params></methodCall>\n")
	_, err := w.Write(e.buf.Bytes())
	return err
}

// EncodeResponse writes a successful <methodResponse> carrying result.
// Nothing is written if result cannot be encoded.
func EncodeResponse(w io.Writer, result any) error {
	b, err := responseBytes(result)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// EncodeFault writes a fault <methodResponse>.
func EncodeFault(w io.Writer, f Fault) error {
	_, err := w.Write(faultBytes(f))
	return err
}

// EncodeValue writes one <value> element; it is meant for tests and tools.
func EncodeValue(w io.Writer, v any) error {
	var e encoder
	if err := e.value(v, 0); err != nil {
		return err
	}
	_, err := w.Write(e.buf.Bytes())
	return err
}

// responseBytes returns a successful methodResponse document.
func responseBytes(result any) ([]byte, error) {
	var e encoder
	return e.response(result)
}

// encoders are reused by the server: a list page's response is 150 KB, and growing a new
// buffer to it for each request cost more than a tenth of the page's CPU.
var encoders = sync.Pool{New: func() any { return new(encoder) }}

// putEncoder returns e to the pool, unless its buffer grew past what is worth keeping.
func putEncoder(e *encoder) {
	if e.buf.Cap() <= 1<<20 {
		e.buf.Reset()
		encoders.Put(e)
	}
}

// response writes a successful methodResponse document into e's (empty) buffer and returns
// its bytes, valid until e is reused.
func (e *encoder) response(result any) ([]byte, error) {
	e.buf.WriteString(xmlHeader)
	e.buf.WriteString("<methodResponse><params><param>")
	if err := e.value(result, 0); err != nil {
		return nil, fmt.Errorf("encode response: %w", err)
	}
	e.buf.WriteString("</param></params></methodResponse>\n")
	return e.buf.Bytes(), nil
}

// faultBytes returns a fault methodResponse document. It cannot fail.
func faultBytes(f Fault) []byte {
	b := new(bytes.Buffer)
	b.WriteString(xmlHeader)
	b.WriteString("<methodResponse><fault><value><struct>")
	b.WriteString("<member><name>faultCode</name><value><int>")
	b.WriteString(strconv.Itoa(f.Code))
	b.WriteString("</int></value></member>")
	b.WriteString("<member><name>faultString</name><value><string>")
	escape(b, f.String)
	b.WriteString("</string></value></member>")
	b.WriteString("</struct></value></fault></methodResponse>\n")
	return b.Bytes()
}

// encoder appends XML-RPC values to an in-memory buffer.
type encoder struct {
	buf bytes.Buffer
}

// value writes v as a <value> element.
func (e *encoder) value(v any, depth int) error {
	if depth > maxEncodeDepth {
		return fmt.Errorf("%w: value nested deeper than %d levels (cyclic?)", ErrUnsupportedType, maxEncodeDepth)
	}
	e.buf.WriteString("<value>")
	if err := e.inner(v, depth); err != nil {
		return err
	}
	e.buf.WriteString("</value>")
	return nil
}

// inner writes the typed element of v (the content of <value>).
func (e *encoder) inner(v any, depth int) error {
	switch x := v.(type) {
	case nil:
		e.buf.WriteString("<nil/>")
	case bool:
		e.boolean(x)
	case int:
		e.integer(int64(x))
	case int64:
		e.integer(x)
	case int32:
		e.integer(int64(x))
	case uint32:
		e.integer(int64(x))
	case float64:
		return e.double(x, 64)
	case float32:
		return e.double(float64(x), 32)
	case string:
		e.str(x)
	case time.Time:
		return e.time(x)
	case []byte:
		e.base64(x)
	case []any:
		e.buf.WriteString("<array><data>")
		for _, el := range x {
			if err := e.value(el, depth+1); err != nil {
				return err
			}
		}
		e.buf.WriteString("</data></array>")
	case map[string]any:
		e.buf.WriteString("<struct>")
		for _, k := range sortedKeys(x) {
			if err := e.member(k, x[k], depth); err != nil {
				return err
			}
		}
		e.buf.WriteString("</struct>")
	case Members:
		e.buf.WriteString("<struct>")
		for _, m := range x {
			if err := e.member(m.Name, m.Value, depth); err != nil {
				return err
			}
		}
		e.buf.WriteString("</struct>")
	default:
		return e.reflect(reflect.ValueOf(v), depth)
	}
	return nil
}

// member writes one struct member.
func (e *encoder) member(name string, v any, depth int) error {
	e.buf.WriteString("<member><name>")
	escape(&e.buf, name)
	e.buf.WriteString("</name>")
	if err := e.value(v, depth+1); err != nil {
		return fmt.Errorf("member %q: %w", name, err)
	}
	e.buf.WriteString("</member>")
	return nil
}

// reflect handles named scalar types, pointers, typed slices, arrays and
// maps with string keys.
func (e *encoder) reflect(rv reflect.Value, depth int) error {
	switch rv.Kind() {
	case reflect.Bool:
		e.boolean(rv.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		e.integer(rv.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		u := rv.Uint()
		if u > math.MaxInt64 {
			return fmt.Errorf("%w: integer %d does not fit in i8", ErrUnsupportedType, u)
		}
		e.integer(int64(u))
	case reflect.Float32:
		return e.double(rv.Float(), 32)
	case reflect.Float64:
		return e.double(rv.Float(), 64)
	case reflect.String:
		e.str(rv.String())
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			e.buf.WriteString("<nil/>")
			return nil
		}
		if depth+1 > maxEncodeDepth {
			return fmt.Errorf("%w: value nested deeper than %d levels (cyclic?)", ErrUnsupportedType, maxEncodeDepth)
		}
		return e.inner(rv.Elem().Interface(), depth+1)
	case reflect.Slice, reflect.Array:
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			b := make([]byte, rv.Len())
			reflect.Copy(reflect.ValueOf(b), rv)
			e.base64(b)
			return nil
		}
		e.buf.WriteString("<array><data>")
		for i := range rv.Len() {
			if err := e.value(rv.Index(i).Interface(), depth+1); err != nil {
				return err
			}
		}
		e.buf.WriteString("</data></array>")
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			return fmt.Errorf("%w: %s (map keys must be strings)", ErrUnsupportedType, rv.Type())
		}
		keys := make([]string, 0, rv.Len())
		vals := make(map[string]reflect.Value, rv.Len())
		iter := rv.MapRange()
		for iter.Next() {
			k := iter.Key().String()
			keys = append(keys, k)
			vals[k] = iter.Value()
		}
		slices.Sort(keys)
		e.buf.WriteString("<struct>")
		for _, k := range keys {
			if err := e.member(k, vals[k].Interface(), depth); err != nil {
				return err
			}
		}
		e.buf.WriteString("</struct>")
	case reflect.Struct:
		if t, ok := rv.Interface().(time.Time); ok {
			return e.time(t)
		}
		return fmt.Errorf("%w: %s", ErrUnsupportedType, rv.Type())
	default:
		return fmt.Errorf("%w: %s", ErrUnsupportedType, rv.Type())
	}
	return nil
}

func (e *encoder) boolean(b bool) {
	if b {
		e.buf.WriteString("<boolean>1</boolean>")
	} else {
		e.buf.WriteString("<boolean>0</boolean>")
	}
}

// integer writes <int> inside the int32 range and <i8> outside it.
func (e *encoder) integer(n int64) {
	tag := "int"
	if n < math.MinInt32 || n > math.MaxInt32 {
		tag = "i8"
	}
	e.buf.WriteString("<" + tag + ">")
	e.buf.WriteString(strconv.FormatInt(n, 10))
	e.buf.WriteString("</" + tag + ">")
}

// double writes f in plain decimal notation with at least one decimal
// (102400 → 102400.0), using the shortest representation for bits.
func (e *encoder) double(f float64, bits int) error {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Errorf("%w: %v cannot be encoded as a double", ErrUnsupportedType, f)
	}
	e.buf.WriteString("<double>")
	b := strconv.AppendFloat(e.buf.AvailableBuffer(), f, 'f', -1, bits)
	if bytes.IndexByte(b, '.') < 0 {
		b = append(b, ".0"...)
	}
	e.buf.Write(b)
	e.buf.WriteString("</double>")
	return nil
}

func (e *encoder) str(s string) {
	e.buf.WriteString("<string>")
	escape(&e.buf, s)
	e.buf.WriteString("</string>")
}

// time writes t in UTC as YYYYMMDDTHH:MM:SS (fractions are dropped).
func (e *encoder) time(t time.Time) error {
	t = t.UTC()
	if y := t.Year(); y < 0 || y > 9999 {
		return fmt.Errorf("%w: year %d cannot be encoded as dateTime.iso8601", ErrUnsupportedType, y)
	}
	e.buf.WriteString("<dateTime.iso8601>")
	e.buf.Write(t.AppendFormat(e.buf.AvailableBuffer(), timeLayout))
	e.buf.WriteString("</dateTime.iso8601>")
	return nil
}

func (e *encoder) base64(b []byte) {
	e.buf.WriteString("<base64>")
	n := base64.StdEncoding.EncodedLen(len(b))
	e.buf.Grow(n)
	out := e.buf.AvailableBuffer()[:n]
	base64.StdEncoding.Encode(out, b)
	e.buf.Write(out)
	e.buf.WriteString("</base64>")
}

// escape writes s as XML character data: &, < and > become entities, CR is
// written as a character reference so that it survives end-of-line
// normalisation, and characters XML cannot carry (invalid UTF-8, most C0
// controls) become U+FFFD.
func escape(b *bytes.Buffer, s string) {
	last := 0
	for i := 0; i < len(s); {
		r, width := utf8.DecodeRuneInString(s[i:])
		var repl string
		switch {
		case r == '&':
			repl = "&amp;"
		case r == '<':
			repl = "&lt;"
		case r == '>':
			repl = "&gt;"
		case r == '\r':
			repl = "&#xD;"
		case r == utf8.RuneError && width == 1, !xmlChar(r):
			repl = "\uFFFD"
		default:
			i += width
			continue
		}
		b.WriteString(s[last:i])
		b.WriteString(repl)
		i += width
		last = i
	}
	b.WriteString(s[last:])
}

// xmlChar reports whether r is allowed in an XML 1.0 document.
func xmlChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}

// sortedKeys returns the keys of m in ascending order.
func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// TypeName returns the XML-RPC name of a decoded value's type ("int",
// "string", "struct", ...), "nil" for nil, or the Go type for anything else.
func TypeName(v any) string {
	switch v.(type) {
	case nil:
		return "nil"
	case bool:
		return "boolean"
	case int64:
		return "int"
	case float64:
		return "double"
	case string:
		return "string"
	case time.Time:
		return "dateTime.iso8601"
	case []byte:
		return "base64"
	case []any:
		return "array"
	case map[string]any:
		return "struct"
	}
	return fmt.Sprintf("%T", v)
}
