package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/callsnare/callsnare/internal/callflow"
	"github.com/callsnare/callsnare/internal/store"
)

// missedCall records a call that rang out: its deliveries and facts, so that the store
// holds a call, a lead and a queued text-back.
func missedCall(t *testing.T, st *store.Store, org store.Org, sid, caller string, at time.Time, requestID string) {
	t.Helper()
	ctx := context.Background()
	rules := callflow.Rules{Template: "Sorry we missed you"}
	for i, f := range []callflow.Fact{
		{Kind: callflow.FactInbound, Sequence: -1},
		{Kind: callflow.FactDialComplete, DialStatus: "no-answer", Sequence: -1},
	} {
		e := store.Evidence{ReceivedAt: store.T(at.Add(time.Duration(i) * 20 * time.Second)), OrgID: store.NullID(org.ID),
			CallSID: sid, Caller: caller, Kind: "voice", Headers: map[string]string{"X-Request-Id": requestID + string(rune('a'+i))}}
		id := record(t, st, e)
		err := st.Write(ctx, func(tx *store.Tx) error {
			f.At = e.ReceivedAt.Time
			_, err := tx.ApplyCallFact(ctx, store.CallFact{Org: org, CallSID: sid, From: caller,
				To: org.Numbers[0], Fact: f, LogID: id}, rules)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestOrgRecords(t *testing.T) {
	forEachDB(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		org, err := st.CreateOrg(ctx, store.NewOrg{Slug: "acme", Name: "Acme", ForwardTo: "+15125550000",
			NotifyNumber: "+15125550999", Numbers: []string{"+15125550100"}}, base)
		if err != nil {
			t.Fatal(err)
		}
		if org.NotifyNumber != "+15125550999" {
			t.Fatalf("notify number %q", org.NotifyNumber)
		}
		other := mkOrg(t, st, "bolt", "+15125550200")
		missedCall(t, st, org, "CA1", "+15125550177", base, "r1")
		missedCall(t, st, other, "CA2", "+15125550188", base, "r2")
		if err := st.Write(ctx, func(tx *store.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO org_billing (org_id, customer_id, status, updated_at)
				VALUES (?, 'cus_1', 'active', ?)`, org.ID, store.T(base))
			return err
		}); err != nil {
			t.Fatal(err)
		}

		r, err := st.OrgRecords(ctx, org.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Calls) != 1 || r.Calls[0].CallSID != "CA1" || r.Calls[0].Outcome != "missed" ||
			r.Calls[0].DialStatus != "no-answer" || r.Calls[0].LeadPhone.String != "+15125550177" {
			t.Fatalf("calls: %+v", r.Calls)
		}
		if len(r.Leads) != 1 || r.Leads[0].Phone != "+15125550177" {
			t.Fatalf("leads: %+v", r.Leads)
		}
		if len(r.Messages) != 1 || r.Messages[0].Direction != "outbound" || r.Messages[0].CallSID.String != "CA1" ||
			r.Messages[0].LeadPhone.String != "+15125550177" {
			t.Fatalf("messages: %+v", r.Messages)
		}
		if r.Billing == nil || r.Billing.CustomerID != "cus_1" || r.Billing.Status != "active" {
			t.Fatalf("billing: %+v", r.Billing)
		}
		if r, err := st.OrgRecords(ctx, other.ID); err != nil || r.Billing != nil || len(r.Calls) != 1 || r.Calls[0].CallSID != "CA2" {
			t.Fatalf("other org: %+v, %v", r, err)
		}
		facts, err := st.SettleFacts(ctx, org.ID)
		if err != nil || len(facts) != 0 {
			t.Fatalf("settle facts of a dialled call: %+v, %v", facts, err)
		}
	})
}

func TestRunChecks(t *testing.T) {
	forEachDB(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		a, b := mkOrg(t, st, "acme", "+15125550100"), mkOrg(t, st, "bolt", "+15125550200")
		missedCall(t, st, a, "CA1", "+15125550177", base, "sim-1-")
		missedCall(t, st, b, "CA2", "+15125550188", base.Add(time.Hour), "sim-2-")

		tbs, err := st.Textbacks(ctx, []int64{a.ID}, "")
		if err != nil || len(tbs) != 1 || tbs[0].CallSID.String != "CA1" || tbs[0].To != "+15125550177" || tbs[0].OrgID != a.ID {
			t.Fatalf("text-backs of acme: %+v, %v", tbs, err)
		}
		n, err := st.UnfinishedTextbacks(ctx, []int64{a.ID, b.ID})
		if err != nil {
			t.Fatal(err)
		}
		if tbs[0].Status != store.TextbackQueued || n != 2 {
			t.Fatalf("text-back %s, %d unfinished; want queued, 2", tbs[0].Status, n)
		}
		if sent, err := st.Textbacks(ctx, []int64{a.ID, b.ID}, store.TextbackSent); err != nil || len(sent) != 0 {
			t.Fatalf("sent text-backs: %+v, %v", sent, err)
		}
		calls, err := st.CallOutcomes(ctx, []int64{a.ID, b.ID})
		if err != nil || len(calls) != 2 || calls[0] != (store.CallOutcome{CallSID: "CA1", Outcome: "missed"}) {
			t.Fatalf("call outcomes: %+v, %v", calls, err)
		}
		if n, err := st.UnfinishedTextbacks(ctx, nil); err != nil || n != 0 {
			t.Fatalf("no orgs: %d, %v", n, err)
		}

		ds, err := st.DeliveryStatuses(ctx, base.Add(30*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, d := range ds {
			ids = append(ids, d.RequestID+" "+d.Status)
		}
		if want := []string{"sim-2-a processed", "sim-2-b processed"}; !slices.Equal(ids, want) {
			t.Fatalf("delivery statuses since: %v, want %v", ids, want)
		}

		many := []string{"CA2", "CAghost"}
		for i := range 600 { // more than one chunk
			many = append(many, "CAx"+string(rune('a'+i%26))+string(rune('a'+i/26)))
		}
		for _, c := range []struct {
			kind store.IDKind
			ids  []string
			want []string
		}{
			{store.CallSIDs, many, []string{"CA2"}},
			{store.CallSIDs, nil, nil},
			{store.MessageSIDs, []string{"SMnone"}, nil},
			{store.DedupeKeys, []string{"stripe:evt_none"}, nil},
		} {
			got, err := st.ExistingIDs(ctx, c.kind, c.ids)
			if err != nil || !slices.Equal(got, c.want) {
				t.Fatalf("existing %s: %v, %v; want %v", c.kind, got, err, c.want)
			}
		}
		if _, err := st.ExistingIDs(ctx, "nope", []string{"x"}); err == nil {
			t.Fatal("unknown id kind: want an error")
		}
	})
}
