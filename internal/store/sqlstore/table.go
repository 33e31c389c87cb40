package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/store"
)

type txn struct {
	tx      *sql.Tx
	ctx     context.Context
	like    string
	dialect string
	stmts   *stmtCache
}

func (t *txn) SQLTx() *sql.Tx { return t.tx }

// table describes how one record type maps to one SQL table.
type table[T any] struct {
	name   string
	cols   []string          // every column but id, in vals order
	fields map[string]string // filter and sort field → SQL expression
	vals   func(*T) []any
	ptrs   func(*T) []any // id first, then cols
	id     func(*T) *int64
	scoped bool            // has account_id
	text   map[string]bool // fields compared as text; the others are numbers
	// kind and event make each write of a record append to the events outbox (events.go):
	// event returns the owning account and the object to publish.
	kind  string
	event func(*T) (account int64, obj any)
}

func (tb *table[T]) selectCols() string { return "id, " + strings.Join(tb.cols, ", ") }

func (tb *table[T]) insert(t *txn, rec *T) error {
	ph := make([]string, len(tb.cols))
	for i := range ph {
		ph[i] = "$" + strconv.Itoa(i+1)
	}
	q := fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s) RETURNING id", tb.name, strings.Join(tb.cols, ", "), strings.Join(ph, ", "))
	err := t.queryRow(q, tb.vals(rec)...).Scan(tb.id(rec))
	if isUnique(err) {
		return fmt.Errorf("insert %s: %w", tb.name, store.ErrDuplicate)
	}
	if err != nil {
		return fmt.Errorf("insert %s: %w", tb.name, err)
	}
	return emitRow(t, tb, evCreated, rec)
}

func (tb *table[T]) update(t *txn, rec *T) error {
	set := make([]string, len(tb.cols))
	for i, c := range tb.cols {
		set[i] = c + " = $" + strconv.Itoa(i+1)
	}
	args := append(tb.vals(rec), *tb.id(rec))
	q := fmt.Sprintf("UPDATE %s SET %s WHERE id = $%d", tb.name, strings.Join(set, ", "), len(args))
	res, err := t.exec(q, args...)
	if isUnique(err) {
		return fmt.Errorf("update %s: %w", tb.name, store.ErrDuplicate)
	}
	if err != nil {
		return fmt.Errorf("update %s: %w", tb.name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("update %s %d: %w", tb.name, *tb.id(rec), store.ErrNotFound)
	}
	return emitRow(t, tb, evUpdated, rec)
}

func (tb *table[T]) delete(t *txn, id int64) error {
	if tb.event == nil || !tb.scoped {
		if _, err := t.exec("DELETE FROM "+tb.name+" WHERE id = $1", id); err != nil {
			return fmt.Errorf("delete %s: %w", tb.name, err)
		}
		return nil
	}
	var acct int64
	err := t.queryRow("DELETE FROM "+tb.name+" WHERE id = $1 RETURNING account_id", id).Scan(&acct)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete %s: %w", tb.name, err)
	}
	return t.emit(tb.kind, evDeleted, acct, id, nil)
}

// getSQL is the text of get.
func (tb *table[T]) getSQL(scoped bool) string {
	q := "SELECT " + tb.selectCols() + " FROM " + tb.name + " WHERE id = $1"
	if scoped && tb.scoped {
		q += " AND account_id = $2"
	}
	return q
}

func (tb *table[T]) get(t *txn, scope, id int64) (*T, error) {
	scoped := tb.scoped && scope != store.AllAccounts
	q, args := tb.getSQL(scoped), []any{id}
	if scoped {
		args = append(args, scope)
	}
	rec := new(T)
	err := t.queryRow(q, args...).Scan(tb.ptrs(rec)...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", tb.name, err)
	}
	return rec, nil
}

func (tb *table[T]) queryRows(t *txn, q string, args ...any) ([]*T, error) {
	rows, err := t.query(q, args...)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", tb.name, err)
	}
	defer rows.Close()
	var out []*T
	for rows.Next() {
		rec := new(T)
		if err := rows.Scan(tb.ptrs(rec)...); err != nil {
			return nil, fmt.Errorf("scan %s: %w", tb.name, err)
		}
		out = append(out, rec)
	}
	return out, rows.Err()
}

