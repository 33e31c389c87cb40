// Package client is a Go client for Berth's XML-RPC API (the Gandi Hosting API). It speaks
// the wire format through internal/xmlrpc, the same codec the server uses. Results come back
// as the Gandi structs (Object, a map with typed accessors); the As* functions convert them to
// api types, Wait follows operations to their end, and Console attaches to a VM's serial
// console through berthd's upgrade endpoint.
package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/berth-io/berth/internal/xmlrpc"
)

// Client calls one Berth endpoint with one API key.
type Client struct {
	URL  string // e.g. http://127.0.0.1:8080/xmlrpc/
	Key  string
	HTTP *http.Client
}

// New returns a client.
func New(url, key string) *Client {
	return &Client{URL: url, Key: key, HTTP: &http.Client{Timeout: 60 * time.Second}}
}

// Fault is an API error: the XML-RPC fault the server returned.
type Fault = xmlrpc.Fault

// Fault codes the client gives a meaning to (gandi-api.md §1.4).
const (
	FaultInvalidKey   = 510150 // OBJECT_ACCOUNT (CAUSE_NORIGHT) [Invalid API key]
	FaultNoAccess     = 510151 // OBJECT_ACCOUNT (CAUSE_NOACCESS): the account has no API access
	FaultNoCredit     = 530040 // OBJECT_HOSTING_ACCOUNT (CAUSE_DONTEXIST)
	FaultBadKeyFormat = 500037 // a key that does not match ^[a-z0-9]{24}$
	FaultEmptyKey     = 501237 // an empty key
)

// AsFault returns the fault inside err, if there is one.
func AsFault(err error) (Fault, bool) {
	var p *xmlrpc.Fault
	if errors.As(err, &p) && p != nil {
		return *p, true
	}
	var v xmlrpc.Fault
	if errors.As(err, &v) {
		return v, true
	}
	return Fault{}, false
}

// IsFault reports whether err is a fault with that code.
func IsFault(err error, code int) bool {
	f, ok := AsFault(err)
	return ok && f.Code == code
}

// faultText matches Gandi's faultString: Error on object : OBJECT_X (CAUSE_Y) [message].
var faultText = regexp.MustCompile(`^Error on object : (OBJECT_\w+) \((CAUSE_\w+)\) \[(.*)\]$`)

// FaultMessage returns the human part of a fault: the bracketed message of a Gandi
// faultString, or the whole string when it has another shape.
func FaultMessage(f Fault) string {
	if m := faultText.FindStringSubmatch(f.String); m != nil {
		return m[3]
	}
	return f.String
}

// FaultCause returns the CAUSE_ name of a Gandi fault without its prefix, lowercased
// (notfound, badparameter, attached…), or "" when the fault has another shape.
func FaultCause(f Fault) string {
	if m := faultText.FindStringSubmatch(f.String); m != nil {
		return strings.ToLower(strings.TrimPrefix(m[2], "CAUSE_"))
	}
	return ""
}

// Call calls method with the API key first, then params.
func (c *Client) Call(ctx context.Context, method string, params ...any) (any, error) {
	return c.CallRaw(ctx, method, append([]any{c.Key}, params...)...)
}

// CallRaw calls method with params as they are: the caller passes the API key itself
// (or none, for system.* methods).
func (c *Client) CallRaw(ctx context.Context, method string, params ...any) (any, error) {
	var body bytes.Buffer
	if err := xmlrpc.EncodeCall(&body, method, params...); err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, &body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "text/xml")
	req.Header.Set("Accept", "text/xml")
	req.Header.Set("User-Agent", "berth-client")
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: HTTP %s", c.URL, resp.Status)
	}
	v, err := xmlrpc.DecodeResponse(resp.Body)
	if err != nil {
		if _, ok := AsFault(err); ok {
			return nil, err
		}
		return nil, fmt.Errorf("%s: %s: %w", c.URL, method, err)
	}
	return v, nil
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

// List calls a *.list method and returns its structs.
func (c *Client) List(ctx context.Context, method string, opts map[string]any) ([]map[string]any, error) {
	if opts == nil {
		opts = map[string]any{}
	}
	v, err := c.Call(ctx, method, opts)
	if err != nil {
		return nil, err
	}
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%s: want an array, got %T", method, v)
	}
	out := make([]map[string]any, 0, len(list))
	for _, x := range list {
		m, ok := x.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: want structs, got %T", method, x)
		}
		out = append(out, m)
	}
	return out, nil
}

// MaxPerPage is the largest page the server returns.
const MaxPerPage = 500

// ListAll calls a *.list method page by page (500 items each) until a short page, and
// returns every struct as an Object. opts are filters; paging keys in it are overwritten.
func (c *Client) ListAll(ctx context.Context, method string, opts map[string]any) ([]Object, error) {
	var out []Object
	for page := 0; ; page++ {
		o := map[string]any{}
		for k, v := range opts {
			o[k] = v
		}
		o["items_per_page"] = MaxPerPage
		o["page"] = page
		list, err := c.List(ctx, method, o)
		if err != nil {
			return nil, err
		}
		for _, m := range list {
			out = append(out, Object(m))
		}
		if len(list) < MaxPerPage {
			return out, nil
		}
	}
}

// Struct calls a method that returns one struct.
func (c *Client) Struct(ctx context.Context, method string, params ...any) (map[string]any, error) {
	v, err := c.Call(ctx, method, params...)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: want a struct, got %T", method, v)
	}
	return m, nil
}

// Info calls a method that returns one struct and returns it as an Object.
func (c *Client) Info(ctx context.Context, method string, params ...any) (Object, error) {
	m, err := c.Struct(ctx, method, params...)
	return Object(m), err
}

// BaseURL is the endpoint URL without its /xmlrpc/ (or /xmlrpc) suffix, and without a
// trailing slash: the root under which berthd serves its other endpoints (/api/...).
func (c *Client) BaseURL() string {
	u := strings.TrimRight(c.URL, "/")
	u = strings.TrimSuffix(u, "/xmlrpc")
	return strings.TrimRight(u, "/")
}
