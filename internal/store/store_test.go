package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callsnare/callsnare/internal/callflow"
	"github.com/callsnare/callsnare/internal/store"
	"github.com/callsnare/callsnare/internal/storetest"
)

// The conformance suite: every test runs on SQLite and on PostgreSQL.
func forEachDB(t *testing.T, test func(t *testing.T, st *store.Store)) {
	for _, db := range storetest.All() {
		t.Run(db.Name, func(t *testing.T) {
			t.Parallel()
			st := open(t, db.DSN(t))
			test(t, st)
		})
	}
}

func open(t *testing.T, dsn string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), dsn, store.Options{})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return st
}

var now = time.Date(2026, 11, 26, 18, 0, 0, 0, time.UTC)

// enqueuer records the jobs the store's call changes asked for.
type enqueuer struct {
	mu       sync.Mutex
	textback []string
	settle   map[string]time.Time
}

func (e *enqueuer) jobs(_ context.Context, _ *store.Tx, c store.CallChange) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if c.TextbackJob {
		e.textback = append(e.textback, c.Call.CallSID)
	}
	if !c.SettleAt.IsZero() {
		if e.settle == nil {
			e.settle = map[string]time.Time{}
		}
		e.settle[c.Call.CallSID] = c.SettleAt
	}
	return nil
}

func acme(t *testing.T, st *store.Store) store.Org {
	t.Helper()
	org, err := st.CreateOrg(context.Background(), store.NewOrg{Slug: "acme", Name: "Acme", Numbers: []string{"+15125550100"}, ForwardTo: "+15125550199"}, now)
	if err != nil {
		t.Fatalf("create org: %v", err)
	}
	return org
}

func TestParseDSN(t *testing.T) {
	tests := []struct {
		in     string
		driver store.Driver
		dsn    string
		err    bool
	}{
		{"callsnare.db", store.SQLite, "callsnare.db?", false},
		{"sqlite:/var/lib/cs.db", store.SQLite, "/var/lib/cs.db?", false},
		{"file:x.db?cache=shared", store.SQLite, "x.db?cache=shared", false},
		{"postgres://u@h/db", store.Postgres, "postgres://u@h/db", false},
		{"postgresql://u@h/db", store.Postgres, "postgresql://u@h/db", false},
		{"", "", "", true},
		{"sqlite:", "", "", true},
	}
	for _, tt := range tests {
		d, dsn, err := store.ParseDSN(tt.in)
		if (err != nil) != tt.err || d != tt.driver || dsn != tt.dsn {
			t.Errorf("ParseDSN(%q) = %q, %q, %v", tt.in, d, dsn, err)
		}
	}
}

func TestOrgs(t *testing.T) {
	forEachDB(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		org := acme(t, st)
		if org.Slug != "acme" || len(org.Numbers) != 1 || !org.TextbackEnabled || org.Timezone != "America/New_York" || !org.CreatedAt.Equal(now) {
			t.Errorf("created %+v", org)
		}
		byNum, err := st.OrgByNumber(ctx, "+15125550100")
		if err != nil || byNum.ID != org.ID {
			t.Errorf("OrgByNumber = %+v, %v", byNum, err)
		}
		if _, err := st.OrgByNumber(ctx, "+15125550999"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("unknown number: %v, want ErrNotFound", err)
		}
		for name, in := range map[string]store.NewOrg{
			"slug":     {Slug: "acme", Name: "x", Numbers: []string{"+15125550101"}},
			"number":   {Slug: "other", Name: "x", Numbers: []string{"+15125550100"}},
			"customer": {Slug: "c1", Name: "x", Numbers: []string{"+15125550102"}, StripeCustomerID: "cus_1"},
		} {
			if name == "customer" {
				if _, err := st.CreateOrg(ctx, store.NewOrg{Slug: "c0", Name: "x", Numbers: []string{"+15125550103"}, StripeCustomerID: "cus_1"}, now); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := st.CreateOrg(ctx, in, now); !errors.Is(err, store.ErrDuplicate) {
				t.Errorf("duplicate %s: %v, want ErrDuplicate", name, err)
			}
		}
		// A refused org leaves nothing behind, not even the numbers before the bad one.
		if _, err := st.CreateOrg(ctx, store.NewOrg{Slug: "half", Name: "x", Numbers: []string{"+15125550104", "+15125550100"}}, now); !errors.Is(err, store.ErrDuplicate) {
			t.Fatalf("half: %v", err)
		}
		if _, err := st.OrgByNumber(ctx, "+15125550104"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a failed CreateOrg left its first number: %v", err)
		}
		orgs, err := st.Orgs(ctx)
		if err != nil || len(orgs) != 2 {
			t.Errorf("Orgs = %d, %v", len(orgs), err)
		}
	})
}

