// Package jobs is the durable work that happens after a webhook is answered: sending
// text-backs and settling calls whose dial never completed. It runs on River, in the same
// database as everything else, so a job is enqueued in the very transaction that decides it.
package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/callsnare/callsnare/internal/metrics"
	"github.com/callsnare/callsnare/internal/store"
)

// Config is what the jobs need to know of the service's settings.
type Config struct {
	TextbackDelay  time.Duration // wait before a text-back goes out
	Cooldown       time.Duration // one text-back per phone per org within this
	Settle         time.Duration // how long a call may end without a dial-complete
	Template       string        // default text-back template
	EnforceBilling bool
	GracePastDue   bool
	Workers        int           // concurrent jobs per process
	PollInterval   time.Duration // how often idle workers look for new jobs
	SendTimeout    time.Duration
}

// Queue enqueues and works CallSnare's jobs.
type Queue struct {
	client *river.Client[*sql.Tx]
	db     *sql.DB
	cfg    Config
	own    bool // db was opened for the queue and is closed with it
	now    func() time.Time
}

func driver(st *store.Store, db *sql.DB) riverdriver.Driver[*sql.Tx] {
	if st.Driver() == store.Postgres {
		return riverdatabasesql.New(db)
	}
	return riversqlite.New(db)
}

// Migrate creates or updates the queue's own tables.
func Migrate(ctx context.Context, st *store.Store) error {
	db, err := st.SQLDB()
	if err != nil {
		return err
	}
	if st.Driver() == store.SQLite {
		defer db.Close()
	}
	m, err := rivermigrate.New(driver(st, db), nil)
	if err != nil {
		return fmt.Errorf("queue migrations: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("migrate queue: %w", err)
	}
	return nil
}

// Deps are the collaborators the workers use.
type Deps struct {
	Store   *store.Store
	Sender  Sender // nil for a queue that only enqueues
	Metrics *metrics.Metrics
	Logger  *slog.Logger
	Now     func() time.Time
}

// New builds the queue. With a Sender it also works jobs once started; without one it can
// only enqueue.
func New(cfg Config, d Deps) (*Queue, error) {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 8
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 100 * time.Millisecond
	}
	if cfg.SendTimeout <= 0 {
		cfg.SendTimeout = 15 * time.Second
	}
	db, err := d.Store.SQLDB()
	if err != nil {
		return nil, err
	}
	q := &Queue{db: db, cfg: cfg, own: d.Store.Driver() == store.SQLite, now: d.Now}
	rc := &river.Config{
		Logger:      d.Logger.With("component", "queue"),
		MaxAttempts: 10,
		JobTimeout:  cfg.SendTimeout + 5*time.Second,
	}
	if d.Sender != nil {
		workers := river.NewWorkers()
		river.AddWorker(workers, &textbackWorker{q: q, store: d.Store, sender: d.Sender, metrics: d.Metrics, log: d.Logger})
		river.AddWorker(workers, &settleWorker{q: q, store: d.Store})
		rc.Workers = workers
		rc.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: cfg.Workers}}
		// Without LISTEN/NOTIFY (SQLite, or PostgreSQL through database/sql) River polls;
		// the interval bounds how long a text-back waits after its call was missed.
		rc.FetchCooldown = cfg.PollInterval / 2
		rc.FetchPollInterval = cfg.PollInterval
		rc.PollOnly = true
	}
	q.client, err = river.NewClient(driver(d.Store, db), rc)
	if err != nil {
		q.closeDB()
		return nil, fmt.Errorf("queue client: %w", err)
	}
	return q, nil
}

// Start begins working jobs; it returns at once.
func (q *Queue) Start(ctx context.Context) error {
	if err := q.client.Start(ctx); err != nil {
		return fmt.Errorf("start queue: %w", err)
	}
	return nil
}

