// Package store keeps CallSnare's state in SQLite or PostgreSQL through sqlx: one set of SQL
// strings for both, migrations embedded in the binary, and a group-commit writer that turns
// many webhook deliveries into one durable transaction.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	"github.com/jmoiron/sqlx"
	_ "modernc.org/sqlite" // registers "sqlite"
)

func init() {
	// sqlx knows modernc's driver name only once told how it binds parameters.
	sqlx.BindDriver("sqlite", sqlx.QUESTION)
}

// DefaultWriteDeadline is the default bound on a delivery, from receipt to answer: well
// under the 15 s after which Twilio gives up.
const DefaultWriteDeadline = 5 * time.Second

// Driver names the database behind a store.
type Driver string

const (
	SQLite   Driver = "sqlite"
	Postgres Driver = "postgres"
)

// Options tune a store; the zero value is fine.
type Options struct {
	Logger *slog.Logger
	// MaxBatch caps how many write units share one transaction (group commit).
	MaxBatch int
	// Writers is the number of concurrent write transactions (PostgreSQL only; SQLite has
	// one writer by nature).
	Writers int
	// ReadOnly opens the database for reading only (the log viewer).
	ReadOnly bool
	// BusyTimeout bounds how long SQLite waits for a lock another connection holds; it
	// should not exceed the deadline of a delivery (default 5s). Writes with a deadline
	// give up at their deadline whatever this says.
	BusyTimeout time.Duration
}

// Store is the database handle. Reads go straight to a pool; writes go through Write, which
// batches them.
type Store struct {
	driver Driver
	dsn    string // driver-level DSN, never logged: it may hold a password
	db     *sqlx.DB
	wdb    *sqlx.DB
	w      *writer
	log    *slog.Logger
}

// ParseDSN tells which driver a --db value names and returns the DSN that driver takes:
// "postgres://..." and "postgresql://..." are PostgreSQL; "sqlite:PATH", "file:PATH" and a
// bare path are SQLite files.
func ParseDSN(dsn string) (Driver, string, error) {
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return Postgres, dsn, nil
	case dsn == "":
		return "", "", errors.New("empty database DSN")
	}
	path := strings.TrimPrefix(strings.TrimPrefix(dsn, "sqlite:"), "file:")
	query := ""
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path, query = path[:i], path[i+1:]
	}
	if path == "" {
		return "", "", fmt.Errorf("sqlite DSN %q names no file", dsn)
	}
	return SQLite, path + "?" + query, nil
}

// walCheckpointPages is how many pages the WAL holds before the connection that commits
// past it copies them into the database file (SQLite's default is 1,000). The checkpoint
// runs in the one writer, between two batches: each one syncs the WAL and the database file
// and restarts the WAL, and a page written by many batches (the last page of a table or of
// an index that grows at its end, the header page) is copied once per checkpoint. With
// 10,000 pages (about 40 MB of WAL) inbound SMS went from 5,119/s to 6,162/s in five
// interleaved runs (medians; every pair faster) and from 5,746/s to 6,078/s in five more;
// 40,000 was no faster, and whole calls at 1,000/s kept their p99.
const walCheckpointPages = 10000

// sqliteDSN adds the pragmas every connection needs: WAL so readers never block the writer,
// a busy timeout no longer than a delivery's deadline, full sync so that an acknowledged
// webhook survives a power cut, foreign keys, statement journals in memory rather than in
// temporary files (each upsert writes one), a WAL checkpointed every walCheckpointPages,
// and BEGIN IMMEDIATE so that a write transaction takes the lock up front and can never
// deadlock into SQLITE_BUSY halfway through.
func sqliteDSN(pathAndQuery string, readOnly bool, busy time.Duration) string {
	path, query, _ := strings.Cut(pathAndQuery, "?")
	v, _ := url.ParseQuery(query)
	v.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busy.Milliseconds()))
	if readOnly {
		// A reader changes nothing, not even the journal mode (WAL is kept in the file),
		// and never creates the file.
		v.Add("_pragma", "query_only(1)")
		v.Set("mode", "ro")
	} else {
		for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "foreign_keys(1)", "temp_store(MEMORY)",
			fmt.Sprintf("wal_autocheckpoint(%d)", walCheckpointPages)} {
			v.Add("_pragma", p)
		}
		v.Set("_txlock", "immediate")
	}
	return "file:" + path + "?" + v.Encode()
}

