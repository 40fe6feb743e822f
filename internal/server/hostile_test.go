package server_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/callsnare/callsnare/internal/server"
	"github.com/callsnare/callsnare/internal/service"
	"github.com/callsnare/callsnare/internal/store"
	"github.com/callsnare/callsnare/internal/twilio"
)

// hostileRow is what these tests read back of a delivery's evidence.
type hostileRow struct {
	ID          int64  `db:"id"`
	Status      string `db:"status"`
	Signature   string `db:"signature"`
	HTTPStatus  int    `db:"http_status"`
	Body        []byte `db:"body"`
	BodyLength  int64  `db:"body_length"`
	Truncated   bool   `db:"body_truncated"`
	Cleaned     bool   `db:"cleaned"`
	URL         string `db:"url"`
	ContentType string `db:"content_type"`
	CallSID     string `db:"call_sid"`
	Caller      string `db:"caller"`
	Error       string `db:"error"`
	ReplayOf    *int64 `db:"replay_of"`
}

func (h *harness) lastRow() hostileRow {
	h.t.Helper()
	var r hostileRow
	db := h.ts.DB(h.t)
	err := db.Get(&r, `SELECT id, status, signature, http_status, body, body_length, body_truncated, cleaned, url,
		content_type, call_sid, caller, error, replay_of FROM webhook_log ORDER BY id DESC LIMIT 1`)
	if err != nil {
		h.t.Fatalf("read last delivery: %v", err)
	}
	return r
}

// rawPost writes a request byte for byte on a new connection, so that what no client
// library would send (raw bytes in the request line or a header) reaches the server.
func (h *harness) rawPost(target, contentType string, body []byte, headers map[string]string) int {
	h.t.Helper()
	u, _ := url.Parse(h.url)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		h.t.Fatal(err)
	}
	defer conn.Close()
	var b bytes.Buffer
	fmt.Fprintf(&b, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n", target, u.Host, contentType, len(body))
	for k, v := range headers {
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	b.WriteString("\r\n")
	b.Write(body)
	if _, err := conn.Write(b.Bytes()); err != nil {
		h.t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		h.t.Fatalf("read answer: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func textClean(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

// A correctly signed SMS whose text or sender holds NUL or invalid UTF-8 is answered 200,
// threaded on its lead and kept, its raw body byte for byte, on both databases.
func TestSignedSMSWithAnyBytesIsKept(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		h := newHarness(t, dsn)
		for _, tt := range []struct{ name, from, body, wantFrom string }{
			{"nul in body", callerPhone, "hi\x00 there", callerPhone},
			{"invalid utf-8 in body", callerPhone, "no heat \xff\xfe at all \xc0\xaf", callerPhone},
			{"nul in from", callerPhone + "\x00", "hello", callerPhone},
		} {
			p := twilio.Params{"AccountSid": testAccount, "MessageSid": newSID("SM"), "From": tt.from, "To": trackedNum,
				"Body": tt.body, "NumMedia": "0"}
			code, answer := h.post("/api/twilio/sms/inbound", p)
			if code != 200 {
				t.Fatalf("%s: status %d, want 200: %s", tt.name, code, answer)
			}
			row := h.lastRow()
			form := url.Values{}
			for k, v := range p {
				form.Set(k, v)
			}
			if row.Status != store.StatusProcessed || !row.Cleaned || !bytes.Equal(row.Body, []byte(form.Encode())) {
				t.Errorf("%s: evidence %s cleaned=%v body %q, want processed, cleaned, byte-exact", tt.name, row.Status, row.Cleaned, row.Body)
			}
			if !textClean(row.Caller) {
				t.Errorf("%s: caller %q stored uncleaned", tt.name, row.Caller)
			}
			leads, err := h.svc.Store.Leads(context.Background(), h.org.ID, tt.wantFrom)
			if err != nil || len(leads) != 1 {
				t.Fatalf("%s: leads of %s = %v, %v: want the caller's one lead", tt.name, tt.wantFrom, leads, err)
			}
			if n := h.count("messages", "sid = ? AND lead_id = ?", p["MessageSid"], leads[0].ID); n != 1 {
				t.Errorf("%s: message threaded on the lead %d times, want 1", tt.name, n)
			}
		}
	})
}

// An unsigned delivery with hostile bytes anywhere is refused like any other, and its
// refusal is in the evidence on both databases.
func TestUnsignedHostileBytesAreRefusedWithEvidence(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		h := newHarness(t, dsn)
		const route = "/api/twilio/sms/inbound"
		formCT := "application/x-www-form-urlencoded"
		good := "AccountSid=" + testAccount + "&MessageSid=" + newSID("SM") + "&To=%2B15125550100&Body=x"
		for _, tt := range []struct {
			name, target, contentType, body string
			want                            int
		}{
			{"nul in from", route, formCT, good + "&From=%00%2B1512", 403},
			{"invalid utf-8 in call sid", route, formCT, good + "&From=%2B15125550123&CallSid=%ff%fe", 403},
			{"raw bytes in the query", route + "?x=\xff\xfe", formCT, good + "&From=%2B15125550123", 403},
			{"raw bytes in a content-type parameter", route, formCT + "; charset=\xff\xc0\xaf", good + "&From=%2B15125550123", 415},
		} {
			code := h.rawPost(tt.target, tt.contentType, []byte(tt.body), nil)
			if code != tt.want {
				t.Errorf("%s: status %d, want %d", tt.name, code, tt.want)
				continue
			}
			row := h.lastRow()
			if row.Status != store.StatusRejected || (row.Signature != "missing" && tt.want == 403) || row.HTTPStatus != tt.want ||
				!bytes.Equal(row.Body, []byte(tt.body)) {
				t.Errorf("%s: evidence %+v, want rejected, signature missing, body byte-exact", tt.name, row)
			}
			for _, s := range []string{row.URL, row.ContentType, row.CallSID, row.Caller, row.Error} {
				if !textClean(s) {
					t.Errorf("%s: stored text %q is not valid UTF-8 without NUL", tt.name, s)
				}
			}
		}
	})
}

