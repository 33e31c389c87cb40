package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/berth-io/berth/internal/store"
)

// The events outbox. table.insert, table.update and table.delete call emit for every table
// that has an event function (every tenant object: VMs, disks, ifaces, IPs, VLANs, SSH
// keys, operations, accounts), so each write appends its event in its own transaction and
// no change escapes the stream. This file is the whole hook.

// Event actions.
const (
	evCreated = "created"
	evUpdated = "updated"
	evDeleted = "deleted"
)

const insertEvent = "INSERT INTO events (account_id, kind, action, object_id, data, ts) VALUES ($1, $2, $3, $4, $5, $6)"

// emit appends one event to the outbox in t's transaction.
func (t *txn) emit(kind, action string, account, id int64, obj any) error {
	data := []byte("{}")
	if obj != nil {
		b, err := json.Marshal(obj)
		if err != nil {
			return fmt.Errorf("event %s %d: %w", kind, id, err)
		}
		data = b
	}
	if _, err := t.exec(insertEvent, account, kind, action, id, string(data), time.Now().UnixMilli()); err != nil {
		return fmt.Errorf("event %s %d: %w", kind, id, err)
	}
	return nil
}

// emitRow emits the event of a table's record, if the table has events.
func emitRow[T any](t *txn, tb *table[T], action string, rec *T) error {
	if tb.event == nil {
		return nil
	}
	acct, obj := tb.event(rec)
	return t.emit(tb.kind, action, acct, *tb.id(rec), obj)
}

// Events implements store.EventLog.
func (db *DB) Events(ctx context.Context, account, after, upto int64, limit int) ([]store.Event, error) {
	q := "SELECT seq, account_id, kind, action, object_id, data, ts FROM events WHERE seq > $1"
	args := []any{after}
	if upto > 0 {
		args = append(args, upto)
		q += fmt.Sprintf(" AND seq <= $%d", len(args))
	}
	if account != store.AllAccounts {
		args = append(args, account)
		q += fmt.Sprintf(" AND account_id = $%d", len(args))
	}
	q += fmt.Sprintf(" ORDER BY seq LIMIT %d", limit)
	rows, err := db.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	defer rows.Close()
	var out []store.Event
	for rows.Next() {
		var e store.Event
		var data string
		var ts int64
		if err := rows.Scan(&e.Seq, &e.AccountID, &e.Kind, &e.Action, &e.ObjectID, &data, &ts); err != nil {
			return nil, fmt.Errorf("events: %w", err)
		}
		e.Data = json.RawMessage(data)
		e.Time = time.UnixMilli(ts).UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}

// EventBounds implements store.EventLog.
func (db *DB) EventBounds(ctx context.Context) (oldest, newest int64, err error) {
	err = db.read.QueryRowContext(ctx, "SELECT COALESCE(MIN(seq), 0), COALESCE(MAX(seq), 0) FROM events").Scan(&oldest, &newest)
	return oldest, newest, err
}

// PruneEvents implements store.EventLog.
func (db *DB) PruneEvents(ctx context.Context, before time.Time) (int64, error) {
	res, err := db.write.ExecContext(ctx, "DELETE FROM events WHERE ts < $1", before.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("prune events: %w", err)
	}
	return res.RowsAffected()
}