// Open connects to the database the DSN names. It does not migrate.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	driver, ddsn, err := ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.BusyTimeout <= 0 {
		opts.BusyTimeout = DefaultWriteDeadline
	}
	s := &Store{driver: driver, log: opts.Logger}
	switch driver {
	case SQLite:
		if path, _, _ := strings.Cut(ddsn, "?"); opts.ReadOnly {
			if _, err := os.Stat(path); err != nil {
				return nil, fmt.Errorf("database %s: %w", path, ErrNoDatabase)
			}
		}
		s.dsn = sqliteDSN(ddsn, false, opts.BusyTimeout)
		rdsn := sqliteDSN(ddsn, opts.ReadOnly, opts.BusyTimeout)
		if s.db, err = sqlx.Open("sqlite", rdsn); err != nil {
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		s.db.SetMaxOpenConns(8)
		s.db.SetMaxIdleConns(8)
		if !opts.ReadOnly {
			if s.wdb, err = sqlx.Open("sqlite", s.dsn); err != nil {
				s.db.Close()
				return nil, fmt.Errorf("open sqlite: %w", err)
			}
			// SQLite has one writer: the writer goroutine keeps one connection for good;
			// the second is for migrations, which may run while it holds its own.
			s.wdb.SetMaxOpenConns(2)
			s.wdb.SetMaxIdleConns(2)
			s.wdb.SetConnMaxIdleTime(0)
		}
		if opts.Writers <= 0 || opts.Writers > 1 {
			opts.Writers = 1
		}
	case Postgres:
		s.dsn = ddsn
		if s.db, err = sqlx.Open("pgx", ddsn); err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		s.db.SetMaxOpenConns(16)
		s.db.SetMaxIdleConns(16)
		s.db.SetConnMaxIdleTime(5 * time.Minute)
		if !opts.ReadOnly {
			s.wdb = s.db
		}
		if opts.Writers <= 0 {
			// Two transactions in flight overlap one's round trips with the other's work;
			// more only contend (measured: 1 and 2 alike, 4 slower).
			opts.Writers = 2
		}
	}
	if err := s.Ping(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if opts.ReadOnly {
		// A reader cannot migrate: say plainly when there is nothing to read yet.
		var n int
		if err := s.db.GetContext(ctx, &n, `SELECT COUNT(*) FROM orgs`); err != nil {
			s.Close()
			if c := classify(err); errors.Is(c, ErrUnavailable) {
				return nil, c
			}
			return nil, fmt.Errorf("database has no CallSnare tables (run 'callsnare migrate' or 'callsnare serve' on it first): %w", ErrNoDatabase)
		}
	}
	if s.wdb != nil {
		s.w = newWriter(s.wdb, opts.Writers, opts.MaxBatch, s.log)
	}
	return s, nil
}

// Driver tells which database the store runs on.
func (s *Store) Driver() Driver { return s.driver }

// SQLDB returns the handle other libraries (the job queue) should use to write: on SQLite
// a separate pool with the same pragmas, so its transactions also begin immediately.
func (s *Store) SQLDB() (*sql.DB, error) {
	if s.driver == Postgres {
		return s.db.DB, nil
	}
	db, err := sql.Open("sqlite", s.dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	db.SetMaxOpenConns(2)
	return db, nil
}

// Ping checks that the database answers; /readyz uses it.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return nil
}

// Close stops the writer, after it has committed what it holds, and closes the pools.
func (s *Store) Close() error {
	if s.w != nil {
		s.w.close()
	}
	var errs []error
	if s.wdb != nil && s.wdb != s.db {
		errs = append(errs, s.wdb.Close())
	}
	if s.db != nil {
		errs = append(errs, s.db.Close())
	}
	return errors.Join(errs...)
}

// rebind turns the ?-placeholders all queries are written with into the driver's own.
func (s *Store) rebind(q string) string {
	if s.driver == Postgres {
		return dollar(q)
	}
	return q
}

// Warm opens the read pool's connections and has each read the schema, for a server about
// to listen: SQLite parses the schema on a connection's first statement and PostgreSQL
// starts a backend for each connection, and the first deliveries after a start should not
// wait for that one by one (on SQLite, whole calls at 1,000 webhooks/s: the p99 of the
// first two seconds was lower in four paired runs of five, by 2 to 15 ms, and higher by
// 8 ms in the fifth; this machine's noise is of that size).
func (s *Store) Warm(ctx context.Context) error {
	n := min(s.db.Stats().MaxOpenConnections, maxWarm)
	q := "SELECT 1"
	if s.driver == SQLite {
		q = "SELECT count(*) FROM sqlite_master"
	}
	conns := make([]*sql.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range n {
		c, err := s.db.Conn(ctx)
		if err != nil {
			return fmt.Errorf("warm the read pool: %w", classifyConn(err))
		}
		conns = append(conns, c)
		var x int
		if err := c.QueryRowContext(ctx, q).Scan(&x); err != nil {
			return fmt.Errorf("warm the read pool: %w", classifyConn(err))
		}
	}
	return nil
}

// maxWarm bounds the connections Warm opens: PostgreSQL's pool is larger than what a
// start needs at once.
const maxWarm = 8
