package store

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jmoiron/sqlx"
)

// stmtCache keeps prepared statements, keyed by their ?-placeholder text. SQLite spends a
// quarter of a webhook's write time parsing SQL unless statements are prepared once; pgx
// already caches prepared statements per connection, so PostgreSQL goes without.
//
// The statements are prepared on the pool, not on a connection: database/sql then keeps
// each one's driver statement per connection and reuses it inside transactions, where a
// connection-bound statement would be prepared again every time.
type stmtCache struct {
	db *sqlx.DB
	mu sync.Mutex
	m  map[string]*sqlx.Stmt
}

func newStmtCache(db *sqlx.DB) *stmtCache {
	return &stmtCache{db: db, m: map[string]*sqlx.Stmt{}}
}

func (c *stmtCache) get(ctx context.Context, q string) (*sqlx.Stmt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.m[q]; ok {
		return st, nil
	}
	st, err := c.db.PreparexContext(ctx, c.db.Rebind(q))
	if err != nil {
		return nil, err
	}
	c.m[q] = st
	return st, nil
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.m {
		st.Close()
	}
	c.m = map[string]*sqlx.Stmt{}
}

// stmt returns the statement for q within the transaction: the cached one bound to the
// transaction's connection, or nil to run the text directly. It is bound once per
// transaction: a batch runs each statement once per unit.
func (tx *Tx) stmt(ctx context.Context, q string) *sqlx.Stmt {
	ctx = tx.ctx(ctx)
	if tx.stmts == nil {
		return nil
	}
	tx.mu.Lock()
	st, ok := tx.inTx[q]
	tx.mu.Unlock()
	if ok {
		return st
	}
	prepared, err := tx.stmts.get(ctx, q)
	if err != nil {
		return nil // the direct path reports the error with its context
	}
	st = tx.sq.StmtxContext(ctx, prepared)
	tx.mu.Lock()
	if tx.inTx == nil {
		tx.inTx = make(map[string]*sqlx.Stmt)
	}
	tx.inTx[q] = st
	tx.mu.Unlock()
	return st
}

// driverArgs readies a statement's arguments for the driver. PostgreSQL gets its times as
// time.Time, which pgx sends in binary, instead of the fixed-width text SQLite needs:
// encoding and parsing that text was a tenth of a webhook's cost there. SQLite gets the
// text, and the values database/sql would otherwise convert one by one through
// driver.Valuer as plain values; the transaction formats each instant once, as its units
// pass the same time to several statements.
func (tx *Tx) driverArgs(args []any) []any {
	if tx.driver == Postgres {
		for i, a := range args {
			if t, ok := a.(Time); ok {
				if t.IsZero() {
					args[i] = nil
				} else {
					args[i] = t.UTC()
				}
			}
		}
		return args
	}
	for i, a := range args {
		switch a := a.(type) {
		case Time:
			args[i] = tx.timeText(a)
		case sql.NullInt64:
			if a.Valid {
				args[i] = a.Int64
			} else {
				args[i] = nil
			}
		}
	}
	return args
}

// timeText is t as SQLite stores it (nil for the zero Time), formatted once per instant
// in a row. Only SQLite's writer, which runs a transaction's units one after another,
// calls it.
func (tx *Tx) timeText(t Time) any {
	if t.IsZero() {
		return nil
	}
	if !t.Equal(tx.lastTime) { // lastTime starts zero, and t is not
		tx.lastTime, tx.lastText = t.Time, string(appendTimeText(nil, t.Time))
	}
	return tx.lastText
}

// dollar is q with PostgreSQL's numbered placeholders. The statements are a fixed set of
// texts, so each is rewritten once: rewriting them on every use was a twentieth of a
// delivery's allocations. The cache stops growing at a bound, should a caller ever build
// statement texts from data.
func dollar(q string) string {
	if d, ok := dollars.Load(q); ok {
		return d.(string)
	}
	d := sqlx.Rebind(sqlx.DOLLAR, q)
	if dollarCount.Load() < maxDollars {
		if _, loaded := dollars.LoadOrStore(q, d); !loaded {
			dollarCount.Add(1)
		}
	}
	return d
}

