package logview

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/callsnare/callsnare/internal/store"
)

// Record is one delivery as the JSON Lines output and the exports print it. Its field names
// are a contract for scripts: change them only by adding.
type Record struct {
	ID         int64   `json:"id"`
	ReceivedAt string  `json:"received_at"`
	Org        *string `json:"org"`
	Provider   string  `json:"provider"`
	Route      string  `json:"route"`
	Kind       string  `json:"kind"`
	DedupeKey  string  `json:"dedupe_key"`
	Signature  string  `json:"signature"`
	Status     string  `json:"status"`
	HTTPStatus int     `json:"http_status"`
	Error      string  `json:"error"`
	ReplayOf   *int64  `json:"replay_of"`
	// With --full.
	Headers    map[string]string `json:"headers,omitempty"`
	Body       *string           `json:"body,omitempty"`
	BodyBase64 *string           `json:"body_base64,omitempty"`
}

// formBodyRe finds a message's text in a form-encoded body.
var formBodyRe = regexp.MustCompile(`(^|&)Body=[^&]*`)

// maskRaw masks a raw body for output, keeping everything else byte for byte: phone
// numbers (also form-encoded) and, in a form, the message text.
func (p pii) maskRaw(body []byte, contentType string) []byte {
	if p.show {
		return body
	}
	s := p.text(string(body))
	if strings.HasPrefix(contentType, "application/x-www-form-urlencoded") {
		s = formBodyRe.ReplaceAllString(s, "${1}Body="+masked)
	}
	return []byte(s)
}

func newRecord(e store.Evidence, slugs map[int64]string, full bool, p pii) Record {
	r := Record{
		ID: e.ID, ReceivedAt: e.ReceivedAt.UTC().Format(time.RFC3339Nano), Provider: e.Provider, Route: e.Route,
		Kind: e.Kind, DedupeKey: e.DedupeKey, Signature: e.Signature, Status: e.Status, HTTPStatus: e.HTTPStatus,
		Error: p.text(e.Error),
	}
	if e.OrgID.Valid {
		slug, ok := slugs[e.OrgID.Int64]
		if !ok {
			slug = fmt.Sprint(e.OrgID.Int64)
		}
		r.Org = &slug
	}
	if e.ReplayOf.Valid {
		id := e.ReplayOf.Int64
		r.ReplayOf = &id
	}
	if full {
		r.Headers = e.Headers
		if r.Headers == nil {
			r.Headers = map[string]string{}
		}
		b := p.maskRaw(e.Body, e.ContentType)
		if utf8.Valid(b) {
			s := string(b)
			r.Body = &s
		} else {
			s := base64.StdEncoding.EncodeToString(b)
			r.BodyBase64 = &s
		}
	}
	return r
}

// JSONOptions shape the JSON Lines output.
type JSONOptions struct {
	Full    bool // add headers and body
	Follow  bool // keep printing new deliveries until ctx ends
	ShowPII bool // print phone numbers and message text unmasked
	// Poll is how often following looks for new deliveries; 0 means one second.
	Poll time.Duration
}

// pageSource is what the printers read.
type pageSource interface {
	LogPage(ctx context.Context, f store.LogFilter) ([]store.Evidence, error)
	LogTail(ctx context.Context, f store.LogFilter, afterID int64) ([]store.Evidence, error)
	OrgSlugs(ctx context.Context) (map[int64]string, error)
}

// WriteJSON prints the deliveries a filter keeps as JSON Lines, newest first (f.Limit, when
// set, caps the count); phone numbers and message text are masked unless o.ShowPII. With
// o.Follow it prints the latest page oldest first and then each new delivery as it
// arrives, until ctx ends, as tail -f does.
func WriteJSON(ctx context.Context, src pageSource, f store.LogFilter, w io.Writer, o JSONOptions) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return printLogs(ctx, src, f, o, func(e store.Evidence, slugs map[int64]string) error {
		return enc.Encode(newRecord(e, slugs, o.Full, pii{o.ShowPII}))
	})
}

