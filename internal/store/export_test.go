package store

import (
	"context"

	"github.com/jmoiron/sqlx"
)

// ReadPool is the read pool, for the store's own tests to look at its tables.
func (s *Store) ReadPool() *sqlx.DB { return s.db }

// CountClaims counts the dedupe claims whose key starts with prefix, within tx.
func (tx *Tx) CountClaims(ctx context.Context, prefix string) (int, error) {
	var n int
	err := tx.get(ctx, &n, `SELECT COUNT(*) FROM webhook_claims WHERE dedupe_key LIKE ?`, prefix+"%")
	return n, err
}

// ExecLater runs execLater, for the store's own tests of statements sent without waiting.
func (tx *Tx) ExecLater(ctx context.Context, what, q string, args ...any) error {
	return tx.execLater(ctx, what, q, args...)
}

// Ask runs ask, for the store's own tests of queries that share a round trip.
func (tx *Tx) Ask(ctx context.Context, dest any, q string, args ...any) func() error {
	return tx.ask(ctx, dest, q, args...)
}

// WriterStatements lists the statements the SQLite writer has prepared.
func (s *Store) WriterStatements() []string {
	if s.w == nil || s.w.stmts == nil {
		return nil
	}
	s.w.stmts.mu.Lock()
	defer s.w.stmts.mu.Unlock()
	var qs []string
	for q := range s.w.stmts.m {
		qs = append(qs, q)
	}
	return qs
}

// Writers is the number of writer goroutines.
func (s *Store) Writers() int { return len(s.w.shards) }
