package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/jmoiron/sqlx"

	"github.com/callsnare/callsnare/internal/failpoint"
)

var (
	// ErrClosed is returned by Write once the store is closing.
	ErrClosed = errors.New("store closed")
	// ErrDeadline is returned for a write that could not commit before its context's
	// deadline: it was not started, or its transaction was rolled back. Nothing of it is
	// stored.
	ErrDeadline = errors.New("write deadline passed before commit")
)

// Tx is a write transaction shared by the units of one batch. A unit must keep all its
// effects inside the transaction: it may run again, alone, if its batch fails. On
// PostgreSQL the units of a batch run side by side (see pipeline), so what a unit keeps in
// the transaction (Stash) must be safe for concurrent use.
type Tx struct {
	sq     *sqlx.Tx  // SQLite
	pipe   *pipeline // PostgreSQL
	driver Driver
	stmts  *stmtCache            // nil: run statement text directly
	inTx   map[string]*sqlx.Stmt // stmts' statements bound to this transaction
	orgs   *orgCache             // the orgs kept in memory
	// bound is the batch's context: its deadline is the earliest of its units', and every
	// statement runs under it, whatever context the unit passes.
	bound  context.Context
	mu     sync.Mutex
	stash  map[any]any
	before []func(ctx context.Context, tx *Tx) error
	// the instant timeText formatted last, and its text (SQLite)
	lastTime time.Time
	lastText string
}

// Stash returns the value kept under key for this transaction, creating it with make on
// first use. With BeforeCommit it lets a component gather work from every unit of a batch
// and do it once: the job queue inserts all of a batch's jobs in one statement. Units may
// call it concurrently; make runs once, under the transaction's lock.
func (tx *Tx) Stash(key any, make func() any) any {
	tx.mu.Lock()
	defer tx.mu.Unlock()
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
	tx.mu.Lock()
	defer tx.mu.Unlock()
	tx.before = append(tx.before, fn)
}

// Driver tells which SQL dialect the transaction speaks.
func (tx *Tx) Driver() Driver { return tx.driver }

// ctx is the context a statement of the transaction runs under.
func (tx *Tx) ctx(ctx context.Context) context.Context {
	if tx.bound != nil {
		return tx.bound
	}
	return ctx
}

// Subject keys name whose rows a write touches. Every write that touches a caller's calls,
// lead, messages or opt-out is keyed by the caller; every Stripe event by its customer.
func CallerKey(phone string) string { return callerPrefix + phone }

const callerPrefix = "caller:"

// CustomerKey is the subject key of a Stripe customer's billing.
func CustomerKey(customerID string) string { return "customer:" + customerID }

// Unit states: a queued unit is taken by the writer (running) or given up by its
// submitter when its deadline passes first (abandoned), never both.
const (
	unitQueued int32 = iota
	unitRunning
	unitAbandoned
)

type unit struct {
	ctx      context.Context // the submitter's, without its cancellation
	deadline time.Time       // zero: none
	lock     int32           // the subject's lock number; 0 for no subject
	lane     int64           // units of one lane run in order on PostgreSQL (see laneOf)
	fn       func(*Tx) error
	done     chan error
	state    atomic.Int32
}

func (u *unit) expired(now time.Time) bool {
	return !u.deadline.IsZero() && !now.Before(u.deadline)
}

// writer is the group commit: every webhook needs a durable transaction before it is
// acknowledged, and one commit (one fsync) for many deliveries is what makes thousands per
// second possible. Units queue on a channel; each writer goroutine takes what is waiting,
// runs it all in one transaction and commits once. If the batch fails, each of its units is
// run again in a transaction of its own, so that one bad unit cannot fail its neighbours.
//
// Every unit carries the deadline of its context. A unit whose deadline passed is not
// started; a batch runs under the earliest deadline of its units, and their retries alone
// under their own, so that the answer to a delivery is never later than its deadline.
//
// On PostgreSQL, several writers (and several replicas) run batches at once. A batch first
// takes a transaction-scoped advisory lock per subject it touches, all in one statement, in
// ascending order. Every write to a subject's rows holds that subject's lock, and locks are
// only ever taken in that one order, at the start, so two transactions never wait on each
// other in a cycle: no deadlock, within a process or across replicas.
type writer struct {
	db       *sqlx.DB
	driver   Driver
	stmts    *stmtCache
	orgs     *orgCache
	shards   []chan *unit // one queue per writer goroutine
	next     atomic.Uint64
	maxBatch int
	log      *slog.Logger

	deadlocks     atomic.Uint64
	serialization atomic.Uint64
	expired       atomic.Uint64
	units         atomic.Uint64 // committed
	commits       atomic.Uint64
	trips         atomic.Uint64 // PostgreSQL round trips of write transactions

	mu     sync.RWMutex
	closed bool
	wg     sync.WaitGroup
	lanes  laneWorkers // PostgreSQL
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
	w.orgs = newOrgCache()
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
	w.lanes.close()
	if w.stmts != nil {
		w.stmts.close()
	}
}

