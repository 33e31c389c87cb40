package gandi

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/xmlrpc"
)

func TestFault(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code int
		text string
	}{
		{api.NotFoundErr(api.ObjVM, 42), 530142, "Error on object : OBJECT_VM (CAUSE_NOTFOUND) [vm 42 not found]"},
		{api.NotFoundErr(api.ObjOperation, 7), 530942, "Error on object : OBJECT_OPERATION (CAUSE_NOTFOUND) [operation 7 not found]"},
		{api.Errorf(api.NoRight, api.ObjAccount, "Invalid API key"), 510150, "Error on object : OBJECT_ACCOUNT (CAUSE_NORIGHT) [Invalid API key]"},
		{api.Errorf(api.BadKey, api.ObjUnknown, "string 'x' does not match '^[a-z0-9]{24}$'"), 500037, "Error on object : OBJECT_UNKNOWN (CAUSE_BADPARAMETER) [string 'x' does not match '^[a-z0-9]{24}$']"},
		{api.Errorf(api.BadKey, api.ObjString, "string '' does not match '^[a-z0-9]{24}$'"), 501237, "Error on object : OBJECT_STRING (CAUSE_BADPARAMETER) [string '' does not match '^[a-z0-9]{24}$']"},
		{api.Errorf(api.NoCredit, api.ObjHosting, "no hosting account found for AB1"), 530040, "Error on object : OBJECT_HOSTING_ACCOUNT (CAUSE_DONTEXIST) [no hosting account found for AB1]"},
		{api.Errorf(api.Attached, api.ObjDisk, "disk#1 associated with snapshot#2 is attached"), 530439, "Error on object : OBJECT_DISK (CAUSE_ATTACHED) [disk#1 associated with snapshot#2 is attached]"},
		{api.Errorf(api.Invalid, api.ObjVM, "bad"), 530137, "Error on object : OBJECT_VM (CAUSE_BADPARAMETER) [bad]"},
		{api.Errorf(api.Conflict, api.ObjVM, "running"), 530138, "Error on object : OBJECT_VM (CAUSE_BADSTATE) [running]"},
		{errors.New("database is on fire"), InternalFault, "Error on object : OBJECT_UNKNOWN (CAUSE_UNKNOWN) [internal error]"},
		{&xmlrpc.Fault{Code: 1, String: "x"}, 1, "x"},
	} {
		f := Fault(tc.err)
		if f.Code != tc.code || f.String != tc.text {
			t.Errorf("Fault(%v) = %d %q, want %d %q", tc.err, f.Code, f.String, tc.code, tc.text)
		}
	}
}

func TestCmdline(t *testing.T) {
	s := "root=/dev/xvda1 loglevel=4 console=hvc0 nosep ro"
	m := CmdlineStruct(s)
	want := map[string]any{"root": "/dev/xvda1", "loglevel": "4", "console": "hvc0", "nosep": true, "ro": true}
	if diff := cmp.Diff(want, m); diff != "" {
		t.Fatal(diff)
	}
	back, err := CmdlineString(m)
	if err != nil || back != "console=hvc0 loglevel=4 nosep ro root=/dev/xvda1" {
		t.Fatalf("CmdlineString = %q, %v", back, err)
	}
	if CmdlineStruct("  ") != nil {
		t.Fatal("empty cmdline must be nil")
	}
	for _, bad := range []map[string]any{{"a b": true}, {"k": "v w"}, {"k": []any{}}} {
		if _, err := CmdlineString(bad); err == nil {
			t.Errorf("CmdlineString(%v) accepted", bad)
		}
	}
	if s, _ := CmdlineString(map[string]any{"quiet": false, "ro": true}); s != "ro" {
		t.Errorf("false flags are left out: %q", s)
	}
}

