// Package jobs is the durable work that happens after a webhook is answered: sending
// text-backs and settling calls whose dial never completed. Jobs live in the same database
// as everything else, so a job is enqueued in the very transaction that decides it; a
// worker claims due jobs with a lease, so a job held by a process that died is taken up
// again once its lease runs out.
package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/callsnare/callsnare/internal/callflow"
	"github.com/callsnare/callsnare/internal/metrics"
	"github.com/callsnare/callsnare/internal/store"
)

// Config is what the jobs need to know of the service's settings.
type Config struct {
	// Rules are the text-back rules (delay, cooldown, billing) and the settle window.
	callflow.Rules
	Workers      int           // jobs run at once per process (default 256: they mostly wait on the database and Twilio)
	PollInterval time.Duration // how often idle workers look for due jobs (default 100ms)
	SendTimeout  time.Duration // bound on one request to Twilio (default 10s)
	// Lease is how long a claimed job is held by its worker (default 15s). A job whose
	// process died is due again when its lease runs out, so it is taken up again within
	// Lease + PollInterval, by a restarted process or by another replica. A job runs with
	// a deadline inside its lease, so a live worker never loses its job to another.
	Lease time.Duration
	// MaxAttempts bounds the claims of one job (default 10).
	MaxAttempts int
}

// Handler works one job. An error retries it later with backoff, unless it is wrapped by
// Cancel or the job has had MaxAttempts tries; then the job is dropped.
type Handler func(ctx context.Context, job store.Job) error

type cancelError struct{ err error }

func (e cancelError) Error() string { return e.err.Error() }
func (e cancelError) Unwrap() error { return e.err }

// Cancel marks an error after which the job must not be tried again.
func Cancel(err error) error { return cancelError{err} }

type snoozeError struct {
	after  time.Duration
	reason string
}

func (e snoozeError) Error() string { return "snoozed: " + e.reason }

// Snooze puts the job back to run again after d without counting the attempt: its work
// is waiting on something else (another text-back to the same caller being sent).
func Snooze(d time.Duration, reason string) error { return snoozeError{d, reason} }

// Queue enqueues and works CallSnare's jobs.
type Queue struct {
	store    *store.Store
	cfg      Config
	log      *slog.Logger
	now      func() time.Time // the clock the rules decide with
	handlers map[string]Handler

	wake  chan struct{} // a job was enqueued here: look now
	freed chan struct{} // a worker finished: there is room again
	slots chan struct{} // one per running job

	mu   sync.Mutex
	done []store.Job // finished, to be removed with the next claim

	stop    context.CancelFunc // ends the fetch loop
	abandon context.CancelFunc // cancels running jobs
	fetched chan struct{}      // closed when the fetch loop has returned
	running sync.WaitGroup
}

// Deps are the collaborators the workers use.
type Deps struct {
	Store   *store.Store
	Sender  Sender // nil for a queue that only enqueues
	Metrics *metrics.Metrics
	Logger  *slog.Logger
	Now     func() time.Time
}

// New builds the queue. With a Sender it also works text-back and settle jobs once
// started; without one it can only enqueue.
func New(cfg Config, d Deps) (*Queue, error) {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 256
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 100 * time.Millisecond
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 15 * time.Second
	}
	if cfg.SendTimeout <= 0 {
		cfg.SendTimeout = 10 * time.Second
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 10
	}
	q := &Queue{
		store: d.Store, cfg: cfg, log: d.Logger.With("component", "queue"), now: d.Now,
		handlers: map[string]Handler{},
		wake:     make(chan struct{}, 1), freed: make(chan struct{}, 1),
		slots: make(chan struct{}, cfg.Workers),
	}
	if d.Sender != nil {
		tb := &textbackWorker{q: q, store: d.Store, sender: d.Sender, metrics: d.Metrics, log: d.Logger}
		q.Register(KindTextback, tb.Work)
		sw := &settleWorker{q: q, store: d.Store}
		q.Register(KindSettle, sw.Work)
		nw := &notifyWorker{q: q, store: d.Store, sender: d.Sender, log: d.Logger}
		q.Register(KindNotify, nw.Work)
	}
	return q, nil
}

// Register sets the handler of a kind of job; call it before Start.
func (q *Queue) Register(kind string, h Handler) { q.handlers[kind] = h }

// Start begins working jobs; it returns at once. A queue with no handlers only enqueues.
func (q *Queue) Start(ctx context.Context) error {
	if q.stop != nil {
		return errors.New("start queue: already started")
	}
	if len(q.handlers) == 0 {
		return nil
	}
	fetchCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	workCtx, abandon := context.WithCancel(context.WithoutCancel(ctx))
	q.stop, q.abandon, q.fetched = stop, abandon, make(chan struct{})
	go q.fetch(fetchCtx, workCtx)
	return nil
}

