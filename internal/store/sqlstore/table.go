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
	tx  *sql.Tx
	ctx context.Context
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
	scoped bool // has account_id
}

func (tb *table[T]) selectCols() string { return "id, " + strings.Join(tb.cols, ", ") }

func (tb *table[T]) insert(t *txn, rec *T) error {
	ph := make([]string, len(tb.cols))
	for i := range ph {
		ph[i] = "$" + strconv.Itoa(i+1)
	}
	q := fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s) RETURNING id", tb.name, strings.Join(tb.cols, ", "), strings.Join(ph, ", "))
	err := t.tx.QueryRowContext(t.ctx, q, tb.vals(rec)...).Scan(tb.id(rec))
	if isUnique(err) {
		return fmt.Errorf("insert %s: %w", tb.name, store.ErrDuplicate)
	}
	if err != nil {
		return fmt.Errorf("insert %s: %w", tb.name, err)
	}
	return nil
}

func (tb *table[T]) update(t *txn, rec *T) error {
	set := make([]string, len(tb.cols))
	for i, c := range tb.cols {
		set[i] = c + " = $" + strconv.Itoa(i+1)
	}
	args := append(tb.vals(rec), *tb.id(rec))
	q := fmt.Sprintf("UPDATE %s SET %s WHERE id = $%d", tb.name, strings.Join(set, ", "), len(args))
	res, err := t.tx.ExecContext(t.ctx, q, args...)
	if isUnique(err) {
		return fmt.Errorf("update %s: %w", tb.name, store.ErrDuplicate)
	}
	if err != nil {
		return fmt.Errorf("update %s: %w", tb.name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("update %s %d: %w", tb.name, *tb.id(rec), store.ErrNotFound)
	}
	return nil
}

func (tb *table[T]) delete(t *txn, id int64) error {
	if _, err := t.tx.ExecContext(t.ctx, "DELETE FROM "+tb.name+" WHERE id = $1", id); err != nil {
		return fmt.Errorf("delete %s: %w", tb.name, err)
	}
	return nil
}

func (tb *table[T]) get(t *txn, scope, id int64) (*T, error) {
	q := "SELECT " + tb.selectCols() + " FROM " + tb.name + " WHERE id = $1"
	args := []any{id}
	if tb.scoped && scope != store.AllAccounts {
		q += " AND account_id = $2"
		args = append(args, scope)
	}
	rec := new(T)
	err := t.tx.QueryRowContext(t.ctx, q, args...).Scan(tb.ptrs(rec)...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", tb.name, err)
	}
	return rec, nil
}

func (tb *table[T]) queryRows(t *txn, q string, args ...any) ([]*T, error) {
	rows, err := t.tx.QueryContext(t.ctx, q, args...)
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
func (tb *table[T]) where(q store.Query) (string, []any) {
	var conds []string
	var args []any
	arg := func(v any) string {
		args = append(args, sqlValue(v))
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
		switch f.Op {
		case api.OpEq:
			if f.Values[0] == nil {
				continue
			}
			conds = append(conds, expr+" = "+arg(f.Values[0]))
		case api.OpLike:
			conds = append(conds, expr+" LIKE "+arg(f.Values[0]))
		case api.OpIn:
			if len(f.Values) == 0 {
				conds = append(conds, "1 = 0")
				continue
			}
			ph := make([]string, len(f.Values))
			for i, v := range f.Values {
				ph[i] = arg(v)
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
	where, args := tb.where(q)
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
	where, args := tb.where(q)
	var n int64
	if err := t.tx.QueryRowContext(t.ctx, "SELECT COUNT(*) FROM "+tb.name+where, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count %s: %w", tb.name, err)
	}
	return n, nil
}

// sqlValue converts filter values to what both engines compare equal to stored columns.
func sqlValue(v any) any {
	switch x := v.(type) {
	case bool:
		if x {
			return int64(1)
		}
		return int64(0)
	case int:
		return int64(x)
	case time.Time:
		return x.Unix()
	}
	return v
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
	rows, err := t.tx.QueryContext(t.ctx, strings.Replace(q, "(?)", "("+strings.Join(ph, ", ")+")", 1), args...)
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