// Identifiers longer than any provider sends are refused 400 before they become keys, with
// their evidence kept, on both databases (PostgreSQL cannot index a 10,000-byte key).
func TestOversizedIdentifiersAreRefused(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		h := newHarness(t, dsn)
		long := strings.Repeat("a", 10000)
		c := h.newCall(callerPhone)
		c.sid = "CA" + long
		code, answer := h.inbound(c)
		if code != 400 {
			t.Fatalf("long CallSid: status %d, want 400: %s", code, answer)
		}
		if row := h.lastRow(); row.Status != store.StatusRejected || row.Signature != "valid" || len(row.CallSID) > 64 || !row.Cleaned {
			t.Errorf("long CallSid: evidence %s/%s call_sid %d bytes cleaned=%v", row.Status, row.Signature, len(row.CallSID), row.Cleaned)
		}
		code, answer = h.post("/api/twilio/sms/inbound", twilio.Params{"AccountSid": testAccount, "MessageSid": "SM" + long,
			"From": callerPhone, "To": trackedNum, "Body": "hi"})
		if code != 400 || h.lastRow().Status != store.StatusRejected {
			t.Errorf("long MessageSid: status %d, want 400 and a rejected row: %s", code, answer)
		}
		payload := []byte(`{"id":"evt_` + long + `","object":"event","type":"customer.created","created":1764000000,` +
			`"data":{"object":{"id":"cus_X1","object":"customer","metadata":{}}}}`)
		if a := h.postStripe(payload); a.code != 400 || h.lastRow().Status != store.StatusRejected {
			t.Errorf("long Stripe event id: status %d, want 400 and a rejected row: %s", a.code, a.body)
		}
		if n := h.count("calls", ""); n != 0 {
			t.Errorf("%d calls recorded, want none", n)
		}
		if n := h.count("messages", ""); n != 0 {
			t.Errorf("%d messages recorded, want none", n)
		}
	})
}

