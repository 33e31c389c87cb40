package sqlstore_test

import (
	"context"
	"testing"

	"github.com/berth-io/berth/internal/store"
	"github.com/berth-io/berth/internal/store/sqlstore"
	"github.com/berth-io/berth/internal/store/storetest"
)

func TestSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		st, err := sqlstore.OpenSQLite(context.Background(), t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	})
}

func TestPostgres(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		st, err := sqlstore.OpenPostgres(context.Background(), storetest.PostgresURL(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	})
}

// TestOrdinalPlaceholders pins modernc's PostgreSQL-style binding of $N by number, which
// lets one SQL text serve both engines (deps.md §Q2): mattn or ncruces would bind by order.
func TestOrdinalPlaceholders(t *testing.T) {
	st, err := sqlstore.OpenSQLite(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var a, b string
	if err := st.DB().QueryRow("SELECT $2, $1", "first", "second").Scan(&a, &b); err != nil {
		t.Fatal(err)
	}
	if a != "second" || b != "first" {
		t.Fatalf("SELECT $2, $1 = %q, %q: placeholders are not ordinal", a, b)
	}
}
