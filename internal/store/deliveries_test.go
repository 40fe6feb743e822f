package store_test

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/callsnare/callsnare/internal/callflow"
	"github.com/callsnare/callsnare/internal/store"
)

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

func ids(rows []store.Evidence) []int64 {
	out := make([]int64, len(rows))
	for i, r := range rows {
		out[i] = r.ID
	}
	return out
}

func TestLogPageKeyset(t *testing.T) {
	forEachDB(t, func(t *testing.T, st *store.Store) {
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

func TestLogPageFilters(t *testing.T) {
	forEachDB(t, func(t *testing.T, st *store.Store) {
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

func TestPrune(t *testing.T) {
	forEachDB(t, func(t *testing.T, st *store.Store) {
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

// TestStoryQueries covers the queries a story is built from: a call's deliveries, its
// lead's calls and inbound SMS, the messages of a call, an org's Stripe deliveries,
// billing statuses and the hourly counts.
func TestStoryQueries(t *testing.T) {
	forEachDB(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		org := mkOrg(t, st, "acme", "+15125550100")
		caller := "+15125550177"
		rules := callflow.Rules{Template: "Sorry we missed you"}
		var callLog []int64
		for i, f := range []callflow.Fact{
			{Kind: callflow.FactInbound, Sequence: -1},
			{Kind: callflow.FactDialComplete, DialStatus: "no-answer", Sequence: -1},
		} {
			at := base.Add(time.Duration(i) * 20 * time.Second)
			id := record(t, st, store.Evidence{ReceivedAt: store.T(at), OrgID: store.NullID(org.ID), CallSID: "CA1", Caller: caller, Kind: "voice"})
			callLog = append(callLog, id)
			err := st.Write(ctx, func(tx *store.Tx) error {
				f.At = at
				_, err := tx.ApplyCallFact(ctx, store.CallFact{Org: org, CallSID: "CA1", From: caller,
					To: "+15125550100", Fact: f, LogID: id}, rules)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		sms := record(t, st, store.Evidence{ReceivedAt: store.T(base.Add(time.Minute)), OrgID: store.NullID(org.ID),
			Caller: caller, Kind: "sms.inbound", Body: []byte("MessageSid=SM1&Body=hi")})
		record(t, st, store.Evidence{ReceivedAt: store.T(base.Add(time.Minute)), OrgID: store.NullID(org.ID),
			Caller: "+15125550999", Kind: "sms.inbound", Body: []byte("MessageSid=SM2&Body=hi")})
		paid := record(t, st, store.Evidence{ReceivedAt: store.T(base.Add(2 * time.Minute)), OrgID: store.NullID(org.ID),
			Provider: "stripe", Kind: "invoice.paid", DedupeKey: "stripe:evt_1", Body: []byte(`{}`)})
		stray := record(t, st, store.Evidence{ReceivedAt: store.T(base.Add(3 * time.Minute)), Status: store.StatusUnmatched,
			Provider: "stripe", Kind: "invoice.paid", DedupeKey: "stripe:evt_2", Body: []byte(`{}`)})
		if err := st.Write(ctx, func(tx *store.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO org_billing (org_id, status, updated_at) VALUES (?, 'active', ?)`, org.ID, store.T(base))
			return err
		}); err != nil {
			t.Fatal(err)
		}

		rows, err := st.CallDeliveries(ctx, "CA1", 10)
		if err != nil || !slices.Equal(ids(rows), callLog) {
			t.Fatalf("call deliveries: %v, %v; want %v", ids(rows), err, callLog)
		}
		if rows, err = st.InboundSMSDeliveries(ctx, org.ID, caller, 10); err != nil || !slices.Equal(ids(rows), []int64{sms}) {
			t.Fatalf("inbound sms: %v, %v; want [%d]", ids(rows), err, sms)
		}
		if rows, err = st.StripeDeliveries(ctx, org.ID, 10); err != nil || !slices.Equal(ids(rows), []int64{paid}) {
			t.Fatalf("stripe deliveries of org: %v, %v; want [%d]", ids(rows), err, paid)
		}
		if rows, err = st.StripeDeliveries(ctx, 0, 10); err != nil || !slices.Equal(ids(rows), []int64{stray}) {
			t.Fatalf("stripe deliveries of no org: %v, %v; want [%d]", ids(rows), err, stray)
		}
		leads, err := st.Leads(ctx, org.ID, caller)
		if err != nil || len(leads) != 1 {
			t.Fatalf("leads: %v, %v", leads, err)
		}
		calls, err := st.CallsOfLead(ctx, leads[0].ID)
		if err != nil || len(calls) != 1 || calls[0].CallSID != "CA1" || calls[0].Outcome != "missed" {
			t.Fatalf("calls of lead: %+v, %v", calls, err)
		}
		msgs, err := st.MessagesOfCall(ctx, "CA1")
		if err != nil || len(msgs) != 1 || msgs[0].Direction != "outbound" {
			t.Fatalf("messages of call: %+v, %v", msgs, err)
		}
		statuses, err := st.BillingStatuses(ctx)
		if err != nil || len(statuses) != 1 || statuses[org.ID] != "active" {
			t.Fatalf("billing statuses: %v, %v", statuses, err)
		}
		counts, err := st.DeliveryCounts(ctx, base, base.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		got := map[int64]store.DeliveryCount{}
		for _, c := range counts {
			if !c.Hour.Equal(base) {
				t.Fatalf("count in hour %s, want %s", c.Hour, base)
			}
			got[c.OrgID] = c
		}
		if len(got) != 2 || got[org.ID].N != 5 || got[org.ID].Errors != 0 || got[0].N != 1 {
			t.Fatalf("counts: %+v", counts)
		}
	})
}
