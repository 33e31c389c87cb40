package rest

import "strings"

// The OpenAPI 3.0.3 document of /v1, written by hand: the schemas below are the contract,
// and the tests validate every response of every route against them. Paths come from the
// route table, so no route can be missing from the document.

// opDoc describes one route for the document.
type opDoc struct {
	tag, summary string
	request      string // request body schema, "" for none
	response     string // response schema, "" for 204
	list         bool   // takes page, per_page, sort and filters
}

type m = map[string]any

func ref(name string) m { return m{"$ref": "#/components/schemas/" + name} }

var (
	integer   = m{"type": "integer", "format": "int64"}
	number    = m{"type": "number"}
	str       = m{"type": "string"}
	boolean   = m{"type": "boolean"}
	timestamp = m{"type": "string", "format": "date-time"}
	ints      = m{"type": "array", "items": integer}
)

func nullable(s m) m {
	out := m{"nullable": true}
	for k, v := range s {
		out[k] = v
	}
	return out
}

func arrayOf(s m) m { return m{"type": "array", "items": s} }

// object is a closed object; when all is true every property is required (responses).
func object(all bool, props ...any) m {
	p := m{}
	var req []string
	for i := 0; i < len(props); i += 2 {
		name := props[i].(string)
		p[name] = props[i+1]
		if all {
			req = append(req, name)
		}
	}
	o := m{"type": "object", "properties": p, "additionalProperties": false}
	if len(req) > 0 {
		o["required"] = req
	}
	return o
}

