package store_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/callsnare/callsnare/internal/callflow"
	"github.com/callsnare/callsnare/internal/store"
)

// pgTestDSN is the PostgreSQL the log tests use when it answers; each test gets a schema.
const pgTestDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// logStores opens a fresh, migrated store on SQLite and, when reachable, on PostgreSQL.
func logStores(t *testing.T) map[string]*store.Store {
	t.Helper()
	ctx := context.Background()
	out := map[string]*store.Store{}
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "logs.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	out["sqlite"] = st

	admin, err := store.Open(ctx, pgTestDSN, store.Options{ReadOnly: true})
	if err != nil {
		t.Logf("postgres not reachable at %s, testing sqlite only: %v", pgTestDSN, err)
		return out
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "t_logs_" + hex.EncodeToString(b)
	if _, err := admin.DB().ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		_, _ = admin.DB().ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		admin.Close()
	})
	pg, err := store.Open(ctx, pgTestDSN+"&search_path="+schema, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Close() })
	if err := pg.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	out["postgres"] = pg
	return out
}

var base = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

type nopJobs struct{}

func (nopJobs) EnqueueTextback(context.Context, *store.Tx, string) error          { return nil }
func (nopJobs) EnqueueSettle(context.Context, *store.Tx, string, time.Time) error { return nil }

func mkOrg(t *testing.T, st *store.Store, slug string, numbers ...string) store.Org {
	t.Helper()
	org, err := st.CreateOrg(context.Background(), store.NewOrg{Slug: slug, Name: slug + " HVAC",
		ForwardTo: "+15125550000", Numbers: numbers}, base)
	if err != nil {
		t.Fatal(err)
	}
	return org
}

func record(t *testing.T, st *store.Store, e store.Evidence) int64 {
	t.Helper()
	if e.Provider == "" {
		e.Provider = "twilio"
	}
	if e.Route == "" {
		e.Route = "/api/twilio/voice/inbound"
	}
	if e.Signature == "" {
		e.Signature = "valid"
	}
	if e.Status == "" {
		e.Status = store.StatusProcessed
	}
	if e.Body == nil {
		e.SetBody([]byte("CallSid="+e.CallSID+"&From="+url.QueryEscape(e.Caller)), false)
	}
	if err := st.RecordEvidence(context.Background(), &e); err != nil {
		t.Fatal(err)
	}
	return e.ID
}

func ids(rows []store.Evidence) []int64 {
	out := make([]int64, len(rows))
	for i, r := range rows {
		out[i] = r.ID
	}
	return out
}

func TestLogPageKeyset(t *testing.T) {
	for name, st := range logStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			a, b := mkOrg(t, st, "acme", "+15125550100"), mkOrg(t, st, "bolt", "+15125550200")
			var want []int64
			for i := range 130 {
				org := a.ID
				if i%3 == 0 {
					org = b.ID
				}
				id := record(t, st, store.Evidence{ReceivedAt: store.T(base.Add(time.Duration(i) * time.Minute)),
					OrgID: store.NullID(org), Kind: "voice.inbound", CallSID: fmt.Sprintf("CA%04d", i)})
				if org == a.ID {
					want = append(want, id)
				}
			}
			slices.Reverse(want)
			var got []int64
			f := store.LogFilter{OrgSlug: "acme", Limit: 17}
			for {
				page, err := st.LogPage(ctx, f)
				if err != nil {
					t.Fatal(err)
				}
				if len(page) == 0 {
					break
				}
				got = append(got, ids(page)...)
				f.BeforeID = page[len(page)-1].ID
			}
			if !slices.Equal(got, want) {
				t.Fatalf("paged ids:\n got %v\nwant %v", got, want)
			}
			tail, err := st.LogTail(ctx, store.LogFilter{OrgID: &a.ID, Limit: 3}, want[5])
			if err != nil {
				t.Fatal(err)
			}
			if g := ids(tail); !slices.Equal(g, []int64{want[4], want[3], want[2]}) {
				t.Fatalf("tail after %d: %v", want[5], g)
			}
			if _, err := st.LogPage(ctx, store.LogFilter{OrgSlug: "nope"}); err == nil {
				t.Fatal("unknown org slug: want an error")
			}
		})
	}
}

