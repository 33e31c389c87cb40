package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/berth-io/berth/internal/xmlrpc"
)

// restClient calls /v1 and validates every response against the served OpenAPI document.
type restClient struct {
	t      *testing.T
	b      *Berthd
	key    string
	router routers.Router
}

type restResp struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    []byte
}

func newRESTClient(t *testing.T, b *Berthd, key string) *restClient {
	t.Helper()
	resp, err := http.Get("http://" + b.Addr + "/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	doc, err := openapi3.NewLoader().LoadFromData(raw)
	if err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.json is not a valid OpenAPI 3 document: %v", err)
	}
	doc.Servers = nil // match any host
	r, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &restClient{t: t, b: b, key: key, router: r}
}

func (c *restClient) do(method, path string, body any, header ...string) restResp {
	c.t.Helper()
	var rd io.Reader
	var sent []byte
	if body != nil {
		switch v := body.(type) {
		case string:
			sent = []byte(v)
		default:
			sent, _ = json.Marshal(v)
		}
		rd = bytes.NewReader(sent)
	}
	req, _ := http.NewRequest(method, "http://"+c.b.Addr+path, rd)
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := restResp{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out.Body); err != nil {
			c.t.Fatalf("%s %s: %d, not JSON: %q", method, path, resp.StatusCode, raw)
		}
	}
	c.validate(req, sent, resp, raw)
	return out
}

func (c *restClient) validate(req *http.Request, sent []byte, resp *http.Response, raw []byte) {
	c.t.Helper()
	vreq := req.Clone(context.Background())
	vreq.Body = io.NopCloser(bytes.NewReader(sent))
	route, params, err := c.router.FindRoute(vreq)
	if err != nil {
		if resp.StatusCode == http.StatusNotFound {
			return // no such route: the 404 body is still an Error (checked by callers)
		}
		c.t.Fatalf("%s %s: not in the OpenAPI document: %v", req.Method, req.URL.Path, err)
	}
	in := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true}}
	err = openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header, Body: io.NopCloser(bytes.NewReader(raw)), Options: in.Options})
	if err != nil {
		c.t.Errorf("%s %s → %d does not match the OpenAPI document: %v\n%s", req.Method, req.URL.Path, resp.StatusCode, err, raw)
	}
}

func (c *restClient) must(status int, method, path string, body any, header ...string) restResp {
	c.t.Helper()
	r := c.do(method, path, body, header...)
	if r.Status != status {
		c.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.Status, status, r.Raw)
	}
	return r
}

func num(v any) int64 {
	f, _ := v.(float64)
	return int64(f)
}

func (r restResp) obj(k string) map[string]any { m, _ := r.Body[k].(map[string]any); return m }
func (r restResp) list(k string) []any         { l, _ := r.Body[k].([]any); return l }

// opIDs returns the ids of a 202's operation(s).
func (r restResp) opIDs() []int64 {
	var ids []int64
	if o := r.obj("operation"); o != nil {
		ids = append(ids, num(o["id"]))
	}
	for _, o := range r.list("operations") {
		ids = append(ids, num(o.(map[string]any)["id"]))
	}
	return ids
}