func schemas() m {
	s := m{
		"Error": object(true, "error", object(true, "code", m{"type": "string", "enum": []string{"not_found", "invalid_input", "json_error", "unauthorized",
			"conflict", "attached", "no_credit", "resource_unavailable", "service_error", "idempotency_key_reused"}}, "message", str,
			"fault_code", m{"type": "integer", "description": "the faultCode the XML-RPC API gives for the same error"})),
		"Meta": object(true, "pagination", object(true, "page", integer, "per_page", integer, "previous_page", nullable(integer),
			"next_page", nullable(integer), "last_page", integer, "total_entries", integer)),
		"Datacenter": object(true, "id", integer, "code", str, "name", str, "country", str, "iso", str,
			"iaas_closed_for", m{"type": "string", "enum": []string{"NONE", "NEW", "ALL"}}, "can_migrate_to", ints),
		"Image": object(true, "id", integer, "label", str, "os_arch", str, "kernel_version", str, "datacenter_id", integer,
			"disk_id", integer, "size", integer, "visibility", str, "created", timestamp),
		"VM": object(false, "id", integer, "hostname", str, "state", m{"type": "string", "enum": []string{"being_created", "running", "halted", "paused", "locked", "invalid", "deleted"}},
			"datacenter_id", integer, "memory", m{"type": "integer", "description": "MB"}, "max_memory", integer, "cores", integer, "max_cores", integer,
			"console", boolean, "description", str, "disks_id", ints, "ifaces_id", ints, "created", timestamp, "updated", timestamp,
			"disks", arrayOf(ref("Disk")), "ifaces", arrayOf(ref("Iface"))),
		"Disk": object(true, "id", integer, "name", str, "size", m{"type": "integer", "description": "MB"}, "state", str,
			"type", m{"type": "string", "enum": []string{"data", "snapshot"}}, "datacenter_id", integer, "kernel_version", str, "label", str,
			"source_id", integer, "vm_id", integer, "position", integer, "read_only", boolean, "snapshots_id", ints, "snapshot_profile", integer,
			"created", timestamp, "updated", timestamp),
		"Iface": object(false, "id", integer, "datacenter_id", integer, "num", integer, "type", m{"type": "string", "enum": []string{"public", "private"}},
			"state", str, "bandwidth", number, "vlan_id", integer, "vm_id", integer, "ips_id", ints, "created", timestamp, "updated", timestamp,
			"ips", arrayOf(ref("IP"))),
		"IP": object(true, "id", integer, "ip", str, "version", m{"type": "integer", "enum": []int{4, 6}}, "reverse", str, "state", str,
			"iface_id", integer, "vm_id", integer, "datacenter_id", integer, "created", timestamp, "updated", timestamp),
		"VLAN": object(true, "id", integer, "name", str, "datacenter_id", integer, "subnet", str, "gateway", str, "state", str,
			"created", timestamp, "updated", timestamp),
		"SSHKey":   object(true, "id", integer, "name", str, "fingerprint", str, "value", str),
		"Resource": object(true, "type", str, "id", integer),
		"Operation": object(true, "id", integer, "type", str, "step", m{"type": "string", "enum": []string{"BILL", "WAIT", "RUN", "DONE", "ERROR", "CANCEL"}},
			"resources", arrayOf(ref("Resource")), "error", str, "eta", integer, "created", timestamp, "updated", timestamp, "started", nullable(timestamp)),
		"Account":            object(true, "id", integer, "handle", str, "full_name", str, "credits", integer, "prepaid_cents", integer, "currency", str, "created", timestamp),
		"OperationResponse":  object(true, "operation", ref("Operation")),
		"OperationsResponse": object(true, "operations", arrayOf(ref("Operation"))),
		"AccountResponse":    object(true, "account", ref("Account")),

		"CreditsRequest": object(false, "credits", integer),
		"VMCreateRequest": object(false, "datacenter_id", integer, "hostname", str, "memory", integer, "cores", integer,
			"ip_version", m{"type": "integer", "description": "4: IPv4 and IPv6; 6: IPv6 only"}, "bandwidth", number, "login", str, "password", str,
			"ssh_key", str, "keys", ints, "run", str, "script", str, "description", str, "src_disk_id", integer,
			"disk", object(false, "name", str, "size", integer, "snapshot_profile", integer)),
		"VMUpdateRequest": object(false, "memory", integer, "cores", integer, "max_memory", integer, "console", boolean, "hostname", str, "password", str),
		"VMActionRequest": object(false, "disk_id", integer, "iface_id", integer, "position", integer, "read_only", boolean),
		"DiskCreateRequest": object(false, "datacenter_id", integer, "name", str, "size", integer, "snapshot_profile", integer,
			"src_disk_id", integer),
		"DiskUpdateRequest":   object(false, "name", str, "size", integer, "kernel", str, "cmdline", str, "snapshot_profile", integer),
		"SnapshotRequest":     object(false, "name", str),
		"IfaceCreateRequest":  object(false, "datacenter_id", integer, "ip_version", integer, "bandwidth", number, "vlan_id", integer, "ip", str),
		"IfaceUpdateRequest":  object(false, "bandwidth", number),
		"IPUpdateRequest":     object(false, "reverse", str),
		"VLANCreateRequest":   object(false, "datacenter_id", integer, "name", str, "subnet", str, "gateway", str),
		"VLANUpdateRequest":   object(false, "name", str, "gateway", str),
		"SSHKeyCreateRequest": object(false, "name", str, "value", str),
		"AuditEntry": object(true, "id", integer, "time", timestamp, "account_id", integer, "actor", str, "key_id", integer,
			"transport", m{"type": "string", "enum": []string{"xmlrpc", "rest", "web", "admin"}}, "method", str,
			"object", m{"type": "string", "description": "kind:id of what the call touched, empty when unknown"},
			"params", m{"description": "what the call sent (positional parameters for XML-RPC), secrets masked as ***"},
			"client_addr", str, "result", m{"type": "string", "description": "ok, or the fault's code (not_found, invalid, conflict, ...)"},
			"message", str, "operations", ints),
		"AuditList": object(true, "audit_entries", arrayOf(ref("AuditEntry"))),
	}
	for _, n := range []struct{ name, one, many string }{
		{"Datacenter", "datacenter", "datacenters"}, {"Image", "image", "images"}, {"VM", "vm", "vms"}, {"Disk", "disk", "disks"},
		{"Iface", "iface", "ifaces"}, {"IP", "ip", "ips"}, {"VLAN", "vlan", "vlans"}, {"SSHKey", "ssh_key", "ssh_keys"},
		{"Operation", "operation", "operations"},
	} {
		s[n.name+"List"] = object(true, n.many, arrayOf(ref(n.name)), "meta", ref("Meta"))
		if n.name != "Operation" {
			s[n.name+"Response"] = object(true, n.one, ref(n.name))
		}
	}
	return s
}

func jsonResponse(desc, schema string) m {
	return m{"description": desc, "content": m{"application/json": m{"schema": ref(schema)}}}
}

