package xmlrpc

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// DecodeCall decodes a <methodCall> document. Zero fields of limits take the
// defaults. Every error wraps ErrMalformed, ErrTooLarge, ErrTooDeep,
// ErrTooManyElements or ErrDTD, or is a read error of r.
func DecodeCall(r io.Reader, limits Limits) (method string, params []any, err error) {
	d := newDecoder(r, limits)
	root, err := d.root()
	if err != nil {
		return "", nil, err
	}
	if root.Name.Local != "methodCall" {
		return "", nil, d.malformed("root element is <%s>, want <methodCall>", root.Name.Local)
	}
	haveName, haveParams := false, false
	params = []any{}
	for {
		tok, err := d.nextNonSpace()
		if err != nil {
			return "", nil, err
		}
		switch t := tok.(type) {
		case xml.EndElement:
			if !haveName {
				return "", nil, d.malformed("missing methodName")
			}
			if err := d.end(); err != nil {
				return "", nil, err
			}
			return method, params, nil
		case xml.StartElement:
			switch t.Name.Local {
			case "methodName":
				if haveName {
					return "", nil, d.malformed("duplicate methodName")
				}
				name, err := d.text("methodName")
				if err != nil {
					return "", nil, err
				}
				method = strings.TrimSpace(name)
				if method == "" {
					return "", nil, d.malformed("missing methodName")
				}
				haveName = true
			case "params":
				if haveParams {
					return "", nil, d.malformed("duplicate params")
				}
				haveParams = true
				if params, err = d.params(); err != nil {
					return "", nil, err
				}
			default:
				return "", nil, d.malformed("unexpected <%s> in methodCall", t.Name.Local)
			}
		}
	}
}

// DecodeResponse decodes a <methodResponse> document with no size or element
// limit (the nesting limit stays at its default). A fault response returns a
// nil value and a *Fault error.
func DecodeResponse(r io.Reader) (any, error) {
	return DecodeResponseLimits(r, Limits{MaxBytes: -1, MaxElements: -1})
}

// DecodeResponseLimits is DecodeResponse with explicit limits.
func DecodeResponseLimits(r io.Reader, limits Limits) (any, error) {
	d := newDecoder(r, limits)
	root, err := d.root()
	if err != nil {
		return nil, err
	}
	if root.Name.Local != "methodResponse" {
		return nil, d.malformed("root element is <%s>, want <methodResponse>", root.Name.Local)
	}
	var (
		result any
		fault  *Fault
		seen   bool
	)
	for {
		tok, err := d.nextNonSpace()
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.EndElement:
			if err := d.end(); err != nil {
				return nil, err
			}
			if fault != nil {
				return nil, fault
			}
			return result, nil
		case xml.StartElement:
			if seen {
				return nil, d.malformed("more than one <params> or <fault> in methodResponse")
			}
			seen = true
			switch t.Name.Local {
			case "params":
				ps, err := d.params()
				if err != nil {
					return nil, err
				}
				if len(ps) > 1 {
					return nil, d.malformed("methodResponse has %d params, want 1", len(ps))
				}
				if len(ps) == 1 {
					result = ps[0]
				}
			case "fault":
				if fault, err = d.fault(); err != nil {
					return nil, err
				}
			default:
				return nil, d.malformed("unexpected <%s> in methodResponse", t.Name.Local)
			}
		}
	}
}

// decoder walks the token stream of one document and enforces the limits.
type decoder struct {
	x        *xml.Decoder
	src      *capReader
	limits   Limits
	elements int
}

func newDecoder(r io.Reader, limits Limits) *decoder {
	limits = limits.withDefaults()
	src := &capReader{r: r, left: limits.MaxBytes, limit: limits.MaxBytes}
	x := xml.NewDecoder(src)
	x.Strict = true
	x.CharsetReader = charsetReader
	return &decoder{x: x, src: src, limits: limits}
}

// tokenErr classifies an error of the XML tokenizer: a read error of the
// source (ErrTooLarge included) is returned as such, anything else means
// the document is malformed.
func (d *decoder) tokenErr(err error) error {
	if d.src.err != nil && errors.Is(err, d.src.err) {
		if errors.Is(err, ErrTooLarge) {
			return err
		}
		return fmt.Errorf("read document: %w", err)
	}
	if err == io.EOF {
		return d.malformed("unexpected end of document")
	}
	return fmt.Errorf("%w: %w", ErrMalformed, err)
}

// malformed returns an ErrMalformed error with the current line number.
func (d *decoder) malformed(format string, args ...any) error {
	return fmt.Errorf("%w: line %d: %s", ErrMalformed, d.line(), fmt.Sprintf(format, args...))
}