// TestClaimUnderConcurrency is the dedupe guarantee: many writers claiming one key at
// once, exactly one wins, and the others learn which delivery holds it.
// TestClaimUnderConcurrency races 40 deliveries of 4 keys: what is committed is one
// processed row per key and a duplicate row for each of the others. It counts the rows,
// not the calls of the unit, which the writer may run more than once (a batch that fails
// is retried unit by unit).
func TestClaimUnderConcurrency(t *testing.T) {
	forEachDB(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		var wg sync.WaitGroup
		for i := range 40 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				key := "twilio:test:" + fmt.Sprint(i%4)
				err := st.Write(ctx, func(tx *store.Tx) error {
					claim := tx.Claim
					if i%2 == 1 {
						claim = func(ctx context.Context, key string, at time.Time) (bool, int64, error) {
							return tx.AskClaim(ctx, key, at).Result()
						}
					}
					claimed, original, err := claim(ctx, key, now)
					if err != nil {
						return err
					}
					ev := &store.Evidence{ReceivedAt: store.T(now), Provider: "twilio", Route: "/x", Signature: "valid",
						DedupeKey: key, Status: store.StatusProcessed}
					if !claimed {
						ev.Status, ev.DuplicateOf = store.StatusDuplicate, store.NullID(original)
					}
					ev.SetBody([]byte("a=b"), false)
					return tx.InsertEvidence(ctx, ev)
				})
				if err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		rows, err := st.LogPage(ctx, store.LogFilter{})
		if err != nil {
			t.Fatal(err)
		}
		processed, dups := map[string]int{}, 0
		originals := map[string]int64{}
		for _, r := range rows {
			if r.Status == store.StatusProcessed {
				processed[r.DedupeKey]++
				originals[r.DedupeKey] = r.ID
			}
		}
		for _, r := range rows {
			if r.Status == store.StatusDuplicate {
				dups++
				if r.DuplicateOf.Int64 != originals[r.DedupeKey] {
					t.Errorf("duplicate %d of %s names %d as its original, not %d", r.ID, r.DedupeKey, r.DuplicateOf.Int64, originals[r.DedupeKey])
				}
			}
		}
		if len(rows) != 40 || len(processed) != 4 || dups != 36 {
			t.Fatalf("%d rows: processed %v, %d duplicates; want 40 rows, one processed per key, 36 duplicates", len(rows), processed, dups)
		}
		for k, n := range processed {
			if n != 1 {
				t.Errorf("%s processed %d times", k, n)
			}
		}
	})
}