// Write runs fn in a durable transaction, possibly together with other callers' units, and
// returns once it is committed (nil) or has failed. Once queued, the unit runs even if ctx
// is canceled meanwhile: evidence of a delivery is not dropped because its client went
// away. ctx's deadline is kept: past it, the unit is not started, or its transaction is
// rolled back, and Write returns ErrDeadline.
//
// Write is for units that touch no call, lead, message, opt-out or billing row (evidence
// alone, orgs); those go through WriteFor.
func (s *Store) Write(ctx context.Context, fn func(*Tx) error) error {
	return s.WriteFor(ctx, "", fn)
}

// WriteFor is Write for a unit that touches the rows of one subject (CallerKey,
// CustomerKey). Units of one subject go to the same writer, and every transaction holds
// the locks of its subjects, taken in one global order, before it touches their rows.
func (s *Store) WriteFor(ctx context.Context, subject string, fn func(*Tx) error) error {
	if s.w == nil {
		return fmt.Errorf("write: %w", ErrClosed)
	}
	if tx, ok := ctx.Value(rehearsalKey{}).(*Tx); ok {
		// A write of a rehearsal runs in the rehearsal's transaction (see Rehearse).
		return fn(tx)
	}
	return s.w.submit(ctx, subject, fn)
}

// lockNumber maps a subject to its advisory lock. Two subjects may share a number: they
// are then serialised, which costs a little waiting and never a deadlock.
func lockNumber(subject string) int32 {
	if subject == "" {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(subject))
	n := int32(h.Sum32())
	if n == 0 {
		n = 1
	}
	return n
}

// laneOf tells which units of a PostgreSQL batch must run one after another. A caller's
// units share rows (calls, lead, messages, opt-out), so they run in order in their
// caller's lane; callers share none of them, so different callers' units run side by side.
// Every other unit (billing, whose customers may share an org; evidence alone; orgs) runs
// in one lane, in batch order.
func laneOf(subject string) int64 {
	if strings.HasPrefix(subject, callerPrefix) {
		return int64(lockNumber(subject))
	}
	return 1 << 40
}

func (w *writer) shard(lock int32) chan *unit {
	if len(w.shards) == 1 {
		return w.shards[0]
	}
	if lock == 0 {
		return w.shards[w.next.Add(1)%uint64(len(w.shards))]
	}
	return w.shards[uint32(lock)%uint32(len(w.shards))]
}

func (w *writer) submit(ctx context.Context, subject string, fn func(*Tx) error) error {
	u := &unit{ctx: context.WithoutCancel(ctx), lock: lockNumber(subject), lane: laneOf(subject), fn: fn, done: make(chan error, 1)}
	var timeout <-chan time.Time
	if d, ok := ctx.Deadline(); ok {
		u.deadline = d
		t := time.NewTimer(time.Until(d))
		defer t.Stop()
		timeout = t.C
	}
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return ErrClosed
	}
	select {
	case w.shard(u.lock) <- u:
	case <-timeout:
		w.mu.RUnlock()
		w.expired.Add(1)
		return ErrDeadline
	case <-ctx.Done():
		w.mu.RUnlock()
		return ctx.Err()
	}
	w.mu.RUnlock()
	select {
	case err := <-u.done:
		return err
	case <-timeout:
		if u.state.CompareAndSwap(unitQueued, unitAbandoned) {
			w.expired.Add(1)
			return ErrDeadline
		}
		// Already running: its transaction ends by this same deadline.
		return <-u.done
	}
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

