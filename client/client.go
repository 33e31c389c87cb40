// Package client is a Go client for Berth's XML-RPC API (the Gandi Hosting API). It speaks
// the wire format through internal/xmlrpc, the same codec the server uses, and returns the
// Gandi structs as maps; typed helpers convert them to api types.
package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
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

// IsFault reports whether err is a fault with that code.
func IsFault(err error, code int) bool {
	var f *xmlrpc.Fault
	return errors.As(err, &f) && f.Code == code
}

// Call calls method with the API key first, then params.
func (c *Client) Call(ctx context.Context, method string, params ...any) (any, error) {
	var body bytes.Buffer
	if err := xmlrpc.EncodeCall(&body, method, append([]any{c.Key}, params...)...); err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, &body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "text/xml")
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: HTTP %s", c.URL, resp.Status)
	}
	return xmlrpc.DecodeResponse(resp.Body)
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