// TestWriterIsolatesAFailingUnit: a unit that fails in a batch must not take the others
// down with it, and must leave nothing behind itself; whether it fails on its own (an
// error of its code) or the database refuses one of its statements, which on PostgreSQL
// aborts the whole transaction. Units of no subject run one after another; units of
// different callers run side by side on PostgreSQL, their statements in the same rounds.
// A refused statement sent without waiting for its result fails its unit too, whether a
// later statement of the unit or the commit carries it, and the error names it.
func TestWriterIsolatesAFailingUnit(t *testing.T) {
	const taken = "taken"
	byCaller := func(st *store.Store, ctx context.Context, i int, fn func(*store.Tx) error) error {
		return st.WriteFor(ctx, store.CallerKey(fmt.Sprintf("+1512556%04d", i)), fn)
	}
	takeLater := func(ctx context.Context, tx *store.Tx) error {
		return tx.ExecLater(ctx, "take the taken key", `INSERT INTO webhook_claims (dedupe_key, created_at) VALUES (?, ?)`, taken, store.T(now))
	}
	tests := []struct {
		name string
		// write runs unit i: on its own, or keyed to a caller of its own.
		write func(st *store.Store, ctx context.Context, i int, fn func(*store.Tx) error) error
		// fail makes a unit fail after its first write.
		fail func(ctx context.Context, tx *store.Tx) error
		// want is what the error of a failed unit says, if anything in particular.
		want string
	}{
		{
			name: "error of its own, units of no subject",
			write: func(st *store.Store, ctx context.Context, _ int, fn func(*store.Tx) error) error {
				return st.Write(ctx, fn)
			},
			fail: func(context.Context, *store.Tx) error { return errors.New("boom") },
		},
		{
			name: "statement refused, units of different callers",
			write: func(st *store.Store, ctx context.Context, i int, fn func(*store.Tx) error) error {
				return st.WriteFor(ctx, store.CallerKey(fmt.Sprintf("+1512556%04d", i)), fn)
			},
			fail: func(ctx context.Context, tx *store.Tx) error {
				_, err := tx.Exec(ctx, `INSERT INTO webhook_claims (dedupe_key, created_at) VALUES (?, ?)`, taken, store.T(now))
				return err
			},
		},
		{
			name:  "statement refused without waiting, carried by the commit",
			write: byCaller,
			fail:  takeLater,
			want:  "take the taken key",
		},
		{
			name:  "statement refused without waiting, carried by the unit's next statement",
			write: byCaller,
			fail: func(ctx context.Context, tx *store.Tx) error {
				if err := takeLater(ctx, tx); err != nil {
					return err
				}
				_, err := tx.CountClaims(ctx, "unit:")
				return err
			},
			want: "take the taken key",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forEachDB(t, func(t *testing.T, st *store.Store) {
				ctx := context.Background()
				if err := st.Write(ctx, func(tx *store.Tx) error {
					_, err := tx.Exec(ctx, `INSERT INTO webhook_claims (dedupe_key, created_at) VALUES (?, ?)`, taken, store.T(now))
					return err
				}); err != nil {
					t.Fatal(err)
				}
				var wg sync.WaitGroup
				errs := make([]error, 30)
				for i := range errs {
					wg.Add(1)
					go func() {
						defer wg.Done()
						errs[i] = tt.write(st, ctx, i, func(tx *store.Tx) error {
							if _, err := tx.Exec(ctx, `INSERT INTO webhook_claims (dedupe_key, created_at) VALUES (?, ?)`,
								fmt.Sprintf("unit:%d", i), store.T(now)); err != nil {
								return err
							}
							if i%3 == 0 {
								return tt.fail(ctx, tx)
							}
							return nil
						})
					}()
				}
				wg.Wait()
				for i, err := range errs {
					if (err != nil) != (i%3 == 0) || err != nil && !strings.Contains(err.Error(), tt.want) {
						t.Errorf("unit %d: %v", i, err)
					}
				}
				var n int
				if err := st.ReadPool().Get(&n, `SELECT COUNT(*) FROM webhook_claims WHERE dedupe_key LIKE 'unit:%'`); err != nil || n != 20 {
					t.Errorf("%d rows of the units, want 20: one of each unit that did not fail (%v)", n, err)
				}
			})
		})
	}
}

