package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jmoiron/sqlx"
)

// pipeline runs the statements of a PostgreSQL write transaction whose units run side by
// side, in rounds: each round waits until every running unit has asked for its next
// statement (or finished), then sends all of them as one pipelined batch, one round trip,
// and hands each unit its result. A batch of n deliveries of k statements each then costs
// about k round trips instead of n×k: the round trips, not PostgreSQL's work, were most of
// a delivery's cost (a third of serve's CPU in system calls, writers waiting on the wire).
//
// Units of one subject run one after another in one lane, so their statements keep their
// order; lanes only meet on rows no two subjects share. A unit's statements are the same
// whether it runs in a lane or alone.
//
// A statement whose result its unit does not read (an insert of evidence, of a fact, of a
// job) does not wait for a round of its own: it goes with the next statement that is
// waited on, or with the commit. So do BEGIN and the subject locks, with the first round.
type pipeline struct {
	conn *pgx.Conn
	ctx  context.Context

	mu      sync.Mutex
	lanes   int            // lanes that may still ask for a statement
	waiting []*pipeStmt    // for the next round, in the order the lanes asked
	asked   int            // lanes waiting on a result of the next round
	failed  error          // once a round failed, the transaction is lost: fail fast
	trips   *atomic.Uint64 // counts the round trips
}

// pipeStmt is one statement of a round and what its unit makes of the result.
type pipeStmt struct {
	sql  string
	args []any
	scan func(pgx.Rows) error // nil for a statement whose rows are not read
	// what names a statement sent without waiting (later), for the error that fails the
	// transaction if the server refuses it.
	what string
	n    int64 // rows affected
	err  error // the statement's outcome, as its unit sees it
	// aborted: the server refused the statement (or the connection failed), which ends
	// the transaction; an error of the unit's own scan (no row) does not.
	aborted bool
	sent    bool // taken into a round; guarded by the pipeline's mu
	done    chan struct{}
}

func newPipeline(ctx context.Context, conn *pgx.Conn, trips *atomic.Uint64) *pipeline {
	return &pipeline{conn: conn, ctx: ctx, lanes: 1, trips: trips}
}

// setLanes says how many lanes run units from now on; called before they start.
func (p *pipeline) setLanes(n int) {
	p.mu.Lock()
	p.lanes = n
	p.mu.Unlock()
}

// do runs one statement in the next round and returns when its result is in.
func (p *pipeline) do(s *pipeStmt) error {
	if err := p.later(s); err != nil {
		return err
	}
	return p.await(s)
}

// later queues a statement and returns at once: it goes with the next round its lane
// waits on (see await), or with the commit, in the order queued. A statement whose result
// is not awaited fails the transaction there if the server refuses it.
func (p *pipeline) later(s *pipeStmt) error {
	s.done = make(chan struct{})
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failed != nil {
		return p.failed
	}
	p.waiting = append(p.waiting, s)
	return nil
}

// await returns the result of a queued statement, once the round that carries it is back.
// A lane waiting here counts as asking for the next round.
func (p *pipeline) await(s *pipeStmt) error {
	p.mu.Lock()
	if !s.sent {
		p.asked++
		round := p.take()
		p.mu.Unlock()
		if round != nil {
			p.send(round)
		}
	} else {
		p.mu.Unlock()
	}
	<-s.done
	return s.err
}

// leave says a lane has run all its units; the round it was holding back may go.
func (p *pipeline) leave() {
	p.mu.Lock()
	p.lanes--
	round := p.take()
	p.mu.Unlock()
	if round != nil {
		p.send(round)
	}
}

// fail stops the transaction's lanes at their next statement: a unit failed, so the
// batch will not commit.
func (p *pipeline) fail(err error) {
	p.mu.Lock()
	if p.failed == nil {
		p.failed = fmt.Errorf("batch failed: %w", err)
	}
	p.mu.Unlock()
}

// take returns the round to send when every lane still running is waiting on it.
// Called with mu held.
func (p *pipeline) take() []*pipeStmt {
	if p.asked == 0 || p.asked < p.lanes {
		return nil
	}
	round := p.waiting
	for _, s := range round {
		s.sent = true
	}
	p.waiting, p.asked = nil, 0
	return round
}

// send runs a round on the connection and wakes its units. Only one round is ever in
// flight: every lane is waiting on this one.
func (p *pipeline) send(round []*pipeStmt) {
	p.trips.Add(1)
	defer func() {
		for _, s := range round {
			close(s.done)
		}
	}()
	if len(round) == 1 {
		p.run(round[0])
	} else {
		p.batch(round)
	}
	first, err := refusal(round)
	if err == nil {
		return
	}
	p.mu.Lock()
	if p.failed == nil {
		p.failed = fmt.Errorf("transaction aborted by an earlier statement: %w", err)
	}
	// The statements after the refused one were skipped: they answer with its cause.
	for _, s := range round[first+1:] {
		if s.aborted {
			s.err = p.failed
		}
	}
	p.mu.Unlock()
}

// refusal finds a round's first statement the server refused, which aborted the
// transaction, and its error; -1 and nil when there is none.
func refusal(round []*pipeStmt) (int, error) {
	for i, s := range round {
		if !s.aborted {
			continue
		}
		if s.what != "" {
			return i, fmt.Errorf("%s: %w", s.what, classify(s.err))
		}
		return i, s.err
	}
	return -1, nil
}

// begin queues the transaction's BEGIN and its subject locks, taken in ascending order
// (keys is sorted), to go with its first round.
func (p *pipeline) begin(keys []int32) error {
	if err := p.later(&pipeStmt{sql: "BEGIN", what: "begin"}); err != nil {
		return err
	}
	if len(keys) == 0 {
		return nil
	}
	return p.later(&pipeStmt{sql: lockSQL, args: []any{subjectLockClass, keys}, what: "lock subjects"})
}

