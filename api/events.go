package api

import (
	"encoding/json"
	"time"
)

// Event is one change of an account's object, as GET /v1/events streams it.
type Event struct {
	Seq      int64           `json:"id"`
	Kind     string          `json:"type"`   // vm, disk, iface, ip, vlan, ssh_key, operation, account
	Action   string          `json:"action"` // created, updated, deleted
	ObjectID int64           `json:"object_id"`
	Data     json.RawMessage `json:"object,omitempty"` // the object after the change
	Time     time.Time       `json:"ts"`
}