func TestListOptions(t *testing.T) {
	o, err := listOptions(api.ObjVM, map[string]any{
		"items_per_page": int64(50), "page": int64(2), "sort_by": "date_created DESC",
		"hostname": "web", "~hostname": "we%", "state": []any{"running", "halted"}, "vlan": nil, "x": "",
		"version": "4",
	}, true)
	if err != nil {
		t.Fatal(err)
	}
	if o.PerPage != 50 || o.Page != 2 || o.SortBy != "date_created" || !o.SortDesc {
		t.Fatalf("paging %+v", o)
	}
	got := map[string]api.Filter{}
	for _, f := range o.Filters {
		key := f.Field
		if f.Op == api.OpLike {
			key = "~" + key
		}
		got[key] = f
	}
	want := map[string]api.Filter{
		"hostname":  {Field: "hostname", Op: api.OpEq, Values: []any{"web"}},
		"~hostname": {Field: "hostname", Op: api.OpLike, Values: []any{"we%"}},
		"state":     {Field: "state", Op: api.OpIn, Values: []any{"running", "halted"}},
		"version":   {Field: "version", Op: api.OpEq, Values: []any{int64(4)}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatal(diff)
	}
	for _, bad := range []map[string]any{
		{"items_per_page": int64(501)}, {"items_per_page": int64(0)}, {"page": int64(-1)},
		{"sort_by": "id SIDEWAYS"}, {"~hostname": []any{"a"}}, {"id": map[string]any{}},
	} {
		if _, err := listOptions(api.ObjVM, bad, true); !api.IsCode(err, api.Invalid) {
			t.Errorf("listOptions(%v) = %v, want invalid", bad, err)
		}
	}
}

// kind is the XML-RPC type a wire field must have (D6).
func kind(v any) string {
	switch v.(type) {
	case nil:
		return "nil"
	case int64:
		return "int"
	case float64:
		return "double"
	case bool:
		return "boolean"
	case string:
		return "string"
	case time.Time:
		return "dateTime"
	case []any:
		return "array"
	case map[string]any, members:
		return "struct"
	}
	return "other"
}

func checkKinds(t *testing.T, what string, shape any, want map[string]string) {
	t.Helper()
	w := asWire(shape)
	for k, kd := range want {
		v, ok := w[k]
		if !ok {
			t.Errorf("%s: no %s", what, k)
			continue
		}
		if got := kind(v); got != kd {
			t.Errorf("%s.%s is %s, want %s", what, k, got, kd)
		}
	}
}

func TestWireTypes(t *testing.T) {
	now := time.Date(2018, 5, 18, 17, 11, 14, 0, time.UTC)
	checkKinds(t, "vm", vmWire(api.VM{ID: 1, DisksID: []int64{2}, IfacesID: []int64{3}, Created: now, Updated: now}), map[string]string{
		"id": "int", "memory": "int", "vm_max_memory": "int", "cores": "int", "ai_active": "int", "console": "int",
		"flex_shares": "int", "is_migrating": "boolean", "description": "nil", "disks_id": "array", "date_created": "dateTime",
	})
	checkKinds(t, "disk", diskInfoWire(api.Disk{ID: 1, Size: 3072, Type: "data", KernelCmdline: "ro"}), map[string]string{
		"size": "int", "total_size": "int", "is_boot_disk": "boolean", "can_snapshot": "boolean", "is_migrating": "boolean",
		"source": "nil", "snapshot_profile": "nil", "kernel_cmdline": "struct", "vms_id": "array", "snapshots_id": "array",
	})
	checkKinds(t, "iface", ifaceWire(api.Iface{ID: 1, Num: -1, Bandwidth: 102400}), map[string]string{
		"bandwidth": "double", "num": "nil", "vm_id": "nil", "vlan": "nil", "ips_id": "array",
	})
	checkKinds(t, "ip", ipWire(api.IP{ID: 1, IP: "192.0.2.2", Version: 4, Bandwidth: 10240, State: "created", IfaceNum: 0}), map[string]string{
		"version": "int", "num": "int", "bandwidth": "double", "iface_num": "int", "reverse": "string", "vm_id": "nil",
	})
	checkKinds(t, "op", opFull(api.Operation{ID: 1, Type: "vm_create", Step: "DONE", VMID: 3, Params: map[string]any{"vm_id": int64(3)}}), map[string]string{
		"id": "int", "eta": "int", "vm_id": "int", "disk_id": "nil", "date_start": "nil", "last_error": "nil", "params": "struct",
	})
	checkKinds(t, "datacenter", datacenterWire(api.Datacenter{ID: 1, CanMigrateTo: []int64{}}), map[string]string{
		"id": "int", "deactivate_at": "nil", "can_migrate_to": "array",
	})
	checkKinds(t, "account", accountWire(&api.Account{ID: 1, Credits: 5}), map[string]string{
		"credits": "int", "rating_enabled": "boolean", "average_credit_cost": "nil", "resources": "struct",
	})
	checkKinds(t, "vlan", vlanWire(api.VLAN{ID: 1, UUID: 1}), map[string]string{"uuid": "int", "gateway": "nil"})
}
