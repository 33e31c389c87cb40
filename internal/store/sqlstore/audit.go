package sqlstore

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/store"
)

// The audit log: one row per mutating call, written by the service in the transaction of
// the change it records (or alone, for a call that failed).

const auditCols = "id, ts, account_id, actor, key_id, transport, method, object, params, client_addr, result, message, operations"

func (t *txn) InsertAudit(e *api.AuditEntry) error {
	ops, params, err := auditJSON(e)
	if err != nil {
		return err
	}
	err = t.queryRow(`INSERT INTO audit_log (ts, account_id, actor, key_id, transport, method, object, params, client_addr, result, message, operations)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id`,
		e.Time.UnixMilli(), e.AccountID, e.Actor, e.KeyID, e.Transport, e.Method, e.Object, params, e.ClientAddr, e.Result, e.Message, ops).Scan(&e.ID)
	if err != nil {
		return fmt.Errorf("insert audit entry: %w", err)
	}
	return nil
}

func (t *txn) UpdateAudit(e *api.AuditEntry) error {
	ops, _, err := auditJSON(e)
	if err != nil {
		return err
	}
	res, err := t.exec(`UPDATE audit_log SET object = $2, result = $3, message = $4, operations = $5 WHERE id = $1`, e.ID, e.Object, e.Result, e.Message, ops)
	if err != nil {
		return fmt.Errorf("update audit entry: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.ErrNotFound
	}
	return nil
}

func auditJSON(e *api.AuditEntry) (ops, params string, err error) {
	list := e.Operations
	if list == nil {
		list = []int64{}
	}
	b, err := json.Marshal(list)
	if err != nil {
		return "", "", err
	}
	params = string(e.Params)
	if params == "" {
		params = "{}"
	}
	return string(b), params, nil
}

func (t *txn) AuditEntries(f store.AuditFilter) ([]*api.AuditEntry, error) {
	var conds []string
	var args []any
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	if f.AccountID != store.AllAccounts {
		conds = append(conds, "account_id = "+arg(f.AccountID))
	}
	if f.Object != "" {
		if strings.Contains(f.Object, ":") {
			conds = append(conds, "object = "+arg(f.Object))
		} else {
			conds = append(conds, "object "+t.like+" "+arg(likeEscape(f.Object)+":%")+` ESCAPE '\'`)
		}
	}
	if f.Method != "" {
		conds = append(conds, "method "+t.like+" "+arg("%"+likeEscape(f.Method)+"%")+` ESCAPE '\'`)
	}
	if f.Transport != "" {
		conds = append(conds, "transport = "+arg(f.Transport))
	}
	if !f.Since.IsZero() {
		conds = append(conds, "ts >= "+arg(f.Since.UnixMilli()))
	}
	if !f.Until.IsZero() {
		conds = append(conds, "ts < "+arg(f.Until.UnixMilli()))
	}
	if f.BeforeID > 0 {
		conds = append(conds, "id < "+arg(f.BeforeID))
	}
	q := "SELECT " + auditCols + " FROM audit_log"
	if len(conds) > 0 {
		q += " WHERE " + strings.Join(conds, " AND ")
	}
	q += " ORDER BY id DESC"
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	rows, err := t.query(q, args...)
	if err != nil {
		return nil, fmt.Errorf("audit entries: %w", err)
	}
	defer rows.Close()
	var out []*api.AuditEntry
	for rows.Next() {
		var e api.AuditEntry
		var ts int64
		var params, ops string
		if err := rows.Scan(&e.ID, &ts, &e.AccountID, &e.Actor, &e.KeyID, &e.Transport, &e.Method, &e.Object, &params, &e.ClientAddr, &e.Result, &e.Message, &ops); err != nil {
			return nil, fmt.Errorf("audit entries: %w", err)
		}
		e.Time = time.UnixMilli(ts).UTC()
		e.Params = json.RawMessage(params)
		if err := json.Unmarshal([]byte(ops), &e.Operations); err != nil {
			return nil, fmt.Errorf("audit entry %d operations: %w", e.ID, err)
		}
		out = append(out, &e)
	}
	return out, rows.Err()
}

// likeEscape makes s match itself in a LIKE pattern with ESCAPE '\'.
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

func (t *txn) PruneAudit(before time.Time) (int64, error) {
	res, err := t.exec(`DELETE FROM audit_log WHERE ts < $1`, before.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("prune audit log: %w", err)
	}
	return res.RowsAffected()
}