// end sends the statements still queued (see later) and final, COMMIT (or ROLLBACK for a
// rehearsal), in one round trip. The transaction is committed only when all of them were
// taken.
func (p *pipeline) end(final string) error {
	p.mu.Lock()
	rest, failed := p.waiting, p.failed
	p.waiting = nil
	p.mu.Unlock()
	if failed != nil {
		return failed
	}
	b := &pgx.Batch{}
	for _, s := range rest {
		b.Queue(s.sql, s.args...)
	}
	b.Queue(final)
	p.trips.Add(1)
	br := p.conn.SendBatch(p.ctx, b)
	for _, s := range rest {
		_, err := br.Exec()
		s.fail(err)
	}
	tag, err := br.Exec()
	cerr := br.Close()
	switch _, rerr := refusal(rest); {
	case rerr != nil:
		return rerr
	case err == nil && tag.String() == final:
		// Committed (or rolled back as asked), whatever became of the connection after.
		return nil
	case err == nil:
		return pgx.ErrTxCommitRollback
	}
	return cmp.Or(err, cerr)
}

// rollback ends a transaction that will not commit, within a second.
func (p *pipeline) rollback() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	p.trips.Add(1)
	_, _ = p.conn.Exec(ctx, "ROLLBACK")
}

func (p *pipeline) run(s *pipeStmt) {
	if s.scan == nil {
		tag, err := p.conn.Exec(p.ctx, s.sql, s.args...)
		s.n = tag.RowsAffected()
		s.fail(err)
		return
	}
	rows, err := p.conn.Query(p.ctx, s.sql, s.args...)
	if err != nil {
		s.fail(err)
		return
	}
	s.read(rows)
}

func (p *pipeline) batch(round []*pipeStmt) {
	b := &pgx.Batch{}
	for _, s := range round {
		b.Queue(s.sql, s.args...)
	}
	br := p.conn.SendBatch(p.ctx, b)
	for _, s := range round {
		if s.scan == nil {
			tag, err := br.Exec()
			s.n = tag.RowsAffected()
			s.fail(err)
			continue
		}
		rows, err := br.Query()
		if err != nil {
			s.fail(err)
			continue
		}
		s.read(rows)
	}
	if err := br.Close(); err != nil {
		for _, s := range round {
			if s.err == nil {
				s.fail(err)
			}
		}
	}
}

// fail records the server's (or the connection's) refusal of the statement.
func (s *pipeStmt) fail(err error) {
	if err != nil {
		s.err, s.aborted = err, true
	}
}

// read scans a statement's rows and reads them to the end, as the next result needs.
func (s *pipeStmt) read(rows pgx.Rows) {
	err := s.scan(rows)
	rows.Close()
	s.n = rows.CommandTag().RowsAffected()
	if rerr := rows.Err(); rerr != nil {
		s.fail(rerr)
		return
	}
	s.err = err
}

// pgxRows lets sqlx map pgx rows onto structs by their db tags, as it does sql.Rows.
type pgxRows struct{ pgx.Rows }

func (r pgxRows) Columns() ([]string, error) {
	fds := r.FieldDescriptions()
	cols := make([]string, len(fds))
	for i, fd := range fds {
		cols[i] = fd.Name
	}
	return cols, nil
}

func (r pgxRows) Close() error {
	r.Rows.Close()
	return nil
}

// scanAll scans every row into dest, a pointer to a slice of structs (mapped by their db
// tags, as sqlx maps them) or of single-column values.
func scanAll(dest any) func(pgx.Rows) error {
	return func(rows pgx.Rows) error {
		v := reflect.ValueOf(dest)
		if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Slice {
			return errors.New("scan: destination is not a pointer to a slice")
		}
		elem := v.Elem().Type().Elem()
		if !scalar(elem) {
			return sqlx.StructScan(pgxRows{rows}, dest)
		}
		out := v.Elem()
		for rows.Next() {
			e := reflect.New(elem)
			if err := rows.Scan(e.Interface()); err != nil {
				return err
			}
			out = reflect.Append(out, e.Elem())
		}
		v.Elem().Set(out)
		return rows.Err()
	}
}

// scanOne scans the first row into dest, a pointer to a struct or a single-column value,
// or returns sql.ErrNoRows.
func scanOne(dest any) func(pgx.Rows) error {
	return func(rows pgx.Rows) error {
		v := reflect.ValueOf(dest)
		if v.Kind() != reflect.Pointer || v.IsNil() {
			return errors.New("scan: destination is not a pointer")
		}
		if scalar(v.Elem().Type()) {
			if !rows.Next() {
				if err := rows.Err(); err != nil {
					return err
				}
				return sql.ErrNoRows
			}
			return rows.Scan(dest)
		}
		all := reflect.New(reflect.SliceOf(v.Elem().Type()))
		if err := sqlx.StructScan(pgxRows{rows}, all.Interface()); err != nil {
			return err
		}
		if all.Elem().Len() == 0 {
			return sql.ErrNoRows
		}
		v.Elem().Set(all.Elem().Index(0))
		return nil
	}
}

var scannerType = reflect.TypeFor[sql.Scanner]()

// scalar says whether t is scanned from one column, as sqlx decides it.
func scalar(t reflect.Type) bool {
	return t.Kind() != reflect.Struct || reflect.PointerTo(t).Implements(scannerType) || t == reflect.TypeFor[time.Time]()
}

// pipeResult is a statement's sql.Result on the pipeline.
type pipeResult int64

func (r pipeResult) RowsAffected() (int64, error) { return int64(r), nil }
func (r pipeResult) LastInsertId() (int64, error) {
	return 0, errors.New("LastInsertId is not supported by PostgreSQL")
}
