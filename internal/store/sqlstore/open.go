// Package sqlstore implements store.Store with database/sql on SQLite (modernc, pure Go) and
// PostgreSQL (pgx). Both engines run the same SQL text: modernc binds $N as an ordinal, like
// PostgreSQL (TestOrdinalPlaceholders pins it).
package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the scale-out engine
	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // the embedded default engine

	"github.com/berth-io/berth/internal/store"
	"github.com/berth-io/berth/internal/store/migrations"
)

// DB is a store on one database.
type DB struct {
	write   *sql.DB // one connection on SQLite: writes never meet SQLITE_BUSY
	read    *sql.DB
	dialect string
	wstmts  *stmtCache
	rstmts  *stmtCache
}

var _ store.Store = (*DB)(nil)

// OpenSQLite opens (creating it if needed) the SQLite database berth.db in dir, in WAL mode,
// and migrates it.
func OpenSQLite(ctx context.Context, dir string) (*DB, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	path := filepath.Join(dir, "berth.db")
	q := url.Values{}
	// mmap_size: pages are read from a shared mapping of the file, not copied with one
	// pread each into every connection's small page cache (a third of vm.info's CPU with
	// 10,000 VMs was those reads).
	for _, p := range []string{"journal_mode(WAL)", "busy_timeout(10000)", "synchronous(NORMAL)", "foreign_keys(1)", "mmap_size(268435456)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	dsn := "file:" + path + "?" + q.Encode()
	w, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	q.Set("_txlock", "deferred")
	r, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	r.SetMaxOpenConns(8)
	r.SetMaxIdleConns(8)
	db := &DB{write: w, read: r, dialect: "sqlite"}
	if err := db.migrate(ctx); err != nil {
		w.Close()
		r.Close()
		return nil, err
	}
	if err := db.prepare(); err != nil {
		return nil, err
	}
	return db, nil
}

// OpenPostgres connects to a PostgreSQL database (a postgres:// URL) through pgx and
// migrates it.
func OpenPostgres(ctx context.Context, url string) (*DB, error) {
	db, err := sql.Open("pgx", url)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	db.SetMaxOpenConns(32)
	db.SetMaxIdleConns(8)
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	s := &DB{write: db, read: db, dialect: "postgres"}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.prepare(); err != nil {
		return nil, err
	}
	return s, nil
}

func (db *DB) migrate(ctx context.Context) error {
	var (
		d    goose.Dialect
		fsys fs.FS
		err  error
	)
	switch db.dialect {
	case "sqlite":
		d = goose.DialectSQLite3
		fsys, err = fs.Sub(migrations.SQLite, "sqlite")
	case "postgres":
		d = goose.DialectPostgres
		fsys, err = fs.Sub(migrations.Postgres, "postgres")
	default:
		return fmt.Errorf("unknown dialect %q", db.dialect)
	}
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(d, db.write, fsys)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// prepare readies the hot statements on both pools (after the migrations made the tables).
func (db *DB) prepare() error {
	var err error
	if db.wstmts, err = newStmtCache(db.write, hotQueries()); err != nil {
		db.Close()
		return err
	}
	db.rstmts = db.wstmts
	if db.read != db.write {
		if db.rstmts, err = newStmtCache(db.read, hotQueries()); err != nil {
			db.Close()
			return err
		}
	}
	return nil
}

// DB returns the write pool.
func (db *DB) DB() *sql.DB { return db.write }

// Dialect returns "sqlite" or "postgres".
func (db *DB) Dialect() string { return db.dialect }

// Close closes both pools.
func (db *DB) Close() error {
	for _, c := range []*stmtCache{db.wstmts, db.rstmts} {
		if c != nil {
			c.close()
		}
	}
	err := db.write.Close()
	if db.read != db.write {
		if e := db.read.Close(); err == nil {
			err = e
		}
	}
	return err
}

// Write runs fn in a write transaction.
func (db *DB) Write(ctx context.Context, fn func(store.Tx) error) error {
	return db.run(ctx, db.write, db.wstmts, false, fn)
}

// Read runs fn in a read-only transaction.
func (db *DB) Read(ctx context.Context, fn func(store.Tx) error) error {
	return db.run(ctx, db.read, db.rstmts, true, fn)
}

func (db *DB) run(ctx context.Context, pool *sql.DB, stmts *stmtCache, ro bool, fn func(store.Tx) error) error {
	var opts *sql.TxOptions
	if ro && db.dialect == "postgres" {
		opts = &sql.TxOptions{ReadOnly: true}
	}
	tx, err := pool.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	t := &txn{tx: tx, ctx: ctx, like: "LIKE", dialect: db.dialect, stmts: stmts}
	if db.dialect == "postgres" {
		t.like = "ILIKE" // SQLite's LIKE ignores ASCII case: so do both engines
	}
	if err := fn(t); err != nil {
		tx.Rollback()
		return err
	}
	if ro {
		return tx.Rollback()
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// isUnique reports whether err is a unique-constraint violation on either engine.
func isUnique(err error) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	return strings.Contains(s, "UNIQUE constraint") || strings.Contains(s, "SQLSTATE 23505") || strings.Contains(s, "duplicate key")
}
