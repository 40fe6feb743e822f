package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Job is a unit of work on the durable queue, as a worker claimed it.
type Job struct {
	ID        int64  `db:"id"`
	Kind      string `db:"kind"`
	Key       string `db:"key"`
	Args      string `db:"args"`
	Attempts  int    `db:"attempts"` // this claim's number, from 1
	RunAt     Time   `db:"run_at"`
	CreatedAt Time   `db:"created_at"`
}

// NewJob is a job to enqueue: one per kind and key while it is not finished.
type NewJob struct {
	Kind  string
	Key   string
	Args  string
	RunAt time.Time
}

// InsertJobs puts jobs on the queue within the transaction, in one statement. A job whose
// kind and key are already waiting or running is left as it is.
func (tx *Tx) InsertJobs(ctx context.Context, jobs []NewJob, now time.Time) error {
	if len(jobs) == 0 {
		return nil
	}
	q := `INSERT INTO jobs (kind, key, args, run_at, created_at) VALUES (?, ?, ?, ?, ?)` +
		strings.Repeat(`, (?, ?, ?, ?, ?)`, len(jobs)-1) + ` ON CONFLICT (kind, key) DO NOTHING`
	args := make([]any, 0, 5*len(jobs))
	for _, j := range jobs {
		args = append(args, j.Kind, j.Key, j.Args, T(j.RunAt), T(now))
	}
	return tx.execLater(ctx, fmt.Sprintf("insert %d jobs", len(jobs)), q, args...)
}

const jobColumns = `id, kind, key, args, attempts, run_at, created_at`

// ClaimJobs removes the jobs its workers have done and leases up to limit due jobs, oldest
// first, until now+lease, in one write. A job whose lease ran out (its worker died or
// hung) is due again: that is how work held by a dead process is taken up. The claim is
// one more unit of the group commit, never a write lock or a round trip of its own; on
// PostgreSQL, SKIP LOCKED lets replicas claim side by side. A done job whose lease was taken over
// (it was claimed again since) is not removed: its new worker decides.
func (s *Store) ClaimJobs(ctx context.Context, done []Job, limit int, lease time.Duration, now time.Time) ([]Job, error) {
	lock := ""
	if s.driver == Postgres {
		lock = ` FOR UPDATE SKIP LOCKED`
	}
	q := `UPDATE jobs SET lease_until = ?, attempts = attempts + 1 WHERE id IN (SELECT id FROM jobs
		WHERE run_at <= ? AND (lease_until IS NULL OR lease_until <= ?) ORDER BY run_at LIMIT ?` + lock + `)
		RETURNING ` + jobColumns
	var jobs []Job
	err := s.Write(ctx, func(tx *Tx) error {
		if err := tx.deleteJobs(ctx, done); err != nil {
			return err
		}
		jobs = jobs[:0]
		if limit <= 0 {
			return nil
		}
		if err := tx.sel(ctx, &jobs, q, T(now.Add(lease)), T(now), T(now), limit); err != nil {
			return fmt.Errorf("claim jobs: %w", classify(err))
		}
		return nil
	})
	return jobs, err
}

// deleteJobs removes finished jobs at the attempt they were claimed with: on SQLite one
// prepared statement per job (no round trips to save), on PostgreSQL one statement.
func (tx *Tx) deleteJobs(ctx context.Context, done []Job) error {
	if len(done) == 0 {
		return nil
	}
	if tx.driver == SQLite {
		for _, j := range done {
			if _, err := tx.exec(ctx, `DELETE FROM jobs WHERE id = ? AND attempts = ?`, j.ID, j.Attempts); err != nil {
				return fmt.Errorf("finish job %d: %w", j.ID, classify(err))
			}
		}
		return nil
	}
	ids, attempts := make([]int64, len(done)), make([]int32, len(done))
	for i, j := range done {
		ids[i], attempts[i] = j.ID, int32(j.Attempts)
	}
	if _, err := tx.exec(ctx, `DELETE FROM jobs j USING unnest(?::bigint[], ?::int[]) AS d(id, attempts)
		WHERE j.id = d.id AND j.attempts = d.attempts`, ids, attempts); err != nil {
		return fmt.Errorf("finish %d jobs: %w", len(done), classify(err))
	}
	return nil
}

// FinishJob removes a job its worker is done with, unless it was claimed again since.
func (s *Store) FinishJob(ctx context.Context, j Job) error {
	return s.Write(ctx, func(tx *Tx) error { return tx.deleteJobs(ctx, []Job{j}) })
}

// RetryJob releases a job to run again at runAt, noting why. A snoozed job (it found its
// work not ready yet) gets its attempt back.
func (s *Store) RetryJob(ctx context.Context, j Job, runAt time.Time, reason string, snoozed bool) error {
	back := 0
	if snoozed {
		back = 1
	}
	return s.Write(ctx, func(tx *Tx) error {
		if _, err := tx.exec(ctx, `UPDATE jobs SET run_at = ?, lease_until = NULL, last_error = ?, attempts = attempts - ?
			WHERE id = ? AND attempts = ?`, T(runAt), jobError(reason), back, j.ID, j.Attempts); err != nil {
			return fmt.Errorf("retry job %d: %w", j.ID, classify(err))
		}
		return nil
	})
}

// JobCounts are the queue's jobs not finished: all of them (Pending) and those due, running
// or retrying (Busy); a job scheduled for later and never tried yet is pending, not busy.
type JobCounts struct {
	Pending int `db:"pending"`
	Busy    int `db:"busy"`
}

// CountJobs counts the queue's unfinished jobs as of now.
func (s *Store) CountJobs(ctx context.Context, now time.Time) (JobCounts, error) {
	var c JobCounts
	err := s.db.GetContext(ctx, &c, s.rebind(`SELECT COUNT(*) AS pending,
		COALESCE(SUM(CASE WHEN run_at <= ? OR attempts > 0 THEN 1 ELSE 0 END), 0) AS busy FROM jobs`), readArg(s.driver, T(now)))
	if err != nil {
		return JobCounts{}, fmt.Errorf("count jobs: %w", classify(err))
	}
	return c, nil
}

// readArg is driverArgs for one argument of a read outside a transaction.
func readArg(d Driver, t Time) any {
	if d == Postgres {
		return t.UTC()
	}
	return t
}

// jobError keeps a failure's text storable on both databases and short.
func jobError(s string) string {
	s = strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "\uFFFD")
	if len(s) > 1000 {
		s = strings.ToValidUTF8(s[:1000], "")
	}
	return s
}
