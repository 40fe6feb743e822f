package logquery_test

import (
	"context"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/callsnare/callsnare/internal/callflow"
	"github.com/callsnare/callsnare/internal/logquery"
	"github.com/callsnare/callsnare/internal/store"
	"github.com/callsnare/callsnare/internal/storetest"
)

// forEachDB runs a test on a fresh, migrated store on SQLite and on PostgreSQL.
func forEachDB(t *testing.T, test func(t *testing.T, st *store.Store, r *logquery.Reader)) {
	for _, db := range storetest.All() {
		t.Run(db.Name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st, err := store.Open(ctx, db.DSN(t), store.Options{})
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			t.Cleanup(func() { st.Close() })
			if err := st.Migrate(ctx); err != nil {
				t.Fatalf("migrate: %v", err)
			}
			test(t, st, logquery.New(st))
		})
	}
}

var base = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

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

func TestOrgSummaries(t *testing.T) {
	forEachDB(t, func(t *testing.T, st *store.Store, r *logquery.Reader) {
		ctx := context.Background()
		now := time.Date(2026, 3, 10, 12, 30, 0, 0, time.UTC)
		a := mkOrg(t, st, "acme", "+15125550100", "+15125550101")
		mkOrg(t, st, "bolt", "+15125550200")
		err := st.Write(ctx, func(tx *store.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO org_billing (org_id, status, updated_at) VALUES (?, 'past_due', ?)`, a.ID, store.T(now))
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

		sums, err := r.OrgSummaries(ctx, now)
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
		var want [logquery.SummaryHours]int
		want[23], want[18], want[0] = 2, 1, 1 // 12:29 and 12:28; 07:30; 13:30 yesterday
		if s.Hourly != want {
			t.Fatalf("acme hourly: got %v want %v", s.Hourly, want)
		}
		if sums[1].Deliveries != 0 || sums[2].Deliveries != 1 || sums[2].Hourly[22] != 1 {
			t.Fatalf("bolt / no org: %+v / %+v", sums[1], sums[2])
		}
	})
}

func TestConversation(t *testing.T) {
	forEachDB(t, func(t *testing.T, st *store.Store, r *logquery.Reader) {
		ctx := context.Background()
		org := mkOrg(t, st, "acme", "+15125550100")
		caller := "+15125550177"
		rules := callflow.Rules{Template: "Sorry we missed you"}
		fact := func(e store.Evidence, f callflow.Fact) {
			t.Helper()
			e.OrgID, e.CallSID, e.Caller = store.NullID(org.ID), "CA1", caller
			id := record(t, st, e)
			err := st.Write(ctx, func(tx *store.Tx) error {
				f.At = e.ReceivedAt.Time
				_, err := tx.ApplyCallFact(ctx, store.CallFact{Org: org, CallSID: "CA1", From: caller,
					To: "+15125550100", Fact: f, LogID: id}, rules)
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

		for _, q := range []logquery.ConversationQuery{{CallSID: "CA1"}, {OrgID: org.ID, Phone: caller}} {
			c, err := r.Conversation(ctx, q)
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
				switch {
				case it.Delivery != nil:
					got = append(got, "d:"+it.Delivery.Kind)
				case it.Message != nil:
					got = append(got, "m:"+it.Message.Direction+":"+it.Message.Status)
				case it.Notification != nil:
					got = append(got, "n:"+it.Notification.Kind+":"+it.Notification.Status)
				default:
					t.Fatalf("%+v: an item with nothing in it at %v", q, it.At)
				}
			}
			// The org has no notify number: the owner's notifications of the missed call and
			// of the reply are kept as suppressed; a STOP notifies nobody.
			want := []string{"d:voice.inbound", "d:voice.dial_complete", "m:outbound:suppressed", "n:missed_call:suppressed",
				"d:sms.inbound", "m:inbound:received", "n:reply:suppressed", "d:sms.inbound", "m:inbound:received"}
			if !slices.Equal(got, want) {
				t.Fatalf("%+v:\n got %v\nwant %v", q, got, want)
			}
		}
	})
}

func TestConversationForReadsARejectedBody(t *testing.T) {
	cases := []struct {
		name string
		e    store.Evidence
		want logquery.ConversationQuery
	}{
		{"processed call", store.Evidence{ID: 7, Provider: "twilio", CallSID: "CA1", Caller: "+15125550177", OrgID: store.NullID(3)},
			logquery.ConversationQuery{CallSID: "CA1", Phone: "+15125550177", OrgID: 3, DeliveryID: 7}},
		{"rejected, ids in the body", store.Evidence{ID: 8, Provider: "twilio",
			Body: []byte("CallSid=CA9&From=%2B15125550188&To=%2B15125550100")},
			logquery.ConversationQuery{CallSID: "CA9", Phone: "+15125550188", To: "+15125550100", DeliveryID: 8}},
		{"body that is not Twilio's form", store.Evidence{ID: 9, Provider: "twilio", Body: []byte("CallSid=CA1&CallSid=CA2")},
			logquery.ConversationQuery{DeliveryID: 9}},
		{"stripe", store.Evidence{ID: 10, Provider: "stripe", OrgID: store.NullID(3)},
			logquery.ConversationQuery{OrgID: 3, Billing: true, DeliveryID: 10}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := logquery.ConversationFor(c.e); got != c.want {
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestBillingConversation(t *testing.T) {
	forEachDB(t, func(t *testing.T, st *store.Store, r *logquery.Reader) {
		ctx := context.Background()
		org := mkOrg(t, st, "acme", "+15125550100")
		bare := mkOrg(t, st, "bolt", "+15125550200")
		if err := st.Write(ctx, func(tx *store.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO org_billing (org_id, customer_id, status, updated_at)
				VALUES (?, 'cus_1', 'past_due', ?)`, org.ID, store.T(base))
			return err
		}); err != nil {
			t.Fatal(err)
		}
		stripe := func(at time.Duration, orgID int64, key string) int64 {
			return record(t, st, store.Evidence{ReceivedAt: store.T(base.Add(at)), OrgID: store.NullID(orgID), Provider: "stripe",
				Route: "/api/stripe/webhook", Kind: "invoice.paid", DedupeKey: key, Body: []byte(`{}`)})
		}
		second := stripe(2*time.Minute, org.ID, "stripe:evt_2")
		first := stripe(time.Minute, org.ID, "stripe:evt_1")
		stray := stripe(3*time.Minute, 0, "stripe:evt_3")
		c, err := r.Conversation(ctx, logquery.ConversationQuery{OrgID: org.ID, Billing: true})
		if err != nil {
			t.Fatal(err)
		}
		if c.Billing == nil || c.Billing.Status != "past_due" || c.Billing.CustomerID != "cus_1" {
			t.Fatalf("billing: %+v", c.Billing)
		}
		var got []int64
		for _, it := range c.Items {
			got = append(got, it.Delivery.ID)
		}
		if !slices.Equal(got, []int64{first, second}) {
			t.Fatalf("items %v, want %v (in time order)", got, []int64{first, second})
		}
		c, err = r.Conversation(ctx, logquery.ConversationQuery{OrgID: bare.ID, Billing: true, DeliveryID: stray})
		if err != nil {
			t.Fatal(err)
		}
		if c.Billing != nil || len(c.Items) != 1 || c.Items[0].Delivery.ID != stray {
			t.Fatalf("org with no billing: billing %+v, %d items", c.Billing, len(c.Items))
		}
	})
}
