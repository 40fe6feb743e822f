package store

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestTimeTextIsTheLayout holds the hand-written formatter to time.Format's output for the
// same layout, over instants across the years the store keeps, zones other than UTC, and
// the years Format writes differently.
func TestTimeTextIsTheLayout(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	cases := []time.Time{
		time.Date(2026, 12, 31, 23, 59, 59, 999_999_999, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 123_456_000, time.UTC),
		time.Date(2026, 3, 8, 1, 30, 0, 1_000, ny),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 6, 1, 0, 0, 0, 0, time.UTC),
		time.Unix(0, 0),
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 10_000 {
		cases = append(cases, time.Unix(r.Int64N(253402300799), r.Int64N(1e9)).In(ny))
	}
	for _, c := range cases {
		want := c.UTC().Format(timeLayout)
		if got := string(appendTimeText(nil, c)); got != want {
			t.Fatalf("appendTimeText(%v) = %q, want %q", c, got, want)
		}
		if v, _ := T(c).Value(); !c.IsZero() && v != want {
			t.Fatalf("T(%v).Value() = %v, want %q", c, v, want)
		}
	}
	if v, _ := T(time.Time{}).Value(); v != nil {
		t.Fatalf("the zero Time is %v, want NULL", v)
	}
}

// TestTimeTextOncePerInstant: a transaction hands SQLite each instant's text, formatted
// anew when the instant changes, and NULL for the zero Time; other values pass as they
// are and NULL ids become NULL.
func TestTimeTextOncePerInstant(t *testing.T) {
	tx := &Tx{driver: SQLite}
	a := time.Date(2026, 12, 2, 3, 4, 5, 6_000, time.UTC)
	b := a.Add(time.Microsecond)
	args := tx.driverArgs([]any{T(a), "x", T(a.In(time.FixedZone("x", 3600))), T(b), T(time.Time{}), NullID(0), NullID(7), T(a)})
	want := []any{"2026-12-02T03:04:05.000006Z", "x", "2026-12-02T03:04:05.000006Z", "2026-12-02T03:04:05.000007Z", nil, nil, int64(7), "2026-12-02T03:04:05.000006Z"}
	for i := range want {
		if args[i] != want[i] {
			t.Fatalf("argument %d = %#v, want %#v", i, args[i], want[i])
		}
	}
}
