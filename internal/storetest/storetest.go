// Package storetest gives tests real databases: a SQLite file in the test's temporary
// directory, and a private schema in the PostgreSQL named by CALLSNARE_TEST_POSTGRES
// (default postgres://postgres@127.0.0.1:5432/test), skipped with a message when that
// server cannot be reached, unless CALLSNARE_TEST_POSTGRES_REQUIRED=1 makes it a failure.
package storetest

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/jmoiron/sqlx"

	"github.com/callsnare/callsnare/internal/store"
)

// DefaultPostgres is the server the machine's PostgreSQL listens on.
const DefaultPostgres = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// Database is one database a test can run against.
type Database struct {
	Name string // "sqlite" or "postgres", for subtest names
	DSN  func(t testing.TB) string
}

// All lists SQLite and PostgreSQL; run a suite as a subtest of each.
func All() []Database {
	return []Database{{"sqlite", SQLite}, {"postgres", Postgres}}
}

// SQLite returns the DSN of a new database file that is removed with the test.
func SQLite(t testing.TB) string {
	return filepath.Join(t.TempDir(), "callsnare.db")
}

var (
	pgOnce sync.Once
	pgErr  error
)

func postgresURL() string {
	if v := os.Getenv("CALLSNARE_TEST_POSTGRES"); v != "" {
		return v
	}
	return DefaultPostgres
}

// Postgres creates a schema of its own for the test and returns a DSN whose search_path
// selects it; the schema is dropped at cleanup.
func Postgres(t testing.TB) string {
	t.Helper()
	base := postgresURL()
	pgOnce.Do(func() {
		db, err := sql.Open("pgx", base)
		if err != nil {
			pgErr = err
			return
		}
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		pgErr = db.PingContext(ctx)
	})
	if pgErr != nil {
		msg := fmt.Sprintf("PostgreSQL at %s is not reachable (%v); set CALLSNARE_TEST_POSTGRES to run these tests", redact(base), pgErr)
		if os.Getenv("CALLSNARE_TEST_POSTGRES_REQUIRED") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	schema := fmt.Sprintf("t_%d_%d", time.Now().UnixNano()%1e9, rand.IntN(1e6))
	exec(t, base, "CREATE SCHEMA "+schema)
	t.Cleanup(func() { exec(t, base, "DROP SCHEMA "+schema+" CASCADE") })
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse %s: %v", redact(base), err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func exec(t testing.TB, dsn, stmt string) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	defer db.Close()
	if _, err := db.Exec(stmt); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
}

func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparsable DSN)"
	}
	return u.Redacted()
}

// PostgresBehindProxy is Postgres reached through a Proxy the test can take down.
func PostgresBehindProxy(t testing.TB) (string, *Proxy) {
	t.Helper()
	dsn := Postgres(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("parse dsn: %v", err)
	}
	p := NewProxy(t, u.Host)
	u.Host = p.Addr()
	return u.String(), p
}

// OpenAt opens a store on the database dsn names, migrated up to version and no
// further: the database of an earlier release, for a test of the upgrade from it. It is
// closed with the test.
func OpenAt(t testing.TB, dsn string, version int64) *store.Store {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, dsn, store.Options{})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.MigrateUpTo(ctx, version); err != nil {
		t.Fatalf("migrate up to %d: %v", version, err)
	}
	return st
}

// Open is a plain connection to the database dsn names, for the assertions and set-ups a
// test makes directly on its tables; it is closed with the test. Code under test goes
// through the store.
func Open(t testing.TB, dsn string) *sqlx.DB {
	t.Helper()
	driver, ddsn, err := store.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("open %s: %v", redact(dsn), err)
	}
	name := "pgx"
	if driver == store.SQLite {
		name = "sqlite"
		path, query, _ := strings.Cut(ddsn, "?")
		ddsn = "file:" + path + "?" + query + "&_pragma=busy_timeout(10000)"
	}
	db, err := sqlx.Open(name, ddsn)
	if err != nil {
		t.Fatalf("open %s: %v", redact(dsn), err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
