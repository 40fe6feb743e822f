package store

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jmoiron/sqlx"

	"github.com/callsnare/callsnare/internal/failpoint"
)

// ErrClosed is returned by Write once the store is closing.
var ErrClosed = errors.New("store closed")

// Tx is a write transaction shared by the units of one batch. A unit must keep all its
// effects inside the transaction: it may run again, alone, if its batch fails.
type Tx struct {
	*sqlx.Tx
	driver Driver
	stmts  *stmtCache // nil: run statement text directly
	stash  map[any]any
	before []func(ctx context.Context, tx *Tx) error
}

// Stash returns the value kept under key for this transaction, creating it with make on
// first use. With BeforeCommit it lets a component gather work from every unit of a batch
// and do it once: the job queue inserts all of a batch's jobs in one statement.
func (tx *Tx) Stash(key any, make func() any) any {
	if tx.stash == nil {
		tx.stash = map[any]any{}
	}
	v, ok := tx.stash[key]
	if !ok {
		v = make()
		tx.stash[key] = v
	}
	return v
}

// BeforeCommit runs fn after every unit of the batch has run, just before the commit;
// within the transaction, so its failure fails the batch. Register once per key (use
// Stash to know whether this transaction already did).
func (tx *Tx) BeforeCommit(fn func(ctx context.Context, tx *Tx) error) {
	tx.before = append(tx.before, fn)
}

// Driver tells which SQL dialect the transaction speaks.
func (tx *Tx) Driver() Driver { return tx.driver }

type unit struct {
	ctx  context.Context
	fn   func(*Tx) error
	done chan error
}

// writer is the group commit: every webhook needs a durable transaction before it is
// acknowledged, and one commit (one fsync) for many deliveries is what makes thousands per
// second possible. Units queue on a channel; each writer goroutine takes what is waiting,
// runs it all in one transaction and commits once. If the batch fails, each of its units is
// run again in a transaction of its own, so that one bad unit cannot fail its neighbours.
type writer struct {
	db       *sqlx.DB
	driver   Driver
	stmts    *stmtCache
	shards   []chan *unit // one queue per writer goroutine
	next     atomic.Uint64
	maxBatch int
	log      *slog.Logger

	mu     sync.RWMutex
	closed bool
	wg     sync.WaitGroup
}

func newWriter(db *sqlx.DB, writers, maxBatch int, log *slog.Logger) *writer {
	if maxBatch <= 0 {
		maxBatch = 128
	}
	d := SQLite
	if db.DriverName() == "pgx" {
		d = Postgres
	}
	w := &writer{db: db, driver: d, maxBatch: maxBatch, log: log}
	if d == SQLite {
		w.stmts = newStmtCache(db)
	}
	for range writers {
		q := make(chan *unit, 4*maxBatch)
		w.shards = append(w.shards, q)
		w.wg.Add(1)
		go w.loop(q)
	}
	return w
}

func (w *writer) close() {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		for _, q := range w.shards {
			close(q)
		}
	}
	w.mu.Unlock()
	w.wg.Wait()
	if w.stmts != nil {
		w.stmts.close()
	}
}

// Write runs fn in a durable transaction, possibly together with other callers' units, and
// returns once it is committed (nil) or has failed. Once queued, the unit runs even if ctx
// ends meanwhile: evidence of a delivery is not dropped because its client went away.
func (s *Store) Write(ctx context.Context, fn func(*Tx) error) error {
	return s.WriteFor(ctx, "", fn)
}

// WriteFor is Write for a unit that touches the rows of one subject (a caller's calls and
// lead, a Stripe customer's billing). Units with the same key go to the same writer, so
// two batches running at once never hold locks on the same rows in opposite orders: the
// deadlocks PostgreSQL would otherwise break only after a second. An empty key spreads
// units round-robin.
func (s *Store) WriteFor(ctx context.Context, key string, fn func(*Tx) error) error {
	if s.w == nil {
		return fmt.Errorf("write: %w", ErrClosed)
	}
	return s.w.submit(ctx, key, fn)
}

func (w *writer) shard(key string) chan *unit {
	if len(w.shards) == 1 {
		return w.shards[0]
	}
	if key == "" {
		return w.shards[w.next.Add(1)%uint64(len(w.shards))]
	}
	h := fnv.New64a()
	h.Write([]byte(key))
	return w.shards[h.Sum64()%uint64(len(w.shards))]
}

func (w *writer) submit(ctx context.Context, key string, fn func(*Tx) error) error {
	u := &unit{ctx: context.WithoutCancel(ctx), fn: fn, done: make(chan error, 1)}
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return ErrClosed
	}
	select {
	case w.shard(key) <- u:
	case <-ctx.Done():
		w.mu.RUnlock()
		return ctx.Err()
	}
	w.mu.RUnlock()
	return <-u.done
}

func (w *writer) loop(reqs chan *unit) {
	defer w.wg.Done()
	batch := make([]*unit, 0, w.maxBatch)
	for u := range reqs {
		batch = append(batch[:0], u)
	fill:
		for len(batch) < w.maxBatch {
			select {
			case more, ok := <-reqs:
				if !ok {
					break fill
				}
				batch = append(batch, more)
			default:
				break fill
			}
		}
		w.run(batch)
	}
}

func (w *writer) run(batch []*unit) {
	if len(batch) > 1 {
		err := w.inTx(batch[0].ctx, func(tx *Tx) error {
			for _, u := range batch {
				failpoint.Hit(failpoint.StoreMidBatch)
				if err := u.fn(tx); err != nil {
					return err
				}
			}
			return nil
		})
		if err == nil {
			for _, u := range batch {
				u.done <- nil
			}
			return
		}
		w.log.Debug("batch_failed", "units", len(batch), "err", err)
	}
	for _, u := range batch {
		u.done <- w.runAlone(u)
	}
}

// runAlone runs one unit in its own transaction, retrying the conflicts PostgreSQL resolves
// by aborting one side (deadlock, serialization failure).
func (w *writer) runAlone(u *unit) error {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		err = w.inTx(u.ctx, u.fn)
		var pgErr *pgconn.PgError
		if err == nil || !errors.As(err, &pgErr) || (pgErr.Code != "40001" && pgErr.Code != "40P01") {
			break
		}
	}
	return classify(err)
}

func (w *writer) inTx(ctx context.Context, fn func(*Tx) error) error {
	stx, err := w.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", classifyConn(err))
	}
	tx := &Tx{Tx: stx, driver: w.driver, stmts: w.stmts}
	if err := fn(tx); err != nil {
		_ = stx.Rollback()
		return err
	}
	for _, f := range tx.before {
		if err := f(ctx, tx); err != nil {
			_ = stx.Rollback()
			return err
		}
	}
	failpoint.Hit(failpoint.StoreBeforeCommit)
	if err := stx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", classifyConn(err))
	}
	return nil
}

// classifyConn marks failures to begin or commit as unavailability unless they say more.
func classifyConn(err error) error {
	c := classify(err)
	if errors.Is(c, ErrUnavailable) || errors.Is(c, ErrDuplicate) {
		return c
	}
	return fmt.Errorf("%w: %v", ErrUnavailable, err)
}
