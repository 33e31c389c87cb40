package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// ConsoleError is a refused console attach: the HTTP status berthd answered and its text.
type ConsoleError struct {
	Status  int    // 401 bad key, 404 no such VM of this account, 409 no console now
	Message string // the server's explanation
}

func (e *ConsoleError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("console: HTTP %d %s", e.Status, http.StatusText(e.Status))
	}
	return "console: " + e.Message
}

// Console attaches to the serial console of a VM: GET <base>/api/console/<vm_id> with the
// API key as a bearer token, upgraded to a raw byte stream ("Upgrade: berth-console"). The
// returned stream carries the console both ways until it is closed or ctx ends. A refusal
// is a *ConsoleError.
func (c *Client) Console(ctx context.Context, vmID int64) (io.ReadWriteCloser, error) {
	url := fmt.Sprintf("%s/api/console/%d", c.BaseURL(), vmID)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.Key)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "berth-console")
	// The stream lives as long as the session: no client timeout.
	var rt http.RoundTripper
	if c.HTTP != nil {
		rt = c.HTTP.Transport
	}
	hc := &http.Client{Transport: http1(rt)}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return nil, &ConsoleError{Status: resp.StatusCode, Message: strings.TrimSpace(string(b))}
	}
	rw, ok := resp.Body.(io.ReadWriteCloser)
	if !ok {
		resp.Body.Close()
		return nil, fmt.Errorf("console: the upgraded connection is not writable")
	}
	return rw, nil
}