// TestCallFactsInAnyOrder applies a call's facts in random orders, with duplicates, and
// expects the same outcome and exactly one text-back each time.
func TestCallFactsInAnyOrder(t *testing.T) {
	forEachDB(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		org := acme(t, st)
		facts := []callflow.Fact{
			{Kind: callflow.FactInbound, CallStatus: "ringing", Sequence: -1},
			{Kind: callflow.FactDialComplete, DialStatus: "no-answer", Sequence: -1},
			{Kind: callflow.FactStatus, CallStatus: "completed", Sequence: 2},
		}
		rng := rand.New(rand.NewPCG(7, 7))
		for round := range 12 {
			sid := fmt.Sprintf("CA%032d", round)
			order := append([]callflow.Fact(nil), facts...)
			order = append(order, facts[rng.IntN(3)])
			rng.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
			q := &enqueuer{}
			var last store.Call
			for i, f := range order {
				f.At = now.Add(time.Duration(i) * time.Second)
				err := st.Write(ctx, func(tx *store.Tx) error {
					c, err := tx.ApplyCallFact(ctx, store.CallFact{Org: org, CallSID: sid, From: "+15125550123", To: "+15125550100", Fact: f},
						callflow.Rules{Settle: 30 * time.Second})
					if err != nil {
						return err
					}
					last = c.Call
					return q.jobs(ctx, tx, c)
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			if last.Outcome != "missed" || last.DialStatus != "no-answer" || last.CallStatus != "completed" {
				t.Errorf("round %d (%v): %+v", round, order, last)
			}
			if stored, err := st.CallBySID(ctx, sid); err != nil || !stored.LeadID.Valid || stored.TextbackStatus.String != "queued" {
				t.Errorf("round %d: stored call %+v (%v), want its lead and its queued text-back", round, stored, err)
			}
			if len(q.textback) != 1 {
				t.Errorf("round %d: %d text-backs enqueued", round, len(q.textback))
			}
		}
		var leads, orphans int
		if err := st.ReadPool().Get(&leads, `SELECT COUNT(*) FROM leads`); err != nil || leads != 1 {
			t.Errorf("%d leads, want 1 for one caller (%v)", leads, err)
		}
		if err := st.ReadPool().Get(&orphans, `SELECT COUNT(*) FROM messages WHERE lead_id IS NULL`); err != nil || orphans != 0 {
			t.Errorf("%d text-backs without their lead (%v)", orphans, err)
		}
	})
}

func TestSettleSchedulesAndDecides(t *testing.T) {
	forEachDB(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		org := acme(t, st)
		q := &enqueuer{}
		sid := "CA" + fmt.Sprintf("%032d", 99)
		rules := callflow.Rules{Settle: 30 * time.Second}
		for _, f := range []callflow.Fact{{Kind: callflow.FactInbound, Sequence: -1, At: now}, {Kind: callflow.FactStatus, CallStatus: "completed", Sequence: 3, At: now.Add(10 * time.Second)}} {
			if err := st.Write(ctx, func(tx *store.Tx) error {
				c, err := tx.ApplyCallFact(ctx, store.CallFact{Org: org, CallSID: sid, From: "+15125550123", To: "+15125550100", Fact: f}, rules)
				if err != nil {
					return err
				}
				return q.jobs(ctx, tx, c)
			}); err != nil {
				t.Fatal(err)
			}
		}
		if at := q.settle[sid]; !at.Equal(now.Add(40 * time.Second)) {
			t.Errorf("settle scheduled at %v, want 40s after the call started", at)
		}
		call, err := st.Settle(ctx, sid, rules, now.Add(41*time.Second), q.jobs)
		if err != nil || call.Outcome != "missed" || call.Reason != "hung_up" || len(q.textback) != 1 {
			t.Errorf("after settle: %+v, %v, %d text-backs", call, err, len(q.textback))
		}
		// Settling again changes nothing and enqueues nothing more.
		if _, err := st.Settle(ctx, sid, rules, now.Add(90*time.Second), q.jobs); err != nil || len(q.textback) != 1 {
			t.Errorf("second settle: %v, %d text-backs", err, len(q.textback))
		}
	})
}

func TestTimeRoundTripsAndSorts(t *testing.T) {
	forEachDB(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		times := []time.Time{
			now.Add(1500 * time.Millisecond), now, now.Add(time.Microsecond), now.Add(100 * time.Millisecond),
			time.Date(2026, 11, 26, 12, 0, 0, 0, time.FixedZone("CST", -6*3600)), // 18:00 UTC, with an offset
		}
		for i, at := range times {
			ev := &store.Evidence{ReceivedAt: store.T(at), Provider: "twilio", Route: "/t", Signature: "valid", Status: "processed", DedupeKey: fmt.Sprint(i)}
			ev.SetBody(nil, false)
			if err := st.RecordEvidence(ctx, ev); err != nil {
				t.Fatal(err)
			}
		}
		var got []store.Time
		if err := st.ReadPool().Select(&got, `SELECT received_at FROM webhook_log ORDER BY received_at, id`); err != nil {
			t.Fatal(err)
		}
		want := []time.Time{now, times[4], now.Add(time.Microsecond), now.Add(100 * time.Millisecond), now.Add(1500 * time.Millisecond)}
		for i := range want {
			if !got[i].Equal(want[i]) {
				t.Errorf("row %d: %v, want %v", i, got[i].Time, want[i])
			}
		}
	})
}

