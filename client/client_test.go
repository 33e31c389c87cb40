package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/xmlrpc"
)

// server serves methods through our codec at /xmlrpc/ plus handler at /api/.
func server(t *testing.T, methods map[string]xmlrpc.Method, api http.HandlerFunc) *Client {
	t.Helper()
	s := xmlrpc.NewServer(xmlrpc.Options{})
	for n, m := range methods {
		s.Register(n, m)
	}
	mux := http.NewServeMux()
	mux.Handle("/xmlrpc/", s)
	if api != nil {
		mux.HandleFunc("/api/", api)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return New(srv.URL+"/xmlrpc/", "k")
}

func TestBaseURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://h:1/xmlrpc/":    "http://h:1",
		"http://h:1/xmlrpc":     "http://h:1",
		"http://h:1/":           "http://h:1",
		"https://h/sub/xmlrpc/": "https://h/sub",
	} {
		if got := New(in, "k").BaseURL(); got != want {
			t.Errorf("BaseURL(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestFaults(t *testing.T) {
	c := server(t, map[string]xmlrpc.Method{
		"hosting.vm.info": func(context.Context, []any) (any, error) {
			return nil, &xmlrpc.Fault{Code: 530142, String: "Error on object : OBJECT_VM (CAUSE_NOTFOUND) [vm 9 not found]"}
		},
	}, nil)
	_, err := c.Info(context.Background(), "hosting.vm.info", 9)
	f, ok := AsFault(err)
	if !ok || !IsFault(err, 530142) {
		t.Fatalf("error %v is not fault 530142", err)
	}
	if got := FaultMessage(f); got != "vm 9 not found" {
		t.Errorf("FaultMessage = %q", got)
	}
	if got := FaultCause(f); got != "notfound" {
		t.Errorf("FaultCause = %q", got)
	}
	if got := FaultMessage(Fault{Code: 1, String: `Method "x" is not supported`}); got != `Method "x" is not supported` {
		t.Errorf("FaultMessage of another shape = %q", got)
	}
}

func TestListAll(t *testing.T) {
	var pages []int64
	c := server(t, map[string]xmlrpc.Method{
		"hosting.disk.list": func(_ context.Context, p []any) (any, error) {
			o := p[1].(map[string]any)
			page := o["page"].(int64)
			pages = append(pages, page)
			if o["items_per_page"] != int64(MaxPerPage) || o["type"] != "data" {
				return nil, fmt.Errorf("bad options %v", o)
			}
			n := MaxPerPage
			if page == 1 {
				n = 3
			}
			out := make([]any, n)
			for i := range out {
				out[i] = map[string]any{"id": page*MaxPerPage + int64(i)}
			}
			return out, nil
		},
	}, nil)
	all, err := c.ListAll(context.Background(), "hosting.disk.list", map[string]any{"type": "data", "page": 7})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != MaxPerPage+3 || all[MaxPerPage+2].ID() != MaxPerPage+2 {
		t.Errorf("got %d objects", len(all))
	}
	if diff := cmp.Diff([]int64{0, 1}, pages); diff != "" {
		t.Errorf("pages (-want +got):\n%s", diff)
	}
}

// opServer serves operation.info from scripts of steps, one per poll.
type opServer struct {
	mu      sync.Mutex
	scripts map[int64][]string
}

func (s *opServer) methods() map[string]xmlrpc.Method {
	return map[string]xmlrpc.Method{
		"operation.info": func(_ context.Context, p []any) (any, error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			id := p[1].(int64)
			sc := s.scripts[id]
			if len(sc) == 0 {
				return nil, &xmlrpc.Fault{Code: 530942, String: "Error on object : OBJECT_OPERATION (CAUSE_NOTFOUND) [operation not found]"}
			}
			step := sc[0]
			if len(sc) > 1 {
				s.scripts[id] = sc[1:]
			}
			o := map[string]any{"id": id, "type": "vm_create", "step": step, "vm_id": int64(7), "params": map[string]any{"vlan_id": int64(3)}}
			if step == "ERROR" {
				o["last_error"] = "no room"
			}
			return o, nil
		},
	}
}

func TestWait(t *testing.T) {
	tests := []struct {
		name     string
		scripts  map[int64][]string
		ids      []int64
		wantErr  string
		wantStep []string
	}{
		{name: "done", scripts: map[int64][]string{1: {"WAIT", "RUN", "DONE"}, 2: {"DONE"}}, ids: []int64{1, 2}, wantStep: []string{"DONE", "DONE"}},
		{name: "error", scripts: map[int64][]string{1: {"RUN", "ERROR"}, 2: {"WAIT"}}, ids: []int64{1, 2},
			wantErr: "operation 1 (vm_create) failed: no room", wantStep: []string{"ERROR", "WAIT"}},
		{name: "cancel", scripts: map[int64][]string{1: {"BILL", "CANCEL"}}, ids: []int64{1},
			wantErr: "operation 1 (vm_create) was cancelled", wantStep: []string{"CANCEL"}},
		{name: "fault", scripts: map[int64][]string{}, ids: []int64{5}, wantErr: "follow operation 5", wantStep: []string{"WAIT"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &opServer{scripts: tc.scripts}
			c := server(t, s.methods(), nil)
			var ops []Object
			for _, id := range tc.ids {
				ops = append(ops, Object{"id": id, "step": "WAIT"})
			}
			var rounds int
			final, err := c.Wait(context.Background(), ops, WaitOptions{Interval: time.Millisecond, Progress: func([]api.Operation) { rounds++ }})
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("err %v, want %q", err, tc.wantErr)
			}
			var steps []string
			for _, o := range final {
				steps = append(steps, o.Str("step"))
			}
			if diff := cmp.Diff(tc.wantStep, steps); diff != "" {
				t.Errorf("steps (-want +got):\n%s", diff)
			}
			var oe *OperationError
			if tc.name == "error" && (!errors.As(err, &oe) || oe.Op.VMID != 7 || oe.Op.VLANID != 3) {
				t.Errorf("error %#v: want an *OperationError with the operation", err)
			}
			if tc.name != "fault" && rounds == 0 {
				t.Error("Progress never called")
			}
		})
	}
}

func TestWaitContext(t *testing.T) {
	s := &opServer{scripts: map[int64][]string{1: {"RUN"}}}
	c := server(t, s.methods(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	final, err := c.Wait(ctx, []Object{{"id": int64(1)}}, WaitOptions{Interval: time.Millisecond, Progress: func(ops []api.Operation) {
		if ops[0].Step == "RUN" {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) || final[0].Str("step") != "RUN" {
		t.Errorf("Wait = %v, %v; want the RUN state and context.Canceled", final, err)
	}
}

func TestConsole(t *testing.T) {
	c := server(t, nil, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Header.Get("Authorization") != "Bearer k":
			http.Error(w, "invalid API key", http.StatusUnauthorized)
		case r.URL.Path == "/api/console/2":
			http.Error(w, "vm 2 is halted: its console exists while it runs", http.StatusConflict)
		case r.URL.Path != "/api/console/1":
			http.Error(w, "vm not found", http.StatusNotFound)
		case r.Header.Get("Upgrade") != "berth-console" || r.Header.Get("Connection") != "Upgrade":
			http.Error(w, "want Upgrade: berth-console", http.StatusUpgradeRequired)
		default:
			conn, rw, _ := w.(http.Hijacker).Hijack()
			defer conn.Close()
			fmt.Fprint(rw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: berth-console\r\nConnection: Upgrade\r\n\r\n")
			rw.Flush()
			buf := make([]byte, 64)
			n, _ := rw.Read(buf)
			fmt.Fprintf(conn, "got %s", buf[:n])
		}
	})
	ctx := context.Background()
	rw, err := c.Console(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rw.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(rw)
	if err != nil || string(b) != "got hi" {
		t.Errorf("read %q, %v", b, err)
	}
	rw.Close()
	for id, want := range map[int64]ConsoleError{
		2: {Status: 409, Message: "vm 2 is halted: its console exists while it runs"},
		3: {Status: 404, Message: "vm not found"},
	} {
		_, err := c.Console(ctx, id)
		var ce *ConsoleError
		if !errors.As(err, &ce) || *ce != want {
			t.Errorf("Console(%d) = %v, want %+v", id, err, want)
		}
	}
	c.Key = "bad"
	_, err = c.Console(ctx, 1)
	var ce *ConsoleError
	if !errors.As(err, &ce) || ce.Status != 401 {
		t.Errorf("Console with a bad key = %v, want 401", err)
	}
}

func TestConversions(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	disk := Object{"id": int64(5), "name": "sys_a", "datacenter_id": int64(1), "size": int64(3072), "state": "created",
		"type": "data", "is_boot_disk": true, "vms_id": []any{int64(9)}, "kernel_version": "raw", "source": nil,
		"kernel_cmdline": map[string]any{"root": "/dev/vda", "ro": true, "quiet": false}, "snapshots_id": []any{int64(6)},
		"snapshot_profile": map[string]any{"id": int64(2), "name": "p"}, "date_created": t0}
	want := api.Disk{ID: 5, Name: "sys_a", DatacenterID: 1, Size: 3072, State: "created", Type: "data", VMID: 9, Position: 0,
		KernelVersion: "raw", KernelCmdline: "ro root=/dev/vda", SnapshotsID: []int64{6}, SnapshotProfileID: 2, Created: t0}
	if diff := cmp.Diff(want, AsDisk(disk)); diff != "" {
		t.Errorf("AsDisk (-want +got):\n%s", diff)
	}
	iface := Object{"id": int64(3), "num": nil, "type": "private", "state": "free", "bandwidth": 204800.0, "vm_id": nil,
		"vlan": map[string]any{"id": int64(8), "name": "lan", "entity_id": "e"}, "ips_id": []any{int64(4)}}
	wantIf := api.Iface{ID: 3, Num: -1, Type: "private", State: "free", Bandwidth: 204800, VLAN: &api.VLANRef{ID: 8, Name: "lan", EntityID: "e"}, IPsID: []int64{4}}
	if diff := cmp.Diff(wantIf, AsIface(iface)); diff != "" {
		t.Errorf("AsIface (-want +got):\n%s", diff)
	}
	op := AsOperation(Object{"id": int64(1), "type": "vlan_create", "step": "DONE", "vm_id": nil, "date_start": t0,
		"params": map[string]any{"vlan_id": int64(8), "datacenter_id": int64(2), "vm_id": int64(4)}})
	if op.VLANID != 8 || op.DatacenterID != 2 || op.VMID != 4 || op.Started == nil || !op.Started.Equal(t0) {
		t.Errorf("AsOperation = %+v", op)
	}
	vm := AsVM(Object{"id": int64(2), "hostname": "a", "console": int64(1), "vm_max_memory": int64(2048), "disks_id": []any{int64(5)}})
	if !vm.Console || vm.MaxMemory != 2048 || vm.DisksID[0] != 5 {
		t.Errorf("AsVM = %+v", vm)
	}
}