// next returns the next token, skipping comments and processing
// instructions and enforcing the element limit. It rejects directives.
func (d *decoder) next() (xml.Token, error) {
	for {
		tok, err := d.x.Token()
		if err != nil {
			return nil, d.tokenErr(err)
		}
		switch t := tok.(type) {
		case xml.Comment, xml.ProcInst:
			continue
		case xml.Directive:
			return nil, fmt.Errorf("%w: line %d", ErrDTD, d.line())
		case xml.StartElement:
			d.elements++
			if d.limits.MaxElements > 0 && d.elements > d.limits.MaxElements {
				return nil, fmt.Errorf("%w: more than %d", ErrTooManyElements, d.limits.MaxElements)
			}
			return t, nil
		default:
			return tok, nil
		}
	}
}

func (d *decoder) line() int {
	line, _ := d.x.InputPos()
	return line
}

// nextNonSpace returns the next start or end element, failing on any text
// other than white space.
func (d *decoder) nextNonSpace() (xml.Token, error) {
	for {
		tok, err := d.next()
		if err != nil {
			return nil, err
		}
		if cd, ok := tok.(xml.CharData); ok {
			if !isSpace(cd) {
				return nil, d.malformed("unexpected text %q", truncate(cd))
			}
			continue
		}
		return tok, nil
	}
}

// root skips the prolog and returns the root element.
func (d *decoder) root() (xml.StartElement, error) {
	for {
		tok, err := d.next()
		if err != nil {
			return xml.StartElement{}, err
		}
		switch t := tok.(type) {
		case xml.CharData:
			if !isSpace(bytes.TrimPrefix(t, []byte("\ufeff"))) {
				return xml.StartElement{}, d.malformed("text before the root element")
			}
		case xml.StartElement:
			return t, nil
		default:
			return xml.StartElement{}, d.malformed("unexpected %T before the root element", tok)
		}
	}
}

// end checks that nothing but white space, comments and processing
// instructions follow the root element.
func (d *decoder) end() error {
	for {
		tok, err := d.x.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return d.tokenErr(err)
		}
		switch t := tok.(type) {
		case xml.Comment, xml.ProcInst:
		case xml.CharData:
			if !isSpace(t) {
				return d.malformed("text after the root element")
			}
		case xml.Directive:
			return fmt.Errorf("%w: line %d", ErrDTD, d.line())
		default:
			return d.malformed("content after the root element")
		}
	}
}

// params decodes the body of <params> after its start element.
func (d *decoder) params() ([]any, error) {
	out := []any{}
	for {
		tok, err := d.nextNonSpace()
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.EndElement:
			return out, nil
		case xml.StartElement:
			if t.Name.Local != "param" {
				return nil, d.malformed("unexpected <%s> in params", t.Name.Local)
			}
			v, err := d.param()
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
	}
}

// param decodes the body of <param> after its start element. An empty
// <param></param> (kolo/xmlrpc's encoding of a nil argument) is nil.
func (d *decoder) param() (any, error) {
	tok, err := d.nextNonSpace()
	if err != nil {
		return nil, err
	}
	t, ok := tok.(xml.StartElement)
	if !ok {
		return nil, nil
	}
	if t.Name.Local != "value" {
		return nil, d.malformed("unexpected <%s> in param", t.Name.Local)
	}
	v, err := d.value(0)
	if err != nil {
		return nil, err
	}
	if err := d.expectEnd("param"); err != nil {
		return nil, err
	}
	return v, nil
}

// fault decodes the body of <fault> after its start element.
func (d *decoder) fault() (*Fault, error) {
	if err := d.expectStart("value"); err != nil {
		return nil, err
	}
	v, err := d.value(0)
	if err != nil {
		return nil, err
	}
	if err := d.expectEnd("fault"); err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, d.malformed("fault value is %s, want struct", TypeName(v))
	}
	f := &Fault{}
	switch c := m["faultCode"].(type) {
	case int64:
		if c < math.MinInt32 || c > math.MaxInt32 {
			return nil, d.malformed("faultCode %d out of range", c)
		}
		f.Code = int(c)
	case nil:
	default:
		return nil, d.malformed("faultCode is %s, want int", TypeName(c))
	}
	switch s := m["faultString"].(type) {
	case string:
		f.String = s
	case nil:
	default:
		return nil, d.malformed("faultString is %s, want string", TypeName(s))
	}
	return f, nil
}

// expectStart reads the next element, which must open <name>.
func (d *decoder) expectStart(name string) error {
	tok, err := d.nextNonSpace()
	if err != nil {
		return err
	}
	t, ok := tok.(xml.StartElement)
	if !ok {
		return d.malformed("missing <%s>", name)
	}
	if t.Name.Local != name {
		return d.malformed("unexpected <%s>, want <%s>", t.Name.Local, name)
	}
	return nil
}

// expectEnd reads the next element, which must close the current one.
func (d *decoder) expectEnd(name string) error {
	tok, err := d.nextNonSpace()
	if err != nil {
		return err
	}
	if t, ok := tok.(xml.StartElement); ok {
		return d.malformed("unexpected <%s> in %s", t.Name.Local, name)
	}
	return nil
}

// text returns the character data of the current element up to its end.
func (d *decoder) text(name string) (string, error) {
	var b strings.Builder
	for {
		tok, err := d.next()
		if err != nil {
			return "", err
		}
		switch t := tok.(type) {
		case xml.CharData:
			b.Write(t)
		case xml.StartElement:
			return "", d.malformed("unexpected <%s> in %s", t.Name.Local, name)
		case xml.EndElement:
			return b.String(), nil
		}
	}
}