// TestReadOnlyOpenNeedsADatabase: the readers (logs, replay) never create a database, and
// say plainly when there is none yet instead of failing on a missing table.
func TestReadOnlyOpenNeedsADatabase(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.db")
	if _, err := store.Open(context.Background(), missing, store.Options{ReadOnly: true}); !errors.Is(err, store.ErrNoDatabase) {
		t.Errorf("missing file: %v, want ErrNoDatabase", err)
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a reader created %s", missing)
	}
	empty := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Open(context.Background(), empty, store.Options{ReadOnly: true}); !errors.Is(err, store.ErrNoDatabase) {
		t.Errorf("empty file: %v, want ErrNoDatabase", err)
	}
	migrated := filepath.Join(dir, "callsnare.db")
	open(t, migrated)
	st, err := store.Open(context.Background(), migrated, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("migrated database: %v", err)
	}
	st.Close()
}

// TestReplyNotifiedOncePerMessage: a reply applied twice (past its claim, as a replay
// into the same database would) is stored once, threaded on its caller's lead, and its
// owner's notification is queued once: the notification's key, not the message's insert,
// decides.
func TestReplyNotifiedOncePerMessage(t *testing.T) {
	forEachDB(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		org := acme(t, st)
		notify := "+15125550177"
		org, err := st.UpdateOrg(ctx, org.Slug, store.OrgUpdate{NotifyNumber: &notify}, now)
		if err != nil {
			t.Fatal(err)
		}
		m := store.InboundSMS{Org: org, MessageSID: "SM" + strings.Repeat("ab", 16), From: "+15125550123",
			To: "+15125550100", Body: "Can you come Tuesday?", At: now}
		var keys []string
		for range 2 {
			if err := st.WriteFor(ctx, store.CallerKey(m.From), func(tx *store.Tx) error {
				c, err := tx.ApplyInboundSMS(ctx, m)
				keys = append(keys, c.NotifyKey)
				return err
			}); err != nil {
				t.Fatal(err)
			}
		}
		if keys[0] == "" || keys[1] != "" {
			t.Errorf("notification keys queued: %q, want the first delivery's alone", keys)
		}
		var messages, threaded, notifications int
		db := st.ReadPool()
		if err := errors.Join(
			db.Get(&messages, `SELECT COUNT(*) FROM messages WHERE direction = 'inbound'`),
			db.Get(&threaded, db.Rebind(`SELECT COUNT(*) FROM messages m JOIN leads l ON l.id = m.lead_id WHERE l.phone = ?`), m.From),
			db.Get(&notifications, `SELECT COUNT(*) FROM notifications`),
		); err != nil || messages != 1 || threaded != 1 || notifications != 1 {
			t.Errorf("%d messages, %d on the caller's lead, %d notifications; want 1, 1, 1 (%v)", messages, threaded, notifications, err)
		}
		// The owner reads the caller's number written their way. A reply the owner is not
		// told of (no notify number) is no row of its own: its reason is on the message,
		// listed with the queued ones once however often it is applied.
		none := ""
		if _, err := st.UpdateOrg(ctx, org.Slug, store.OrgUpdate{NotifyNumber: &none}, now); err != nil {
			t.Fatal(err)
		}
		org.NotifyNumber = ""
		m2 := m
		m2.Org, m2.MessageSID, m2.At = org, "SM"+strings.Repeat("cd", 16), now.Add(time.Second)
		for range 2 {
			if err := st.WriteFor(ctx, store.CallerKey(m.From), func(tx *store.Tx) error {
				c, err := tx.ApplyInboundSMS(ctx, m2)
				if c.NotifyKey != "" {
					t.Errorf("a suppressed notification queued %q", c.NotifyKey)
				}
				return err
			}); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.Get(&notifications, `SELECT COUNT(*) FROM notifications`); err != nil || notifications != 1 {
			t.Errorf("%d notification rows (%v), want the queued one alone", notifications, err)
		}
		ns, err := st.Notifications(ctx, org.ID)
		if err != nil {
			t.Fatal(err)
		}
		type seen struct{ key, status, reason, caller, from, body string }
		var got []seen
		for _, n := range ns {
			got = append(got, seen{n.EventKey, n.Status, n.Reason, n.Caller, n.From, n.Body})
		}
		want := []seen{
			{"reply:" + m.MessageSID, "queued", "", m.From, m.To, `Reply from (512) 555-0123: "Can you come Tuesday?"`},
			{"reply:" + m2.MessageSID, "suppressed", "no_notify_number", m.From, m.To, ""},
		}
		if !slices.Equal(got, want) {
			t.Errorf("notifications:\n got %+v\nwant %+v", got, want)
		}
		if ns, err := st.NotificationsOfCaller(ctx, org.ID, m.From); err != nil || len(ns) != 2 {
			t.Errorf("the caller's notifications: %d (%v), want both", len(ns), err)
		}
		if ns, err := st.NotificationsOfCaller(ctx, org.ID, "+15125550999"); err != nil || len(ns) != 0 {
			t.Errorf("another caller's notifications: %d (%v), want none", len(ns), err)
		}
	})
}

