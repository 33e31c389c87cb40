package e2e

// The web console in a real browser: Debian's chromium driven by chromedp against berthd
// with real QEMU and Berth Tiny. One berthd and one VM across the steps: log in, create a
// VM and watch it reach running live, add memory and see it in the guest through the
// browser console, attach and detach a disk, run a command in the console, delete.
// A failing step saves a screenshot (its path is in the log). BERTH_WEB_SHOTS=dir saves one
// per step for review.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browser starts chromium (headless, as web.md §3 recommends), or fails under CI=true when
// it is missing (make test installs it).
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium is not installed (make test installs it)")
		}
		t.Skip("chromium is not installed")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck, chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelA() })
	// Start the browser on this context: the first Run binds the browser to its context,
	// and the steps' Runs use shorter-lived ones.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// page is the browser's tab in one test, with the steps' helpers.
type page struct {
	t    *testing.T
	ctx  context.Context
	base string
}

// shot saves a screenshot and returns its path.
func (p *page) shot(name string) string {
	dir := os.Getenv("BERTH_WEB_SHOTS")
	if dir == "" {
		dir = os.TempDir()
	}
	ctx, cancel := context.WithTimeout(p.ctx, 15*time.Second)
	defer cancel()
	b, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		return "(no screenshot: " + err.Error() + ")"
	}
	path := filepath.Join(dir, fmt.Sprintf("berth-web-%s.png", name))
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return "(no screenshot: " + err.Error() + ")"
	}
	return path
}

// step runs one step of the flow; a failure saves a screenshot.
func (p *page) step(name string, fn func()) {
	p.t.Helper()
	ok := false
	defer func() {
		if !ok {
			p.t.Logf("step %q failed: screenshot %s", name, p.shot("fail-"+name))
		}
	}()
	start := time.Now()
	fn()
	ok = true
	p.t.Logf("step %s: %s", name, time.Since(start).Round(time.Millisecond))
	if os.Getenv("BERTH_WEB_SHOTS") != "" {
		p.shot(name)
	}
}

func (p *page) do(actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.t.Fatal(err)
	}
}

// until polls a JavaScript expression until it is true.
func (p *page) until(timeout time.Duration, what, expr string) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s: not true after %s (%s; last error %v)", what, timeout, expr, err)
		}
		time.Sleep(200 * time.Millisecond) // polling interval
	}
}

func (p *page) eval(expr string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		p.t.Fatalf("%s: %v", expr, err)
	}
	return s
}

// text is the text of the first element of a CSS selector, "" when there is none.
func text(sel string) string {
	return fmt.Sprintf(`((document.querySelector(%q) || {}).textContent || "")`, sel)
}

const termText = `(() => { const b = window.berthTerm.buffer.active; const out = [];
	for (let i = 0; i < b.length; i++) { const l = b.getLine(i); if (l) out.push(l.translateToString(true)); }
	return out.join("\n"); })()`