// Stop stops taking jobs and lets running ones finish until ctx ends, then cancels them.
// A cancelled job keeps its lease and is taken up again when the lease runs out.
func (q *Queue) Stop(ctx context.Context) error {
	if q.stop == nil {
		return nil
	}
	q.stop()
	<-q.fetched
	done := make(chan struct{})
	go func() { q.running.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("stop queue: %w", ctx.Err())
		q.abandon()
		<-done
	}
	q.abandon()
	q.flushDone()
	return err
}

// fetch claims due jobs while there is room and hands each to a worker goroutine.
func (q *Queue) fetch(ctx, workCtx context.Context) {
	defer close(q.fetched)
	poll := time.NewTimer(q.cfg.PollInterval)
	defer poll.Stop()
	for {
		// One write removes the jobs done since the last claim and claims the next: a
		// job costs no write of its own in the queue.
		room := cap(q.slots) - len(q.slots)
		done := q.takeDone()
		if room > 0 || len(done) > 0 {
			jobs, err := q.store.ClaimJobs(ctx, done, room, q.cfg.Lease, time.Now())
			if err != nil {
				q.putDone(done) // try again with the next claim, well within their leases
				if ctx.Err() == nil {
					q.log.Warn("claim_jobs_failed", "err", err)
				}
			}
			for _, j := range jobs {
				q.slots <- struct{}{}
				q.running.Add(1)
				go q.work(workCtx, j)
			}
		}
		// A finished job wakes the loop only when every slot is taken: otherwise each job
		// would cost a claim of its own instead of sharing the next one.
		var freed chan struct{}
		if len(q.slots) == cap(q.slots) {
			freed = q.freed
		}
		if !poll.Stop() {
			select {
			case <-poll.C:
			default:
			}
		}
		poll.Reset(q.cfg.PollInterval)
		select {
		case <-ctx.Done():
			return
		case <-q.wake:
		case <-freed:
		case <-poll.C:
		}
	}
}

// work runs one claimed job within its lease and records the result.
func (q *Queue) work(ctx context.Context, j store.Job) {
	defer func() {
		<-q.slots
		select {
		case q.freed <- struct{}{}:
		default:
		}
		q.running.Done()
	}()
	h, ok := q.handlers[j.Kind]
	var err error
	if !ok {
		err = Cancel(fmt.Errorf("no handler for job kind %q", j.Kind))
	} else {
		// Finish well inside the lease: the last quarter is left for recording the result.
		jctx, cancel := context.WithTimeout(ctx, q.cfg.Lease*3/4)
		err = q.safely(jctx, h, j)
		cancel()
	}
	// The result is recorded even when the queue is stopping: a finished job must not run
	// again just because the process is going away.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), q.cfg.Lease/4)
	defer cancel()
	var cerr cancelError
	var serr snoozeError
	switch {
	case err == nil:
		q.putDone([]store.Job{j})
	case errors.As(err, &cerr) || j.Attempts >= q.cfg.MaxAttempts:
		q.log.Error("job_dropped", "kind", j.Kind, "key", j.Key, "attempt", j.Attempts, "err", err)
		err = q.store.FinishJob(rctx, j)
	case ctx.Err() != nil:
		return // stopping: the lease runs out and the job is taken up again
	case errors.As(err, &serr):
		err = q.store.RetryJob(rctx, j, time.Now().Add(serr.after), serr.reason, true)
	default:
		q.log.Warn("job_failed", "kind", j.Kind, "key", j.Key, "attempt", j.Attempts, "err", err)
		err = q.store.RetryJob(rctx, j, time.Now().Add(nextRetry(j.Attempts)), err.Error(), false)
	}
	if err != nil {
		// The lease runs out and the job runs again; every handler is idempotent.
		q.log.Warn("job_result_not_recorded", "kind", j.Kind, "key", j.Key, "err", err)
	}
}

func (q *Queue) takeDone() []store.Job {
	q.mu.Lock()
	defer q.mu.Unlock()
	d := q.done
	q.done = nil
	return d
}

func (q *Queue) putDone(js []store.Job) {
	q.mu.Lock()
	q.done = append(q.done, js...)
	q.mu.Unlock()
}

// flushDone removes the jobs finished since the last claim, when the queue stops.
func (q *Queue) flushDone() {
	done := q.takeDone()
	if len(done) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), q.cfg.Lease/4)
	defer cancel()
	if _, err := q.store.ClaimJobs(ctx, done, 0, 0, time.Now()); err != nil {
		// Their leases run out and they run again; every handler is idempotent.
		q.log.Warn("finish_jobs_failed", "jobs", len(done), "err", err)
	}
}