// Warm leaves the read pool's connections open, each past its first statement.
func TestWarmOpensTheReadPool(t *testing.T) {
	forEachDB(t, func(t *testing.T, st *store.Store) {
		before := st.ReadPool().Stats().OpenConnections
		if err := st.Warm(context.Background()); err != nil {
			t.Fatal(err)
		}
		if s := st.ReadPool().Stats(); s.Idle < 8 || s.OpenConnections < 8 {
			t.Errorf("after Warm: %d open (%d before), %d idle; want 8 open and idle", s.OpenConnections, before, s.Idle)
		}
	})
}

func TestRehearseLeavesNothingAndPreparesTheWritePath(t *testing.T) {
	forEachDB(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		if _, err := st.CreateOrg(ctx, store.NewOrg{Slug: "acme", Name: "Acme", ForwardTo: "+15125550100",
			Numbers: []string{"+15125550111"}}, now); err != nil {
			t.Fatal(err)
		}
		// A real job is due: the rehearsal's claim may take it, and must leave it as it was.
		if err := st.Write(ctx, func(tx *store.Tx) error {
			return tx.InsertJobs(ctx, []store.NewJob{{Kind: "textback", Key: "CAreal", Args: "+15125550177", RunAt: now}}, now)
		}); err != nil {
			t.Fatal(err)
		}
		job := func() string {
			var j struct {
				Attempts int            `db:"attempts"`
				Lease    sql.NullString `db:"lease_until"`
			}
			if err := st.ReadPool().Get(&j, `SELECT attempts, CAST(lease_until AS TEXT) AS lease_until FROM jobs WHERE key = 'CAreal'`); err != nil {
				t.Fatal(err)
			}
			return fmt.Sprintf("attempts %d, lease %v", j.Attempts, j.Lease)
		}
		before, jobBefore := tableCounts(t, st), job()
		if err := st.Rehearse(ctx, callflow.Rules{}); err != nil {
			t.Fatalf("rehearse: %v", err)
		}
		if after := tableCounts(t, st); !maps.Equal(before, after) {
			t.Errorf("rows after the rehearsal %v, before %v", after, before)
		}
		if after := job(); after != jobBefore {
			t.Errorf("the due job after the rehearsal: %s; before: %s", after, jobBefore)
		}
		// The statements of a missed call, its evidence, the text-back's claim and the
		// queue's were prepared on the writers' connections.
		want := []string{"INSERT INTO calls", "INSERT INTO webhook_log", "UPDATE messages SET status = 'sending'",
			"UPDATE jobs SET lease_until", "INSERT INTO notifications"}
		if st.Driver() == store.SQLite {
			if missing := notPrepared(want, st.WriterStatements()); len(missing) > 0 {
				t.Errorf("the writer has not prepared %q", missing)
			}
			return
		}
		// Every connection of the pool at once: those the writers used have the statements.
		n := st.ReadPool().Stats().OpenConnections
		warm := 0
		conns := make([]*sql.Conn, 0, n)
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for range n {
			c, err := st.ReadPool().Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
			rows, err := c.QueryContext(ctx, `SELECT statement FROM pg_prepared_statements`)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for rows.Next() {
				var q string
				if err := rows.Scan(&q); err != nil {
					t.Fatal(err)
				}
				got = append(got, q)
			}
			rows.Close()
			if len(notPrepared(want, got)) == 0 {
				warm++
			}
		}
		if warm < st.Writers() {
			t.Errorf("%d of %d connections have the write path prepared; want one per writer (%d)", warm, n, st.Writers())
		}
	})
}

