package store

import (
	"time"

	"github.com/berth-io/berth/api"
)

// AuditFilter selects audit entries of one account (or AllAccounts), newest first.
type AuditFilter struct {
	api.AuditQuery
	AccountID int64
}

// AuditStore keeps the audit log (every Tx is one). An entry is written in the transaction
// of the change it records, so neither exists without the other.
type AuditStore interface {
	// InsertAudit adds an entry and sets its ID.
	InsertAudit(e *api.AuditEntry) error
	// UpdateAudit replaces the object, result, message and operations of an entry.
	UpdateAudit(e *api.AuditEntry) error
	// AuditEntries returns the entries f selects, newest first (Limit 0: all of them).
	AuditEntries(f AuditFilter) ([]*api.AuditEntry, error)
	// PruneAudit deletes the entries older than before and returns how many.
	PruneAudit(before time.Time) (int64, error)
}