const maxDollars = 4096

var (
	dollars     sync.Map // ?-placeholder text → $n text
	dollarCount atomic.Int64
)

// exec runs a write statement written with ? placeholders.
func (tx *Tx) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	ctx = tx.ctx(ctx)
	args = tx.driverArgs(args)
	if tx.pipe != nil {
		s := &pipeStmt{sql: dollar(q), args: args}
		err := tx.pipe.do(s)
		return pipeResult(s.n), err
	}
	if st := tx.stmt(ctx, q); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return tx.sq.ExecContext(ctx, tx.sq.Rebind(q), args...)
}

// execLater runs a write statement whose result the unit does not read. On PostgreSQL it
// does not wait for it: the statement goes with the unit's next statement, or with the
// commit, in the same round trip, and a refusal fails the transaction there, named by
// what. On SQLite it runs at once.
func (tx *Tx) execLater(ctx context.Context, what, q string, args ...any) error {
	if tx.pipe != nil {
		args = tx.driverArgs(args)
		return tx.pipe.later(&pipeStmt{sql: dollar(q), args: args, what: what})
	}
	if _, err := tx.exec(ctx, q, args...); err != nil {
		return fmt.Errorf("%s: %w", what, classify(err))
	}
	return nil
}

// ask queues a query of one row, scanned into dest, and returns the function that waits
// for it. On PostgreSQL the queries a unit asks one after another, and the statement it
// then waits on, share one round trip; each sees the statements queued before it. On
// SQLite the query runs at once.
func (tx *Tx) ask(ctx context.Context, dest any, q string, args ...any) func() error {
	return tx.askWith(scanOne(dest), func() error { return tx.get(ctx, dest, q, args...) }, q, args)
}

// askAll is ask for a query of rows, scanned into dest, a pointer to a slice.
func (tx *Tx) askAll(ctx context.Context, dest any, q string, args ...any) func() error {
	return tx.askWith(scanAll(dest), func() error { return tx.sel(ctx, dest, q, args...) }, q, args)
}

func (tx *Tx) askWith(scan func(pgx.Rows) error, now func() error, q string, args []any) func() error {
	if tx.pipe == nil {
		err := now()
		return func() error { return err }
	}
	s := &pipeStmt{sql: dollar(q), args: tx.driverArgs(args), scan: scan}
	if err := tx.pipe.later(s); err != nil {
		return func() error { return err }
	}
	return func() error { return tx.pipe.await(s) }
}

// Exec runs a statement written with ? placeholders in the transaction, for what the
// store's own methods do not cover (tests that shape a database).
func (tx *Tx) Exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return tx.exec(ctx, q, args...)
}

// get scans one row into dest, a pointer to a struct (by db tags) or a scalar; no row
// is sql.ErrNoRows.
func (tx *Tx) get(ctx context.Context, dest any, q string, args ...any) error {
	ctx = tx.ctx(ctx)
	args = tx.driverArgs(args)
	if tx.pipe != nil {
		return tx.pipe.do(&pipeStmt{sql: dollar(q), args: args, scan: scanOne(dest)})
	}
	if st := tx.stmt(ctx, q); st != nil {
		return st.GetContext(ctx, dest, args...)
	}
	return tx.sq.GetContext(ctx, dest, tx.sq.Rebind(q), args...)
}

// sel scans rows into dest, a pointer to a slice.
func (tx *Tx) sel(ctx context.Context, dest any, q string, args ...any) error {
	ctx = tx.ctx(ctx)
	args = tx.driverArgs(args)
	if tx.pipe != nil {
		return tx.pipe.do(&pipeStmt{sql: dollar(q), args: args, scan: scanAll(dest)})
	}
	if st := tx.stmt(ctx, q); st != nil {
		return st.SelectContext(ctx, dest, args...)
	}
	return tx.sq.SelectContext(ctx, dest, tx.sq.Rebind(q), args...)
}
