package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/berth-io/berth/internal/xmlrpc"
)

// rpc is an XML-RPC client that keeps one connection alive: each load client owns one, so
// a phase with 16 clients runs on exactly 16 TCP connections (dials counts them).
type rpc struct {
	url   string
	hc    *http.Client
	dials *atomic.Int64
}

// newRPC returns a client of url whose dials are counted in dials.
func newRPC(url string, dials *atomic.Int64) *rpc {
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return d.DialContext(ctx, network, addr)
		},
		MaxIdleConns:        1,
		MaxIdleConnsPerHost: 1,
		MaxConnsPerHost:     1,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
		TLSClientConfig:     benchTLS, // nil for plain HTTP; HTTP/1.1 either way
	}
	return &rpc{url: url, hc: &http.Client{Transport: tr, Timeout: 60 * time.Second}, dials: dials}
}

// close drops the client's idle connection.
func (c *rpc) close() { c.hc.CloseIdleConnections() }

// post sends an encoded methodCall and reads the whole response body into buf. Anything
// but HTTP 200 is an error.
func (c *rpc) post(ctx context.Context, url string, body []byte, buf *bytes.Buffer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("request: %w", err)
	}
	req.Header.Set("Content-Type", "text/xml")
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("post %s: %w", url, err)
	}
	defer resp.Body.Close()
	buf.Reset()
	if resp.ContentLength > 0 {
		buf.Grow(int(resp.ContentLength))
	}
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return fmt.Errorf("read response of %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("post %s: http %d: %.200s", url, resp.StatusCode, buf.Bytes())
	}
	if resp.ContentLength >= 0 && int64(buf.Len()) != resp.ContentLength {
		return fmt.Errorf("post %s: %d bytes read, content-length %d", url, buf.Len(), resp.ContentLength)
	}
	return nil
}

// call makes one XML-RPC call and decodes its result; a fault is an error (*xmlrpc.Fault).
func (c *rpc) call(ctx context.Context, method string, params ...any) (any, error) {
	var body bytes.Buffer
	if err := xmlrpc.EncodeCall(&body, method, params...); err != nil {
		return nil, fmt.Errorf("encode %s: %w", method, err)
	}
	var buf bytes.Buffer
	if err := c.post(ctx, c.url, body.Bytes(), &buf); err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	v, err := xmlrpc.DecodeResponse(&buf)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	return v, nil
}

// callInt is call for methods returning an int (the *.count methods).
func (c *rpc) callInt(ctx context.Context, method string, params ...any) (int64, error) {
	v, err := c.call(ctx, method, params...)
	if err != nil {
		return 0, err
	}
	n, ok := v.(int64)
	if !ok {
		return 0, fmt.Errorf("%s returned %s, want int", method, xmlrpc.TypeName(v))
	}
	return n, nil
}