// Stop lets running jobs finish (until ctx ends, then cancels them) and releases the queue.
func (q *Queue) Stop(ctx context.Context) error {
	err := q.client.Stop(ctx)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		err = q.client.StopAndCancel(context.Background())
	}
	q.closeDB()
	if err != nil {
		return fmt.Errorf("stop queue: %w", err)
	}
	return nil
}

func (q *Queue) closeDB() {
	if q.own {
		q.db.Close()
	}
}

// Pending counts the jobs not finished yet: waiting, scheduled, retrying or running.
func (q *Queue) Pending(ctx context.Context) (int, error) {
	var n int
	err := q.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM river_job
		WHERE state IN ('available', 'scheduled', 'retryable', 'running')`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count pending jobs: %w", err)
	}
	return n, nil
}

// Idle reports whether the queue has nothing to do now: no job available, running or
// retrying. Jobs scheduled for later (a settle check) do not count until they are due.
func (q *Queue) Idle(ctx context.Context) (bool, error) {
	var n int
	err := q.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM river_job
		WHERE state IN ('available', 'retryable', 'running')`).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("count busy jobs: %w", err)
	}
	return n == 0, nil
}

// EnqueueTextback schedules the text-back of a missed call, once per call. Without a
// delay the job is available at once; a scheduled one waits for River's scheduler, which
// promotes due jobs every few seconds.
func (q *Queue) EnqueueTextback(ctx context.Context, tx *store.Tx, callSID string) error {
	opts := &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true}}
	if q.cfg.TextbackDelay > 0 {
		opts.ScheduledAt = q.now().Add(q.cfg.TextbackDelay)
	}
	q.pending(tx).add("textback:"+callSID, river.InsertManyParams{Args: TextbackArgs{CallSID: callSID}, InsertOpts: opts})
	return nil
}

// EnqueueSettle schedules the settle check of a call that ended without a dial-complete.
func (q *Queue) EnqueueSettle(ctx context.Context, tx *store.Tx, callSID string, at time.Time) error {
	q.pending(tx).add("settle:"+callSID, river.InsertManyParams{Args: SettleArgs{CallSID: callSID},
		InsertOpts: &river.InsertOpts{ScheduledAt: at, UniqueOpts: river.UniqueOpts{ByArgs: true}}})
	return nil
}

// pendingJobs are the jobs the units of one batch enqueued; they are inserted together,
// in one statement, just before the batch commits.
type pendingJobs struct {
	seen   map[string]bool
	params []river.InsertManyParams
}

// add keeps the first of several identical jobs: River refuses a unique job twice in one
// insert.
func (p *pendingJobs) add(key string, job river.InsertManyParams) {
	if !p.seen[key] {
		p.seen[key] = true
		p.params = append(p.params, job)
	}
}

func (q *Queue) pending(tx *store.Tx) *pendingJobs {
	fresh := false
	p := tx.Stash(q, func() any {
		fresh = true
		return &pendingJobs{seen: map[string]bool{}}
	}).(*pendingJobs)
	if fresh {
		tx.BeforeCommit(func(ctx context.Context, tx *store.Tx) error {
			if len(p.params) == 0 {
				return nil
			}
			if _, err := q.client.InsertManyTx(ctx, tx.Tx.Tx, p.params); err != nil {
				return fmt.Errorf("enqueue %d jobs: %w", len(p.params), err)
			}
			return nil
		})
	}
	return p
}

// Rules are the call rules the store applies with this queue.
func (q *Queue) Rules() store.CallRules {
	return store.CallRules{Settle: q.cfg.Settle, Template: q.cfg.Template,
		EnforceBilling: q.cfg.EnforceBilling, GracePastDue: q.cfg.GracePastDue}
}

// quietHandler passes on River's warnings and errors only: its routine info lines (job
// counts every few seconds) would drown the service's own log.
type quietHandler struct{ slog.Handler }

func (h quietHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && h.Handler.Enabled(ctx, l)
}

func (h quietHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return quietHandler{h.Handler.WithAttrs(as)}
}

func (h quietHandler) WithGroup(name string) slog.Handler {
	return quietHandler{h.Handler.WithGroup(name)}
}
