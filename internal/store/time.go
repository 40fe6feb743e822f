package store

import (
	"database/sql/driver"
	"fmt"
	"time"
)

// timeLayout is fixed-width so that SQLite, which keeps times as text, sorts and compares
// them exactly as PostgreSQL's timestamptz does.
const timeLayout = "2006-01-02T15:04:05.000000Z"

// Time is a UTC instant as stored: text in SQLite, timestamptz in PostgreSQL. The zero
// value is NULL.
type Time struct{ time.Time }

// T wraps a time for a query argument.
func T(t time.Time) Time { return Time{t} }

// Value implements driver.Valuer.
func (t Time) Value() (driver.Value, error) {
	if t.IsZero() {
		return nil, nil
	}
	return t.UTC().Format(timeLayout), nil
}

// Scan implements sql.Scanner.
func (t *Time) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		t.Time = time.Time{}
	case time.Time:
		t.Time = v.UTC()
	case string:
		return t.parse(v)
	case []byte:
		return t.parse(string(v))
	default:
		return fmt.Errorf("scan time from %T", v)
	}
	return nil
}

func (t *Time) parse(s string) error {
	p, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("scan time: %w", err)
	}
	t.Time = p.UTC()
	return nil
}
