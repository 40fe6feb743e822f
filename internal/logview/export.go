package logview

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/callsnare/callsnare/internal/store"
)

// exportCap bounds an NDJSON export of a filter.
const exportCap = 10000

// Bundle is one delivery exported for a ticket: everything the log keeps of it, masked
// like the screen unless --show-pii.
type Bundle struct {
	ExportedAt string         `json:"exported_at"`
	PIIMasked  bool           `json:"pii_masked"`
	Delivery   BundleDelivery `json:"delivery"`
}

// BundleDelivery is a Record with the rest of the evidence.
type BundleDelivery struct {
	Record
	URL           string `json:"url"`
	RemoteAddr    string `json:"remote_addr"`
	ContentType   string `json:"content_type"`
	BodySHA256    string `json:"body_sha256"`
	BodyTruncated bool   `json:"body_truncated"`
	DuplicateOf   *int64 `json:"duplicate_of"`
	CallSID       string `json:"call_sid"`
	Caller        string `json:"caller"`
	ResponseBody  string `json:"response_body"`
	LatencyUS     int64  `json:"latency_us"`
}

func newBundle(e store.Evidence, slugs map[int64]string, p pii, now time.Time) Bundle {
	d := BundleDelivery{
		Record: newRecord(e, slugs, true, p),
		URL:    p.text(e.URL), RemoteAddr: e.RemoteAddr, ContentType: e.ContentType, BodySHA256: e.BodySHA256,
		BodyTruncated: e.BodyTruncated, CallSID: e.CallSID, Caller: p.text(e.Caller),
		ResponseBody: p.text(e.ResponseBody), LatencyUS: e.LatencyUS,
	}
	if e.DuplicateOf.Valid {
		id := e.DuplicateOf.Int64
		d.DuplicateOf = &id
	}
	return Bundle{ExportedAt: now.UTC().Format(time.RFC3339), PIIMasked: !p.show, Delivery: d}
}

func (m Model) exportPath(name string) string {
	return filepath.Join(m.deps.ExportDir, name)
}

// exportBundle writes one delivery as a JSON bundle and says where.
func (m Model) exportBundle(e store.Evidence) tea.Cmd {
	path := m.exportPath(fmt.Sprintf("callsnare-delivery-%d.json", e.ID))
	b := newBundle(e, m.slugs, m.pii, m.deps.Now())
	return func() tea.Msg {
		data, err := json.MarshalIndent(b, "", "  ")
		if err == nil {
			err = os.WriteFile(path, append(data, '\n'), 0o600)
		}
		if err != nil {
			return flashMsg{"export: " + err.Error(), true}
		}
		return flashMsg{"delivery exported to " + path, false}
	}
}

// exportCurl writes the delivery as a curl command that re-sends it, signed for the replay
// target. Unlike the other exports it holds the payload unmasked (a masked body would not
// verify), so the file is readable by its owner only.
func (m Model) exportCurl(id int64) tea.Cmd {
	path := m.exportPath(fmt.Sprintf("callsnare-delivery-%d.curl.sh", id))
	r, ctx := m.deps.Replayer, m.ctx
	return func() tea.Msg {
		cmd, err := r.Curl(ctx, id)
		if err == nil {
			err = os.WriteFile(path, []byte("#!/bin/sh\n# delivery #"+fmt.Sprint(id)+", re-signed; a Stripe signature expires after the tolerance\n"+cmd), 0o600)
		}
		if err != nil {
			return flashMsg{"curl: " + err.Error(), true}
		}
		return flashMsg{"curl command written to " + path, false}
	}
}

// exportFilter writes the deliveries of the current filter, full, as NDJSON.
func (m Model) exportFilter() tea.Cmd {
	now := m.deps.Now().UTC()
	path := m.exportPath("callsnare-logs-" + now.Format("20060102-150405") + ".ndjson")
	f := m.logs.filter
	f.BeforeID, f.AfterID, f.Limit = 0, 0, exportCap
	src, ctx, show := m.deps.Source, m.ctx, m.pii.show
	return func() tea.Msg {
		file, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			return flashMsg{"export: " + err.Error(), true}
		}
		err = WriteJSON(ctx, src, f, file, JSONOptions{Full: true, ShowPII: show})
		if cerr := file.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return flashMsg{"export: " + err.Error(), true}
		}
		return flashMsg{fmt.Sprintf("filter exported to %s (at most %d deliveries)", path, exportCap), false}
	}
}