// WritePlain prints the same deliveries as WriteJSON as a plain text table, one line each.
func WritePlain(ctx context.Context, src pageSource, f store.LogFilter, w io.Writer, o JSONOptions) error {
	p := pii{o.ShowPII}
	if _, err := fmt.Fprintf(w, "%-8s  %-27s  %-12s  %-8s  %-22s  %-34s  %-9s  %-10s  %4s  %s\n",
		"ID", "RECEIVED", "ORG", "PROVIDER", "KIND", "KEY", "SIGNATURE", "STATUS", "HTTP", "LATENCY"); err != nil {
		return err
	}
	return printLogs(ctx, src, f, o, func(e store.Evidence, slugs map[int64]string) error {
		org := "-"
		if e.OrgID.Valid {
			org = slugs[e.OrgID.Int64]
		}
		_, err := fmt.Fprintf(w, "%-8d  %-27s  %-12s  %-8s  %-22s  %-34s  %-9s  %-10s  %4d  %s\n",
			e.ID, e.ReceivedAt.UTC().Format(time.RFC3339Nano), escape(org), escape(e.Provider), escape(e.Kind),
			escape(p.text(deliveryKey(e))), escape(e.Signature), escape(e.Status), e.HTTPStatus, latency(e.LatencyUS))
		return err
	})
}

// printBatch is how many rows one query of the printers reads.
const printBatch = 500

func printLogs(ctx context.Context, src pageSource, f store.LogFilter, o JSONOptions, emit func(store.Evidence, map[int64]string) error) error {
	slugs, err := src.OrgSlugs(ctx)
	if err != nil {
		return err
	}
	emitRow := func(e store.Evidence) error {
		if e.OrgID.Valid {
			if _, ok := slugs[e.OrgID.Int64]; !ok {
				if fresh, err := src.OrgSlugs(ctx); err == nil {
					slugs = fresh
				}
			}
		}
		return emit(e, slugs)
	}
	if o.Follow {
		return follow(ctx, src, f, o, emitRow)
	}
	left := f.Limit
	for {
		page := f
		page.Limit = printBatch
		if left > 0 {
			page.Limit = min(printBatch, left)
		}
		rows, err := src.LogPage(ctx, page)
		if err != nil {
			return err
		}
		for _, e := range rows {
			if err := emitRow(e); err != nil {
				return fmt.Errorf("write: %w", err)
			}
		}
		if left > 0 {
			left -= len(rows)
			if left <= 0 {
				return nil
			}
		}
		if len(rows) < page.Limit {
			return nil
		}
		f.BeforeID = rows[len(rows)-1].ID
	}
}

func follow(ctx context.Context, src pageSource, f store.LogFilter, o JSONOptions, emit func(store.Evidence) error) error {
	poll := o.Poll
	if poll <= 0 {
		poll = time.Second
	}
	first := f
	if first.Limit <= 0 {
		first.Limit = 20
	}
	rows, err := src.LogPage(ctx, first)
	if err != nil {
		return err
	}
	var last int64
	for i := len(rows) - 1; i >= 0; i-- {
		if err := emit(rows[i]); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		last = rows[i].ID
	}
	f.Limit = printBatch
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		for {
			rows, err := src.LogTail(ctx, f, last)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			for _, e := range rows {
				if err := emit(e); err != nil {
					return fmt.Errorf("write: %w", err)
				}
				last = e.ID
			}
			if len(rows) < f.Limit {
				break
			}
		}
	}
}

// deliveryKey is the provider's own id of a delivery: CallSid, MessageSid or event id. A
// delivery refused before it was read has it only in its body.
func deliveryKey(e store.Evidence) string {
	if e.CallSID != "" {
		return e.CallSID
	}
	k := e.DedupeKey
	switch {
	case strings.HasPrefix(k, "twilio:"):
		parts := strings.SplitN(k, ":", 4)
		if len(parts) >= 3 {
			k = parts[2]
		}
	case strings.HasPrefix(k, "stripe:"):
		k = strings.TrimPrefix(k, "stripe:")
	}
	if k == "" && e.Provider == "twilio" {
		if params, ok := parseFormOrdered(e.Body); ok {
			for _, kv := range params {
				if kv.Key == "CallSid" || kv.Key == "MessageSid" {
					k = kv.Value
					break
				}
			}
		}
	}
	if k == "" {
		return "-"
	}
	return k
}
