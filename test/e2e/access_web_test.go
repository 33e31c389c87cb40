package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestAccessWeb is the access programme in a real browser: a visitor requests a trial on
// the public page, the operator approves it, the visitor logs in with the one-time key,
// sees the trial's end coming (banner, live), redeems the coupon (credits, live), creates
// an API key (shown once, working over XML-RPC) and revokes it, and sees the banner of an
// account whose API access was revoked, without reloading.
func TestAccessWeb(t *testing.T) {
	t.Parallel() // see TestMain
	ctx := browser(t)
	if err := chromedp.Do(ctx); err != nil { // start the browser on the test's own context: a timeout context would close it
		t.Fatalf("start chromium: %v", err)
	}
	cfg := filepath.Join(t.TempDir(), "berthd.json")
	if err := os.WriteFile(cfg, []byte(`{"billing_every": "1s"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	b := NewBerthd(t, "sim", "--config", cfg)
	b.Start()
	p := &page{t: t, ctx: ctx, base: strings.TrimSuffix(b.URL, "/xmlrpc/")}

	p.step("request", func() {
		p.do(chromedp.Navigate(p.base+"/login"), chromedp.WaitVisible(chromedp.CSS(`a[href="/trial"]`)), chromedp.Click(chromedp.CSS(`a[href="/trial"]`)))
		p.do(chromedp.WaitVisible(chromedp.CSS(`input[name=handle]`)),
			chromedp.SetValue(chromedp.CSS(`input[name=handle]`), "visitor1"),
			chromedp.SetValue(chromedp.CSS(`input[name=email]`), "visitor1@example.org"),
			chromedp.SetValue(chromedp.CSS(`textarea[name=purpose]`), "a shop and its database, to compare with our host"),
			chromedp.Submit(chromedp.CSS(`input[name=handle]`)))
		p.until(30*time.Second, "the request is received", `!!document.querySelector("#trial-done")`)
		if out := b.Admin("trial", "list"); !strings.Contains(out, "visitor1@example.org") {
			t.Fatalf("trial list:\n%s", out)
		}
	})

	var key, coupon string
	p.step("approve", func() {
		id := regexp.MustCompile(`(?m)^(\d+)\s+pending\s+visitor1`).FindStringSubmatch(b.Admin("trial", "list"))
		if id == nil {
			t.Fatal("no pending request of visitor1")
		}
		out := b.Admin("trial", "approve", id[1], "--credits", "75", "--valid-days", "1")
		key = regexp.MustCompile(`API key \(shown once\): ([a-z0-9]{24})`).FindStringSubmatch(out)[1]
		coupon = regexp.MustCompile(`(BERTH-[A-Z0-9-]+)`).FindStringSubmatch(out)[1]
	})

	p.step("login", func() {
		p.do(chromedp.Navigate(p.base+"/login"), chromedp.WaitVisible(chromedp.CSS(`input[name=apikey]`)),
			chromedp.SetValue(chromedp.CSS(`input[name=apikey]`), key), chromedp.Submit(chromedp.CSS(`input[name=apikey]`)))
		p.until(30*time.Second, "the VM list after login", `location.pathname === "/vms"`)
	})

	p.step("redeem", func() {
		p.do(chromedp.Navigate(p.base+"/account"), chromedp.WaitVisible(chromedp.CSS(`input[name=code]`)),
			chromedp.SetValue(chromedp.CSS(`input[name=code]`), strings.ToLower(coupon)),
			chromedp.Click(chromedp.CSS(`form[hx-post="/account/redeem"] button`)))
		p.until(30*time.Second, "the coupon is redeemed", text("#flash")+`.includes("75 trial credits")`)
		p.until(30*time.Second, "the credits show, live", text("#credits-badge")+`.startsWith("75 ")`)
		// A one-day trial is within the warning period at once: the next billing pass warns.
		p.until(30*time.Second, "the trial's end is announced, live", text("#banners")+`.includes("Your free trial ends")`)
	})

	p.step("apikey", func() {
		p.do(chromedp.Navigate(p.base+"/apikeys"), chromedp.WaitVisible(chromedp.CSS(`input[name=name]`)),
			chromedp.SetValue(chromedp.CSS(`input[name=name]`), "laptop"),
			chromedp.Click(chromedp.CSS(`form[hx-post="/apikeys"] button`)))
		p.until(30*time.Second, "the new key is shown once", `/^[a-z0-9]{24}$/.test(`+text("#new-key-value")+`)`)
		laptop := p.eval(text("#new-key-value"))
		b.MustCall("hosting.vm.list", laptop)
		p.until(30*time.Second, "the key is listed, live", `!!document.querySelector('tr[data-key="laptop"]')`)
		p.eval(`(() => { window.confirm = () => true; return ""; })()`)
		p.do(chromedp.Click(chromedp.CSS(`tr[data-key="laptop"] button.danger-soft`)))
		p.until(30*time.Second, "the key shows revoked, live", `(document.querySelector('tr[data-key="laptop"]') || {}).textContent.includes("revoked")`)
		wantFault(t, b, faultInvalidKey, "hosting.vm.list", laptop)
	})

	p.step("no-api-access", func() {
		b.Admin("account", "api", "disable", "visitor1")
		p.until(30*time.Second, "the banner of an account without API access, live", text("#banners")+`.includes("no API access")`)
		wantFault(t, b, faultNoAccess, "hosting.vm.list", key)
	})

	p.step("activity", func() {
		p.do(chromedp.Navigate(p.base+"/audit"), chromedp.WaitVisible(chromedp.CSS(`#audit-rows`)))
		html := p.eval(`document.querySelector("#audit-rows").outerHTML`)
		for _, want := range []string{"POST /login", "POST /account/redeem", "POST /apikeys/{id}/revoke", "admin trial approve", "admin account api disable", "operator:"} {
			if !strings.Contains(html, want) {
				t.Errorf("the activity page lacks %q", want)
			}
		}
		if strings.Contains(html, key) || strings.Contains(strings.ToUpper(html), coupon) {
			t.Error("the activity page shows the API key or the coupon code")
		}
	})
}