// A NUL in a Stripe event's org metadata no longer fails every retry: the event is applied
// with the NUL removed and its row flagged.
func TestStripeNULInMetadataIsApplied(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		h := newHarness(t, dsn)
		payload := []byte(`{"id":"evt_nul1","object":"event","type":"customer.created","created":1764000000,` +
			`"data":{"object":{"id":"cus_Nul1","object":"customer","name":"bad \ud800 name","metadata":{"callsnare_org":"acme-hvac\u0000"}}}}`)
		a := h.postStripe(payload)
		if a.code != 200 {
			t.Fatalf("status %d, want 200: %s", a.code, a.body)
		}
		row := h.lastRow()
		if row.Status != store.StatusProcessed || !row.Cleaned || !bytes.Equal(row.Body, payload) {
			t.Errorf("evidence %s cleaned=%v, want processed, cleaned, byte-exact", row.Status, row.Cleaned)
		}
		if n := h.count("stripe_customers", "customer_id = ? AND org_id = ?", "cus_Nul1", h.org.ID); n != 1 {
			t.Errorf("customer mapped to the org %d times, want 1", n)
		}
	})
}

// A flood of forged 1 MiB bodies grows the database by a bounded amount: each refused row
// keeps an 8 KiB prefix, and past the per-address burst the flood is answered 429 and not
// stored, while a correctly signed delivery from the same address is still applied.
func TestForgedFloodIsBounded(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		h := newHarness(t, dsn)
		const flood = 60
		body := "AccountSid=" + testAccount + "&CallSid=" + newSID("CA") + "&From=%2B15125550123&To=%2B15125550100&Pad=" +
			strings.Repeat("x", 1<<20-200)
		start := time.Now()
		codes := map[int]int{}
		for range flood {
			code, _ := h.raw(http.MethodPost, "/api/twilio/voice/inbound", "application/x-www-form-urlencoded", body,
				map[string]string{twilio.SignatureHeader: "Zm9yZ2Vk"})
			codes[code]++
		}
		elapsed := time.Since(start)
		if codes[403]+codes[429] != flood || codes[429] == 0 {
			t.Fatalf("answers %v: want 403 then 429 past the burst", codes)
		}
		var stored struct {
			Rows  int   `db:"n"`
			Bytes int64 `db:"bytes"`
			Whole int64 `db:"whole"`
		}
		db := h.ts.DB(h.t)
		if err := db.Get(&stored, `SELECT COUNT(*) AS n, COALESCE(SUM(LENGTH(body)), 0) AS bytes, COALESCE(SUM(body_length), 0) AS whole
			FROM webhook_log WHERE status = 'rejected'`); err != nil {
			t.Fatal(err)
		}
		// The burst (20), plus what the bucket refilled (1/s) while the flood ran.
		allowed := 20 + int(elapsed/time.Second) + 1
		if stored.Rows != codes[403] || stored.Rows > allowed || stored.Bytes > int64(stored.Rows)*store.RefusedBodyKeep {
			t.Errorf("stored %d rows holding %d body bytes for %v answers: want at most %d rows of at most %d bytes",
				stored.Rows, stored.Bytes, codes, allowed, store.RefusedBodyKeep)
		}
		if stored.Whole != int64(stored.Rows)*int64(len(body)) {
			t.Errorf("rows record %d bytes of whole bodies, want %d each", stored.Whole, len(body))
		}
		t.Logf("%d forged MiB bodies in %v: %v; %d rows kept %d body bytes", flood, elapsed.Round(time.Millisecond), codes, stored.Rows, stored.Bytes)

		h.expect(200)(h.inbound(h.newCall(callerPhone))) // correctly signed, same address
		metrics := h.get("/metrics")
		if !strings.Contains(metrics, fmt.Sprintf(`callsnare_signature_rate_limited_total{route="/api/twilio/voice/inbound"} %d`, codes[429])) {
			t.Errorf("/metrics does not count the %d limited deliveries", codes[429])
		}
	})
}

func (h *harness) get(path string) string {
	h.t.Helper()
	resp, err := http.Get(h.url + path)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return b.String()
}

