package sqlstore

import (
	"database/sql"
	"fmt"
	"strings"
	"sync"
)

// oneParent is the text idsByParent runs for one parent.
func oneParent(q string) string { return strings.Replace(q, "(?)", "($1)", 1) }

// stmtCache keeps the prepared statements of one pool by SQL text, so a hot query is
// parsed once per connection instead of at every call (modernc parses each text it is
// given). The statements are prepared when the store opens: preparing one later, inside a
// transaction, would need a second connection of a pool that may have none free. Other
// texts run unprepared.
type stmtCache struct {
	mu    sync.Mutex
	stmts map[string]*sql.Stmt
}

// newStmtCache prepares the texts on db.
func newStmtCache(db *sql.DB, texts []string) (*stmtCache, error) {
	c := &stmtCache{stmts: map[string]*sql.Stmt{}}
	for _, q := range texts {
		if _, ok := c.stmts[q]; ok {
			continue
		}
		s, err := db.Prepare(q)
		if err != nil {
			c.close()
			return nil, fmt.Errorf("prepare %q: %w", q, err)
		}
		c.stmts[q] = s
	}
	return c, nil
}

// get returns the prepared statement of q, or nil.
func (c *stmtCache) get(q string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stmts[q]
}

// hotQueries are the texts worth preparing: the reads of single objects and of a VM's
// parts (vm.info, auth), and the operation engine's own queries.
func hotQueries() []string {
	q := []string{
		keyAuth, accountByKey, accountByHandle, disksOfVM, ifacesOfVM, ipsOfIface, usedAddresses, pendingBefore,
		oneParent(vmDisksByParent), oneParent(vmIfacesByParent), oneParent(snapshotsByParent), oneParent(ipsByParent),
	}
	for _, g := range []interface{ getSQL(scoped bool) string }{accounts, images, vms, disks, ifaces, ips, vlans, sshKeys, operations} {
		q = append(q, g.getSQL(true), g.getSQL(false))
	}
	return q
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.stmts {
		s.Close()
	}
	c.stmts = map[string]*sql.Stmt{}
}

func (t *txn) stmt(q string) *sql.Stmt {
	if t.stmts == nil {
		return nil
	}
	if s := t.stmts.get(q); s != nil {
		return t.tx.StmtContext(t.ctx, s)
	}
	return nil
}

func (t *txn) query(q string, args ...any) (*sql.Rows, error) {
	if s := t.stmt(q); s != nil {
		return s.QueryContext(t.ctx, args...)
	}
	return t.tx.QueryContext(t.ctx, q, args...)
}

func (t *txn) queryRow(q string, args ...any) *sql.Row {
	if s := t.stmt(q); s != nil {
		return s.QueryRowContext(t.ctx, args...)
	}
	return t.tx.QueryRowContext(t.ctx, q, args...)
}

func (t *txn) exec(q string, args ...any) (sql.Result, error) {
	if s := t.stmt(q); s != nil {
		return s.ExecContext(t.ctx, args...)
	}
	return t.tx.ExecContext(t.ctx, q, args...)
}
