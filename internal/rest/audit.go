package rest

import (
	"strconv"
	"time"

	"github.com/berth-io/berth/api"
)

// GET /v1/audit: the account's own audit log (every mutating call on every transport),
// newest first; older pages with before_id.

// auditQueryParams are the query parameters of GET /v1/audit, for the document.
var auditQueryParams = []m{
	param("object", "query", "kind:id (vm:12), or a kind (vm)", str, false),
	param("method", "query", "a part of the method's name (vm.delete, POST /v1/vms)", str, false),
	param("transport", "query", "the transport", m{"type": "string", "enum": []string{api.TransportXMLRPC, api.TransportREST, api.TransportWeb, api.TransportAdmin}}, false),
	param("since", "query", "entries at or after this time (RFC 3339)", timestamp, false),
	param("until", "query", "entries before this time (RFC 3339)", timestamp, false),
	param("before_id", "query", "entries older than this one (the next page)", integer, false),
	param("per_page", "query", "how many entries", m{"type": "integer", "minimum": 1, "maximum": 500, "default": api.DefaultPerPage}, false),
}

func (a *API) auditRoute() route {
	return route{method: "GET", path: "/v1/audit", kind: read, obj: api.ObjUnknown,
		doc: opDoc{"audit", "Your account's audit log: every mutating call on every transport, newest first (older pages: before_id)", "", "AuditList", false},
		fn: func(cl *call) (any, error) {
			v := cl.r.URL.Query()
			q := api.AuditQuery{Object: v.Get("object"), Method: v.Get("method"), Transport: v.Get("transport")}
			for key, dst := range map[string]*time.Time{"since": &q.Since, "until": &q.Until} {
				if s := v.Get(key); s != "" {
					t, err := time.Parse(time.RFC3339, s)
					if err != nil {
						return nil, api.Errorf(api.Invalid, api.ObjUnknown, "%s %q is not an RFC 3339 time", key, truncate(s, 40))
					}
					*dst = t
				}
			}
			for key, dst := range map[string]*int64{"before_id": &q.BeforeID, "per_page": &q.Limit} {
				if s := v.Get(key); s != "" {
					n, err := strconv.ParseInt(s, 10, 64)
					if err != nil || n < 1 {
						return nil, api.Errorf(api.Invalid, api.ObjUnknown, "%s must be a positive integer", key)
					}
					*dst = n
				}
			}
			list, err := a.svc.Audit(cl.ctx, cl.c, q)
			if err != nil {
				return nil, err
			}
			if list == nil {
				list = []api.AuditEntry{}
			}
			return map[string]any{"audit_entries": list}, nil
		}}
}
