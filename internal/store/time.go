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
	return string(appendTimeText(nil, t.Time)), nil
}

// appendTimeText appends t in timeLayout. A write transaction on SQLite formats a
// handful of times per delivery, in its one writer: time.Format, which reads its layout
// on every call, took several times as long.
func appendTimeText(b []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(b, timeLayout)
	}
	hour, minute, sec := t.Clock()
	b = appendDigits(b, year, 4)
	b = append(b, '-')
	b = appendDigits(b, int(month), 2)
	b = append(b, '-')
	b = appendDigits(b, day, 2)
	b = append(b, 'T')
	b = appendDigits(b, hour, 2)
	b = append(b, ':')
	b = appendDigits(b, minute, 2)
	b = append(b, ':')
	b = appendDigits(b, sec, 2)
	b = append(b, '.')
	b = appendDigits(b, t.Nanosecond()/1000, 6)
	return append(b, 'Z')
}

// appendDigits appends the n lowest decimal digits of v, v >= 0, zero-padded.
func appendDigits(b []byte, v, n int) []byte {
	b = append(b, "000000"[:n]...)
	for i := len(b) - 1; i >= len(b)-n; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return b
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