// take keeps the units of a batch that may still start, and answers the others.
func (w *writer) take(batch []*unit) []*unit {
	now := time.Now()
	live := batch[:0]
	for _, u := range batch {
		if !u.state.CompareAndSwap(unitQueued, unitRunning) {
			continue // its submitter gave up on it
		}
		if u.expired(now) {
			w.expired.Add(1)
			u.done <- ErrDeadline
			continue
		}
		live = append(live, u)
	}
	return live
}

func (w *writer) run(batch []*unit) {
	batch = w.take(batch)
	switch len(batch) {
	case 0:
		return
	case 1:
		batch[0].done <- w.runAlone(batch[0])
		return
	}
	// Sorted by subject lock, the batch's units touch subjects in the order their locks
	// were taken; deadlines decide the batch's own.
	slices.SortStableFunc(batch, func(a, b *unit) int { return cmp.Compare(a.lock, b.lock) })
	var deadline time.Time
	locks := make([]int32, 0, len(batch))
	for _, u := range batch {
		if !u.deadline.IsZero() && (deadline.IsZero() || u.deadline.Before(deadline)) {
			deadline = u.deadline
		}
		locks = append(locks, u.lock)
	}
	err := w.inTx(batch[0].ctx, deadline, locks, func(tx *Tx) error {
		if tx.pipe != nil {
			return runLanes(tx, batch, &w.lanes)
		}
		for _, u := range batch {
			failpoint.Hit(failpoint.StoreMidBatch)
			if err := u.fn(tx); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		w.units.Add(uint64(len(batch)))
		for _, u := range batch {
			u.done <- nil
		}
		return
	}
	w.noteConflict(err, len(batch))
	w.log.Debug("batch_failed", "units", len(batch), "err", err)
	// Nothing of the batch committed: its units are queued again, so that a submitter
	// whose deadline passes while a neighbour is retried alone gives up on its unit and
	// answers at once, instead of waiting behind a retry that may hold the writer for as
	// long as the database stays locked. Units with the nearest deadlines go first.
	for _, u := range batch {
		u.state.Store(unitQueued)
	}
	slices.SortStableFunc(batch, func(a, b *unit) int {
		switch {
		case a.deadline.IsZero() || b.deadline.IsZero():
			return cmp.Compare(boolInt(a.deadline.IsZero()), boolInt(b.deadline.IsZero()))
		default:
			return a.deadline.Compare(b.deadline)
		}
	})
	for i := range batch {
		// One at a time: a unit is taken only when its turn comes.
		if live := w.take(batch[i : i+1]); len(live) == 1 {
			live[0].done <- w.runAlone(live[0])
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// runAlone runs one unit in its own transaction, retrying the conflicts PostgreSQL resolves
// by aborting one side (deadlock, serialization failure) while its deadline allows.
func (w *writer) runAlone(u *unit) error {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if attempt > 0 && u.expired(time.Now()) {
			w.expired.Add(1)
			return ErrDeadline
		}
		err = w.inTx(u.ctx, u.deadline, []int32{u.lock}, u.fn)
		if !w.noteConflict(err, 1) {
			break
		}
	}
	if err == nil {
		w.units.Add(1)
	}
	return classify(err)
}

// noteConflict counts and logs a transaction PostgreSQL aborted to break a deadlock or a
// serialization conflict, and reports whether err is one.
func (w *writer) noteConflict(err error, units int) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	switch pgErr.Code {
	case "40P01":
		w.deadlocks.Add(1)
	case "40001":
		w.serialization.Add(1)
	default:
		return false
	}
	w.log.Warn("write_conflict", "code", pgErr.Code, "units", units, "err", pgErr.Message)
	return true
}

func (w *writer) inTx(ctx context.Context, deadline time.Time, locks []int32, fn func(*Tx) error) error {
	ctx = context.WithoutCancel(ctx)
	if !deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	err := w.tryTx(ctx, locks, fn)
	if err != nil && ctx.Err() != nil {
		// The deadline ended the transaction: database/sql rolled it back.
		w.expired.Add(1)
		return fmt.Errorf("%w: %v", ErrDeadline, err)
	}
	return err
}

func (w *writer) tryTx(ctx context.Context, locks []int32, fn func(*Tx) error) error {
	return w.transact(ctx, locks, fn, true)
}

// rehearse runs fn as tryTx would, on the connection the writers use, and rolls the
// transaction back: nothing of it stays, no failpoint is hit, nothing is counted.
func (w *writer) rehearse(ctx context.Context, locks []int32, fn func(*Tx) error) error {
	return w.transact(ctx, locks, fn, false)
}

// transact runs fn in a transaction and commits it, or, unless keep, rolls it back.
func (w *writer) transact(ctx context.Context, locks []int32, fn func(*Tx) error, keep bool) error {
	if w.driver == Postgres {
		return w.pipelined(ctx, locks, fn, keep)
	}
	stx, err := w.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", classifyConn(err))
	}
	// SQLite takes no subject locks: its one writer is the lock.
	tx := &Tx{sq: stx, driver: w.driver, stmts: w.stmts, orgs: w.orgs, bound: unwatched(ctx)}
	if err := tx.finish(ctx, fn); err != nil || !keep {
		_ = stx.Rollback()
		return err
	}
	failpoint.Hit(failpoint.StoreBeforeCommit)
	if err := stx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", classifyConn(err))
	}
	w.commits.Add(1)
	return nil
}

// unwatched is the context a SQLite transaction's statements run under: ctx without its
// end. The SQLite driver watches a statement's context from a goroutine of its own, started
// and woken for every statement, which cost more than the statements of a delivery
// themselves and flooded the scheduler with wakeups under load. The transaction keeps
// ctx: past its deadline database/sql rolls it back and refuses its commit, and a
// statement in flight then (a few µs, never a wait for a lock, which BEGIN took) ends first.
func unwatched(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }

// pipelined is transact on PostgreSQL: the transaction runs on the pool's connection
// through pgx itself, whose batches database/sql cannot send, so that its statements go in
// pipelined rounds. It begins and takes its subject locks with its first round, and
// commits (or rolls back) with its last statements: a unit of k dependent statements costs
// k round trips.
func (w *writer) pipelined(ctx context.Context, locks []int32, fn func(*Tx) error, keep bool) error {
	conn, err := w.db.Connx(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", classifyConn(err))
	}
	defer conn.Close()
	trips, final := &w.trips, "COMMIT"
	if !keep {
		trips, final = new(atomic.Uint64), "ROLLBACK"
	}
	return conn.Raw(func(dc any) error {
		tx := &Tx{pipe: newPipeline(ctx, dc.(*stdlib.Conn).Conn(), trips), driver: w.driver, orgs: w.orgs, bound: ctx}
		err := tx.pipe.begin(lockKeys(locks))
		if err == nil {
			err = tx.finish(ctx, fn)
		}
		if err == nil {
			if keep {
				failpoint.Hit(failpoint.StoreBeforeCommit)
			}
			if err = tx.pipe.end(final); err != nil {
				err = fmt.Errorf("%s: %w", strings.ToLower(final), classifyConn(err))
			} else if keep {
				w.commits.Add(1)
			}
		}
		if err != nil {
			// A connection left in a transaction is dropped by the pool.
			tx.pipe.rollback()
		}
		return err
	})
}

// finish runs a transaction's work up to its commit, once it holds its subject locks:
// the units, and what they asked to run before the commit.
func (tx *Tx) finish(ctx context.Context, fn func(*Tx) error) error {
	if err := fn(tx); err != nil {
		return err
	}
	for _, f := range tx.before {
		if err := f(ctx, tx); err != nil {
			return err
		}
	}
	return nil
}

// runLanes runs a batch's units on PostgreSQL: each lane on a goroutine of its own, running its
// units in batch order, their statements sent in rounds (see pipeline). The first failure
// fails the batch, whose units are then retried alone.
func runLanes(tx *Tx, batch []*unit, workers *laneWorkers) error {
	var order []int64
	lanes := map[int64][]*unit{}
	for _, u := range batch {
		if _, ok := lanes[u.lane]; !ok {
			order = append(order, u.lane)
		}
		lanes[u.lane] = append(lanes[u.lane], u)
	}
	if len(order) == 1 {
		for _, u := range batch {
			failpoint.Hit(failpoint.StoreMidBatch)
			if err := u.fn(tx); err != nil {
				return err
			}
		}
		return nil
	}
	tx.pipe.setLanes(len(order))
	errs := make([]error, len(order))
	var wg sync.WaitGroup
	for i, lane := range order {
		wg.Add(1)
		workers.run(func() {
			defer wg.Done()
			defer tx.pipe.leave()
			for _, u := range lanes[lane] {
				failpoint.Hit(failpoint.StoreMidBatch)
				if err := u.fn(tx); err != nil {
					errs[i] = err
					tx.pipe.fail(err)
					return
				}
			}
		})
	}
	wg.Wait()
	tx.pipe.setLanes(1)
	return errors.Join(errs...)
}

// laneWorkers are the goroutines lanes run on, kept from batch to batch: a goroutine
// started for every lane grew its stack anew each time (a unit runs deep, through the
// rules, sqlx and pgx): stack copying was 4.1% of serve's CPU samples on whole calls on
// PostgreSQL, 1.2% with the workers kept. There are as many as lanes ever ran at once (at
// most a batch's units per writer); they end with the writer.
type laneWorkers struct {
	mu      sync.Mutex
	idle    []chan func()
	started int // workers ever started
	closed  bool
}

// run runs fn on an idle worker, or on a new one.
func (p *laneWorkers) run(fn func()) {
	p.mu.Lock()
	var w chan func()
	if n := len(p.idle); n > 0 {
		w, p.idle = p.idle[n-1], p.idle[:n-1]
	} else {
		p.started++
	}
	p.mu.Unlock()
	if w == nil {
		w = make(chan func(), 1)
		go p.work(w)
	}
	w <- fn
}

func (p *laneWorkers) work(w chan func()) {
	for fn := range w {
		fn()
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return
		}
		p.idle = append(p.idle, w)
		p.mu.Unlock()
	}
}