func TestLogPageFilters(t *testing.T) {
	for name, st := range logStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			a := mkOrg(t, st, "acme", "+15125550100")
			inbound := record(t, st, store.Evidence{ReceivedAt: store.T(base), OrgID: store.NullID(a.ID),
				Kind: "voice.inbound", CallSID: "CAaaaa1111", Caller: "+15125550111"})
			rejected := record(t, st, store.Evidence{ReceivedAt: store.T(base.Add(time.Minute)),
				Kind: "voice.inbound", Signature: "invalid", Status: store.StatusRejected, HTTPStatus: 403})
			unmatched := record(t, st, store.Evidence{ReceivedAt: store.T(base.Add(2 * time.Minute)),
				Kind: "sms.inbound", Status: store.StatusUnmatched, Caller: "+15125550122",
				Body: []byte("MessageSid=SM1&Body=Hello+There&To=%2B15125550199&From=%2B15125550122")})
			stripe := record(t, st, store.Evidence{ReceivedAt: store.T(base.Add(3 * time.Minute)), OrgID: store.NullID(a.ID),
				Provider: "stripe", Route: "/api/stripe/webhook", Kind: "invoice.paid", DedupeKey: "stripe:evt_1OK",
				Body: []byte(`{"id":"evt_1OK","type":"invoice.paid","data":{"object":{"customer":"cus_9"}}}`)})
			binary := record(t, st, store.Evidence{ReceivedAt: store.T(base.Add(4 * time.Minute)), Status: store.StatusRejected,
				Kind: "sms.inbound", Signature: "missing", Body: []byte("\xff\xfe\x1b[31mred 100%_done")})

			cases := []struct {
				name string
				f    store.LogFilter
				want []int64
			}{
				{"all, no org included", store.LogFilter{}, []int64{binary, stripe, unmatched, rejected, inbound}},
				{"no org only", store.LogFilter{NoOrg: true}, []int64{binary, unmatched, rejected}},
				{"org", store.LogFilter{OrgID: &a.ID}, []int64{stripe, inbound}},
				{"status rejected", store.LogFilter{Statuses: []string{"rejected"}}, []int64{binary, rejected}},
				{"statuses", store.LogFilter{Statuses: []string{"rejected", "unmatched"}}, []int64{binary, unmatched, rejected}},
				{"provider", store.LogFilter{Providers: []string{"stripe"}}, []int64{stripe}},
				{"kind", store.LogFilter{Kinds: []string{"sms.inbound"}}, []int64{binary, unmatched}},
				{"signature", store.LogFilter{Signatures: []string{"invalid", "missing"}}, []int64{binary, rejected}},
				{"after", store.LogFilter{After: base.Add(3 * time.Minute)}, []int64{binary, stripe}},
				{"before", store.LogFilter{Before: base.Add(time.Minute)}, []int64{inbound}},
				{"search call sid, any case", store.LogFilter{Search: "caAAA"}, []int64{inbound}},
				{"search caller", store.LogFilter{Search: "+15125550111"}, []int64{inbound}},
				{"search phone in form body", store.LogFilter{Search: "+15125550199"}, []int64{unmatched}},
				{"search body text", store.LogFilter{Search: "Hello+There"}, []int64{unmatched}},
				{"search dedupe key", store.LogFilter{Search: "EVT_1ok"}, []int64{stripe}},
				{"search json body", store.LogFilter{Search: "cus_9"}, []int64{stripe}},
				{"search in invalid utf-8 body", store.LogFilter{Search: "100%_done"}, []int64{binary}},
				{"like wildcards are literal", store.LogFilter{Search: "CAaaaa_111"}, nil},
				{"combined", store.LogFilter{OrgID: &a.ID, Statuses: []string{"processed"}, Providers: []string{"twilio"}}, []int64{inbound}},
			}
			for _, c := range cases {
				rows, err := st.LogPage(ctx, c.f)
				if err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
				if got := ids(rows); !slices.Equal(got, c.want) {
					t.Errorf("%s: got %v, want %v", c.name, got, c.want)
				}
			}
			e, err := st.LogByID(ctx, binary)
			if err != nil {
				t.Fatal(err)
			}
			if string(e.Body) != "\xff\xfe\x1b[31mred 100%_done" || e.Signature != "missing" {
				t.Fatalf("LogByID: body %q signature %q", e.Body, e.Signature)
			}
			if _, err := st.LogByID(ctx, 999999); err == nil {
				t.Fatal("LogByID of a missing id: want an error")
			}
		})
	}
}