// notPrepared lists the statement beginnings of want that no statement of got has.
func notPrepared(want, got []string) []string {
	var missing []string
	for _, w := range want {
		if !slices.ContainsFunc(got, func(q string) bool { return strings.Contains(strings.Join(strings.Fields(q), " "), w) }) {
			missing = append(missing, w)
		}
	}
	return missing
}

// tableCounts counts the rows of every table of the schema.
func tableCounts(t *testing.T, st *store.Store) map[string]int {
	t.Helper()
	q := `SELECT name FROM sqlite_master WHERE type = 'table'`
	if st.Driver() == store.Postgres {
		q = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()`
	}
	var tables []string
	if err := st.ReadPool().Select(&tables, q); err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, tbl := range tables {
		var n int
		if err := st.ReadPool().Get(&n, `SELECT COUNT(*) FROM `+tbl); err != nil {
			t.Fatal(err)
		}
		counts[tbl] = n
	}
	return counts
}

// TestDeadlinePassingInATransactionRollsItBack: a unit whose deadline passes while it runs
// is not committed, and its writer says so, on both databases (SQLite's statements do not
// watch the context themselves; the transaction does).
func TestDeadlinePassingInATransactionRollsItBack(t *testing.T) {
	forEachDB(t, func(t *testing.T, st *store.Store) {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		err := st.Write(ctx, func(tx *store.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO orgs (slug, name, created_at) VALUES ('late', 'Late', '2026-11-26T18:00:00Z')`); err != nil {
				return err
			}
			// Statements fail once the deadline has ended the transaction.
			giveUp := time.Now().Add(time.Minute)
			for time.Now().Before(giveUp) {
				if _, err := tx.Exec(ctx, `SELECT 1`); err != nil {
					return err
				}
			}
			t.Error("the transaction outlived its deadline by a minute")
			return nil
		})
		if !errors.Is(err, store.ErrDeadline) {
			t.Fatalf("write past its deadline: %v, want ErrDeadline", err)
		}
		var n int
		if err := st.ReadPool().Get(&n, `SELECT COUNT(*) FROM orgs WHERE slug = 'late'`); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("%d orgs of the late write were committed", n)
		}
	})
}

// TestReplyReadBeforeTheTransaction: a reply read for its owner before the transaction
// (callflow.ReadReply, with the org as the server last saw it) is used when it was read
// with the org's urgent keywords, and read again when the org's keywords are others.
func TestReplyReadBeforeTheTransaction(t *testing.T) {
	forEachDB(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		org := acme(t, st)
		notify, words := "+15125550177", "water, burst pipe"
		org, err := st.UpdateOrg(ctx, org.Slug, store.OrgUpdate{NotifyNumber: &notify, UrgentKeywords: &words}, now)
		if err != nil {
			t.Fatal(err)
		}
		apply := func(sid, body string, read callflow.Reply) store.Notification {
			t.Helper()
			m := store.InboundSMS{Org: org, MessageSID: sid, From: "+15125550123", To: "+15125550100", Body: body,
				Reply: &read, At: now}
			if err := st.WriteFor(ctx, store.CallerKey(m.From), func(tx *store.Tx) error {
				_, err := tx.ApplyInboundSMS(ctx, m)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			n, err := st.NotificationByKey(ctx, "reply:"+sid)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		// Read with the defaults (the org was not seen yet): read again with the org's.
		stale := callflow.ReadReply("water everywhere", 0, "")
		if n := apply("SM"+strings.Repeat("a1", 16), "water everywhere", stale); !n.Urgent ||
			n.Body != `URGENT Reply from (512) 555-0123: "water everywhere"` {
			t.Errorf("a reply read with other keywords: urgent %v, %q", n.Urgent, n.Body)
		}
		// Read with the org's own keywords: taken as read.
		read := callflow.ReadReply("no rush, any day", 0, words)
		read.Quote = "as read before"
		if n := apply("SM"+strings.Repeat("a2", 16), "no rush, any day", read); n.Urgent ||
			n.Body != `Reply from (512) 555-0123: "as read before"` {
			t.Errorf("a reply read with the org's keywords was read again: urgent %v, %q", n.Urgent, n.Body)
		}
	})
}