// safely runs a handler, turning a panic into an error so that one bad job cannot take the
// process down.
func (q *Queue) safely(ctx context.Context, h Handler, j store.Job) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("job panicked: %v", r)
		}
	}()
	return h(ctx, j)
}

// nextRetry backs off exponentially from one second to two minutes, with jitter so that a
// burst of 429s does not come back all at once.
func nextRetry(attempt int) time.Duration {
	d := time.Second << min(max(attempt-1, 0), 7)
	return d + time.Duration(rand.Int64N(int64(d/4)))
}

// Pending counts the jobs not finished yet: waiting, scheduled, retrying or running.
func (q *Queue) Pending(ctx context.Context) (int, error) {
	c, err := q.store.CountJobs(ctx, time.Now())
	return c.Pending, err
}

// Idle reports whether the queue has nothing to do now: no job due, running or retrying.
// Jobs scheduled for later (a settle check) do not count until they are due.
func (q *Queue) Idle(ctx context.Context) (bool, error) {
	c, err := q.store.CountJobs(ctx, time.Now())
	return c.Busy == 0, err
}

// Enqueue puts a job on the queue in the caller's transaction: it exists if and only if
// the transaction commits. The jobs of one batch are inserted together, in one statement,
// just before it commits; a second job of the same kind and key is dropped.
func (q *Queue) Enqueue(ctx context.Context, tx *store.Tx, j store.NewJob) error {
	if j.RunAt.IsZero() {
		j.RunAt = time.Now()
	}
	q.pending(tx).add(j)
	return nil
}

// EnqueueTextback schedules the text-back of a missed call to caller, once per call. The
// job keeps the caller (its args), whose lock its writes take.
func (q *Queue) EnqueueTextback(ctx context.Context, tx *store.Tx, callSID, caller string) error {
	at := time.Now()
	if q.cfg.TextbackDelay > 0 {
		at = q.now().Add(q.cfg.TextbackDelay)
	}
	return q.Enqueue(ctx, tx, store.NewJob{Kind: KindTextback, Key: callSID, Args: caller, RunAt: at})
}

// EnqueueSettle schedules the settle check of a call that ended without a dial-complete.
func (q *Queue) EnqueueSettle(ctx context.Context, tx *store.Tx, callSID string, at time.Time) error {
	return q.Enqueue(ctx, tx, store.NewJob{Kind: KindSettle, Key: callSID, RunAt: at})
}

// pendingJobs are the jobs the units of one batch enqueued.
type pendingJobs struct {
	mu   sync.Mutex // the units of a batch may enqueue side by side
	seen map[[2]string]bool
	jobs []store.NewJob
}

func (p *pendingJobs) add(j store.NewJob) {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := [2]string{j.Kind, j.Key}
	if !p.seen[k] {
		p.seen[k] = true
		p.jobs = append(p.jobs, j)
	}
}

func (q *Queue) pending(tx *store.Tx) *pendingJobs {
	fresh := false
	p := tx.Stash(q, func() any {
		fresh = true
		return &pendingJobs{seen: map[[2]string]bool{}}
	}).(*pendingJobs)
	if fresh {
		tx.BeforeCommit(func(ctx context.Context, tx *store.Tx) error {
			if err := tx.InsertJobs(ctx, p.jobs, time.Now()); err != nil {
				return fmt.Errorf("enqueue: %w", err)
			}
			// A claim queued behind this commit sees the jobs; on SQLite it cannot run
			// before it.
			select {
			case q.wake <- struct{}{}:
			default:
			}
			return nil
		})
	}
	return p
}

// EnqueueCallJobs enqueues, in tx, the jobs a call's change asks for: its text-back, its
// settle check, the owner's notification.
func (q *Queue) EnqueueCallJobs(ctx context.Context, tx *store.Tx, c store.CallChange) error {
	if c.TextbackJob {
		if err := q.EnqueueTextback(ctx, tx, c.Call.CallSID, c.Call.From); err != nil {
			return fmt.Errorf("enqueue text-back: %w", err)
		}
	}
	if !c.SettleAt.IsZero() {
		if err := q.EnqueueSettle(ctx, tx, c.Call.CallSID, c.SettleAt); err != nil {
			return fmt.Errorf("enqueue settle: %w", err)
		}
	}
	if c.NotifyKey != "" {
		if err := q.EnqueueNotify(ctx, tx, c.NotifyKey); err != nil {
			return fmt.Errorf("enqueue notification: %w", err)
		}
	}
	return nil
}