// value decodes the body of <value> after its start element. depth is the
// number of arrays and structs that enclose it.
func (d *decoder) value(depth int) (any, error) {
	var text []byte
	for {
		tok, err := d.next()
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.CharData:
			text = append(text, t...)
		case xml.EndElement:
			return string(text), nil
		case xml.StartElement:
			if !isSpace(text) {
				return nil, d.malformed("text and <%s> mixed in a value", t.Name.Local)
			}
			v, err := d.typed(t, depth)
			if err != nil {
				return nil, err
			}
			if err := d.expectEnd("value"); err != nil {
				return nil, err
			}
			return v, nil
		}
	}
}

// typed decodes one typed element (<int>, <struct>, ...) after its start.
func (d *decoder) typed(t xml.StartElement, depth int) (any, error) {
	kind := strings.ToLower(t.Name.Local)
	switch kind {
	case "array", "struct":
		if d.limits.MaxDepth > 0 && depth >= d.limits.MaxDepth {
			return nil, fmt.Errorf("%w: more than %d levels", ErrTooDeep, d.limits.MaxDepth)
		}
		if kind == "array" {
			return d.array(depth + 1)
		}
		return d.structure(depth + 1)
	case "nil":
		if err := d.expectEnd("nil"); err != nil {
			return nil, err
		}
		return nil, nil
	}
	s, err := d.text(t.Name.Local)
	if err != nil {
		return nil, err
	}
	switch kind {
	case "string":
		return s, nil
	case "int", "i1", "i2", "i4", "i8":
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return nil, d.malformed("bad <%s> value %q", t.Name.Local, truncate([]byte(s)))
		}
		return n, nil
	case "boolean":
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "1", "true":
			return true, nil
		case "0", "false":
			return false, nil
		}
		return nil, d.malformed("bad <boolean> value %q", truncate([]byte(s)))
	case "double":
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, d.malformed("bad <double> value %q", truncate([]byte(s)))
		}
		return f, nil
	case "datetime.iso8601":
		tm, ok := parseTime(strings.TrimSpace(s))
		if !ok {
			return nil, d.malformed("bad <dateTime.iso8601> value %q", truncate([]byte(s)))
		}
		return tm, nil
	case "base64":
		b, ok := parseBase64(s)
		if !ok {
			return nil, d.malformed("bad <base64> value")
		}
		return b, nil
	}
	return nil, d.malformed("unknown value type <%s>", t.Name.Local)
}

// array decodes the body of <array> after its start element.
func (d *decoder) array(depth int) ([]any, error) {
	out := []any{}
	sawData := false
	for {
		tok, err := d.nextNonSpace()
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.EndElement:
			return out, nil
		case xml.StartElement:
			if t.Name.Local != "data" || sawData {
				return nil, d.malformed("unexpected <%s> in array", t.Name.Local)
			}
			sawData = true
			if out, err = d.data(depth); err != nil {
				return nil, err
			}
		}
	}
}

// data decodes the body of <data> after its start element.
func (d *decoder) data(depth int) ([]any, error) {
	out := []any{}
	for {
		tok, err := d.nextNonSpace()
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.EndElement:
			return out, nil
		case xml.StartElement:
			if t.Name.Local != "value" {
				return nil, d.malformed("unexpected <%s> in array data", t.Name.Local)
			}
			v, err := d.value(depth)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
	}
}

// structure decodes the body of <struct> after its start element. A repeated
// member name keeps the last value.
func (d *decoder) structure(depth int) (map[string]any, error) {
	out := map[string]any{}
	for {
		tok, err := d.nextNonSpace()
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.EndElement:
			return out, nil
		case xml.StartElement:
			if t.Name.Local != "member" {
				return nil, d.malformed("unexpected <%s> in struct", t.Name.Local)
			}
			name, v, err := d.member(depth)
			if err != nil {
				return nil, err
			}
			out[name] = v
		}
	}
}

// member decodes the body of <member> after its start element. <name> and
// <value> may come in either order.
func (d *decoder) member(depth int) (string, any, error) {
	var (
		name              string
		v                 any
		gotName, gotValue bool
	)
	for {
		tok, err := d.nextNonSpace()
		if err != nil {
			return "", nil, err
		}
		switch t := tok.(type) {
		case xml.EndElement:
			if !gotName || !gotValue {
				return "", nil, d.malformed("struct member without name or value")
			}
			return name, v, nil
		case xml.StartElement:
			switch {
			case t.Name.Local == "name" && !gotName:
				if name, err = d.text("name"); err != nil {
					return "", nil, err
				}
				gotName = true
			case t.Name.Local == "value" && !gotValue:
				if v, err = d.value(depth); err != nil {
					return "", nil, err
				}
				gotValue = true
			default:
				return "", nil, d.malformed("unexpected <%s> in struct member", t.Name.Local)
			}
		}
	}
}