func param(name, in, desc string, schema m, required bool) m {
	return m{"name": name, "in": in, "description": desc, "schema": schema, "required": required}
}

// Document returns the OpenAPI document of the routes of a.
func Document() m {
	a := &API{}
	paths := m{}
	for _, r := range a.routes() {
		op := m{"summary": r.doc.summary, "tags": []string{r.doc.tag}, "operationId": operationID(r)}
		var params []m
		if strings.Contains(r.path, "{id}") {
			params = append(params, param("id", "path", "object id", m{"type": "integer", "format": "int64", "minimum": 1}, true))
		}
		if strings.Contains(r.path, "{action}") {
			params = append(params, param("action", "path", "the action", m{"type": "string",
				"enum": []string{"start", "stop", "reboot", "attach_disk", "detach_disk", "attach_iface", "detach_iface"}}, true))
		}
		if r.path == "/v1/audit" {
			params = append(params, auditQueryParams...)
		}
		if r.doc.list {
			params = append(params,
				param("page", "query", "page number, from 1", m{"type": "integer", "minimum": 1, "default": 1}, false),
				param("per_page", "query", "items per page", m{"type": "integer", "minimum": 1, "maximum": 500, "default": defaultPerPage}, false),
				param("sort", "query", "field, field:asc or field:desc", str, false))
		}
		if r.method != "GET" {
			params = append(params, param("Idempotency-Key", "header", "a retry with the same key and body returns the first result and makes nothing twice (kept 24 h)",
				m{"type": "string", "maxLength": 255}, false))
		}
		if len(params) > 0 {
			op["parameters"] = params
		}
		if r.doc.request != "" {
			op["requestBody"] = m{"required": false, "content": m{"application/json": m{"schema": ref(r.doc.request)}}}
		}
		resp := m{"default": jsonResponse("error, with the XML-RPC faultCode", "Error")}
		switch r.kind {
		case read:
			resp["200"] = jsonResponse("OK", r.doc.response)
		case opSync:
			resp["200"] = jsonResponse("done", r.doc.response)
		case opOne, opMany:
			resp["202"] = m{"description": "accepted: follow the operation", "headers": m{"Location": m{"schema": str}},
				"content": m{"application/json": m{"schema": ref(r.doc.response)}}}
		case keyMade:
			resp["201"] = jsonResponse("created", r.doc.response)
		case noContent:
			resp["204"] = m{"description": "deleted"}
		}
		op["responses"] = resp
		item, _ := paths[r.path].(m)
		if item == nil {
			item = m{}
			paths[r.path] = item
		}
		item[strings.ToLower(r.method)] = op
	}
	paths["/v1/openapi.json"] = m{"get": m{"summary": "This document", "operationId": "openapi", "security": []m{}, "tags": []string{"meta"},
		"responses": m{"200": m{"description": "OpenAPI 3.0.3", "content": m{"application/json": m{"schema": m{"type": "object"}}}}}}}
	paths["/v1/events"] = m{"get": m{"summary": "Server-Sent Events: every change of your objects and operations; resume with Last-Event-ID",
		"operationId": "events", "tags": []string{"events"},
		"parameters": []m{param("Last-Event-ID", "header", "resume after this event", str, false)},
		"responses": m{"200": m{"description": "an event stream", "content": m{"text/event-stream": m{"schema": str}}},
			"default": jsonResponse("error", "Error")}}}
	return m{
		"openapi": "3.0.3",
		"info": m{"title": "Berth REST API", "version": "1",
			"description": "The Gandi Hosting objects of Berth over REST. Every error carries fault_code, the faultCode the XML-RPC API gives for the same request. Mutations answer 202 with the operation(s) to follow."},
		"servers":    []m{{"url": "/"}},
		"security":   []m{{"bearer": []string{}}},
		"paths":      paths,
		"components": m{"schemas": schemas(), "securitySchemes": m{"bearer": m{"type": "http", "scheme": "bearer", "description": "your API key"}}},
	}
}

func operationID(r route) string {
	p := strings.NewReplacer("/v1/", "", "/{id}", "_one", "/{action}", "", "/actions/", "_", "/", "_").Replace(r.path)
	return strings.ToLower(r.method) + "_" + p
}