func TestOrgSummaries(t *testing.T) {
	for name, st := range logStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			now := time.Date(2026, 3, 10, 12, 30, 0, 0, time.UTC)
			a := mkOrg(t, st, "acme", "+15125550100", "+15125550101")
			mkOrg(t, st, "bolt", "+15125550200")
			err := st.Write(ctx, func(tx *store.Tx) error {
				_, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO org_billing (org_id, status, updated_at) VALUES (?, 'past_due', ?)`), a.ID, store.T(now))
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			at := func(d time.Duration) store.Time { return store.T(now.Add(-d)) }
			record(t, st, store.Evidence{ReceivedAt: at(time.Minute), OrgID: store.NullID(a.ID)})
			record(t, st, store.Evidence{ReceivedAt: at(2 * time.Minute), OrgID: store.NullID(a.ID), Status: store.StatusFailed})
			record(t, st, store.Evidence{ReceivedAt: at(5 * time.Hour), OrgID: store.NullID(a.ID), Status: store.StatusRejected})
			record(t, st, store.Evidence{ReceivedAt: at(23 * time.Hour), OrgID: store.NullID(a.ID)})
			record(t, st, store.Evidence{ReceivedAt: at(25 * time.Hour), OrgID: store.NullID(a.ID)}) // outside the window
			record(t, st, store.Evidence{ReceivedAt: at(time.Hour), Status: store.StatusUnmatched})

			sums, err := st.OrgSummaries(ctx, now)
			if err != nil {
				t.Fatal(err)
			}
			if len(sums) != 3 || sums[0].Slug != "acme" || sums[1].Slug != "bolt" || sums[2].OrgID != 0 {
				t.Fatalf("summaries: %+v", sums)
			}
			s := sums[0]
			if s.Deliveries != 4 || s.Errors != 2 || s.BillingStatus != "past_due" || len(s.Numbers) != 2 {
				t.Fatalf("acme: %+v", s)
			}
			var want [store.SummaryHours]int
			want[23], want[18], want[0] = 2, 1, 1 // 12:29 and 12:28; 07:30; 13:30 yesterday
			if s.Hourly != want {
				t.Fatalf("acme hourly: got %v want %v", s.Hourly, want)
			}
			if sums[1].Deliveries != 0 || sums[2].Deliveries != 1 || sums[2].Hourly[22] != 1 {
				t.Fatalf("bolt / no org: %+v / %+v", sums[1], sums[2])
			}
		})
	}
}

func TestConversation(t *testing.T) {
	for name, st := range logStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			org := mkOrg(t, st, "acme", "+15125550100")
			caller := "+15125550177"
			rules := store.CallRules{Template: "Sorry we missed you"}
			fact := func(e store.Evidence, f callflow.Fact) {
				t.Helper()
				e.OrgID, e.CallSID, e.Caller = store.NullID(org.ID), "CA1", caller
				id := record(t, st, e)
				err := st.Write(ctx, func(tx *store.Tx) error {
					f.At = e.ReceivedAt.Time
					_, err := tx.ApplyCallFact(ctx, store.CallFact{Org: org, CallSID: "CA1", From: caller,
						To: "+15125550100", Fact: f, LogID: id}, rules, nopJobs{})
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			fact(store.Evidence{ReceivedAt: store.T(base), Kind: "voice.inbound"}, callflow.Fact{Kind: callflow.FactInbound, Sequence: -1})
			fact(store.Evidence{ReceivedAt: store.T(base.Add(20 * time.Second)), Kind: "voice.dial_complete"},
				callflow.Fact{Kind: callflow.FactDialComplete, DialStatus: "no-answer", Sequence: -1})
			sms := func(at time.Time, sid, body string) {
				t.Helper()
				e := store.Evidence{ReceivedAt: store.T(at), Kind: "sms.inbound", OrgID: store.NullID(org.ID), Caller: caller,
					Route: "/api/twilio/sms/inbound"}
				e.SetBody([]byte("MessageSid="+sid+"&Body="+url.QueryEscape(body)), false)
				record(t, st, e)
				err := st.Write(ctx, func(tx *store.Tx) error {
					_, err := tx.ApplyInboundSMS(ctx, store.InboundSMS{Org: org, MessageSID: sid, From: caller, To: "+15125550100", Body: body, At: at})
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			sms(base.Add(time.Minute), "SM1", "Yes please call back")
			sms(base.Add(2*time.Minute), "SM2", "STOP")
			record(t, st, store.Evidence{ReceivedAt: store.T(base), OrgID: store.NullID(org.ID), CallSID: "CAother", Caller: "+15125550999"})

			for _, q := range []store.ConversationQuery{{CallSID: "CA1"}, {OrgID: org.ID, Phone: caller}} {
				c, err := st.Conversation(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				if c.Call == nil && q.CallSID != "" || c.Lead == nil {
					t.Fatalf("%+v: call %v lead %v", q, c.Call, c.Lead)
				}
				if c.Call != nil && c.Call.Outcome != "missed" {
					t.Fatalf("outcome %q", c.Call.Outcome)
				}
				var got []string
				for _, it := range c.Items {
					if it.Delivery != nil {
						got = append(got, "d:"+it.Delivery.Kind)
					} else {
						got = append(got, "m:"+it.Message.Direction+":"+it.Message.Status)
					}
				}
				want := []string{"d:voice.inbound", "d:voice.dial_complete", "m:outbound:suppressed",
					"d:sms.inbound", "m:inbound:received", "d:sms.inbound", "m:inbound:received"}
				if !slices.Equal(got, want) {
					t.Fatalf("%+v:\n got %v\nwant %v", q, got, want)
				}
			}
		})
	}
}

func TestPrune(t *testing.T) {
	for name, st := range logStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			for i := range 12 {
				record(t, st, store.Evidence{ReceivedAt: store.T(base.Add(time.Duration(i) * time.Hour))})
			}
			n, err := st.Prune(ctx, base.Add(5*time.Hour))
			if err != nil || n != 5 {
				t.Fatalf("pruned %d, %v; want 5", n, err)
			}
			rows, err := st.LogPage(ctx, store.LogFilter{})
			if err != nil || len(rows) != 7 {
				t.Fatalf("left %d, %v; want 7", len(rows), err)
			}
		})
	}
}
