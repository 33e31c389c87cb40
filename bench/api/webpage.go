package main

// The web console's VM list page (GET /vms, the first page of 50 rows) with every stored
// VM in the account, measured like the XML-RPC calls against the bare-replay baseline
// serving the same page's bytes: requests/s, p50, p99 and their ratio.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// callWebVMs is the canned name of the page for the baseline.
const callWebVMs = "web.vms"

// webRows is the rows of the page's first page.
const webRows = 50

// primeWebPage logs in as the bench account, fetches the VM list once, checks it and
// returns its bytes and the session cookie.
func primeWebPage(ctx context.Context, apiURL, key string, stored int) ([]byte, *http.Cookie, error) {
	base := strings.TrimSuffix(apiURL, "/xmlrpc/")
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequestWithContext(ctx, "POST", base+"/login", strings.NewReader(url.Values{"apikey": {key}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("web login: %w", err)
	}
	resp.Body.Close()
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "berth_session" {
			cookie = c
		}
	}
	if cookie == nil {
		return nil, nil, fmt.Errorf("web login: %s and no session cookie", resp.Status)
	}
	body, err := getPage(ctx, http.DefaultClient, base+"/vms", cookie)
	if err != nil {
		return nil, nil, err
	}
	if n, want := bytes.Count(body, []byte(`<tr id="vm-`)), min(webRows, stored); n != want {
		return nil, nil, fmt.Errorf("web /vms: %d rows, want %d", n, want)
	}
	return body, cookie, nil
}

func getPage(ctx context.Context, hc *http.Client, u string, cookie *http.Cookie) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return nil, err
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return body, nil
}

// webSample is the latencies of one server's GETs.
type webSample struct {
	n       int
	elapsed time.Duration
	lat     []time.Duration
}

func (s webSample) rate() float64 { return float64(s.n) / s.elapsed.Seconds() }

// loadPage sends GETs from clients goroutines for d, and fails on any non-200 answer or
// an answer of another size than want (the page of the same VMs).
func loadPage(ctx context.Context, u string, cookie *http.Cookie, clients int, d time.Duration, want int) (webSample, error) {
	var (
		mu    sync.Mutex
		all   webSample
		first error
		wg    sync.WaitGroup
	)
	start := time.Now()
	end := start.Add(d)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			defer hc.CloseIdleConnections()
			var lat []time.Duration
			var err error
			for time.Now().Before(end) && ctx.Err() == nil {
				t0 := time.Now()
				var body []byte
				if body, err = getPage(ctx, hc, u, cookie); err != nil {
					break
				}
				if len(body) != want {
					err = fmt.Errorf("GET %s: %d bytes, want %d", u, len(body), want)
					break
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			defer mu.Unlock()
			all.lat = append(all.lat, lat...)
			if err != nil && first == nil {
				first = err
			}
		}()
	}
	wg.Wait()
	all.elapsed, all.n = time.Since(start), len(all.lat)
	slices.Sort(all.lat)
	return all, first
}

// measureWebPage measures the page on berthd and on the baseline and prints the ratio.
func measureWebPage(ctx context.Context, o options, apiURL, baselineURL string, cookie *http.Cookie, page []byte, stored int, out io.Writer) error {
	base := strings.TrimSuffix(apiURL, "/xmlrpc/")
	d := o.duration / 2
	fmt.Fprintf(out, "measuring the web console's VM list page (%d rows of %d VMs): %s on berthd then the baseline...\n", webRows, stored, d)
	if _, err := loadPage(ctx, base+"/vms", cookie, o.clients, o.warmup, len(page)); err != nil {
		return err
	}
	onB, err := loadPage(ctx, base+"/vms", cookie, o.clients, d, len(page))
	if err != nil {
		return err
	}
	onBL, err := loadPage(ctx, baselineURL+"/"+callWebVMs, nil, o.clients, d, len(page))
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "web /vms (%d KB):  berthd %.0f req/s, p50 %s, p99 %s;  baseline %.0f req/s, p50 %s, p99 %s;  ratio berthd/baseline %.3f\n",
		len(page)/1024, onB.rate(), ms(quantile(onB.lat, 0.5)), ms(quantile(onB.lat, 0.99)),
		onBL.rate(), ms(quantile(onBL.lat, 0.5)), ms(quantile(onBL.lat, 0.99)), onB.rate()/onBL.rate())
	return nil
}