func TestWebConsole(t *testing.T) {
	ctx := browser(t)
	e := newQEnv(t)
	p := &page{t: t, ctx: ctx, base: strings.TrimSuffix(e.b.URL, "/xmlrpc/")}
	var vmID int64

	p.step("login", func() {
		p.do(chromedp.Navigate(p.base+"/"), chromedp.WaitVisible(chromedp.CSS(`input[name=apikey]`)),
			chromedp.SetValue(chromedp.CSS(`input[name=apikey]`), e.key), chromedp.Submit(chromedp.CSS(`input[name=apikey]`)))
		p.until(30*time.Second, "the VM list after login", `location.pathname === "/vms" && !!document.querySelector("#vm-rows")`)
	})

	p.step("create", func() {
		p.do(chromedp.Navigate(p.base+"/vms/new"), chromedp.WaitVisible(chromedp.CSS(`input[name=hostname]`)))
		p.eval(fmt.Sprintf(`(() => { const s = document.querySelector("select[name=image_disk_id]");
			s.value = "%d"; return s.value; })()`, e.image))
		p.do(chromedp.SetValue(chromedp.CSS(`input[name=hostname]`), "webvm"),
			chromedp.SetValue(chromedp.CSS(`input[name=password]`), "s3cret-Pass"))
		p.do(chromedp.SetValue(chromedp.CSS(`input[name=cores]`), "2"))
		p.eval(`(() => { document.querySelector("input[name=cores]").dispatchEvent(new Event("change", {bubbles: true})); return ""; })()`)
		p.until(10*time.Second, "the price follows the form", `/[0-9.]+/.test(document.querySelector("#price").textContent)`)
		p.do(chromedp.Click(chromedp.CSS(`form[hx-post="/vms"] button[type=submit]`)))
		p.until(30*time.Second, "the VM page", `/^\/vms\/[0-9]+$/.test(location.pathname)`)
		id, err := strconv.ParseInt(strings.TrimPrefix(p.eval(`location.pathname`), "/vms/"), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		vmID = id
		// No reload from here: the state changes reach the page through the events stream.
		p.until(bootTimeout, "the VM reaches running on its page", text("#vm-state")+` === "running"`)
	})

	p.step("memory", func() {
		p.do(chromedp.SetValue(chromedp.ID("memory-input"), "512"), chromedp.Click(chromedp.ID("apply-resources")))
		p.until(opTimeout, "memory 512 MB on the page", text("#vm-memory")+` === "512 MB"`)
	})

	p.step("console", func() {
		p.do(chromedp.Navigate(fmt.Sprintf("%s/vms/%d/console", p.base, vmID)))
		p.until(30*time.Second, "the console connects", text("#console-status")+` === "connected"`)
		p.until(10*time.Second, "recent console output first", `window.berthTerm.buffer.active.length > 1`)
		// The VM is running once QEMU runs; its guest may still be booting: wait for it.
		p.until(bootTimeout, "the guest has booted", termText+`.includes("BERTH-BOOTED")`)
		// Typed through xterm.js's input path (onData → WebSocket → serial port), again
		// every few seconds until it answers (a shell may not read the first line yet).
		deadline := time.Now().Add(cmdTimeout)
		for {
			p.eval(`(() => { window.berthTerm.input("echo web-$((6*7)); grep MemTotal /proc/meminfo\r"); return ""; })()`)
			ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
			ok, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](termText+`.includes("web-42")`))
			cancel()
			if ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the command's output is not in the terminal after %s:\n%s", cmdTimeout, p.eval(termText))
			}
			time.Sleep(3 * time.Second) // the retry interval
		}
		var kb int64
		p.until(guestTimeout, "the guest sees the added memory", `/MemTotal:\s+[0-9]+ kB/.test(`+termText+`)`)
		m := regexp.MustCompile(`MemTotal:\s+([0-9]+) kB`).FindAllStringSubmatch(p.eval(termText), -1)
		kb, _ = strconv.ParseInt(m[len(m)-1][1], 10, 64)
		if kb < 400*1024 { // 512 MB minus the kernel's reservations; 256 MB before
			t.Fatalf("guest MemTotal %d kB after memory 512 MB: the added memory is not there", kb)
		}
		t.Logf("guest MemTotal %d kB", kb)
	})

	p.step("disk", func() {
		p.do(chromedp.Navigate(fmt.Sprintf("%s/vms/%d", p.base, vmID)), chromedp.WaitVisible(chromedp.ID("new-disk-name")))
		// A person takes longer than the events stream to connect; the test waits for it.
		// (Changes made before it connects reach the page anyway: each live part refreshes
		// when the stream opens.)
		p.until(30*time.Second, "the events stream is open", `(() => { const d = document.body["htmx-internal-data"]; return !!(d && d.sseEventSource && d.sseEventSource.readyState === 1); })()`)
		time.Sleep(time.Second) // for the refresh that its opening starts
		rows := `document.querySelectorAll("#disks tbody tr").length`
		p.do(chromedp.SetValue(chromedp.ID("new-disk-name"), "webdata"), chromedp.Click(chromedp.ID("add-disk")))
		p.until(opTimeout, "the new disk attached on the page", rows+` === 2 && !!document.querySelector('#disks tr[data-name="webdata"]')`)
		p.do(chromedp.Click(chromedp.CSS(`#disks tr[data-name="webdata"] button.danger-soft`)))
		p.until(opTimeout, "the disk detached on the page", rows+` === 1`)
	})

	p.step("delete", func() {
		p.do(chromedp.Click(chromedp.CSS(`#vm-panel button[hx-post$="/stop"]`)))
		p.until(opTimeout, "the VM halted on its page", text("#vm-state")+` === "halted"`)
		p.do(chromedp.SetValue(chromedp.ID("delete-confirm"), "webvm"), chromedp.Click(chromedp.ID("delete-vm")))
		p.until(opTimeout, "back on the list without the VM", `location.pathname === "/vms" && !document.querySelector("#vm-rows").textContent.includes("webvm")`)
	})
}