// close ends the idle workers; called once no batch runs.
func (p *laneWorkers) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, w := range p.idle {
		close(w)
	}
	p.idle = nil
}

// subjectLockClass is the first key of CallSnare's two-key advisory locks, apart from
// any one-key lock another component of the database may take.
const subjectLockClass = 0x43534e52 // "CSNR"

// lockSQL takes a transaction's subject locks in ascending order. pg_advisory_xact_lock
// is volatile, so PostgreSQL evaluates it after the sort: the locks are taken in key order.
const lockSQL = `SELECT pg_advisory_xact_lock($1, k) FROM unnest($2::int4[]) AS u(k) ORDER BY k`

// lockKeys are the distinct lock numbers of a transaction's subjects, ascending.
func lockKeys(locks []int32) []int32 {
	keys := make([]int32, 0, len(locks))
	for _, l := range locks {
		if l != 0 {
			keys = append(keys, l)
		}
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

// WriteStats are the writer's counts since the store opened.
type WriteStats struct {
	Deadlocks     uint64 // transactions PostgreSQL aborted to break a deadlock
	Serialization uint64 // transactions aborted for a serialization conflict
	Expired       uint64 // units answered ErrDeadline
	Units         uint64 // units committed
	Commits       uint64 // transactions committed
	RoundTrips    uint64 // round trips of write transactions to PostgreSQL (0 on SQLite)
}

// WriteStats returns the writer's counts, for the metrics.
func (s *Store) WriteStats() WriteStats {
	if s.w == nil {
		return WriteStats{}
	}
	return WriteStats{Deadlocks: s.w.deadlocks.Load(), Serialization: s.w.serialization.Load(), Expired: s.w.expired.Load(),
		Units: s.w.units.Load(), Commits: s.w.commits.Load(), RoundTrips: s.w.trips.Load()}
}

// classifyConn marks failures to begin or commit as unavailability unless they say more.
func classifyConn(err error) error {
	c := classify(err)
	if errors.Is(c, ErrUnavailable) || errors.Is(c, ErrDuplicate) {
		return c
	}
	return fmt.Errorf("%w: %v", ErrUnavailable, err)
}

// Ready reports whether the database takes writes now: an empty transaction through the
// writer, bounded by ctx and at most two seconds. On PostgreSQL it also takes a
// transaction id, which a read-only or recovering server refuses.
func (s *Store) Ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	err := s.Write(ctx, func(tx *Tx) error {
		if tx.driver != Postgres {
			return nil
		}
		var id int64
		if err := tx.get(ctx, &id, `SELECT txid_current()`); err != nil {
			return fmt.Errorf("take a transaction id: %w", classify(err))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("database not taking writes: %w", err)
	}
	return nil
}