// Each org is bound to the Twilio account that owns its numbers: a delivery from another
// account is refused 403 with no effect, even when that account's own token signed it.
func TestSubaccountCannotCrossTenants(t *testing.T) {
	const (
		subAccount = "AC" + "5ab0000000000000000000000000005a"
		subToken   = "5ab0token0000000000000000000005a"
	)
	forEachDB(t, func(t *testing.T, dsn string) {
		h := newHarness(t, dsn, func(c *service.Config) {
			c.TwilioSubaccountTokens = map[string]string{subAccount: subToken}
		})
		subOrg, err := h.svc.Store.CreateOrg(context.Background(), store.NewOrg{Slug: "sub-hvac", Name: "Sub HVAC",
			Numbers: []string{"+15125550300"}, ForwardTo: ownerPhone, TwilioAccount: subAccount}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		signed := func(token, account, to string) (int, string) {
			c := h.newCall(callerPhone)
			c.to = to
			p := c.params("CallStatus", "ringing")
			p["AccountSid"] = account
			route := "/api/twilio/voice/inbound"
			return h.postWith(route, p, map[string]string{twilio.SignatureHeader: twilio.Sign(token, h.url+route, p)})
		}
		// The subaccount's own token, the main account's org.
		if code, body := signed(subToken, subAccount, trackedNum); code != 403 {
			t.Fatalf("subaccount delivery to the main account's org: status %d, want 403: %s", code, body)
		}
		row := h.lastRow()
		if row.Status != store.StatusRejected || row.Signature != "valid" || !strings.Contains(row.Error, "does not own") {
			t.Errorf("evidence %+v, want rejected with a valid signature", row)
		}
		// The main account's token, the subaccount's org.
		if code, body := signed(testToken, testAccount, "+15125550300"); code != 403 {
			t.Errorf("main account delivery to the subaccount's org: status %d, want 403: %s", code, body)
		}
		if n := h.count("calls", ""); n != 0 {
			t.Errorf("%d calls recorded, want none", n)
		}
		// A number no org tracks is answered as unmatched. Neither kind of refusal keeps
		// the delivery's key: a later delivery of it is not taken for a duplicate.
		h.expect(200)(signed(testToken, testAccount, "+15125550399"))
		if row := h.lastRow(); row.Status != store.StatusUnmatched {
			t.Errorf("evidence %+v, want unmatched", row)
		}
		if n := h.count("webhook_claims", ""); n != 0 {
			t.Errorf("%d dedupe keys claimed by refused deliveries, want none", n)
		}
		// Each account reaches its own org.
		h.expect(200)(signed(subToken, subAccount, "+15125550300"))
		h.expect(200)(signed(testToken, testAccount, trackedNum))
		if n := h.count("calls", "org_id = ?", subOrg.ID); n != 1 {
			t.Errorf("subaccount org has %d calls, want 1", n)
		}
	})
}

// Only a delivery whose signature verified is recorded as a replay: anyone can send the
// headers.
func TestReplayMarksNeedAValidSignature(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		h := newHarness(t, dsn)
		c := h.newCall(callerPhone)
		p := c.params("CallStatus", "ringing")
		marks := map[string]string{server.ReplayHeader: "1", server.ReplayTokenHeader: "outsider-token"}
		h.expect(403)(h.postWith("/api/twilio/voice/inbound", p, marks))
		if row := h.lastRow(); row.ReplayOf != nil {
			t.Errorf("forged delivery recorded as a replay of %d", *row.ReplayOf)
		}
		if _, err := h.svc.Store.ReplayResult(context.Background(), "outsider-token"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("forged token found as a replay result: %v", err)
		}
		marks[twilio.SignatureHeader] = twilio.Sign(testToken, h.url+"/api/twilio/voice/inbound", p)
		marks[server.ReplayTokenHeader] = "replay-token-1"
		h.expect(200)(h.postWith("/api/twilio/voice/inbound", p, marks))
		got, err := h.svc.Store.ReplayResult(context.Background(), "replay-token-1")
		if err != nil || got.Status != store.StatusProcessed || !got.ReplayOf.Valid || got.ReplayOf.Int64 != 1 {
			t.Errorf("signed replay: %+v, %v: want processed, replay of 1, found by its token", got, err)
		}
	})
}
