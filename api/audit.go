package api

import (
	"encoding/json"
	"fmt"
	"time"
)

// Audit log transports: where a call came from.
const (
	TransportXMLRPC = "xmlrpc"
	TransportREST   = "rest"
	TransportWeb    = "web"
	TransportAdmin  = "admin"
)

// AuditOK is the Result of a call that succeeded.
const AuditOK = "ok"

// AuditEntry is one mutating call as the audit log keeps it: who made it (the account, and
// the id of the API key it used: never the key), what it asked (its parameters with every
// secret masked), from where, and what came of it.
type AuditEntry struct {
	ID         int64           `json:"id"`
	Time       time.Time       `json:"time"`
	AccountID  int64           `json:"account_id"` // the account it acted on; 0 for none
	Actor      string          `json:"actor"`      // the account's handle, or operator:USER
	KeyID      int64           `json:"key_id"`     // the API key used; 0 for an operator
	Transport  string          `json:"transport"`  // xmlrpc, rest, web or admin
	Method     string          `json:"method"`     // hosting.vm.create_from, POST /v1/vms, ...
	Object     string          `json:"object"`     // kind:id of what it touched, "" if unknown
	Params     json.RawMessage `json:"params"`     // secrets masked
	ClientAddr string          `json:"client_addr"`
	Result     string          `json:"result"`     // ok, or the fault's code (not_found, ...)
	Message    string          `json:"message"`    // the fault's message
	Operations []int64         `json:"operations"` // the operations it started
}

// AuditQuery selects audit entries, newest first.
type AuditQuery struct {
	Object    string    // kind:id, or a kind alone
	Method    string    // a part of the method's name
	Transport string    // exact
	Since     time.Time // zero: no bound
	Until     time.Time // zero: no bound
	Limit     int64     // 0: DefaultPerPage; at most MaxPerPage
	BeforeID  int64     // only entries older than this id (paging); 0: from the newest
}

// ParseAuditTime reads a bound of an audit query as the command lines take it: an RFC 3339
// time, a date, or a duration before now ("24h"); "" is no bound.
func ParseAuditTime(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time, a date or a duration", s)
}
