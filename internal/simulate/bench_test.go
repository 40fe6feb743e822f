package simulate

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/callsnare/callsnare/internal/server"
	"github.com/callsnare/callsnare/internal/store"
	"github.com/callsnare/callsnare/internal/twilio"
)

// BenchmarkGenerator measures the simulator alone: whole calls (inbound, TwiML parsed,
// dial-complete, status), signed and sent unpaced against a server that answers at once.
// It must outrun what serve sustains (about 6,000 inbound webhooks/s on SQLite on the
// 2-core development machine) at least three times, so that it is never the bottleneck.
func BenchmarkGenerator(b *testing.B) {
	var dial string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == server.RouteVoiceInbound {
			w.Header().Set("Content-Type", twilio.ContentTypeXML)
			_, _ = w.Write([]byte(dial))
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	dial, _ = twilio.DialTwiML(srv.URL+server.RouteDialComplete, 20, "+15125550199")

	o := DefaultOptions()
	o.Target, o.DSN, o.Rate, o.Concurrency = srv.URL, "unused", 0, 64
	o.Calls = max(b.N/3, 1)
	o, err := o.withDefaults()
	if err != nil {
		b.Fatal(err)
	}
	s := &sim{o: o, ctx: context.Background(), ids: ider{ns: "bench"}, target: srv.URL, public: srv.URL,
		account: "AC" + randomHex(32), token: randomHex(32), byNumber: map[string]*simOrg{}, kwBusy: map[string]bool{}}
	org := &simOrg{Org: store.Org{Slug: "bench"}, number: "+17375550100"}
	s.orgs = []*simOrg{org}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128, DisableCompression: true}}
	s.e = newEngine(o, client)
	b.ResetTimer()
	t0 := time.Now()
	s.e.dispatch(context.Background(), func(now time.Time) bool { return s.startCall(now, t0) })
	s.e.inflight.Wait()
	elapsed := time.Since(t0)
	b.StopTimer()
	_, all := s.e.stats.reports(elapsed)
	if all.Errors > 0 {
		b.Fatalf("%d errors", all.Errors)
	}
	b.ReportMetric(float64(all.Requests)/elapsed.Seconds(), "requests/s")
	b.ReportMetric(0, "ns/op")
}
