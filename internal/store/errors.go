package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

var (
	// ErrNotFound is returned when a looked-up row does not exist.
	ErrNotFound = errors.New("not found")
	// ErrDuplicate is returned when a unique key is already taken.
	ErrDuplicate = errors.New("already exists")
	// ErrNoDatabase is returned when a reader opens a database that does not exist yet.
	ErrNoDatabase = errors.New("no CallSnare database there yet")
	// ErrUnavailable wraps failures to reach the database at all; the server answers 503.
	ErrUnavailable = errors.New("database unavailable")
)

// classify folds driver errors into the store's sentinel errors.
func classify(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	if errors.Is(err, ErrDeadline) || errors.Is(err, ErrUnavailable) {
		return err
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == "23505":
			return fmt.Errorf("%w: %s", ErrDuplicate, pgErr.ConstraintName)
		case strings.HasPrefix(pgErr.Code, "08"), strings.HasPrefix(pgErr.Code, "57P"), pgErr.Code == "53300":
			return fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		return err
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "UNIQUE constraint failed"):
		return fmt.Errorf("%w: %s", ErrDuplicate, msg)
	case strings.Contains(msg, "database is locked"), strings.Contains(msg, "unable to open database"),
		strings.Contains(msg, "disk I/O error"), strings.Contains(msg, "database or disk is full"):
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	var netErr net.Error
	if errors.As(err, &netErr) || errors.Is(err, context.DeadlineExceeded) ||
		strings.Contains(msg, "connection refused") || strings.Contains(msg, "failed to connect") ||
		errors.Is(err, sql.ErrConnDone) {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return err
}
