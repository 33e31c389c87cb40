package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/service"
)

// The activity page: the account's audit log, every mutating call on every transport
// (XML-RPC, REST, this console, the operator's commands), newest first, filtered by
// object and method. The console's own actions are recorded here (auditRequest).

func (s *Server) auditRoutes() []route {
	return []route{{"GET /audit", s.auditPage}}
}

// webKinds maps the first part of an action's path to the kind of object its id names.
var webKinds = map[string]api.Object{
	"vms": api.ObjVM, "disks": api.ObjDisk, "ips": api.ObjIP, "keys": api.ObjSSHKey, "apikeys": api.ObjAPIKey,
	"vlans": api.ObjVLAN, "operations": api.ObjOperation,
}

// auditRequest attaches the audit record of a console action to r: the route, its form
// (the service masks the secrets) and the object its path names.
func auditRequest(r *http.Request, pattern string) *http.Request {
	params := map[string]any{}
	if err := r.ParseForm(); err == nil {
		for k, v := range r.PostForm {
			if len(v) == 1 {
				params[k] = v[0]
			} else {
				params[k] = v
			}
		}
	}
	var obj string
	_, path, _ := strings.Cut(pattern, " ")
	if parts := strings.Split(strings.Trim(path, "/"), "/"); len(parts) >= 2 && strings.HasPrefix(parts[1], "{") {
		v := r.PathValue(strings.Trim(parts[1], "{}"))
		params[strings.Trim(parts[1], "{}")] = v
		if id, err := strconv.ParseInt(v, 10, 64); err == nil && webKinds[parts[0]] != "" {
			obj = service.AuditObject(webKinds[parts[0]], id)
		}
	}
	ctx := service.WithAudit(r.Context(), service.AuditSpec{Transport: api.TransportWeb, Method: pattern, Params: params, Object: obj})
	return r.WithContext(ctx)
}

type auditData struct {
	Object, Method string
	Entries        []api.AuditEntry
	NextURL        string
}

const auditPageSize = 50

func (s *Server) auditPage(w http.ResponseWriter, r *http.Request, c *service.Caller) error {
	v := r.URL.Query()
	q := api.AuditQuery{Object: strings.TrimSpace(v.Get("object")), Method: strings.TrimSpace(v.Get("method")), Limit: auditPageSize}
	q.BeforeID, _ = strconv.ParseInt(v.Get("before"), 10, 64)
	list, err := s.svc.Audit(r.Context(), c, q)
	if err != nil {
		return err
	}
	d := &auditData{Object: q.Object, Method: q.Method, Entries: list}
	if len(list) == auditPageSize {
		next := url.Values{"object": {q.Object}, "method": {q.Method}, "before": {strconv.FormatInt(list[len(list)-1].ID, 10)}}
		d.NextURL = "/audit?" + next.Encode()
	}
	s.render(w, r, c, "audit", "Activity", d)
	return nil
}