// where renders the scope and the known filters; unknown fields are ignored (D5).
func (tb *table[T]) where(q store.Query, like string) (string, []any) {
	var conds []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if tb.scoped && q.Scope != store.AllAccounts {
		conds = append(conds, "account_id = "+arg(q.Scope))
	}
	for _, f := range q.Filters {
		expr, ok := tb.fields[f.Field]
		if !ok || len(f.Values) == 0 && f.Op != api.OpIn {
			continue
		}
		text := tb.text[f.Field]
		switch f.Op {
		case api.OpEq:
			if f.Values[0] == nil {
				continue
			}
			v, ok := coerce(f.Values[0], text)
			if !ok {
				conds = append(conds, "1 = 0") // a word where a number is stored matches nothing
				continue
			}
			conds = append(conds, expr+" = "+arg(v))
		case api.OpLike:
			if !text {
				expr = "CAST(" + expr + " AS TEXT)"
			}
			conds = append(conds, expr+" "+like+" "+arg(fmt.Sprint(f.Values[0])))
		case api.OpIn:
			var ph []string
			for _, v := range f.Values {
				if v, ok := coerce(v, text); ok {
					ph = append(ph, arg(v))
				}
			}
			if len(ph) == 0 {
				conds = append(conds, "1 = 0")
				continue
			}
			conds = append(conds, expr+" IN ("+strings.Join(ph, ", ")+")")
		}
	}
	if len(conds) == 0 {
		return "", args
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

func (tb *table[T]) list(t *txn, q store.Query) ([]*T, error) {
	where, args := tb.where(q, t.like)
	order := "id"
	if expr, ok := tb.fields[q.SortBy]; ok {
		order = expr
	}
	dir := " ASC"
	if q.Desc {
		dir = " DESC"
	}
	sqlq := "SELECT " + tb.selectCols() + " FROM " + tb.name + where + " ORDER BY " + order + dir
	if order != "id" {
		sqlq += ", id" + dir
	}
	if q.Limit > 0 {
		sqlq += fmt.Sprintf(" LIMIT %d OFFSET %d", q.Limit, q.Offset)
	}
	return tb.queryRows(t, sqlq, args...)
}

func (tb *table[T]) count(t *txn, q store.Query) (int64, error) {
	where, args := tb.where(q, t.like)
	var n int64
	if err := t.queryRow("SELECT COUNT(*) FROM "+tb.name+where, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count %s: %w", tb.name, err)
	}
	return n, nil
}

// coerce converts a filter value to the type of its column, so both engines compare it the
// same way: numbers (and 0/1 booleans, unix times) for number columns, strings for text
// columns. It reports false for a value that cannot match (a word for a number column).
func coerce(v any, text bool) (any, bool) {
	if text {
		switch x := v.(type) {
		case string:
			return x, true
		case int64, int, float64:
			return fmt.Sprint(x), true
		case bool:
			return strconv.FormatBool(x), true
		}
		return nil, false
	}
	switch x := v.(type) {
	case bool:
		if x {
			return int64(1), true
		}
		return int64(0), true
	case int:
		return int64(x), true
	case int64:
		return x, true
	case float64:
		if x == float64(int64(x)) {
			return int64(x), true
		}
		return x, true
	case time.Time:
		return x.Unix(), true
	case string:
		if n, err := strconv.ParseInt(x, 10, 64); err == nil {
			return n, true
		}
		if f, err := strconv.ParseFloat(x, 64); err == nil {
			return f, true
		}
	}
	return nil, false
}

// texts is a set of field names.
func texts(names ...string) map[string]bool {
	m := map[string]bool{}
	for _, n := range names {
		m[n] = true
	}
	return m
}

// fieldsOf maps each column name to itself, plus extra expressions.
func fieldsOf(cols []string, extra map[string]string) map[string]string {
	m := map[string]string{"id": "id"}
	for _, c := range cols {
		m[c] = c
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// unixTime is a time.Time stored as integer seconds (UTC); zero is stored as 0.
type unixTime struct{ t *time.Time }

func (u unixTime) Scan(src any) error {
	var n int64
	switch x := src.(type) {
	case int64:
		n = x
	case nil:
		n = 0
	default:
		return fmt.Errorf("unixTime: unexpected %T", src)
	}
	if n == 0 {
		*u.t = time.Time{}
	} else {
		*u.t = time.Unix(n, 0).UTC()
	}
	return nil
}

func unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// boolInt stores a bool as 0/1.
type boolInt struct{ b *bool }

func (u boolInt) Scan(src any) error {
	switch x := src.(type) {
	case int64:
		*u.b = x != 0
	case bool:
		*u.b = x
	default:
		return fmt.Errorf("boolInt: unexpected %T", src)
	}
	return nil
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// idsByParent runs a query returning (parent, id) pairs and groups the ids by parent.
func idsByParent(t *txn, q string, parents []int64) (map[int64][]int64, error) {
	out := map[int64][]int64{}
	if len(parents) == 0 {
		return out, nil
	}
	ph := make([]string, len(parents))
	args := make([]any, len(parents))
	for i, p := range parents {
		ph[i] = "$" + strconv.Itoa(i+1)
		args[i] = p
	}
	rows, err := t.query(strings.Replace(q, "(?)", "("+strings.Join(ph, ", ")+")", 1), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var p, id int64
		if err := rows.Scan(&p, &id); err != nil {
			return nil, err
		}
		out[p] = append(out[p], id)
	}
	return out, rows.Err()
}