// wait polls GET /v1/operations/{id} until the operation ends, and wants DONE.
func (c *restClient) wait(ids ...int64) {
	c.t.Helper()
	for _, id := range ids {
		deadline := time.Now().Add(2 * time.Minute)
		for {
			op := c.must(200, "GET", fmt.Sprintf("/v1/operations/%d", id), nil).obj("operation")
			if op["step"] == "DONE" {
				break
			}
			if op["step"] == "ERROR" || op["step"] == "CANCEL" || time.Now().After(deadline) {
				c.t.Fatalf("operation %d: %v %v", id, op["step"], op["error"])
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// TestREST drives every /v1 resource on one berthd (sim backend), validating every response
// against the OpenAPI document, compares error codes with XML-RPC's, checks idempotency keys
// (a SIGKILL between commit and answer included) and /metrics.
func TestREST(t *testing.T) { // not parallel: its idempotency subtest sets berthd's environment (t.Setenv)
	b := NewBerthd(t, "sim")
	b.Start()
	key := b.Account("resty", 100000)
	c := newRESTClient(t, b, key)

	dc := num(c.must(200, "GET", "/v1/datacenters", nil).list("datacenters")[0].(map[string]any)["id"])
	imgs := c.must(200, "GET", fmt.Sprintf("/v1/images?datacenter_id=%d", dc), nil)
	src := num(imgs.list("images")[0].(map[string]any)["disk_id"])
	var vmID int64

	t.Run("objects", func(t *testing.T) {
		c := *c
		c.t = t
		c.must(200, "GET", "/v1/account", nil)
		c.must(200, "GET", fmt.Sprintf("/v1/datacenters/%d", dc), nil)
		c.must(200, "GET", fmt.Sprintf("/v1/images/%d", num(imgs.list("images")[0].(map[string]any)["id"])), nil)
		line, _ := sshKeyLine(t)
		k := c.must(201, "POST", "/v1/ssh_keys", map[string]any{"name": "laptop", "value": line}).obj("ssh_key")
		c.must(200, "GET", fmt.Sprintf("/v1/ssh_keys/%d", num(k["id"])), nil)

		r := c.must(202, "POST", "/v1/vms", map[string]any{"datacenter_id": dc, "hostname": "rest1", "memory": 256, "cores": 1,
			"keys": []int64{num(k["id"])}, "src_disk_id": src, "disk": map[string]any{"name": "rest1sys"}})
		if len(r.opIDs()) != 3 || !strings.HasPrefix(r.Header.Get("Location"), "/v1/operations/") {
			t.Fatalf("POST /v1/vms: %s, Location %q", r.Raw, r.Header.Get("Location"))
		}
		c.wait(r.opIDs()...)
		vms := c.must(200, "GET", "/v1/vms?hostname=rest1", nil)
		if len(vms.list("vms")) != 1 {
			t.Fatalf("filter hostname=rest1: %s", vms.Raw)
		}
		vmID = num(vms.list("vms")[0].(map[string]any)["id"])
		vm := c.must(200, "GET", fmt.Sprintf("/v1/vms/%d", vmID), nil).obj("vm")
		if vm["state"] != "running" || len(vm["disks"].([]any)) != 1 || len(vm["ifaces"].([]any)) != 1 {
			t.Fatalf("vm: %v", vm)
		}
		c.wait(c.must(202, "PATCH", fmt.Sprintf("/v1/vms/%d", vmID), map[string]any{"memory": 512}).opIDs()...)
		if m := num(c.must(200, "GET", fmt.Sprintf("/v1/vms/%d", vmID), nil).obj("vm")["memory"]); m != 512 {
			t.Fatalf("memory after PATCH: %d", m)
		}

		disk := c.must(202, "POST", "/v1/disks", map[string]any{"datacenter_id": dc, "name": "data1", "size": 2048})
		c.wait(disk.opIDs()...)
		diskID := num(disk.obj("operation")["resources"].([]any)[0].(map[string]any)["id"])
		c.wait(c.must(202, "POST", fmt.Sprintf("/v1/vms/%d/actions/attach_disk", vmID), map[string]any{"disk_id": diskID}).opIDs()...)
		c.wait(c.must(202, "POST", fmt.Sprintf("/v1/vms/%d/actions/detach_disk", vmID), map[string]any{"disk_id": diskID}).opIDs()...)
		c.wait(c.must(202, "PATCH", fmt.Sprintf("/v1/disks/%d", diskID), map[string]any{"size": 3072}).opIDs()...)
		snap := c.must(202, "POST", fmt.Sprintf("/v1/disks/%d/actions/snapshot", diskID), map[string]any{"name": "snap1"})
		c.wait(snap.opIDs()...)
		snapID := num(c.must(200, "GET", "/v1/disks?type=snapshot", nil).list("disks")[0].(map[string]any)["id"])
		c.wait(c.must(202, "POST", fmt.Sprintf("/v1/disks/%d/actions/rollback", snapID), nil).opIDs()...)
		c.must(200, "GET", fmt.Sprintf("/v1/disks/%d", diskID), nil)

		vlan := c.must(202, "POST", "/v1/vlans", map[string]any{"datacenter_id": dc, "name": "back", "subnet": "192.168.40.0/24"})
		c.wait(vlan.opIDs()...)
		vlanID := num(c.must(200, "GET", "/v1/vlans", nil).list("vlans")[0].(map[string]any)["id"])
		c.wait(c.must(202, "PATCH", fmt.Sprintf("/v1/vlans/%d", vlanID), map[string]any{"gateway": "192.168.40.1"}).opIDs()...)
		c.must(200, "GET", fmt.Sprintf("/v1/vlans/%d", vlanID), nil)
		f := c.must(202, "POST", "/v1/ifaces", map[string]any{"datacenter_id": dc, "vlan_id": vlanID})
		c.wait(f.opIDs()...)
		ifaceID := num(f.obj("operation")["resources"].([]any)[0].(map[string]any)["id"])
		c.must(200, "GET", fmt.Sprintf("/v1/ifaces/%d", ifaceID), nil)
		c.wait(c.must(202, "PATCH", fmt.Sprintf("/v1/ifaces/%d", ifaceID), map[string]any{"bandwidth": 20480}).opIDs()...)
		c.wait(c.must(202, "POST", fmt.Sprintf("/v1/vms/%d/actions/attach_iface", vmID), map[string]any{"iface_id": ifaceID}).opIDs()...)
		c.wait(c.must(202, "POST", fmt.Sprintf("/v1/vms/%d/actions/detach_iface", vmID), map[string]any{"iface_id": ifaceID}).opIDs()...)
		c.wait(c.must(202, "DELETE", fmt.Sprintf("/v1/ifaces/%d", ifaceID), nil).opIDs()...)
		c.wait(c.must(202, "DELETE", fmt.Sprintf("/v1/vlans/%d", vlanID), nil).opIDs()...)

		ips := c.must(200, "GET", fmt.Sprintf("/v1/ips?vm_id=%d&version=4", vmID), nil).list("ips")
		if len(ips) != 1 {
			t.Fatalf("ips of the VM, v4: %v", ips)
		}
		ipID := num(ips[0].(map[string]any)["id"])
		c.wait(c.must(202, "PATCH", fmt.Sprintf("/v1/ips/%d", ipID), map[string]any{"reverse": "rest1.example.test"}).opIDs()...)
		if rev := c.must(200, "GET", fmt.Sprintf("/v1/ips/%d", ipID), nil).obj("ip")["reverse"]; rev != "rest1.example.test" {
			t.Fatalf("reverse: %v", rev)
		}
		c.wait(c.must(202, "POST", fmt.Sprintf("/v1/vms/%d/actions/stop", vmID), nil).opIDs()...)
		c.wait(c.must(202, "POST", fmt.Sprintf("/v1/vms/%d/actions/start", vmID), nil).opIDs()...)
		c.must(409, "POST", "/v1/account/actions/buy_credits", map[string]any{"credits": 1}) // no prepaid balance

		// Paging and sorting.
		for i := range 3 {
			c.must(201, "POST", "/v1/ssh_keys", map[string]any{"name": fmt.Sprintf("k%d", i), "value": func() string { l, _ := sshKeyLine(t); return l }()})
		}
		p := c.must(200, "GET", "/v1/ssh_keys?per_page=2&page=2&sort=name:desc", nil)
		pg := p.obj("meta")["pagination"].(map[string]any)
		names := p.list("ssh_keys")
		if num(pg["total_entries"]) != 4 || num(pg["last_page"]) != 2 || pg["next_page"] != nil || num(pg["previous_page"]) != 1 ||
			len(names) != 2 || names[0].(map[string]any)["name"] != "k1" || names[1].(map[string]any)["name"] != "k0" {
			t.Fatalf("page 2 of 2 by name desc: %s", p.Raw)
		}
		if l := c.must(200, "GET", "/v1/vms?~hostname=rest%25", nil).list("vms"); len(l) != 1 {
			t.Fatalf("~hostname=rest%%: %v", l)
		}
		c.must(200, "GET", "/v1/operations?step=DONE&per_page=500", nil)
		c.must(204, "DELETE", fmt.Sprintf("/v1/ssh_keys/%d", num(k["id"])), nil)
		c.must(200, "GET", "/v1/ifaces", nil)

		// Another account sees none of it.
		other := c
		other.key = b.Account("other", 100)
		other.must(404, "GET", fmt.Sprintf("/v1/vms/%d", vmID), nil)
		other.must(404, "POST", fmt.Sprintf("/v1/vms/%d/actions/stop", vmID), nil)
		if l := other.must(200, "GET", "/v1/vms", nil).list("vms"); len(l) != 0 {
			t.Fatalf("other account lists %v", l)
		}
	})

	t.Run("same errors as XML-RPC", func(t *testing.T) {
		c := *c
		c.t = t
		cases := []struct {
			method, path string
			body         any
			call         string
			params       []any
		}{
			{"GET", "/v1/vms/999999", nil, "hosting.vm.info", []any{key, 999999}},
			{"POST", "/v1/vms/999999/actions/start", nil, "hosting.vm.start", []any{key, 999999}},
			{"POST", "/v1/vms", map[string]any{"datacenter_id": dc, "hostname": "bad_host!", "memory": 256, "src_disk_id": src}, "hosting.vm.create_from",
				[]any{key, map[string]any{"datacenter_id": dc, "hostname": "bad_host!", "memory": 256}, map[string]any{}, src}},
			{"POST", "/v1/vms", map[string]any{"datacenter_id": dc, "hostname": "okhost", "memory": 256, "cores": 99, "src_disk_id": src}, "hosting.vm.create_from",
				[]any{key, map[string]any{"datacenter_id": dc, "hostname": "okhost", "memory": 256, "cores": 99}, map[string]any{}, src}},
			{"POST", "/v1/disks", map[string]any{"datacenter_id": dc, "name": "tiny", "size": 1}, "hosting.disk.create", []any{key, map[string]any{"datacenter_id": dc, "name": "tiny", "size": 1}}},
			{"DELETE", "/v1/disks/999999", nil, "hosting.disk.delete", []any{key, 999999}},
			{"POST", "/v1/ssh_keys", map[string]any{"name": "x", "value": "not a key"}, "hosting.ssh.create", []any{key, map[string]any{"name": "x", "value": "not a key"}}},
			{"PATCH", "/v1/ips/999999", map[string]any{"reverse": "a.example"}, "hosting.ip.update", []any{key, 999999, map[string]any{"reverse": "a.example"}}},
			{"DELETE", "/v1/operations/999999", nil, "operation.cancel", []any{key, 999999}},
			{"GET", "/v1/vlans/999999", nil, "hosting.vlan.info", []any{key, 999999}},
			{"DELETE", fmt.Sprintf("/v1/vms/%d", vmID), nil, "hosting.vm.delete", []any{key, vmID}},
			{"GET", "/v1/account", nil, "hosting.account.info", []any{"wrongkeywrongkeywrongkey"}},
		}
		for _, tc := range cases {
			rc := c
			if tc.call == "hosting.account.info" {
				rc.key = "wrongkeywrongkeywrongkey"
			}
			r := rc.do(tc.method, tc.path, tc.body)
			_, err := b.Call(tc.call, tc.params...)
			f, ok := err.(*xmlrpc.Fault)
			if !ok {
				t.Errorf("%s: XML-RPC gave %v, want a fault", tc.call, err)
				continue
			}
			got := num(r.obj("error")["fault_code"])
			if r.Status < 400 || got != int64(f.Code) {
				t.Errorf("%s %s: status %d fault_code %d; XML-RPC %s: faultCode %d (%s)", tc.method, tc.path, r.Status, got, tc.call, f.Code, f.String)
			}
		}
		r := c.must(400, "POST", "/v1/disks", "{not json")
		if r.obj("error")["code"] != "json_error" {
			t.Errorf("bad JSON: %s", r.Raw)
		}
		if r := c.must(422, "POST", "/v1/disks", map[string]any{"size": "big"}); !strings.Contains(r.obj("error")["message"].(string), "size") {
			t.Errorf("size as a string: %s", r.Raw)
		}
		c.must(422, "POST", "/v1/disks", map[string]any{"sise": 3})
		c.must(422, "GET", "/v1/vms?per_page=0", nil)
		c.must(422, "GET", "/v1/vms/abc", nil)
		nokey := c
		nokey.key = ""
		nokey.must(401, "GET", "/v1/vms", nil)
	})

	t.Run("idempotency", func(t *testing.T) {
		c := *c
		c.t = t
		body := map[string]any{"datacenter_id": dc, "hostname": "idem1", "memory": 256, "src_disk_id": src, "disk": map[string]any{"name": "idem1sys"}}
		first := c.must(202, "POST", "/v1/vms", body, "Idempotency-Key", "k-1")
		again := c.must(202, "POST", "/v1/vms", body, "Idempotency-Key", "k-1")
		if !bytes.Equal(first.Raw, again.Raw) || again.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("replay differs:\n%s\n%s", first.Raw, again.Raw)
		}
		other := map[string]any{"datacenter_id": dc, "hostname": "idem2", "memory": 256, "src_disk_id": src}
		if r := c.must(422, "POST", "/v1/vms", other, "Idempotency-Key", "k-1"); r.obj("error")["code"] != "idempotency_key_reused" {
			t.Fatalf("same key, other body: %s", r.Raw)
		}
		c.wait(first.opIDs()...)
		if l := c.must(200, "GET", "/v1/vms?hostname=idem1", nil).list("vms"); len(l) != 1 {
			t.Fatalf("%d VMs named idem1", len(l))
		}
		// The key is per account: another account's same key makes its own key.
		line, _ := sshKeyLine(t)
		o := c
		o.key = b.Account("idemother", 10)
		o.must(201, "POST", "/v1/ssh_keys", map[string]any{"name": "a", "value": line}, "Idempotency-Key", "k-1")

		// SIGKILL between commit and answer: berthd dies with the change committed and the
		// answer lost; the retry after a restart returns the first result and makes nothing.
		b.Stop()
		t.Setenv("BERTH_TEST_DIE_AFTER_COMMIT", "k-crash")
		b.Start()
		crash := map[string]any{"datacenter_id": dc, "name": "crashdisk", "size": 2048}
		req, _ := json.Marshal(crash)
		hr, _ := http.NewRequest("POST", "http://"+b.Addr+"/v1/disks", bytes.NewReader(req))
		hr.Header.Set("Authorization", "Bearer "+key)
		hr.Header.Set("Idempotency-Key", "k-crash")
		if resp, err := http.DefaultClient.Do(hr); err == nil {
			resp.Body.Close()
			t.Fatalf("berthd answered %d instead of dying", resp.StatusCode)
		}
		select {
		case <-b.done:
		case <-time.After(30 * time.Second):
			t.Fatal("berthd did not die")
		}
		b.cmd = nil
		if !strings.Contains(b.Stderr(), "SIGKILL after commit") {
			t.Fatalf("berthd died for another reason:\n%s", b.Stderr())
		}
		t.Setenv("BERTH_TEST_DIE_AFTER_COMMIT", "")
		b.Start()
		r := c.must(202, "POST", "/v1/disks", crash, "Idempotency-Key", "k-crash")
		if r.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("retry after the crash was not a replay: %s", r.Raw)
		}
		c.wait(r.opIDs()...)
		if l := c.must(200, "GET", "/v1/disks?name=crashdisk", nil).list("disks"); len(l) != 1 {
			t.Fatalf("%d disks named crashdisk after the crash and retry", len(l))
		}
	})

	t.Run("metrics", func(t *testing.T) {
		b.MustCall("hosting.vm.list", key)
		if _, err := b.Call("hosting.vm.list", "not-a-key-aaaaaaaaaaaaaa"); err == nil {
			t.Fatal("vm.list with a wrong key succeeded")
		}
		resp, err := http.Get("http://" + b.Addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		text := string(raw)
		for _, want := range []string{
			`berth_api_requests_total{method="hosting.vm.list",outcome="ok",transport="xmlrpc"}`,
			`berth_api_requests_total{method="POST /v1/disks",outcome="ok",transport="rest"}`,
			`berth_api_request_duration_seconds_bucket{method="GET /v1/operations/{id}",transport="rest",le="+Inf"}`,
			`berth_vms{datacenter_id="` + fmt.Sprint(dc) + `",state="running"} 2`,
			`berth_host_up{`,
			`berth_store_scrape_error 0`,
			`berth_auth_refused_total 0`,
		} {
			if !strings.Contains(text, want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
		if m := regexp.MustCompile(`(?m)^berth_auth_failures_total (\d+)$`).FindStringSubmatch(text); m == nil || m[1] == "0" {
			t.Errorf("/metrics: berth_auth_failures_total %v after a call with a wrong key", m)
		}
		if t.Failed() {
			t.Logf("/metrics:\n%s", text)
		}
	})
}
