package store_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/callsnare/callsnare/internal/store"
)

// Both databases keep the same row for the same bytes: the raw body byte for byte, every
// text column valid UTF-8 without NUL, flagged when it had to be cleaned, indexed columns
// within their bounds.
func TestEvidenceAnyBytes(t *testing.T) {
	hostile := "a\x00b\xff\xfe c\xc0\xaf d"
	body := []byte("Body=" + hostile + "&From=%00\xff")
	tests := []struct {
		name    string
		ev      store.Evidence
		cleaned bool
	}{
		{"plain", store.Evidence{CallSID: "CA" + strings.Repeat("a", 32), Caller: "+15125550123", URL: "https://h/x?a=1"}, false},
		{"every text column", store.Evidence{
			Route: "/x" + hostile, RemoteAddr: hostile, URL: "https://h/x?q=" + hostile, ContentType: "text/plain; p=" + hostile,
			Headers: map[string]string{"User-Agent": hostile, "X\x00": "v"}, DedupeKey: "twilio:" + hostile,
			Kind: hostile, CallSID: hostile, Caller: hostile, Error: hostile, ResponseBody: hostile, ReplayToken: hostile,
		}, true},
		{"oversized indexed columns", store.Evidence{CallSID: strings.Repeat("C", 10000), DedupeKey: strings.Repeat("k", 10000),
			Caller: strings.Repeat("é", 5000)}, true},
	}
	forEachDB(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		for _, tt := range tests {
			ev := tt.ev
			// The store cleans a delivery's headers in place: each database gets its own.
			ev.Headers = maps.Clone(tt.ev.Headers)
			ev.ReceivedAt, ev.Provider, ev.Status, ev.Signature = store.T(now), "twilio", store.StatusProcessed, "valid"
			if ev.Route == "" {
				ev.Route = "/api/twilio/sms/inbound"
			}
			ev.SetBody(body, false)
			if err := st.RecordEvidence(ctx, &ev); err != nil {
				t.Fatalf("%s: record: %v", tt.name, err)
			}
			got, err := st.LogByID(ctx, ev.ID)
			if err != nil {
				t.Fatalf("%s: read back: %v", tt.name, err)
			}
			if !bytes.Equal(got.Body, body) || got.BodyLength != int64(len(body)) || got.BodyTruncated {
				t.Errorf("%s: body %q (length %d, truncated %v), want %q byte for byte", tt.name, got.Body, got.BodyLength, got.BodyTruncated, body)
			}
			if got.Cleaned != tt.cleaned {
				t.Errorf("%s: cleaned = %v, want %v", tt.name, got.Cleaned, tt.cleaned)
			}
			texts := []string{got.Route, got.RemoteAddr, got.URL, got.ContentType, got.HeadersJSON, got.DedupeKey,
				got.Kind, got.CallSID, got.Caller, got.Error, got.ResponseBody, got.ReplayToken}
			for _, s := range texts {
				if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
					t.Errorf("%s: stored text %q is not valid UTF-8 without NUL", tt.name, s)
				}
			}
			if len(got.CallSID) > 64 || len(got.DedupeKey) > 512 || len(got.Caller) > 256 || !utf8.ValidString(got.Caller) {
				t.Errorf("%s: indexed columns too long: call_sid %d, dedupe_key %d, caller %d bytes", tt.name,
					len(got.CallSID), len(got.DedupeKey), len(got.Caller))
			}
			if tt.name == "every text column" && (got.Kind != "ab\ufffd c\ufffd d" || got.Headers["X"] != "v") {
				t.Errorf("%s: kind %q, headers %v: want NUL removed and each run of bad bytes replaced", tt.name, got.Kind, got.Headers)
			}
		}
	})
}

// A refused delivery keeps a prefix of its body, with the length and digest of the whole;
// an accepted one stays whole whatever its size.
func TestRefusedBodyPrefix(t *testing.T) {
	forEachDB(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		big := bytes.Repeat([]byte{0xff, 0x00, 'x', 0xc0}, 256<<10) // 1 MiB, none of it text
		sum := sha256.Sum256(big)
		for _, status := range []string{store.StatusRejected, store.StatusProcessed, store.StatusFailed} {
			ev := store.Evidence{ReceivedAt: store.T(now), Provider: "stripe", Route: "/api/stripe/webhook", Status: status, Signature: "invalid"}
			ev.SetBody(big, false)
			if err := st.RecordEvidence(ctx, &ev); err != nil {
				t.Fatalf("%s: record: %v", status, err)
			}
			got, err := st.LogByID(ctx, ev.ID)
			if err != nil {
				t.Fatal(err)
			}
			want := big
			if status == store.StatusRejected {
				want = big[:store.RefusedBodyKeep]
			}
			if !bytes.Equal(got.Body, want) || got.BodyTruncated != (status == store.StatusRejected) {
				t.Errorf("%s: kept %d bytes (truncated %v), want %d", status, len(got.Body), got.BodyTruncated, len(want))
			}
			if got.BodyLength != int64(len(big)) || got.BodySHA256 != hex.EncodeToString(sum[:]) {
				t.Errorf("%s: length %d, sha256 %s: want those of the whole body", status, got.BodyLength, got.BodySHA256)
			}
		}
	})
}
